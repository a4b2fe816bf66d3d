"""On-demand channels (``schedule.clock: on_demand``): the playout clock runs only while
someone watches.

The channel's schedule is unchanged (a pure function of its own time); what differs is
which of its moments is "now". :class:`OnDemandClock` keeps the channel's position (its
own time) and whether it is being watched; :class:`OnDemandScheduler` shows the inner
playout moved so that the position is now, so the guide and the API show what will play
from now on, and a viewer resumes where the last one stopped. The position starts at
the schedule's epoch (the beginning of the playout) and is stored in the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SlotWindow
from exstreamtv.scheduling.cooldowns import Cooldown

WALL = "wall"
ON_DEMAND = "on_demand"
CLOCKS = (WALL, ON_DEMAND)


@dataclass
class OnDemandClock:
    """A channel's own time: ``position`` while paused, running while ``watching_since``."""

    position: float
    watching_since: float | None = None

    def now(self, real: float) -> float:
        """The channel's time at real time ``real``."""
        if self.watching_since is None:
            return self.position
        return self.position + max(0.0, real - self.watching_since)

    def resume(self, real: float) -> None:
        """Someone started watching."""
        if self.watching_since is None:
            self.watching_since = real

    def pause(self, real: float) -> None:
        """The last viewer left: the position stops here."""
        self.position = self.now(real)
        self.watching_since = None


class OnDemandScheduler(Scheduler):
    """``inner`` moved so that its entry at the clock's position is on now."""

    def __init__(self, inner: Scheduler, clock: OnDemandClock,
                 real_time: Callable[[], float] = time.time) -> None:
        super().__init__(inner.options, inner.context)
        self.inner = inner
        self.clock = clock
        self.real_time = real_time

    def shift(self, t: float | None = None) -> float:
        """Real time minus the channel's time: constant while watched; while paused, the
        position is at ``t`` (the moment asked about, else now)."""
        clock = self.clock
        if clock.watching_since is not None:
            return clock.watching_since - clock.position
        return (self.real_time() if t is None else t) - clock.position

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        shift = self.shift(t)
        for entry in self.inner.entries(t - shift):
            yield replace(entry, start=entry.start + shift)

    def health(self) -> tuple[str, str]:
        return self.inner.health()

    def stats(self, start: float, end: float) -> dict[str, Any] | None:
        shift = self.shift()
        return self.inner.stats(start - shift, end - shift)

    def cooldowns(self, entry: ScheduledItem) -> list[Cooldown]:
        """The inner scheduler's, in its own time (the one its planners work in)."""
        shift = self.shift(entry.start)
        return self.inner.cooldowns(replace(entry, start=entry.start - shift))

    def slot_windows(self, t: float) -> tuple[SlotWindow | None, SlotWindow | None]:
        shift = self.shift(t)
        active, following = self.inner.slot_windows(t - shift)
        return (active.shifted(shift) if active else None,
                following.shifted(shift) if following else None)

    @property
    def merge_flex_seconds(self) -> float:
        return float(getattr(self.inner, "merge_flex_seconds", 0.0))
