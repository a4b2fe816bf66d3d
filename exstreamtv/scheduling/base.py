"""The scheduler contract: what is on a channel at time t, and what follows.

Times are POSIX seconds (floats). A scheduler is deterministic: the same config and
library give the same playout, so what is on at t survives restarts.
"""

from __future__ import annotations

import bisect
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exstreamtv.config.model import ChannelConfig
    from exstreamtv.media.library import Library
    from exstreamtv.media.models import MediaItem
    from exstreamtv.scheduling.cooldowns import Cooldown, CooldownBook
    from exstreamtv.scheduling.sequences import PlayoutMemory

#: How long one "offline" entry lasts when a channel has nothing to play.
OFFLINE_BLOCK_SECONDS = 300.0


@dataclass(frozen=True)
class ScheduledItem:
    """One entry of a channel's playout: an item (or nothing: offline) from start for duration."""

    item: MediaItem | None
    start: float
    duration: float
    kind: str = "program"  # program | filler | offline
    slot: str | None = None
    #: Where in the item this entry begins (a programme resumed after a mid-roll break).
    seek: float = 0.0

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def title(self) -> str:
        if self.item is not None:
            return self.item.title
        return "Offline"

    def offset_at(self, t: float) -> float:
        """Seconds into the item at time ``t``."""
        return min(max(0.0, t - self.start), self.duration)


@dataclass(frozen=True)
class SlotWindow:
    """A named window of a channel's grid (a time slot on one day), POSIX seconds."""

    name: str
    start: float
    end: float
    collection: str | None = None

    def shifted(self, offset: float) -> SlotWindow:
        return SlotWindow(self.name, self.start + offset, self.end + offset, self.collection)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end,
                "collection": self.collection}


@dataclass(frozen=True)
class SchedulerContext:
    """What a scheduler may read: its channel, the library, the server's timezone.

    ``memory`` (kept by the channel manager across scheduler rebuilds) remembers items
    removed from a collection so a scheduler can skip them without moving the rest.
    ``unplayable`` says why an item must not be scheduled (it failed to play and its
    file has not changed since), or None: such items count as removed.
    ``cooldowns`` is what the channel aired that still rests (kept in the database
    across restarts, see :mod:`exstreamtv.scheduling.cooldowns`); planners hold it back.
    """

    channel: ChannelConfig
    library: Library
    timezone: tzinfo
    memory: PlayoutMemory | None = None
    unplayable: Callable[[MediaItem], str | None] | None = None
    cooldowns: CooldownBook | None = None

    def resting(self, key: str, t: float, cooldown: float) -> bool:
        """Whether an earlier airing holds ``key`` back at ``t`` (see ``cooldowns``)."""
        return self.cooldowns is not None and self.cooldowns.holds(key, t, cooldown)

    def slot_length(self, item: MediaItem) -> float:
        """How long ``item`` holds the channel: its duration, rounded up to the channel's
        ``pad_to_minutes`` quantum when it has one (breaks fill the difference)."""
        length = max(item.duration, 1.0)
        pad = float(self.channel.schedule.options.get("pad_to_minutes") or 0) * 60.0
        if pad <= 0:
            return length
        return math.ceil(length / pad - 1e-9) * pad

    def collection(self, name: str) -> list[MediaItem]:
        """The playable items of ``name``, removed or unplayable ones kept in place when
        remembered."""
        if self.memory is not None:
            return self.memory.collection(self.library, name, self.unplayable)
        items = self.library.collection(name)
        if self.unplayable is None:
            return items
        return [item for item in items if self.unplayable(item) is None]

    def problems(self, name: str) -> str:
        """Why the configured collection ``name`` lacks items ("" when nothing is wrong)."""
        found = getattr(self.library, "collection_problems", None)
        return "; ".join(found(name)) if found is not None else ""

    @property
    def missing(self) -> Mapping[str, str]:
        """Remembered items no longer playable (removed or failed), by id, with why."""
        return dict(self.memory.missing) if self.memory is not None else {}


class Scheduler(ABC):
    """Base class of schedule plugins (``schedule.type`` in the config)."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        self.options = options
        self.context = context

    @abstractmethod
    def entries(self, t: float) -> Iterator[ScheduledItem]:
        """Entries from the one on air at ``t`` onwards, endlessly."""

    def item_at(self, t: float) -> ScheduledItem:
        """The entry on air at ``t``."""
        return next(iter(self.entries(t)))

    def window(self, start: float, end: float) -> list[ScheduledItem]:
        """Every entry overlapping ``[start, end)``, for the guide."""
        out = []
        for entry in self.entries(start):
            if entry.start >= end:
                break
            out.append(entry)
        return out

    def fill(self, start: float, end: float, reason: str) -> list[ScheduledItem]:
        """Entries covering ``[start, end)`` in place of an item that failed: the schedule's
        ``filler`` collection where items fit, else offline with ``reason``."""
        from exstreamtv.scheduling.sequences import fill_gap

        name = self.options.get("filler")
        items = self.context.collection(str(name)) if name else []
        return fill_gap(start, end, items, ("failed", self.context.channel.number), reason)

    def health(self) -> tuple[str, str]:
        """("ok"|"degraded", reason) for the channel's health component."""
        return "ok", ""

    def stats(self, start: float, end: float) -> dict[str, Any] | None:
        """Distribution stats over ``[start, end)`` where a scheduler keeps them, else None."""
        return None

    def cooldowns(self, entry: ScheduledItem) -> list[Cooldown]:
        """The cooldowns that airing ``entry`` (one of this scheduler's) starts."""
        return []

    def slot_windows(self, t: float) -> tuple[SlotWindow | None, SlotWindow | None]:
        """(the slot whose window holds ``t``, the next slot to start) for schedules made of
        slots; (None, None) for the others."""
        return None, None


def offline_entries(t: float, reason: str = "") -> Iterator[ScheduledItem]:
    """Endless offline blocks aligned to OFFLINE_BLOCK_SECONDS."""
    start = t - (t % OFFLINE_BLOCK_SECONDS)
    while True:
        yield ScheduledItem(None, start, OFFLINE_BLOCK_SECONDS, kind="offline", slot=reason or None)
        start += OFFLINE_BLOCK_SECONDS


class LoopingSequence:
    """A fixed list of items played back to back from ``epoch``, forever.

    Finding the item at any t is a division and a binary search: O(log n),
    independent of how long the channel has run.
    """

    def __init__(self, items: Sequence[MediaItem], epoch: float, min_duration: float = 1.0,
                 length: Callable[[MediaItem], float] | None = None) -> None:
        self.items = list(items)
        self.epoch = epoch
        self.durations = [length(item) if length else max(item.duration, min_duration)
                          for item in self.items]
        self.starts = [0.0, *itertools.accumulate(self.durations)][:-1] if self.items else []
        self.total = sum(self.durations)

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        if not self.items:
            yield from offline_entries(t, "the collection is empty")
            return
        loops, pos = divmod(t - self.epoch, self.total)
        index = bisect.bisect_right(self.starts, pos) - 1
        start = self.epoch + loops * self.total + self.starts[index]
        while True:
            yield ScheduledItem(self.items[index], start, self.durations[index])
            start += self.durations[index]
            index += 1
            if index == len(self.items):
                index = 0
