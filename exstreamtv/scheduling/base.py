"""The scheduler contract: what is on a channel at time t, and what follows.

Times are POSIX seconds (floats). A scheduler is deterministic: the same config and
library give the same playout, so what is on at t survives restarts.
"""

from __future__ import annotations

import bisect
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exstreamtv.config.model import ChannelConfig
    from exstreamtv.media.library import Library
    from exstreamtv.media.models import MediaItem
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
class SchedulerContext:
    """What a scheduler may read: its channel, the library, the server's timezone.

    ``memory`` (kept by the channel manager across scheduler rebuilds) remembers items
    removed from a collection so a scheduler can skip them without moving the rest.
    """

    channel: ChannelConfig
    library: Library
    timezone: tzinfo
    memory: PlayoutMemory | None = None

    def collection(self, name: str) -> list[MediaItem]:
        """The items of collection ``name``, removed ones kept in place when remembered."""
        if self.memory is None:
            return self.library.collection(name)
        return self.memory.collection(self.library, name)

    @property
    def missing(self) -> frozenset[str]:
        """Ids of remembered items no longer in the library."""
        return frozenset(self.memory.missing) if self.memory is not None else frozenset()


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

    def __init__(self, items: Sequence[MediaItem], epoch: float, min_duration: float = 1.0) -> None:
        self.items = list(items)
        self.epoch = epoch
        self.durations = [max(item.duration, min_duration) for item in self.items]
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
