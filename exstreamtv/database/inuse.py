"""Who uses a database: a running server marks it, an offline restore checks the mark.

A server holds a *shared* claim for as long as it runs; ``exstreamtv backup restore``
takes an *exclusive* one without waiting, so it refuses while any server uses the
database (it would swap the file under a server that keeps writing to the old one), and
a server that starts during such a restore waits for it to finish.

- SQLite: ``flock`` on ``<database>.server.lock`` next to the database file (the holder's
  pid is written in it, for the message). The kernel drops the lock when the process
  dies, so a killed server leaves no stale mark.
- PostgreSQL: a session-level advisory lock (:data:`SERVER_LOCK_KEY`) held on one
  connection of its own, outside the pool; it ends with the session.
- An in-memory SQLite database belongs to one process: nothing to mark.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from exstreamtv.database.connection import is_sqlite, sqlite_path
from exstreamtv.errors import ExStreamTVError

#: "EXSTV" + 1: the in-use mark (migrations serialise on "EXSTV", see migrate.py).
SERVER_LOCK_KEY = 0x4578535456 + 1


class DatabaseInUse(ExStreamTVError):
    """Someone else holds a claim that conflicts with the one asked for."""


def lock_file(database: Path) -> Path:
    """The SQLite in-use mark of ``database``."""
    return database.with_name(database.name + ".server.lock")


class DatabaseClaim:
    """A claim on the database at ``url``: shared (a server) or exclusive (an offline
    restore). :meth:`acquire` never waits: it raises :class:`DatabaseInUse` instead."""

    def __init__(self, url: str, *, exclusive: bool) -> None:
        self.url = url
        self.exclusive = exclusive
        self._fd: int | None = None
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None

    async def acquire(self) -> None:
        """Take the claim (a no-op when already held)."""
        if self.held:
            return
        if is_sqlite(self.url):
            path = sqlite_path(self.url)
            if path is not None:
                self._flock(lock_file(path))
            return
        await self._advisory()

    def _flock(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise DatabaseInUse(self._refusal(f"pid {holder}" if holder.isdigit() else "")) \
                from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    async def _advisory(self) -> None:
        engine = create_async_engine(self.url, poolclass=NullPool)
        try:
            conn = await engine.connect()
            function = "pg_try_advisory_lock" if self.exclusive else "pg_try_advisory_lock_shared"
            got = await conn.scalar(text(f"SELECT {function}(:key)"), {"key": SERVER_LOCK_KEY})
            await conn.commit()  # the lock is the session's; no transaction stays open
        except BaseException:
            await engine.dispose()
            raise
        if not got:
            await conn.close()
            await engine.dispose()
            raise DatabaseInUse(self._refusal(""))
        self._engine, self._conn = engine, conn

    def _refusal(self, holder: str) -> str:
        who = f" ({holder})" if holder else ""
        if self.exclusive:
            return (f"the database is in use by a running ExStreamTV server{who}: stop the "
                    "server first, or restore through it with POST /api/backups/NAME/restore")
        return (f"a restore from the command line is replacing the database{who}; the "
                "server connects once it has finished")

    async def ensure(self) -> None:
        """Re-take a PostgreSQL claim whose session ended (a database restart)."""
        if self._conn is None:
            return
        try:
            await self._conn.scalar(text("SELECT 1"))
            await self._conn.commit()
        except Exception:
            await self.release()
            await self.acquire()

    async def release(self) -> None:
        """Give the claim up (a no-op when not held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        conn, engine, self._conn, self._engine = self._conn, self._engine, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        if engine is not None:
            await engine.dispose()
