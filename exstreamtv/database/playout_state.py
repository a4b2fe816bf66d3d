"""Playout state kept in the database: each channel's playout memory and its play history.

Schedules are pure functions of time and seed, so what is on at t needs no stored
position. What a restart would otherwise lose is what the channel *has seen*: the
:class:`~exstreamtv.scheduling.sequences.PlayoutMemory` (items removed from a collection
keep their place, so nothing else moves). It is saved in ``channel_playout.state``
whenever it changes and loaded when the database connects; a stored memory is used only
while the channel's schedule is the one it was saved for (``channel_playout.scheduler``
holds a digest of the schedule). A backup restore brings back the rows the backup had.

An on-demand channel's position (``schedule.clock: on_demand``) is stored in the same
state (``clock``), so a restart resumes where the last viewer stopped.

``play_history`` records what aired when per channel (one row per item a pipeline
started), written from the channel ``item`` events.

``cooldowns`` holds each channel's cooldown book
(:mod:`exstreamtv.scheduling.cooldowns`): one row per key that rests, with the time it
may start again; rows whose time has passed are deleted when the books are loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from exstreamtv.database.models import ChannelPlayoutRow, CooldownRow, PlayHistoryRow
from exstreamtv.database.store import _upsert
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.cooldowns import Cooldown, CooldownBook
from exstreamtv.scheduling.sequences import PlayoutMemory

if TYPE_CHECKING:
    from exstreamtv.config.model import ChannelConfig
    from exstreamtv.database.connection import DatabaseConnectionManager
    from exstreamtv.events import ChannelEvent

log = logging.getLogger(__name__)


def schedule_key(channel: ChannelConfig) -> str:
    """A digest of the channel's schedule: a stored memory fits only the same schedule."""
    text = json.dumps([channel.schedule.type, dict(channel.schedule.options)], sort_keys=True,
                      default=str)
    return f"{channel.schedule.type}:{hashlib.blake2b(text.encode(), digest_size=10).hexdigest()}"


def _item(item: MediaItem) -> dict[str, Any]:
    return {"id": item.id, "source_id": item.source_id, "title": item.title,
            "location": item.location, "duration": item.duration}


def memory_to_state(memory: PlayoutMemory) -> dict[str, Any]:
    """The JSON form of a playout memory (items by identity and duration only)."""
    return {"collections": {name: [_item(i) for i in items]
                            for name, items in sorted(memory.collections.items())},
            "missing": dict(sorted(memory.missing.items()))}


def memory_from_state(state: dict[str, Any]) -> PlayoutMemory:
    """A playout memory from its JSON form; the library's own items replace the stubs as
    soon as a scheduler reads a collection (durations stay as remembered)."""
    collections = {
        str(name): [MediaItem(id=str(i["id"]), source_id=str(i["source_id"]),
                              title=str(i["title"]), location=str(i["location"]),
                              duration=float(i["duration"])) for i in items]
        for name, items in (state.get("collections") or {}).items()}
    missing = {str(k): str(v) for k, v in (state.get("missing") or {}).items()}
    return PlayoutMemory(collections, missing)


@dataclass(frozen=True)
class StoredPlayout:
    """A channel's stored state: the schedule it was saved for, its memory, its clock."""

    key: str
    memory: PlayoutMemory
    clock: float | None = None


class PlayoutStore:
    """Reads and writes ``channel_playout`` and ``play_history`` through the connection
    manager; every failure is logged and leaves the running channel alone."""

    def __init__(self, manager: DatabaseConnectionManager) -> None:
        self.manager = manager
        self._saved: dict[int, tuple[str, dict[str, Any]]] = {}

    @property
    def ready(self) -> bool:
        return self.manager.is_open

    async def load(self) -> dict[int, StoredPlayout]:
        """Stored memories by channel number, with the schedule key each was saved for."""
        async with self.manager.session() as session:
            rows = (await session.scalars(select(ChannelPlayoutRow))).all()
        out: dict[int, StoredPlayout] = {}
        for row in rows:
            try:
                state = dict(row.state)
                clock = state.get("clock")
                out[row.channel_number] = StoredPlayout(
                    row.scheduler, memory_from_state(state),
                    float(clock) if clock is not None else None)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("Channel %d: its stored playout state is unreadable (%s); it "
                            "starts from the library as it is", row.channel_number, exc)
                continue
            self._saved[row.channel_number] = (row.scheduler, dict(row.state))
        return out

    async def save(self, channel: ChannelConfig, memory: PlayoutMemory, epoch: float = 0.0,
                   seed: int | None = None, clock: float | None = None) -> bool:
        """Store ``memory`` (and an on-demand channel's position, ``clock``) for
        ``channel`` if they changed since the last save."""
        key, state = schedule_key(channel), memory_to_state(memory)
        if clock is not None:
            state["clock"] = round(clock, 3)
        if self._saved.get(channel.number) == (key, state) or not self.ready:
            return False
        row = {"channel_number": channel.number, "scheduler": key, "epoch": epoch,
               "position": 0, "seed": seed, "state": state, "updated_at": time.time()}
        try:
            await self.manager.write(lambda session: session.execute(
                _upsert(session, ChannelPlayoutRow.__table__, [row], ["channel_number"])))
        except Exception as exc:
            log.error("Channel %d: could not save its playout state: %s", channel.number, exc)
            return False
        self._saved[channel.number] = (key, state)
        return True

    async def record_play(self, event: ChannelEvent) -> None:
        """One ``play_history`` row for an item a channel started."""
        if not self.ready or not event.item_id:
            return
        row = PlayHistoryRow(channel_number=event.channel, source_id=event.source_id,
                             item_id=event.item_id, collection=None,
                             kind=event.entry_kind or "program",
                             started_at=event.started_at or event.timestamp,
                             duration=event.duration or 0.0)

        async def add(session: AsyncSession) -> None:
            session.add(row)

        try:
            await self.manager.write(add)
        except Exception as exc:
            log.error("Channel %d: could not record what aired: %s", event.channel, exc)

    async def save_cooldowns(self, channel: int, cooldowns: list[Cooldown]) -> None:
        """Store cooldowns a channel's airing started (a later ``until`` replaces a key's)."""
        if not self.ready or not cooldowns:
            return
        rows = [{"channel_number": channel, "key": c.key[:500], "until": c.until}
                for c in cooldowns]
        try:
            await self.manager.write(lambda session: session.execute(
                _upsert(session, CooldownRow.__table__, rows, ["channel_number", "key"])))
        except Exception as exc:
            log.error("Channel %d: could not save its cooldowns: %s", channel, exc)

    async def load_cooldowns(self, now: float | None = None) -> dict[int, CooldownBook]:
        """The cooldown books by channel, without (and deleting) the rows that have ended."""
        now = time.time() if now is None else now
        async with self.manager.session() as session, session.begin():
            await session.execute(delete(CooldownRow).where(CooldownRow.until <= now))
            rows = (await session.scalars(select(CooldownRow))).all()
        books: dict[int, CooldownBook] = {}
        for row in rows:
            books.setdefault(row.channel_number, CooldownBook()).add(
                [Cooldown(row.key, row.until)])
        return books

    async def history(self, channel: int, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` plays of ``channel``, newest first."""
        async with self.manager.session() as session:
            rows = (await session.scalars(
                select(PlayHistoryRow).where(PlayHistoryRow.channel_number == channel)
                .order_by(PlayHistoryRow.started_at.desc()).limit(limit))).all()
        return [{"item_id": r.item_id, "source_id": r.source_id, "kind": r.kind,
                 "started_at": r.started_at, "duration": r.duration} for r in rows]
