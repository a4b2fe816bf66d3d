"""Mirror channels: another channel's playout, shifted later in time.

A channel with ``mirror_of: 3`` and ``offset_minutes: 60`` plays exactly what channel 3
played an hour earlier: what is on at t is channel 3's entry at ``t - offset``, moved by
the offset. There is no second schedule, so the mirror follows every change of its
source (config, library, removed or failed items) while keeping its own viewers,
pipeline and guide.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SlotWindow


class MirrorScheduler(Scheduler):
    """``source``'s entries, ``offset`` seconds later."""

    def __init__(self, source: Scheduler, offset: float) -> None:
        super().__init__({}, source.context)
        self.source = source
        self.offset = offset

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        for entry in self.source.entries(t - self.offset):
            yield replace(entry, start=entry.start + self.offset)

    def health(self) -> tuple[str, str]:
        return self.source.health()

    def stats(self, start: float, end: float) -> dict[str, Any] | None:
        return self.source.stats(start - self.offset, end - self.offset)

    def slot_windows(self, t: float) -> tuple[SlotWindow | None, SlotWindow | None]:
        active, following = self.source.slot_windows(t - self.offset)
        return (active.shifted(self.offset) if active else None,
                following.shifted(self.offset) if following else None)

    @property
    def merge_flex_seconds(self) -> float:
        """The source's guide merging, so both guides show the same entries."""
        return float(getattr(self.source, "merge_flex_seconds", 0.0))
