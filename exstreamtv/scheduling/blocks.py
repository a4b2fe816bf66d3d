"""Block playouts: for schedulers whose next pick depends on chance and history.

Time is cut into fixed blocks (``block_hours``, default 24) counted from the epoch.
Each block is planned on its own from a random generator seeded by (seed, block
number): picks are placed back to back while they fit; the end of the block that no
item fits is padding (filler items that fit, else offline). So what is on at t is the
block containing t (a division), planned once and cached, and a binary search in it:
deterministic across restarts and independent of how long the channel has run.
History a picker needs (cooldowns, counts) lives inside the block's plan.
"""

from __future__ import annotations

import bisect
import random
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from exstreamtv.config.validators import number, string
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SchedulerContext
from exstreamtv.scheduling.options import (
    epoch_option,
    parse_epoch,
    seed_option,
    weighted_sources,
)
from exstreamtv.scheduling.sequences import MIN_DURATION, fill_gap, seeded_rng, skip_missing


def length(item: MediaItem) -> float:
    return max(item.duration, MIN_DURATION)


@dataclass(frozen=True)
class WeightedSource:
    """A collection with its weight and its items."""

    collection: str
    weight: float
    items: tuple[MediaItem, ...]

    @property
    def shortest(self) -> float:
        """The shortest item's length (inf when empty); computed once."""
        cached: float | None = self.__dict__.get("_shortest")
        if cached is None:
            cached = min((length(i) for i in self.items), default=float("inf"))
            object.__setattr__(self, "_shortest", cached)
        return cached

    def holds(self, item: MediaItem) -> bool:
        """Whether ``item`` is one of this source's (a set, built once)."""
        ids: frozenset[str] | None = self.__dict__.get("_ids")
        if ids is None:
            ids = frozenset(i.id for i in self.items)
            object.__setattr__(self, "_ids", ids)
        return item.id in ids


@dataclass
class Pick:
    """One choice of a picker: the item and the source it came from."""

    item: MediaItem
    source: str


class Picker(ABC):
    """Chooses items one after another inside one block (fresh for every block)."""

    @abstractmethod
    def pick(self, t: float, room: float) -> Pick | None:
        """The item to start at ``t`` no longer than ``room`` seconds, or None."""


@dataclass
class BlockPlan:
    """One planned block: entries in order, their starts, and the source of each."""

    entries: list[ScheduledItem]
    starts: list[float]
    sources: list[str | None]


