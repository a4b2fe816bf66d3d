"""Items a channel could not play, remembered (in the database) until their file changes.

When a pipeline gives up on an item it publishes :class:`~exstreamtv.events.ItemFailed`;
the channel manager records it here. Schedulers leave recorded items out of the playout
(:class:`~exstreamtv.scheduling.base.SchedulerContext` consults :meth:`FailedItems.reason`),
and :attr:`FailedItems.version` is part of the key the channel manager caches schedulers
by, so the guide, ``/api/channels``, MQTT and the stream are rebuilt from the same
playout as soon as an item is recorded or forgiven.

An item is identified by (source id, item id) and its *fingerprint*: size and
modification time for a local file (None while the file is missing), a digest of the
location, duration and metadata for a remote one. After each scan of a source, items
whose fingerprint changed (the file was replaced, fixed, or came back) are forgotten
and scheduled again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from exstreamtv.database.models import FailedItemRow
from exstreamtv.database.store import _upsert

if TYPE_CHECKING:
    from exstreamtv.database.connection import DatabaseConnectionManager
    from exstreamtv.events import ItemFailed
    from exstreamtv.media.models import MediaItem
    from exstreamtv.media.source import MediaSource

log = logging.getLogger(__name__)

Key = tuple[str, str]


def fingerprint(location: str, item: MediaItem | None = None) -> str | None:
    """What tells that an item's file changed: ``size:mtime_ns`` locally (None if missing)."""
    if "://" in location and not location.startswith("file://"):
        data = {"location": location, "duration": item.duration if item else None,
                "metadata": dict(item.metadata) if item else {}}
        text = json.dumps(data, sort_keys=True, default=str)
        return "remote:" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    path = location.removeprefix("file://")
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


@dataclass(frozen=True)
class FailedItem:
    """One unplayable item and why."""

    source_id: str
    item_id: str
    title: str
    location: str
    reason: str
    fingerprint: str | None
    channel: int | None
    attempts: int
    failed_at: float

    @property
    def key(self) -> Key:
        return (self.source_id, self.item_id)

    def to_dict(self) -> dict[str, Any]:
        """For the API and MQTT: what failed, why, when, on which channel."""
        data = asdict(self)
        data.pop("fingerprint")
        return data


class FailedItems:
    """The unplayable items, in memory (the truth while running) and in the database."""

    def __init__(self, manager: DatabaseConnectionManager | None = None) -> None:
        self.manager = manager
        self.items: dict[Key, FailedItem] = {}
        self.version = 0
        #: Called after every change (an item recorded or forgiven).
        self.listeners: list[Callable[[], None]] = []

    # -- queries ---------------------------------------------------------------------

    def reason(self, item: MediaItem) -> str | None:
        """Why ``item`` is left out of the playout, or None when it may be scheduled."""
        record = self.items.get((item.source_id, item.id))
        return None if record is None else record.reason

    def for_channel(self, number: int) -> list[FailedItem]:
        """The failed items ``number`` reported, oldest first."""
        return sorted((r for r in self.items.values() if r.channel == number),
                      key=lambda r: r.failed_at)

    # -- changes ---------------------------------------------------------------------

    async def record(self, event: ItemFailed, item: MediaItem | None) -> FailedItem:
        """Remember the item of ``event`` as unplayable (its file as it is now)."""
        record = FailedItem(
            source_id=event.source_id, item_id=event.item_id, title=event.title,
            location=event.location, reason=event.reason,
            fingerprint=fingerprint(event.location, item), channel=event.channel,
            attempts=event.attempts, failed_at=event.timestamp)
        known = self.items.get(record.key)
        self.items[record.key] = record
        if known is None:
            log.warning("Channel %d: '%s' cannot be played (%s); it is left out of the "
                        "playout until its file changes", event.channel, event.title,
                        event.reason)
        self._changed()
        await self._save(record)
        return record

    async def check_scan(self, source: MediaSource, items: list[MediaItem]) -> None:
        """After a scan of ``source``: forget items whose file changed since they failed."""
        by_id = {item.id: item for item in items}
        changed = []
        for record in [r for r in self.items.values() if r.source_id == source.id]:
            item = by_id.get(record.item_id)
            location = item.location if item is not None else record.location
            if fingerprint(location, item) != record.fingerprint:
                changed.append(record)
        await self.forget(changed, "its file changed")

    async def forget(self, records: Iterable[FailedItem], why: str) -> None:
        """Schedule ``records`` again."""
        gone = [r for r in records if self.items.pop(r.key, None) is not None]
        if not gone:
            return
        for record in gone:
            log.info("'%s' is scheduled again (%s)", record.title, why)
        self._changed()
        if self.manager is None or not self.manager.is_open:
            return
        try:
            async with self.manager.session() as session, session.begin():
                for record in gone:
                    await session.execute(delete(FailedItemRow).where(
                        FailedItemRow.source_id == record.source_id,
                        FailedItemRow.item_id == record.item_id))
        except Exception as exc:
            log.error("Could not update the failed items in the database: %s", exc)

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("A failed-items listener failed")

    # -- persistence -----------------------------------------------------------------

    async def load(self) -> None:
        """Read the failed items of earlier runs (once the database is connected)."""
        if self.manager is None:
            return
        try:
            async with self.manager.session() as session:
                rows = (await session.scalars(select(FailedItemRow))).all()
        except Exception as exc:
            log.error("Could not load the failed items from the database: %s", exc)
            return
        loaded = 0
        for row in rows:
            key = (row.source_id, row.item_id)
            if key in self.items:
                continue  # recorded in this run before the database was reachable
            self.items[key] = FailedItem(
                row.source_id, row.item_id, row.title, row.location, row.reason,
                row.fingerprint, row.channel_number, row.attempts, row.failed_at)
            loaded += 1
        if loaded:
            log.info("%d item(s) that failed to play earlier stay out of the playout until "
                     "their files change", loaded)
            self._changed()
        for record in list(self.items.values()):
            await self._save(record)

    async def _save(self, record: FailedItem) -> None:
        if self.manager is None or not self.manager.is_open:
            return  # kept in memory; saved by load() once the database is there
        row = {"source_id": record.source_id, "item_id": record.item_id,
               "title": record.title, "location": record.location, "reason": record.reason,
               "fingerprint": record.fingerprint, "channel_number": record.channel,
               "attempts": record.attempts, "failed_at": record.failed_at or time.time()}
        try:
            await self.manager.write(lambda session: session.execute(
                _upsert(session, FailedItemRow.__table__, [row], ["source_id", "item_id"])))
        except Exception as exc:
            log.error("Could not save the failed item '%s' in the database: %s",
                      record.title, exc)
