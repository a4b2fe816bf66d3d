"""Filler lists and breaks, for every schedule type: pre-, mid- and post-roll, flex, fallback.

A schedule's options may carry ``fillers`` (named filler lists, each a collection with a
weight, a cooldown and roles), ``clip_cooldown_minutes``, ``mid_roll_every_minutes`` and
``pad_to_minutes``. The inner scheduler places programmes on the grid (each one holds the
channel for its duration rounded up to the quantum: :meth:`SchedulerContext.slot_length`);
:class:`BreakScheduler` turns the held time that the programme does not fill into breaks:

* ``pre_roll`` one clip just before the programme (the end of the slot before, so the
  programme itself starts on the grid), ``mid_roll`` one clip at each chapter mark
  (``metadata["chapters"]``, seconds) or every ``mid_roll_every_minutes``, ``post_roll``
  one clip after it; each only when a clip fits what is left of the padding;
* ``filler`` (a list's default role) whole clips that fit the rest;
* ``fallback`` clips when nothing else fits, the last one cut to the gap; offline only
  when no clip is left.
Gaps the inner scheduler leaves offline (an empty slot, a block's end) are filled the
same way.

Purity: the breaks of one UTC day are planned together from a generator seeded by
(seed, day), so what is on at t stays arithmetic plus one cached day plan. Cooldowns
hold inside a day by bookkeeping, and across midnight by construction: the clips that
may play in the last ``clip_cooldown`` before midnight are a seeded half of the clips
(the day's *evening set*), and those are the ones the next day leaves out until one
cooldown after its first programme, so no clip can repeat across the boundary. List
cooldowns are kept inside a day by the plan, and across days, restarts and schedule
edits by the channel's cooldown book (:mod:`exstreamtv.scheduling.cooldowns`: what aired
under an earlier plan rests for its cooldown).
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import voluptuous as vol

from exstreamtv.config.validators import number, string
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SchedulerContext, SlotWindow
from exstreamtv.scheduling.cooldowns import Cooldown, clip_key, list_key
from exstreamtv.scheduling.sequences import MIN_DURATION, seeded_rng

DAY = 86400.0
#: Longest cooldown (minutes): the midnight construction needs it under half a day.
MAX_COOLDOWN_MINUTES = 720
#: Guide entries of flex this long or shorter merge into the programme before them.
MERGE_FLEX_SECONDS = 1800.0


class Role(StrEnum):
    """Where a filler list's clips may air."""

    FILLER = "filler"
    PRE_ROLL = "pre_roll"
    MID_ROLL = "mid_roll"
    POST_ROLL = "post_roll"
    FALLBACK = "fallback"


#: Roles that need padding time (``pad_to_minutes``) to air in.
PADDING_ROLES = frozenset({Role.PRE_ROLL, Role.MID_ROLL, Role.POST_ROLL})
#: The schedule keys this module owns (every schedule type accepts them).
BREAK_KEYS = ("fillers", "clip_cooldown_minutes", "mid_roll_every_minutes", "pad_to_minutes",
              "clock")


def _pad_minutes(value: Any) -> int:
    """Whole minutes that divide the day (1440)."""
    minutes = number(1, 1440)(value)
    if minutes != int(minutes) or 1440 % int(minutes):
        raise vol.Invalid(f"pad_to_minutes must be a whole number of minutes that divides the "
                          f"day (1440), such as 5, 10, 15, 30 or 60; got {value!r}")
    return int(minutes)


