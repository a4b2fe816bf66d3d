"""No source token in the database or in a backup (SQLite and PostgreSQL).

After a Plex sync through a running server, every row of every table is read back and a
backup is taken through the API; the token must be in neither, while the Plex items
(their credential-free part URLs) are.
"""

from __future__ import annotations

import asyncio
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from exstreamtv.database.models import MediaItemRow, MediaSourceRow
from exstreamtv.database.store import LibraryStore
from tests.fakes.base import catalogue
from tests.fakes.plex import FakePlex
from tests.helpers import Server, base_config

PLEX_TOKEN = "plexATREST-3c4d5e6f7a"


@pytest.fixture
def plex(clips: Path) -> Iterator[FakePlex]:
    fake = FakePlex(PLEX_TOKEN, catalogue(clips)).start()
    yield fake
    fake.stop()


async def _dump(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            lines = []
            for table in meta.sorted_tables:
                for row in (await conn.execute(table.select())).all():
                    lines.append(f"{table.name}: {tuple(row)!r}")
            return "\n".join(lines)
    finally:
        await engine.dispose()


def _backup_text(archive: Path, work: Path) -> str:
    """The text of every member of a backup; a pg_dump member as the SQL it restores."""
    texts = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if data is None:
                continue
            content = data.read()
            if member.name.endswith(".pgdump"):
                dump = work / member.name
                dump.write_bytes(content)
                content = subprocess.run(["pg_restore", "--file=-", str(dump)],
                                         capture_output=True, check=True, timeout=120).stdout
            texts.append(content.decode(errors="replace"))
    return "\n".join(texts)


def test_no_token_in_database_or_backup(db_url: str, plex: FakePlex, clips: Path,
                                        tmp_path: Path,
                                        make_server: Callable[..., Server]) -> None:
    config = base_config(tmp_path, clips, database={"url": db_url})
    config["sources"].append({"id": "plex", "type": "plex", "url": plex.url,
                              "token": "${PLEX_TOKEN}"})
    backups = tmp_path / "backups"
    config["database_backup"] = {"enabled": False, "backup_directory": str(backups)}
    server = make_server(config, env={"PLEX_TOKEN": PLEX_TOKEN})
    server.wait_for(lambda: server.get("/api/database").json()["rows"]["items"] == 7,
                    timeout=60)

    rows = asyncio.run(_dump(db_url))
    assert "/library/parts/" in rows, "the Plex items were not stored"
    assert PLEX_TOKEN not in rows

    created = server.post("/api/backups", timeout=120)
    assert created.status_code == 201, created.text
    archive = backups / created.json()["file"]
    content = _backup_text(archive, tmp_path)
    assert "/library/parts/" in content
    assert PLEX_TOKEN not in content
    sidecars = "".join(p.read_text() for p in backups.glob("*.json"))
    assert sidecars and PLEX_TOKEN not in sidecars
    assert PLEX_TOKEN not in server.log


def test_rows_of_older_versions_lose_their_token(db_url: str) -> None:
    """A location stored with ``?X-Plex-Token=`` is read back without it and saved clean."""
    legacy = f"http://plex:32400/library/parts/7/1/file.mp4?X-Plex-Token={PLEX_TOKEN}"

    async def run() -> tuple[str, str]:
        manager = DatabaseConnectionManager(db_url)
        await manager.open()
        try:
            await migrate(manager)
            async with manager.session() as session, session.begin():
                session.add(MediaSourceRow(id="plex", type="plex", last_scan=0.0, item_count=1))
                await session.flush()
                session.add(MediaItemRow(source_id="plex", item_id="plex-7", title="Old",
                                         location=legacy, duration=5.0, info_path=legacy,
                                         format_name="mp4", item_metadata={}, updated_at=0.0))
            store = LibraryStore(manager)
            items = (await store.load())["plex"]
            await store.save("plex", "plex", items)
            return items[0].location, await _dump(db_url)
        finally:
            await manager.close()

    location, rows = asyncio.run(run())
    assert location == "http://plex:32400/library/parts/7/1/file.mp4"
    assert "/library/parts/7/1/file.mp4" in rows and PLEX_TOKEN not in rows
