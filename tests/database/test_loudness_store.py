"""Loudness measurements survive a restart: kept in the database with the file's fingerprint."""

from __future__ import annotations

import asyncio

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from exstreamtv.media.loudness import LoudnessCache
from tests.helpers import ffmpeg_bin
from tests.test_loudness import item_of, quiet


def test_measurements_are_kept_and_reused(db_url: str) -> None:
    item = item_of(quiet())

    async def run() -> tuple[object, object, int, int]:
        manager = DatabaseConnectionManager(db_url)
        await manager.open()
        await migrate(manager)
        first = LoudnessCache(ffmpeg=ffmpeg_bin(), manager=manager)
        measured = await first.ensure(item, 1, None)
        second = LoudnessCache(ffmpeg=ffmpeg_bin(), manager=manager)  # the next start
        await second.load()
        again = second.lookup(item, 1, None)
        other_downmix = second.lookup_known(item, 1, "pan=mono|c0=FL")
        await second.stop()
        await manager.close()
        assert other_downmix is None  # measured per stream and downmix
        return measured, again, first.measured, second.measured

    measured, again, first_count, second_count = asyncio.run(run())
    assert again == measured and (first_count, second_count) == (1, 0)
