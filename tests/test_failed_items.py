"""An item a channel gave up on is remembered in the database and left out of the playout
until its file changes; the guide, /api/channels, health and the scheduler agree.

In-process hub on real SQLite (and PostgreSQL when configured), real clips, real scans;
the pipeline's report is the ``ItemFailed`` event it publishes on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from exstreamtv.events import ItemFailed
from exstreamtv.hub import Hub
from exstreamtv.scheduling.guide import GuideChannel, render_xmltv
from exstreamtv.web.api import channel_summary, health_report
from tests.database.conftest import fresh_postgres
from tests.helpers import base_config, make_clip, running_hub, until, write_config


def _folder(tmp: Path) -> Path:
    folder = tmp / "media"
    for n, name in enumerate(("a first", "b broken", "c last")):
        make_clip(folder / f"{name}.mp4", 3.0 + n, tone=300 + 100 * n)
    return folder


def _loop(hub: Hub, t: float) -> list[tuple[str | None, float, str]]:
    """One loop of channel 1: (item title or None, start, slot reason)."""
    entries = []
    for entry in hub.channels.scheduler(1).window(t, t + 12.0):
        entries.append((entry.item.title if entry.item else None, entry.start, entry.slot or ""))
    return entries


def test_failed_item_leaves_the_playout_until_its_file_changes(tmp_path: Path,
                                                                db_url: str) -> None:
    media = _folder(tmp_path)
    config = base_config(tmp_path, media)
    config["database"]["url"] = db_url
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    @contextlib.asynccontextmanager
    async def started() -> AsyncIterator[Hub]:
        async with running_hub(path) as hub:
            await until(lambda: hub.database.ready and len(hub.library.items.get("clips", [])) == 3)
            yield hub

    async def scenario() -> None:
        async with started() as hub:
            t = time.time()
            before = _loop(hub, t)
            broken = next(i for i in hub.library.items["clips"] if i.title == "b broken")
            hub.bus.publish(ItemFailed(channel=1, source_id="clips", item_id=broken.id,
                                       title=broken.title, location=broken.location,
                                       reason="ffmpeg eof (exit 0) after 0.4s", attempts=3))
            await until(lambda: hub.channels.failed_items.items)
            after = _loop(hub, t)
            # Same boundaries, nothing moved; the broken item's slot airs as offline, saying why.
            assert [s for _, s, _ in after] == [s for _, s, _ in before]
            swapped = [(a, b) for a, b in zip(before, after, strict=True) if a[0] != b[0]]
            assert swapped and all(a[0] == "b broken" and b[0] is None for a, b in swapped)
            assert all("'b broken' cannot be played (ffmpeg eof" in b[2] for _, b in swapped)
            # The guide shows it as off air; the API and health name it.
            start_b = swapped[0][1][1]
            summary = channel_summary(hub, 1, start_b + 0.5)
            assert summary["now"]["item_id"] is None and summary["now"]["kind"] == "offline"
            assert summary["health"]["status"] == "degraded"
            assert summary["health"]["failing_items"][0]["title"] == "b broken"
            assert summary["health"]["failing_items"][0]["unplayable"] is True
            report = health_report(hub)
            assert report["status"] == "degraded"
            assert "b broken" in report["components"]["channels"]["failing"]["1"]["reason"]
            guide = render_xmltv([GuideChannel(hub.config.channels[0],
                                               hub.channels.scheduler(1))], t, t + 12.0,
                                 merge_seconds=0)
            assert "b broken" not in guide and "off air" in guide

        # A restart reads it back from the database: still left out, and its place is kept
        # (the playout memory is stored too), so nothing else moved.
        async with started() as hub:
            await until(lambda: hub.channels.failed_items.items)
            titles = {e[0] for e in _loop(hub, time.time())}
            assert titles == {"a first", "c last", None}
            assert [s for _, s, _ in _loop(hub, t)] == [s for _, s, _ in before]
            # The file is replaced (fixed): the next scan forgives it.
            fixed = media / "b broken.mp4"
            fixed.unlink()
            make_clip(fixed, 2.0, tone=900)
            os.utime(fixed, (time.time() + 5, time.time() + 5))
            await hub.library.scan("clips")
            await until(lambda: not hub.channels.failed_items.items)
            assert "b broken" in {e[0] for e in _loop(hub, time.time())}
            assert channel_summary(hub, 1)["health"]["status"] == "ok"

        # ... and the database forgot it too.
        async with started() as hub:
            await asyncio.sleep(0)
            assert not hub.channels.failed_items.items

    asyncio.run(scenario())


def test_a_vanished_file_stays_out_until_it_comes_back(tmp_path: Path) -> None:
    """A file deleted between scan and play: remembered as missing (no fingerprint)."""
    media = _folder(tmp_path)
    config = base_config(tmp_path, media)
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def scenario() -> None:
        async with running_hub(path) as hub:
            await until(lambda: hub.database.ready and len(hub.library.items.get("clips", [])) == 3)
            item = next(i for i in hub.library.items["clips"] if i.title == "c last")
            kept = media / "c last.mp4.kept"
            os.replace(item.location, kept)
            hub.bus.publish(ItemFailed(channel=1, source_id="clips", item_id=item.id,
                                       title=item.title, location=item.location,
                                       reason="No such file or directory"))
            record = (await until(lambda: hub.channels.failed_items.items))[("clips", item.id)]
            assert record.fingerprint is None
            await hub.library.scan("clips")  # still gone: still failed
            assert hub.channels.failed_items.items
            os.replace(kept, item.location)
            await hub.library.scan("clips")
            await until(lambda: not hub.channels.failed_items.items)

    asyncio.run(scenario())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite or PostgreSQL database (PostgreSQL from EXSTREAMTV_TEST_POSTGRES_URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'failed.db'}"
        return
    with fresh_postgres() as url:
        yield url
