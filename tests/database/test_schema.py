"""Migrations (applied once, serialised, newer schemas refused) and the library store."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect, text

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import SchemaTooNew, head_revision, migrate, schema_revision
from exstreamtv.database.store import LibraryStore
from exstreamtv.media.models import MediaInfo, MediaItem, StreamInfo

TABLES = {"media_sources", "media_items", "media_streams", "collections", "collection_items",
          "channel_playout", "play_history", "cooldowns", "healing_outcomes", "backups",
          "alembic_version"}


def _item(n: int, source: str = "movies", streams: int = 2) -> MediaItem:
    info = MediaInfo(
        path=f"/media/{n}.mkv", duration=60.0 + n, format_name="matroska,webm", bit_rate=900_000,
        streams=(
            StreamInfo(index=0, type="video", codec="h264", width=320, height=180, fps=25.0,
                       pix_fmt="yuv420p", default=True),
            *(StreamInfo(index=i + 1, type="audio", codec="aac", language=lang, channels=2,
                         channel_layout="stereo", sample_rate=48000, title=f"Audio {lang}")
              for i, lang in enumerate(("eng", "fre")[:streams - 1])),
            StreamInfo(index=streams, type="subtitle", codec="subrip", language="eng",
                       hearing_impaired=True, external_path=f"/media/{n}.en.srt"),
        ),
    )
    return MediaItem(id=f"{source}:{n}", source_id=source, title=f"Film {n}",
                     location=f"/media/{n}.mkv", duration=60.0 + n, info=info,
                     metadata={"path": f"{n}.mkv", "season": 1, "episode": n},
                     collections=tuple(sorted({source, "favourites"})))


def test_migrate_creates_schema_once(db_url: str) -> None:
    async def run() -> tuple[set[str], str | None, str]:
        manager = DatabaseConnectionManager(db_url)
        await manager.open()
        first = await migrate(manager)
        second = await migrate(manager)  # a no-op
        async with manager.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        revision = await schema_revision(manager)
        await manager.close()
        assert first == second
        return tables, revision, first

    tables, revision, head = asyncio.run(run())
    assert tables >= TABLES
    assert revision == head == head_revision()


def test_newer_schema_is_refused(db_url: str) -> None:
    async def run() -> str:
        manager = DatabaseConnectionManager(db_url)
        await manager.open()
        await migrate(manager)
        async with manager.connection() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'ffff0099'"))
        try:
            with pytest.raises(SchemaTooNew) as caught:
                await migrate(manager)
            return str(caught.value)
        finally:
            await manager.close()

    message = asyncio.run(run())
    assert "ffff0099" in message and "newer version" in message and "Upgrade" in message


def test_concurrent_migrations_are_serialised(db_url: str) -> None:
    """Two servers starting on one empty database: both succeed, the schema is made once."""

    async def run() -> list[str]:
        managers = [DatabaseConnectionManager(db_url) for _ in range(3)]
        for manager in managers:
            await manager.open()
        try:
            return list(await asyncio.gather(*(migrate(m) for m in managers)))
        finally:
            for manager in managers:
                await manager.close()

    assert asyncio.run(run()) == [head_revision()] * 3


def test_library_store_round_trip(db_url: str) -> None:
    async def run() -> None:
        manager = DatabaseConnectionManager(db_url)
        await manager.open()
        await migrate(manager)
        store = LibraryStore(manager)
        items = [_item(n) for n in range(1, 6)]
        await store.save("movies", "local", items)
        await store.save("shows", "local", [_item(9, "shows", streams=3)])
        loaded = await store.load()
        assert loaded["movies"] == sorted(items, key=lambda i: i.sort_key)
        assert loaded["shows"] == [_item(9, "shows", streams=3)]
        # A rescan: item 2 is gone, item 3 lost its French track, item 7 is new.
        rescanned = [items[0], _item(3, streams=1), items[3], items[4], _item(7)]
        await store.save("movies", "local", rescanned)
        loaded = await store.load()
        assert loaded["movies"] == sorted(rescanned, key=lambda i: i.sort_key)
        assert loaded["shows"] == [_item(9, "shows", streams=3)]
        async with manager.connection() as conn:
            streams = (await conn.execute(text(
                "SELECT count(*) FROM media_streams WHERE source_id = 'movies'"))).scalar()
        assert streams == 4 * 3 + 2  # video, audio, subtitle each; item 3 has no audio
        await manager.close()

    asyncio.run(run())
