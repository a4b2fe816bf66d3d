"""Time-slot scheduling (spec 3.1): a daily grid of wall-clock slots, each its own collection.

Rules (see docs/scheduling.md):

* A slot occurrence starts at ``start_time`` on each local day its ``days_of_week``
  bit is set (Monday = 1 ... Sunday = 64), in ``server.timezone``, and ends at the
  wall-clock time ``duration_minutes`` later, so slots hold across DST changes (a slot
  spanning the spring change is an hour shorter in real time, the autumn one longer).
* Each slot walks its collection on a private clock that advances by the slot's
  nominal length per occurrence, so occurrence k airs exactly the items whose start
  falls in ``[k*D, (k+1)*D)`` of that clock: in ``ordered`` mode every item once per
  loop, in order, continuing where the previous day stopped.
* The last item that would cross the slot end follows ``flex_mode``: ``none`` cuts it at
  the slot end; ``extend`` plays it to its end and the next slot starts late (its end
  does not move, it loses the time, and its own last items only fit in what is left);
  ``compress`` does not start it (it is skipped this time round) and pads instead.
* Time left in a slot is padding (``padding_mode``): ``none`` offline, ``filler`` items
  from the filler collection that fit (offline without one), ``loop`` more items of
  the slot's collection, ``next`` starts the next slot at once.
* ``max_lateness_minutes`` (per slot, or for every slot at the schedule level) bounds
  how late an overrun may push a slot: when the slot before would run past this slot's
  start by more than that, the overrunning entry is cut so this slot starts exactly
  that late. Unset, a slot waits for the overrun to end.
* Time outside every slot plays the schedule's ``filler`` or the offline screen.
* With ``pad_to_minutes`` an item holds the channel for its length rounded up to the
  quantum, so the filler lists' pre-, mid- and post-roll breaks air inside the slot
  (see ``breaks.py``, which wraps every schedule type).

What is on at t needs only the occurrences of t's day and its neighbours: arithmetic
(occurrence numbers by counting weekdays) and binary searches, whatever the epoch.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import (
    LoopingSequence,
    ScheduledItem,
    Scheduler,
    SchedulerContext,
    SlotWindow,
)
from exstreamtv.scheduling.options import parse_epoch
from exstreamtv.scheduling.sequences import (
    ShuffledSequence,
    fill_gap,
    seeded_rng,
    skip_missing,
)
from exstreamtv.scheduling.slot_options import TimeSlot, slots_from_options


@dataclass(frozen=True)
class Occurrence:
    """A slot on one local day: its wall-clock window as POSIX seconds, and its number."""

    slot: TimeSlot
    index: int  # position of the slot in the config
    day: date
    start: float
    end: float
    number: int  # how many times this slot ran between the epoch and this one


def wall_clock(day: date, at: time, tz: tzinfo) -> float:
    """POSIX seconds of the local wall-clock ``at`` on ``day``.

    A time in the repeated hour (autumn) is its first occurrence. A time skipped by a
    DST change (spring) is the end of the gap: the first instant that exists after it.
    """
    naive = datetime.combine(day, at)
    early = naive.replace(tzinfo=tz).timestamp()
    if datetime.fromtimestamp(early, tz).replace(tzinfo=None) == naive:
        return early
    # In a gap: fold=1 lands before the change, fold=0 after it; bisect for the change.
    low, high = naive.replace(tzinfo=tz, fold=1).timestamp(), early
    low, high = min(low, high), max(low, high)
    offset = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 0.5:
        middle = (low + high) / 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return float(round(high))


class TimeSlotScheduler(Scheduler):
    """Spec 3.1: a grid of wall-clock slots; see the module docstring for the rules."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.slots = slots_from_options(options)
        self.tz = context.timezone
        self.seed = int(options.get("seed", 0))
        self.epoch_day = parse_epoch(options.get("epoch", "2024-01-01T00:00:00Z")).astimezone(
            self.tz).date()
        self.items = {s.collection_id: context.collection(s.collection_id) for s in self.slots}
        filler_names = {s.filler for s in self.slots if s.filler}
        self.filler_name = options.get("filler")
        if self.filler_name:
            filler_names.add(self.filler_name)
        self.fillers = {name: context.collection(name) for name in filler_names if name}
        self.missing = context.missing
        self._ordered = {c: LoopingSequence(items, 0.0) for c, items in self.items.items()}
        self._shuffled = {
            s.slot_id: ShuffledSequence(self.items[s.collection_id], 0.0, (self.seed, s.slot_id))
            for s in self.slots if s.order_mode == "shuffle"
        }
        self._days: OrderedDict[date, list[Occurrence]] = OrderedDict()
        self._nominal: OrderedDict[tuple[int, date], list[ScheduledItem]] = OrderedDict()

    # -- the grid ----------------------------------------------------------------

    def _count_days(self, mask: int, day: date) -> int:
        """How many days in [epoch day, day) have a bit of ``mask`` set (negative before)."""
        days = (day - self.epoch_day).days
        weeks, rest = divmod(days, 7)
        count = weeks * bin(mask).count("1")
        first = self.epoch_day.weekday()
        count += sum(1 for r in range(rest) if mask & (1 << ((first + r) % 7)))
        return count

    def occurrences(self, day: date) -> list[Occurrence]:
        """The slots starting on local ``day``, by start time."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        out = []
        for i, slot in enumerate(self.slots):
            if not slot.runs_on(day):
                continue
            start = wall_clock(day, slot.start_time, self.tz)
            naive_end = datetime.combine(day, slot.start_time) + timedelta(
                minutes=slot.duration_minutes)
            end = wall_clock(naive_end.date(), naive_end.time(), self.tz)
            out.append(Occurrence(slot, i, day, start, end, self._count_days(
                slot.days_of_week, day)))
        out.sort(key=lambda o: o.start)
        self._days[day] = out
        if len(self._days) > 16:
            self._days.popitem(last=False)
        return out

    def _local_day(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.tz).date()

    def _walk(self, day: date) -> Iterator[Occurrence]:
        while True:
            yield from self.occurrences(day)
            day += timedelta(days=1)

    def _around(self, t: float, back: int = 1) -> Iterator[Occurrence]:
        """Occurrences from ``back`` before the last one starting at or before ``t``.

        ``back=1`` includes the slot before, whose overrun may still be on air at t.
        """
        day = self._local_day(t) - timedelta(days=2)
        walk = self._walk(day)
        recent: list[Occurrence] = []
        for occ in walk:
            if occ.start > t:
                yield from recent[-(back + 1):]
                yield occ
                yield from walk
                return
            recent.append(occ)

    def _before(self, occ: Occurrence) -> Occurrence | None:
        """The occurrence just before ``occ`` (within the last week)."""
        for back in range(0, 8):
            candidates = [o for o in self.occurrences(occ.day - timedelta(days=back))
                          if o.start < occ.start]
            if candidates:
                return candidates[-1]
        return None

    def get_active_slot(self, t: float) -> TimeSlot | None:
        """The slot whose wall-clock window contains ``t``, or None between slots."""
        for occ in self._around(t, back=0):
            if occ.start <= t < occ.end:
                return occ.slot
            if occ.start > t:
                return None
        return None

    def get_next_slot(self, t: float) -> TimeSlot | None:
        """The next slot to start after ``t``."""
        return next((occ.slot for occ in self._around(t, back=0) if occ.start > t), None)

    def slot_windows(self, t: float) -> tuple[SlotWindow | None, SlotWindow | None]:
        """The slot on the grid at ``t`` and the next one to start, with their wall-clock
        windows (an overrun or a late start does not move them)."""
        active: SlotWindow | None = None
        for occ in self._around(t, back=0):
            window = SlotWindow(occ.slot.name, occ.start, occ.end, occ.slot.collection_id)
            if occ.start > t:
                return active, window
            if t < occ.end:
                active = window
        return active, None

    def get_current_item(self, t: float) -> ScheduledItem:
        """The entry on air at ``t`` (an item, filler or offline)."""
        return self.item_at(t)

    # -- one occurrence ----------------------------------------------------------

    def _picks(self, occ: Occurrence) -> Iterator[MediaItem]:
        """The slot's items for this occurrence, then (for loop padding) the ones after."""
        slot = occ.slot
        items = self.items[slot.collection_id]
        if not items:
            return
        nominal = slot.duration_minutes * 60.0
        window_start = occ.number * nominal
        if slot.order_mode == "random":
            rng = seeded_rng(self.seed, slot.slot_id, occ.number)
            while True:
                yield rng.choice(items)
        window_end = window_start + nominal
        cycle_of: Callable[[int], tuple[list[MediaItem], list[float]]]
        if slot.order_mode == "shuffle":
            shuffled = self._shuffled[slot.slot_id]
            total, cycle_of = shuffled.total, shuffled.cycle
        else:
            looping = self._ordered[slot.collection_id]
            fixed = (looping.items, looping.starts)
            total, cycle_of = looping.total, (lambda _number: fixed)
        # Walk the private clock from the first item starting at or after window_start.
        cycle, pos = divmod(window_start, total)
        order, starts = cycle_of(int(cycle))
        index = bisect.bisect_left(starts, pos - 1e-6)
        base = cycle * total
        while True:
            if index == len(order):
                cycle, index, base = cycle + 1, 0, base + total
                order, starts = cycle_of(int(cycle))
            if base + starts[index] >= window_end - 1e-6 and slot.padding_mode != "loop":
                return
            yield order[index]
            index += 1

    def _content(self, occ: Occurrence, start: float) -> list[ScheduledItem]:
        """The slot's items from ``start``, ended by its flex rule (no padding)."""
        slot, end = occ.slot, occ.end
        out: list[ScheduledItem] = []
        t = start
        budget = float("inf")
        if slot.order_mode == "random" and slot.padding_mode != "loop":
            budget = slot.duration_minutes * 60.0  # the same share of picks as the other modes
        used = 0.0
        for item in self._picks(occ):
            length = self.context.slot_length(item)  # with pad_to_minutes, up to the grid
            if t >= end - 1e-6 or used >= budget:
                break
            used += length
            if t + length > end + 1e-6:
                if slot.flex_mode == "none":
                    out.append(ScheduledItem(item, t, end - t, slot=slot.name))
                elif slot.flex_mode == "extend":
                    out.append(ScheduledItem(item, t, length, slot=slot.name))
                # compress: the item is not started; the rest of the slot is padding
                break
            out.append(ScheduledItem(item, t, length, slot=slot.name))
            t += length
        return out

    def nominal(self, occ: Occurrence) -> list[ScheduledItem]:
        """The occurrence's items as if it started on time (cached)."""
        key = (occ.index, occ.day)
        cached = self._nominal.get(key)
        if cached is None:
            cached = self._content(occ, occ.start)
            self._nominal[key] = cached
            if len(self._nominal) > 256:
                self._nominal.popitem(last=False)
        return cached

    def actual_start(self, occ: Occurrence) -> float:
        """When the occurrence really starts: late after an overrun, early after ``next``."""
        before = self._before(occ)
        if before is None:
            return occ.start
        content = self.nominal(before)
        content_end = content[-1].end if content else before.start
        if before.slot.padding_mode == "next" and before.end >= occ.start - 1e-6:
            return content_end
        if content_end > occ.start:
            if occ.slot.max_lateness is not None:
                return min(content_end, occ.start + occ.slot.max_lateness)
            return content_end
        return occ.start

    def actual(self, occ: Occurrence, next_start: float) -> list[ScheduledItem]:
        """The occurrence's entries with its padding, up to ``next_start``."""
        start = self.actual_start(occ)
        content = self.nominal(occ)
        shift = start - occ.start
        limit = max(occ.end, content[-1].end if content else occ.end)
        # The next slot's maximum lateness cuts an overrun short.
        cut = occ.end - 1e-6 <= next_start < limit - 1e-6
        if cut:
            limit = next_start
        out: list[ScheduledItem] = []
        for entry in content:
            moved = entry.start + shift
            if moved >= limit - 1e-6:
                break
            if moved + entry.duration > limit + 1e-6:
                if occ.slot.flex_mode == "none" or cut:
                    out.append(ScheduledItem(entry.item, moved, limit - moved, slot=entry.slot))
                break
            out.append(ScheduledItem(entry.item, moved, entry.duration, slot=entry.slot))
        t = out[-1].end if out else start
        pad_end = min(max(occ.end, t), next_start)
        if pad_end > t + 1e-6:
            out += self._padding(occ, t, pad_end)
        return out

    def _padding(self, occ: Occurrence, start: float, end: float) -> list[ScheduledItem]:
        slot = occ.slot
        reason = f"{slot.name}: nothing more to play"
        if not self.items[slot.collection_id]:
            reason = f"{slot.name}: collection '{slot.collection_id}' has no playable items"
        if slot.padding_mode == "filler":
            filler = self.fillers.get(slot.filler or self.filler_name or "", [])
            entries = fill_gap(start, end, filler, (self.seed, slot.slot_id), reason)
        else:
            entries = [ScheduledItem(None, start, end - start, kind="offline", slot=reason)]
        return [ScheduledItem(e.item, e.start, e.duration, e.kind, slot.name if e.item else e.slot)
                for e in entries]

    # -- the playout -------------------------------------------------------------

    def _timeline(self, t: float) -> Iterator[ScheduledItem]:
        occs = self._around(t)
        current = next(occs)
        cursor = min(t, self.actual_start(current))
        for following in occs:
            start = self.actual_start(current)
            if start > cursor + 1e-6:  # no slot here: the schedule's filler, or offline
                filler = self.fillers.get(self.filler_name or "", [])
                yield from fill_gap(cursor, start, filler, (self.seed, "between"),
                                    "no slot is scheduled now")
                cursor = start
            next_start = self.actual_start(following)
            for entry in self.actual(current, next_start):
                if entry.start < cursor - 1e-6:
                    continue  # hidden by an overrun from before
                yield entry
                cursor = entry.end
            current = following

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        for entry in skip_missing(self._timeline(t), self.missing):
            if entry.end > t:
                yield entry

    def health(self) -> tuple[str, str]:
        empty = sorted({s.collection_id for s in self.slots if not self.items[s.collection_id]})
        if empty:
            return "degraded", (f"collection {', '.join(repr(c) for c in empty)} has no playable "
                                "items; its slots show the offline screen")
        return "ok", ""

