"""Library <-> database: scans are saved, known items are used until the first scan ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from exstreamtv.config.model import SourceConfig
from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from exstreamtv.database.store import LibraryStore
from exstreamtv.events import EventBus
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.media.library import Library
from exstreamtv.media.models import DynamicRange, MediaInfo, MediaItem, StreamInfo
from exstreamtv.media.source import MediaSource, SourceContext


def _item(n: int) -> MediaItem:
    return MediaItem(id=f"s:{n}", source_id="s", title=f"Item {n}", location=f"/m/{n}.mp4",
                     duration=10.0, metadata={"path": f"{n}.mp4"}, collections=("s",))


class ListSource(MediaSource):
    """A source whose next scan returns ``self.next`` (or raises ``self.error``)."""

    def __init__(self, tmp: Path) -> None:
        tools = FFmpegTools("ffmpeg", None, "test", "path")
        super().__init__(SourceConfig(id="s", type="list"),
                         SourceContext(tools, tmp, EventBus()))
        self.next: list[MediaItem] = []
        self.error: Exception | None = None
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def scan(self) -> list[MediaItem]:
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return list(self.next)


def test_scans_are_saved_and_known_items_bridge_the_first_scan(
        sqlite_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        manager = DatabaseConnectionManager(sqlite_url)
        await manager.open()
        await migrate(manager)
        store = LibraryStore(manager)

        async def save(source: MediaSource, items: list[MediaItem]) -> None:
            await store.save(source.id, source.config.type, items)

        # First run: a scan finds two items and they are saved.
        library = Library(EventBus())
        library.scan_listeners.append(save)
        source = ListSource(tmp_path)
        source.next = [_item(2), _item(1)]
        source.release.set()
        library.add_source(source)
        await library.scan("s")
        assert (await store.load())["s"] == [_item(1), _item(2)]

        # Second run: the known items serve while the rescan is slow, then it fails.
        library = Library(EventBus())
        library.scan_listeners.append(save)
        source = ListSource(tmp_path)
        library.add_source(source)
        scan = asyncio.create_task(library.scan("s"))
        await source.started.wait()
        assert library.restore_items("s", (await store.load())["s"])
        assert await library.wait_ready("s", timeout=0.1)
        assert library.collection("s") == [_item(1), _item(2)]
        assert not library.restore_items("unknown", [_item(3)])
        source.error = OSError("share offline")
        source.release.set()
        status = await scan
        assert status.state == "error"
        assert library.collection("s") == [_item(1), _item(2)]
        assert (await store.load())["s"] == [_item(1), _item(2)]

        # A successful rescan replaces them, is saved, and later loads never overwrite it.
        source.error = None
        source.next = [_item(3)]
        await library.scan("s")
        assert library.collection("s") == [_item(3)]
        assert (await store.load())["s"] == [_item(3)]
        assert not library.restore_items("s", [_item(1)])
        assert library.collection("s") == [_item(3)]

        # A listener that fails does not fail the scan.
        async def broken(source: MediaSource, items: list[MediaItem]) -> None:
            raise RuntimeError("disk full")

        library.scan_listeners.insert(0, broken)
        source.next = [_item(4)]
        assert (await library.scan("s")).state == "ok"
        assert (await store.load())["s"] == [_item(4)]
        await manager.close()

    asyncio.run(run())


def test_dolby_vision_fields_survive_the_database(sqlite_url: str) -> None:
    """The configuration record's fields are kept with the stream (its JSON details)."""
    video = StreamInfo(0, "video", "hevc", width=3840, height=2160, color_transfer=None,
                       dv_profile=5, dv_compatibility_id=0)
    item = MediaItem(id="s:dv", source_id="s", title="DV", location="/m/dv.mp4",
                     duration=10.0, info=MediaInfo("/m/dv.mp4", 10.0, "mov", streams=(video,)))

    async def run() -> list[MediaItem]:
        manager = DatabaseConnectionManager(sqlite_url)
        await manager.open()
        await migrate(manager)
        store = LibraryStore(manager)
        await store.save("s", "local", [item])
        loaded = (await store.load())["s"]
        await manager.close()
        return loaded

    (loaded,) = asyncio.run(run())
    assert loaded.info is not None and loaded.info.streams == (video,)
    assert loaded.info.streams[0].dynamic_range is DynamicRange.DOLBY_VISION_ONLY