class BlockScheduler(Scheduler):
    """Base of ``random`` and ``balance``: plans blocks with a :class:`Picker`."""

    default_block_hours = 24.0

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.seed = int(options.get("seed", 0))
        self.epoch = parse_epoch(options.get("epoch", "2024-01-01T00:00:00Z")).timestamp()
        self.block = float(options.get("block_hours", self.default_block_hours)) * 3600.0
        if options.get("sources"):
            specs = [(s["collection"], float(s.get("weight", 1))) for s in options["sources"]]
        else:
            specs = [(str(options["collection"]), 1.0)]
        self.sources = [WeightedSource(c, w, tuple(context.collection(c))) for c, w in specs]
        self.filler_name = options.get("filler")
        self.filler = context.collection(self.filler_name) if self.filler_name else []
        self.missing = context.missing
        self._plans: OrderedDict[int, BlockPlan] = OrderedDict()

    @abstractmethod
    def picker(self, rng: random.Random, block: int) -> Picker:
        """A fresh picker for ``block``."""

    def plan(self, block: int) -> BlockPlan:
        """The entries of block number ``block`` (cached)."""
        cached = self._plans.get(block)
        if cached is not None:
            self._plans.move_to_end(block)
            return cached
        start = self.epoch + block * self.block
        end = start + self.block
        picker = self.picker(seeded_rng(self.seed, block), block)
        entries: list[ScheduledItem] = []
        sources: list[str | None] = []
        t = start
        while t < end - 1e-6:
            choice = picker.pick(t, end - t)
            if choice is None:
                break
            # Padded to the channel's quantum (the block end is on the grid too).
            held = min(self.context.slot_length(choice.item), end - t)
            entries.append(ScheduledItem(choice.item, t, held))
            sources.append(choice.source)
            t += held
        if end - t > 1e-6:
            reason = self.empty_reason() or "nothing fits before the next block"
            gap = fill_gap(t, end, self.filler, (self.seed, "filler"), reason)
            entries += gap
            sources += [None] * len(gap)
        plan = BlockPlan(entries, [e.start for e in entries], sources)
        self._plans[block] = plan
        if len(self._plans) > 8:
            self._plans.popitem(last=False)
        return plan

    def _raw(self, t: float) -> Iterator[ScheduledItem]:
        block = int((t - self.epoch) // self.block)
        plan = self.plan(block)
        index = max(bisect.bisect_right(plan.starts, t) - 1, 0)
        while True:
            yield from plan.entries[index:]
            block += 1
            plan = self.plan(block)
            index = 0

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        return skip_missing(self._raw(t), self.missing)

    def empty_reason(self) -> str:
        empty = [s.collection for s in self.sources if not s.items]
        if len(empty) == len(self.sources):
            return f"collection {', '.join(repr(c) for c in empty)} has no playable items"
        return ""

    def health(self) -> tuple[str, str]:
        empty = [s.collection for s in self.sources if not s.items]
        if empty:
            return "degraded", (f"collection {', '.join(repr(c) for c in empty)} has no playable "
                                "items" + ("; the channel shows the offline screen"
                                           if len(empty) == len(self.sources) else ""))
        return "ok", ""

    def picks_between(self, start: float, end: float) -> list[tuple[ScheduledItem, str]]:
        """The program entries starting in ``[start, end)`` with their sources."""
        out: list[tuple[ScheduledItem, str]] = []
        block = int((start - self.epoch) // self.block)
        while self.epoch + block * self.block < end:
            plan = self.plan(block)
            for entry, source in zip(plan.entries, plan.sources, strict=True):
                if source is not None and start <= entry.start < end:
                    out.append((entry, source))
            block += 1
        return out

    def stats(self, start: float, end: float) -> dict[str, Any]:
        """Distribution stats over ``[start, end)``: picks and airtime share against weight."""
        picks = self.picks_between(start, end)
        total_weight = sum(s.weight for s in self.sources) or 1.0
        total_picks = len(picks) or 1
        total_time = sum(e.duration for e, _ in picks) or 1.0
        out: dict[str, Any] = {"window": {"start": start, "end": end}, "picks": len(picks),
                               "sources": []}
        for source in self.sources:
            mine = [e for e, s in picks if s == source.collection]
            out["sources"].append({
                "collection": source.collection,
                "weight": source.weight,
                "target_share": round(100 * source.weight / total_weight, 2),
                "picks": len(mine),
                "actual_share": round(100 * len(mine) / total_picks, 2),
                "airtime_share": round(100 * sum(e.duration for e in mine) / total_time, 2),
            })
        return out


class WeightedRandomPicker(Picker):
    """Independent draws: a source by weight, then one of its items that fits, uniformly."""

    def __init__(self, sources: Sequence[WeightedSource], rng: random.Random) -> None:
        self.sources = [s for s in sources if s.items]
        self.rng = rng

    def pick(self, t: float, room: float) -> Pick | None:
        pool = [(s, [i for i in s.items if length(i) <= room + 1e-6]) for s in self.sources]
        pool = [(s, items) for s, items in pool if items]
        if not pool:
            return None
        source, items = self.rng.choices(pool, weights=[s.weight for s, _ in pool])[0]
        return Pick(self.rng.choice(items), source.collection)


class RandomScheduler(BlockScheduler):
    """``type: random``: weighted random picks from one collection or several."""

    def picker(self, rng: random.Random, block: int) -> Picker:
        return WeightedRandomPicker(self.sources, rng)


def _block_hours(value: Any) -> float:
    return number(1, 168)(value)


def _collection_or_sources(options: dict[str, Any]) -> dict[str, Any]:
    if "collection" not in options and "sources" not in options:
        raise vol.Invalid("required key is missing: give 'collection' or 'sources'",
                          path=["collection"])
    return options


def block_options(hours: float = 24) -> dict[Any, Any]:
    """Options every block scheduler takes: filler, block_hours, seed, epoch."""
    return {
        vol.Optional("filler"): string,
        vol.Optional("block_hours", default=hours): _block_hours,
        **seed_option(),
        **epoch_option(),
    }


RANDOM_SCHEMA = vol.Schema(vol.All(
    {
        vol.Exclusive("collection", "what"): string,
        vol.Exclusive("sources", "what"): weighted_sources,
        **block_options(),
    },
    _collection_or_sources,
))
