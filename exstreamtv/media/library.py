"""The library: every source's items by collection, kept across failed scans."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from exstreamtv.events import EventBus, HealthEvent
from exstreamtv.media.collections import CollectionDefinition
from exstreamtv.media.models import MediaItem
from exstreamtv.media.source import MediaSource

log = logging.getLogger(__name__)

#: Called with (source, items) after each successful scan, e.g. to persist them.
ScanListener = Callable[[MediaSource, list[MediaItem]], Awaitable[None]]


@dataclass
class SourceStatus:
    """The outcome of a source's scans."""

    state: str = "pending"  # pending | scanning | ok | error
    items: int = 0
    last_scan: float | None = None
    error: str | None = None
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "items": self.items,
            "last_scan": self.last_scan,
            "error": self.error,
            "scan_seconds": self.duration,
        }


@dataclass
class Library:
    """Items by source id; each source id is also a collection name."""

    bus: EventBus
    sources: dict[str, MediaSource] = field(default_factory=dict)
    items: dict[str, list[MediaItem]] = field(default_factory=dict)
    status: dict[str, SourceStatus] = field(default_factory=dict)
    version: int = 0
    scan_listeners: list[ScanListener] = field(default_factory=list)
    _ready: dict[str, asyncio.Event] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _by_id: tuple[int, dict[str, MediaItem]] = (-1, {})
    #: Playlists and smart collections from the config, by name.
    definitions: dict[str, CollectionDefinition] = field(default_factory=dict)
    _resolved: dict[str, tuple[int, list[MediaItem], list[str]]] = field(default_factory=dict)

    def set_collections(self, definitions: Iterable[CollectionDefinition]) -> None:
        """Use the config's collections; a change counts as a library change."""
        new = {d.name: d for d in definitions}
        if new != self.definitions:
            self.definitions = new
            self._resolved.clear()
            self.version += 1

    def _resolve(self, name: str) -> tuple[list[MediaItem], list[str]]:
        cached = self._resolved.get(name)
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        found, problems = self.definitions[name].resolve(
            item for items in self.items.values() for item in items)
        self._resolved[name] = (self.version, found, problems)
        return found, problems

    def collection_problems(self, name: str) -> list[str]:
        """Why a configured collection lacks items (entries or a query matching nothing)."""
        return list(self._resolve(name)[1]) if name in self.definitions else []

    def _ready_event(self, name: str) -> asyncio.Event:
        if name not in self._ready:
            self._ready[name] = asyncio.Event()
        return self._ready[name]

    def add_source(self, source: MediaSource) -> None:
        """Track ``source``; its items appear after its first scan."""
        self.sources[source.id] = source
        self.status.setdefault(source.id, SourceStatus())

    async def remove_source(self, source_id: str) -> None:
        """Forget a source removed from the config."""
        source = self.sources.pop(source_id, None)
        self.items.pop(source_id, None)
        self.version += 1
        self.status.pop(source_id, None)
        if source is not None:
            await source.close()

    async def scan(self, source_id: str) -> SourceStatus:
        """Scan one source; on failure its known items are kept and the error recorded.

        Scans of one source never overlap: a second request waits for the running one.
        """
        lock = self._locks.setdefault(source_id, asyncio.Lock())
        async with lock:
            return await self._scan(source_id)

    async def rescan_periodically(self, source_id: str, minutes: float,
                                  retry_seconds: float = 30.0) -> None:
        """Scan ``source_id`` every ``minutes``; after a failure retry sooner (30 s, doubling).

        Ends when the source is removed or replaced (a config reload starts a new loop).
        """
        source = self.sources.get(source_id)
        interval = minutes * 60.0
        failures = 0
        while True:
            status = self.status.get(source_id)
            delay = interval
            if status is not None and status.state == "error":
                delay = min(interval, retry_seconds * 2 ** min(failures, 8))
                failures += 1
            else:
                failures = 0
            await asyncio.sleep(delay)
            if source is None or self.sources.get(source_id) is not source:
                return
            await self.scan(source_id)

    async def _scan(self, source_id: str) -> SourceStatus:
        source = self.sources[source_id]
        status = self.status.setdefault(source_id, SourceStatus())
        previous_state = status.state
        status.state = "scanning"
        started = time.monotonic()
        try:
            found = await source.scan()
        except Exception as exc:
            status.state = "error"
            status.error = str(exc) or type(exc).__name__
            if previous_state != "error":
                log.error(
                    "Source %s could not be scanned: %s. Keeping the %d items already known; "
                    "the next scan retries.",
                    source_id, status.error, len(self.items.get(source_id, [])),
                )
                self.bus.publish(HealthEvent(component=f"source:{source_id}", status="error",
                                             message=status.error))
        else:
            ordered = sorted(found, key=lambda item: item.sort_key)
            if ordered != self.items.get(source_id):
                self.items[source_id] = ordered
                self.version += 1
            status.items = len(found)
            status.error = None
            status.state = "ok"
            if previous_state == "error":
                log.info("Source %s is readable again (%d items)", source_id, len(found))
                self.bus.publish(HealthEvent(component=f"source:{source_id}", status="ok"))
            # Ready as soon as its items are here (the listeners only store them), so what
            # reads them meanwhile sees the source as scanned.
            self._ready_event(source_id).set()
            for listener in self.scan_listeners:
                try:
                    await listener(source, ordered)
                except Exception as exc:
                    log.error("Saving the scan of %s failed: %s", source_id, exc)
        status.last_scan = time.time()
        status.duration = round(time.monotonic() - started, 3)
        self._ready_event(source_id).set()
        return status

    def restore_items(self, source_id: str, items: list[MediaItem]) -> bool:
        """Use items known from an earlier run until the source's first scan finishes.

        Only fills a configured source that has no items yet; returns True if it did.
        """
        if source_id not in self.sources or source_id in self.items or not items:
            return False
        self.items[source_id] = sorted(items, key=lambda item: item.sort_key)
        self.version += 1
        status = self.status.setdefault(source_id, SourceStatus())
        status.items = len(items)
        self._ready_event(source_id).set()
        return True

    def item(self, item_id: str) -> MediaItem | None:
        """The item with id ``item_id`` (an index rebuilt once per library version)."""
        version, index = self._by_id
        if version != self.version:
            index = {item.id: item for items in self.items.values() for item in items}
            self._by_id = (self.version, index)
        return index.get(item_id)

    def collection(self, name: str) -> list[MediaItem]:
        """The items of a collection (a source id, a configured collection, or one a
        source builds while scanning)."""
        if name in self.definitions:
            return list(self._resolve(name)[0])
        if name in self.items:
            return list(self.items[name])
        members = [
            item for items in self.items.values() for item in items if name in item.collections
        ]
        # A media server's playlist keeps its own order (see RemoteSource.groupings).
        if any(name in (item.metadata.get("positions") or {}) for item in members):
            members.sort(key=lambda item: (item.metadata.get("positions") or {}).get(name, 0))
        return members

    def _sources_of(self, name: str) -> list[str]:
        """The configured sources collection ``name`` draws from: itself (a source id),
        its prefix (``<source id>:<kind>:<name>``: a show, a genre), or the sources a
        configured collection names (every source when one of its queries names none)."""
        definition = self.definitions.get(name)
        if definition is not None:
            queries = [*definition.entries, *([definition.query] if definition.query else [])]
            if any(not q.source for q in queries):
                return list(self.sources)
            return [s for s in sorted(definition.sources) if s in self.sources]
        source = name if name in self.sources else name.partition(":")[0]
        return [source] if source in self.sources else []

    def ready(self, name: str) -> bool:
        """Whether every source collection ``name`` draws from has finished a first scan
        (or holds the items of an earlier run)."""
        return all(self._ready_event(s).is_set() for s in self._sources_of(name))

    async def wait_ready(self, name: str, timeout: float = 30.0) -> bool:
        """Wait until every source of the collection finished its first scan."""
        try:
            async with asyncio.timeout(timeout):
                for source in self._sources_of(name):
                    await self._ready_event(source).wait()
        except TimeoutError:
            return False
        return True