def _roles(value: Any) -> list[str]:
    """A list of roles."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise vol.Invalid("expected a list of roles")
    for role in values:
        if role not in {r.value for r in Role}:
            raise vol.Invalid(f"unknown role {role!r} (known: {', '.join(r.value for r in Role)})")
    return [str(r) for r in values]


def _cooldown(value: Any) -> float:
    """Minutes, 0 to 720."""
    return number(0, MAX_COOLDOWN_MINUTES)(value)


FILLER_LIST = vol.Schema({
    vol.Required("collection"): string,
    vol.Optional("weight", default=1): number(0.001, 1e6),
    vol.Optional("cooldown_minutes", default=0): _cooldown,
    vol.Optional("roles", default=["filler"]): _roles,
})


def _filler_lists(value: Any) -> list[dict[str, Any]]:
    """A non-empty list of filler lists."""
    if not isinstance(value, list) or not value:
        raise vol.Invalid("expected a non-empty list of {collection, weight, cooldown_minutes, "
                          "roles}")
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(value):
        try:
            out.append(FILLER_LIST(entry))
        except vol.MultipleInvalid as exc:
            raise vol.MultipleInvalid([vol.Invalid(e.msg, path=[i, *e.path])
                                       for e in exc.errors]) from None
    return out


BREAK_SCHEMA = vol.Schema({
    vol.Optional("fillers"): _filler_lists,
    vol.Optional("clip_cooldown_minutes", default=0): _cooldown,
    vol.Optional("mid_roll_every_minutes"): number(1, 1440),
    vol.Optional("pad_to_minutes"): _pad_minutes,
    vol.Optional("clock"): vol.In(["wall", "on_demand"]),
})


#: What each break key means, for the generated configuration reference.
MEANINGS = {
    "fillers": "filler lists of this channel (any schedule type)",
    "fillers[].collection": "a source id or collection name whose items are the clips",
    "fillers[].weight": "how often this list is chosen against the other lists of a role",
    "fillers[].cooldown_minutes": "after a clip of this list airs, the list rests this long "
                                  "(kept within a UTC day)",
    "fillers[].roles": "pre_roll, mid_roll, post_roll, filler (whole clips in the padding), "
                       "fallback (cut to the gap when nothing else fits)",
    "clip_cooldown_minutes": "no filler clip airs again within this time (at most 720)",
    "mid_roll_every_minutes": "mid-roll break interval when a file has no chapter marks "
                              "(default 15 with a mid_roll list)",
    "clock": "wall (default): the playout follows the clock; on_demand: it advances only "
             "while someone watches, from the schedule's epoch",
    "pad_to_minutes": "programmes start on this grid (must divide 1440: 30 gives :00 and "
                      ":30); the padding airs as breaks",
}


def validate_break_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The break keys of a schedule's options, checked (raises ``vol.Invalid``)."""
    mine = {k: v for k, v in options.items() if k in BREAK_KEYS}
    if not mine:
        return {}
    checked: dict[str, Any] = BREAK_SCHEMA(mine)
    roles = {r for f in checked.get("fillers", []) for r in f["roles"]}
    if roles & PADDING_ROLES and not checked.get("pad_to_minutes"):
        raise vol.Invalid("pre_roll, mid_roll and post_roll air in the time that padding makes: "
                          "set schedule.pad_to_minutes (for example 30)", path=["fillers"])
    if Role.MID_ROLL in roles and not checked.get("mid_roll_every_minutes"):
        checked["mid_roll_every_minutes"] = 15
    return checked


@dataclass(frozen=True)
class FillerList:
    """A named filler list: a collection's clips with a weight, a cooldown and roles."""

    collection: str
    weight: float
    cooldown: float
    roles: frozenset[Role]
    items: tuple[MediaItem, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.items, key=lambda i: (_length(i), i.id)))
        object.__setattr__(self, "by_length", ordered)
        object.__setattr__(self, "lengths", [_length(i) for i in ordered])
        object.__setattr__(self, "ids", frozenset(i.id for i in self.items))

    def holds(self, item: MediaItem) -> bool:
        ids: frozenset[str] = self.__dict__["ids"]
        return item.id in ids

    def fitting(self, room: float) -> tuple[MediaItem, ...]:
        """The clips no longer than ``room``, shortest first."""
        by_length: tuple[MediaItem, ...] = self.__dict__["by_length"]
        return by_length[:bisect.bisect_right(self.__dict__["lengths"], room + 1e-6)]


@dataclass
class DayPlan:
    """The entries (programmes and breaks) of the inner entries starting in one day."""

    entries: list[ScheduledItem]
    starts: list[float]


@dataclass
class _Picks:
    """Cooldown bookkeeping while one day is planned."""

    rng: random.Random
    head_end: float
    tail_start: float
    day: int
    clip_used: dict[str, float] = field(default_factory=dict)
    list_used: dict[str, float] = field(default_factory=dict)


def _length(item: MediaItem) -> float:
    return max(item.duration, MIN_DURATION)


