"""Playout building blocks: seeded shuffles, gap fillers, removed-item memory.

Everything here is a pure function of (items, seed, time): what is on at t is computed
with arithmetic and a binary search, never by walking the playout from its epoch.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from exstreamtv.scheduling.base import (
    ScheduledItem,
    Scheduler,
    SchedulerContext,
    offline_entries,
)

if TYPE_CHECKING:
    from exstreamtv.media.library import Library
    from exstreamtv.media.models import MediaItem

#: Shortest duration an item counts for (a zero-length item would stall the arithmetic).
MIN_DURATION = 1.0


def seeded_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from ``parts`` (stable across runs and Python versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


class ShuffledSequence:
    """Every item once per cycle, in a seeded order that changes each cycle.

    A cycle lasts the sum of all durations whatever its order, so the cycle at t is a
    division; the order inside it is a permutation seeded by (seed, cycle), and the
    entry is a binary search. The few most recent cycles are cached.
    """

    def __init__(self, items: Sequence[MediaItem], epoch: float, seed: object,
                 length: Callable[[MediaItem], float] | None = None) -> None:
        self.items = list(items)
        self.epoch = epoch
        self.seed = seed
        self.length = length or (lambda i: max(i.duration, MIN_DURATION))
        self.total = sum(self.length(i) for i in self.items)
        self._cycles: OrderedDict[int, tuple[list[MediaItem], list[float]]] = OrderedDict()

    def cycle(self, number: int) -> tuple[list[MediaItem], list[float]]:
        """The items of cycle ``number`` in play order, and their start offsets."""
        cached = self._cycles.get(number)
        if cached is not None:
            self._cycles.move_to_end(number)
            return cached
        order = list(self.items)
        seeded_rng(self.seed, number).shuffle(order)
        durations = [self.length(i) for i in order]
        starts = [0.0, *itertools.accumulate(durations)][:-1]
        self._cycles[number] = (order, starts)
        if len(self._cycles) > 4:
            self._cycles.popitem(last=False)
        return order, starts

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        if not self.items:
            yield from offline_entries(t, "the collection is empty")
            return
        number, pos = divmod(t - self.epoch, self.total)
        cycle = int(number)
        order, starts = self.cycle(cycle)
        index = bisect.bisect_right(starts, pos) - 1
        while True:
            base = self.epoch + cycle * self.total
            for i in range(index, len(order)):
                yield ScheduledItem(order[i], base + starts[i], self.length(order[i]))
            cycle += 1
            index = 0
            order, starts = self.cycle(cycle)


def fill_gap(
    start: float, end: float, filler: Sequence[MediaItem], seed: object, reason: str,
) -> list[ScheduledItem]:
    """Entries covering ``[start, end)``: filler items that fit, then offline for the rest.

    The choice is seeded by (seed, start), so the same gap is always filled the same way.
    """
    out: list[ScheduledItem] = []
    t = start
    fitting = sorted((i for i in filler if max(i.duration, MIN_DURATION) <= end - start),
                     key=lambda i: (max(i.duration, MIN_DURATION), i.id))
    lengths = [max(i.duration, MIN_DURATION) for i in fitting]
    rng = seeded_rng(seed, "filler", round(start, 3))
    while fitting:
        count = bisect.bisect_right(lengths, end - t + 1e-9)
        if count == 0:
            break
        item = fitting[rng.randrange(count)]
        out.append(ScheduledItem(item, t, max(item.duration, MIN_DURATION), kind="filler"))
        t += max(item.duration, MIN_DURATION)
    if end - t > 1e-6:
        out.append(ScheduledItem(None, t, end - t, kind="offline", slot=reason or None))
    return out


@dataclass
class PlayoutMemory:
    """What a channel's schedulers have seen, kept in memory across scheduler rebuilds.

    When an item disappears from a collection (a file deleted), the memory keeps it in
    its place as a *missing* item with its old duration. Schedulers build on the
    remembered list, so no other entry moves, and :func:`skip_missing` airs the missing
    item's time as filler or offline. An item that failed to play (``unplayable``) is
    missing in the same way, with its reason. New items are appended at the end. The
    channel manager stores the memory in the database (``channel_playout``), so a restart
    or a backup restore keeps the same places while the channel's schedule is unchanged.
    """

    collections: dict[str, list[MediaItem]] = field(default_factory=dict)
    #: Ids of missing items, with why each one is not played.
    missing: dict[str, str] = field(default_factory=dict)

    def collection(self, library: Library, name: str,
                   unplayable: Callable[[MediaItem], str | None] | None = None,
                   ) -> list[MediaItem]:
        """The remembered items of ``name``: current ones in place, removed ones kept."""
        current = library.collection(name)
        why: dict[str, str] = {}
        if unplayable is not None:
            for item in current:
                reason = unplayable(item)
                if reason is not None:
                    why[item.id] = f"'{item.title}' cannot be played ({reason})"
            current = [item for item in current if item.id not in why]
        known = self.collections.get(name)
        if known is None or not current:
            # First sight, or the whole collection is gone (an emptied folder is a run
            # time problem the scheduler reports, not a hole to paper over). Remembered
            # only once every source of the collection has been scanned: a first sight
            # taken while one source was still scanning would append its items after the
            # others' for good (a playlist across sources out of its order).
            if library.ready(name):
                self.collections[name] = list(current)
            return list(current)
        by_id = {item.id: item for item in current}
        merged: list[MediaItem] = []
        for old in known:
            new = by_id.pop(old.id, None)
            if new is None:
                self.missing[old.id] = why.get(
                    old.id, f"'{old.title}' was removed from the library")
                merged.append(old)
            else:
                self.missing.pop(old.id, None)
                # A re-probed item may have a new duration; keep the old one so the
                # playout does not shift.
                merged.append(replace(new, duration=old.duration))
        merged += [item for item in current if item.id in by_id]
        self.collections[name] = merged
        return list(merged)


def skip_missing(
    entries: Iterator[ScheduledItem], missing: Mapping[str, str] | set[str] | frozenset[str],
) -> Iterator[ScheduledItem]:
    """``entries`` with each missing item's time shown as offline, saying why.

    ``missing`` maps item ids to the reason (removed, cannot be played); a plain set of
    ids says "removed from the library".
    """
    for entry in entries:
        if entry.item is not None and entry.item.id in missing:
            reason = (missing[entry.item.id] if isinstance(missing, Mapping)
                      else f"'{entry.item.title}' was removed from the library")
            yield ScheduledItem(None, entry.start, entry.duration, kind="offline", slot=reason)
        else:
            yield entry


class SequenceScheduler(Scheduler):
    """A scheduler that plays one collection through a sequence (ordered, shuffle).

    Subclasses set ``self.sequence`` (anything with ``items`` and ``entries(t)``);
    removed items are skipped and an empty collection shows as degraded health.
    """

    sequence: Any

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.collection = str(options["collection"])

    @property
    def missing(self) -> Mapping[str, str]:
        """Items removed or unplayable, with why (read after the sequence read the collection)."""
        return self.context.missing

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        return skip_missing(self.sequence.entries(t), self.missing)

    def health(self) -> tuple[str, str]:
        why = self.context.problems(self.collection)
        if not self.sequence.items:
            return "degraded", (f"collection '{self.collection}' has no playable items"
                                + (f" ({why})" if why else ""))
        if why:
            return "degraded", why
        return "ok", ""
