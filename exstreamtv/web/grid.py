"""Guide grid blocks: a channel's entries placed in percent of a time window.

Shared by the dashboard's three-hour guide and the ``/guide`` day page. A run of entries
each showing less than ``min_seconds`` of the window is drawn as one block ("381 short
items") so a day of short clips stays a small page; a run of one is drawn as itself.
The loop does the least per entry (a day of four-second clips is 21,600 of them): it
reads each entry's start and duration once and builds a block only where one is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem


@dataclass(frozen=True, slots=True)
class Block:
    """One drawn block: ``left`` and ``width`` in percent of the window."""

    title: str
    kind: str  # program | filler | offline | many (a run of short entries)
    start: float
    end: float
    left: float
    width: float
    #: The item a single-entry block shows (None for offline and for a run).
    item: MediaItem | None = None
    count: int = 1


def grid_blocks(entries: Iterable[ScheduledItem], start: float, end: float,
                min_seconds: float) -> list[Block]:
    """``entries`` (in time order) as blocks of ``[start, end)``; entries before ``end`` only."""
    scale = 100.0 / (end - start)
    blocks: list[Block] = []

    def block(first: ScheduledItem, run_end: float, count: int) -> Block:
        left, right = max(first.start, start), min(run_end, end)
        if count > 1:
            title, kind, item = f"{count} short items", "many", None
        else:
            title, kind, item = first.title, first.kind, first.item
        return Block(title, kind, first.start, run_end, round((left - start) * scale, 3),
                     round((right - left) * scale, 3), item, count)

    run_first: ScheduledItem | None = None
    run_end = 0.0
    run_count = 0
    for entry in entries:
        begin = entry.start
        if begin >= end:
            break
        finish = begin + entry.duration
        if (finish if finish < end else end) - (begin if begin > start else start) < min_seconds:
            if run_count == 0:
                run_first = entry
            run_end = finish
            run_count += 1
            continue
        if run_first is not None and run_count:
            blocks.append(block(run_first, run_end, run_count))
            run_count = 0
        blocks.append(block(entry, finish, 1))
    if run_first is not None and run_count:
        blocks.append(block(run_first, run_end, run_count))
    return blocks