class BreakScheduler(Scheduler):
    """Wraps a scheduler: programmes padded to the grid, the padding aired as breaks."""

    merge_flex_seconds = MERGE_FLEX_SECONDS + 0.001  # 30 minutes or less merge

    def __init__(self, inner: Scheduler, options: Mapping[str, Any],
                 context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.inner = inner
        self.seed = int(options.get("seed", 0))
        self.clip_cooldown = float(options.get("clip_cooldown_minutes", 0)) * 60.0
        self.mid_every = float(options.get("mid_roll_every_minutes") or 0) * 60.0
        self.lists = [
            FillerList(f["collection"], float(f["weight"]), float(f["cooldown_minutes"]) * 60.0,
                       frozenset(Role(r) for r in f["roles"]),
                       tuple(context.collection(f["collection"])))
            for f in options.get("fillers", [])
        ]
        self._plans: OrderedDict[int, DayPlan] = OrderedDict()

    # -- the contract ----------------------------------------------------------
    def entries(self, t: float) -> Iterator[ScheduledItem]:
        day = math.floor(t / DAY)
        plan = self.plan(day)
        if not plan.starts or plan.starts[0] > t:
            day -= 1
            plan = self.plan(day)
        index = max(bisect.bisect_right(plan.starts, t) - 1, 0)
        while True:
            yield from plan.entries[index:]
            day += 1
            plan = self.plan(day)
            index = 0

    def health(self) -> tuple[str, str]:
        status, reason = self.inner.health()
        empty = [f.collection for f in self.lists if not f.items]
        if empty and status == "ok":
            return "degraded", f"filler list {', '.join(map(repr, empty))} has no playable items"
        return status, reason

    def stats(self, start: float, end: float) -> dict[str, Any] | None:
        return self.inner.stats(start, end)

    def slot_windows(self, t: float) -> tuple[SlotWindow | None, SlotWindow | None]:
        return self.inner.slot_windows(t)

    def cooldowns(self, entry: ScheduledItem) -> list[Cooldown]:
        """A filler clip rests for ``clip_cooldown_minutes`` and its list for the list's
        ``cooldown_minutes``; a programme's are the inner scheduler's."""
        if entry.kind != "filler" or entry.item is None:
            return self.inner.cooldowns(entry)
        out = []
        if self.clip_cooldown > 0:
            out.append(Cooldown(clip_key(entry.item.id), entry.start + self.clip_cooldown))
        for filler in self.lists:
            if filler.cooldown > 0 and entry.slot in filler.roles and filler.holds(entry.item):
                out.append(Cooldown(list_key(filler.collection), entry.start + filler.cooldown))
        return out

    # -- planning ----------------------------------------------------------------
    def in_evening_set(self, day: int, clip_id: str) -> bool:
        """Whether a clip is in the seeded half that may air in the last cooldown before
        ``day`` (a stable hash, so it is the same in every process)."""
        return zlib.crc32(f"{self.seed}:{day}:{clip_id}".encode()) & 1 == 1

    def plan(self, day: int) -> DayPlan:
        """Programmes and breaks of the inner entries that start in UTC day ``day`` (cached)."""
        cached = self._plans.get(day)
        if cached is not None:
            self._plans.move_to_end(day)
            return cached
        start, end = day * DAY, (day + 1) * DAY
        inner = [e for e in self._inner_between(start, end)]
        first = inner[0].start if inner else start
        picks = _Picks(seeded_rng(self.seed, "breaks", day), head_end=first + self.clip_cooldown,
                       tail_start=end - self.clip_cooldown, day=day)
        out: list[ScheduledItem] = []
        for entry in inner:
            out += self._expand(entry, picks)
        plan = DayPlan(out, [e.start for e in out])
        self._plans[day] = plan
        if len(self._plans) > 8:
            self._plans.popitem(last=False)
        return plan

    def _inner_between(self, start: float, end: float) -> Iterator[ScheduledItem]:
        for entry in self.inner.entries(start):
            if entry.start >= end:
                return
            if entry.start >= start:
                yield entry

    def _expand(self, entry: ScheduledItem, picks: _Picks) -> list[ScheduledItem]:
        if entry.item is None:
            return self._fill(entry.start, entry.end, picks, entry)
        if entry.kind != "program":
            return [entry]
        played = min(_length(entry.item), entry.duration)
        free = entry.duration - played
        out: list[ScheduledItem] = []
        t = entry.start
        position = 0.0
        for mark in self._marks(entry.item, played):
            clips = self._one(Role.MID_ROLL, t + mark - position, free, picks)
            if not clips:
                continue
            out.append(ScheduledItem(entry.item, t, mark - position, "program", entry.slot,
                                     seek=position))
            t += mark - position
            position = mark
            out.append(clips[0])
            t, free = clips[0].end, free - clips[0].duration
        out.append(ScheduledItem(entry.item, t, played - position, "program", entry.slot,
                                 seek=position))
        t += played - position
        for clip in self._one(Role.POST_ROLL, t, free, picks):
            out.append(clip)
            t, free = clip.end, free - clip.duration
        # The pre-roll of the next programme closes the slot, so programmes start on the grid.
        pre = self._one(Role.PRE_ROLL, t, free, picks, ending=entry.end)
        end = pre[0].start if pre else entry.end
        return out + self._fill(t, end, picks, None) + pre

    def _marks(self, item: MediaItem, played: float) -> list[float]:
        """Where mid-roll breaks go: chapter marks, else every ``mid_roll_every``."""
        if not any(Role.MID_ROLL in f.roles for f in self.lists):
            return []
        chapters = (item.metadata or {}).get("chapters")
        if isinstance(chapters, list) and chapters:
            marks = sorted(float(c) for c in chapters if isinstance(c, int | float))
        elif self.mid_every > 0:
            marks = [self.mid_every * k for k in range(1, int(played // self.mid_every) + 1)]
        else:
            marks = []
        margin = min(60.0, played / 10)  # no break in the first or last moments
        return [m for m in marks if margin <= m <= played - margin]

    def _one(self, role: Role, t: float, room: float, picks: _Picks,
             ending: float | None = None) -> list[ScheduledItem]:
        """One clip of ``role`` starting at ``t`` (or ending at ``ending``), if one fits."""
        item = self._pick(role, t, room, picks, ending)
        if item is None:
            return []
        start = t if ending is None else ending - _length(item)
        return [ScheduledItem(item, start, _length(item), "filler", role.value)]

    def _fill(self, start: float, end: float, picks: _Picks,
              gap: ScheduledItem | None) -> list[ScheduledItem]:
        """``[start, end)`` as filler clips that fit, one fallback clip cut to the rest,
        else offline (keeping the inner entry's reason)."""
        out: list[ScheduledItem] = []
        t = start
        while end - t > 1e-6:
            item = self._pick(Role.FILLER, t, end - t, picks)
            if item is None:
                break
            out.append(ScheduledItem(item, t, _length(item), "filler", Role.FILLER.value))
            t += _length(item)
        while end - t > 1e-6:
            item = self._pick(Role.FALLBACK, t, math.inf, picks)
            if item is None:
                break
            held = min(_length(item), end - t)
            out.append(ScheduledItem(item, t, held, "filler", Role.FALLBACK.value))
            t += held
        if end - t > 1e-6:
            if gap is not None and not out:
                return [gap]
            out.append(ScheduledItem(None, t, end - t, "offline",
                                     gap.slot if gap is not None else None))
        return out

    def _allowed(self, item: MediaItem, t: float, picks: _Picks) -> bool:
        last = picks.clip_used.get(item.id)
        if last is not None and t - last < self.clip_cooldown:
            return False
        if self.context.resting(clip_key(item.id), t, self.clip_cooldown):
            return False
        if t < picks.head_end and self.in_evening_set(picks.day, item.id):
            return False
        return not (t >= picks.tail_start and not self.in_evening_set(picks.day + 1, item.id))

    def _pick(self, role: Role, t: float, room: float, picks: _Picks,
              ending: float | None = None) -> MediaItem | None:
        """A clip of ``role`` fitting ``room`` that no cooldown holds back, or None.

        The clip starts at ``t``, or ends at ``ending`` when given."""
        lists = [f for f in self.lists if role in f.roles and f.items
                 and t - picks.list_used.get(f.collection, -math.inf) >= f.cooldown
                 and not self.context.resting(list_key(f.collection), t, f.cooldown)]
        while lists:
            chosen = picks.rng.choices(lists, weights=[f.weight for f in lists])[0]
            item = self._clip(chosen, t, room, picks, ending)
            if item is not None:
                start = t if ending is None else ending - _length(item)
                picks.clip_used[item.id] = start
                picks.list_used[chosen.collection] = start
                return item
            lists.remove(chosen)
        return None

    def _clip(self, filler: FillerList, t: float, room: float, picks: _Picks,
              ending: float | None) -> MediaItem | None:
        def ok(item: MediaItem) -> bool:
            length = _length(item)
            start = t if ending is None else ending - length
            return length <= room + 1e-6 and self._allowed(item, start, picks)

        items = filler.fitting(room)
        if not items:
            return None
        for _ in range(16):  # a few draws are nearly always enough with large lists
            item = items[picks.rng.randrange(len(items))]
            if ok(item):
                return item
        allowed = [i for i in items if ok(i)]
        return picks.rng.choice(allowed) if allowed else None


def with_breaks(scheduler: Scheduler, context: SchedulerContext) -> Scheduler:
    """``scheduler`` wrapped in a :class:`BreakScheduler` when its channel has filler lists."""
    options = context.channel.schedule.options
    if not options.get("fillers"):
        return scheduler
    return BreakScheduler(scheduler, options, context)
