"""Schema migrations with Alembic, applied at start, one server at a time.

The migration scripts ship inside the package (``migrations/versions``). Two servers
never migrate the same database at once: on PostgreSQL the migration holds
``pg_advisory_lock``; on SQLite it holds an exclusive lock file next to the database
(``<db>.migrate.lock``, an ``flock``). A database whose revision this version does not
know was written by a newer ExStreamTV: :class:`SchemaTooNew` refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from exstreamtv.database.connection import DatabaseConnectionManager, sqlite_path
from exstreamtv.errors import ExStreamTVError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: The key of the PostgreSQL advisory lock held while migrating ("ExSTV" in ASCII).
ADVISORY_LOCK_KEY = 0x4578535456


class SchemaTooNew(ExStreamTVError):
    """The database was written by a newer ExStreamTV."""


def alembic_config() -> AlembicConfig:
    """The Alembic config pointing at the migrations inside the package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest schema revision this version knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None for an empty one."""
    return MigrationContext.configure(connection).get_current_revision()


def check_not_newer(revision: str | None, what: str = "The database") -> None:
    """Raise :class:`SchemaTooNew` when ``revision`` is unknown to this version."""
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNew(
            f"{what} has schema revision {revision}, which this ExStreamTV does not know "
            f"(newest known: {head_revision()}): it was written by a newer version. Upgrade "
            "ExStreamTV, or restore a backup made by this version."
        )


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    before = current_revision(connection)
    check_not_newer(before)
    if connection.in_transaction():
        connection.commit()
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
    return before, head_revision()


@contextlib.asynccontextmanager
async def _sqlite_lock(db: Path) -> AsyncIterator[None]:
    db.parent.mkdir(parents=True, exist_ok=True)
    lock = db.with_name(db.name + ".migrate.lock")
    handle = await asyncio.to_thread(
        os.fdopen, os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), "r+")
    try:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


async def migrate(manager: DatabaseConnectionManager) -> str:
    """Bring the schema to the newest revision; returns it. Serialised across servers."""
    # Alembic narrates every start at INFO; our own line below says what changed.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    path = sqlite_path(manager.url)
    lock: Any = _sqlite_lock(path) if path is not None else contextlib.nullcontext()
    async with lock, manager.engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            await conn.commit()
        try:
            before, after = await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            if postgres:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": ADVISORY_LOCK_KEY})
                await conn.commit()
    if before != after:
        log.info("Database schema migrated from %s to %s", before or "empty", after)
    return after


async def schema_revision(manager: DatabaseConnectionManager) -> str | None:
    """The revision the database is at now."""
    async with manager.engine.connect() as conn:
        return await conn.run_sync(current_revision)
