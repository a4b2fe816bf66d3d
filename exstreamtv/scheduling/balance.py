"""Balance scheduling (spec 3.2): sources shared by weight, with a cooldown per source.

Weight calculator: after n picks a source with weight w (of total W) is owed
``(n + 1) * w / W`` picks; the source most behind what it is owed goes next (ties broken
by the seeded generator). Over many picks each source's share of picks stays within
a pick or two of its weight, whatever the seed.

Cooldown tracker: a source that just played may not start again until
``cooldown_minutes`` after its item ended, while another source is eligible. When
every source is cooling down, the one whose cooldown ends first plays (the channel
never goes dark for a cooldown).

Source selector: inside the chosen source, items come in a seeded shuffle (each once
before any repeats). Plans are made per block (see blocks.py; 72 hours by default):
counts start afresh at each block boundary, and the last minutes of a block go to
whatever still fits (a few picks a week away from the weights). The tracker starts
from the channel's cooldown book (what aired under an earlier plan: before the block,
or before a restart with an edited schedule or library; see cooldowns.py), so a source
does not repeat inside its cooldown across a block boundary or a restart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import voluptuous as vol

from exstreamtv.config.validators import non_negative_int
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.scheduling.blocks import (
    BlockScheduler,
    Pick,
    Picker,
    WeightedSource,
    block_options,
    length,
)
from exstreamtv.scheduling.cooldowns import (
    SAME_AIRING_SECONDS,
    Cooldown,
    CooldownBook,
    source_key,
)
from exstreamtv.scheduling.options import weighted_sources


@dataclass
class CooldownTracker:
    """When each source last ended, and whether it may play again at t.

    ``book`` holds what aired under an earlier plan (:class:`CooldownBook`)."""

    cooldown: float
    last_end: dict[str, float] = field(default_factory=dict)
    book: CooldownBook | None = None

    def record(self, source: str, end: float) -> None:
        self.last_end[source] = end

    def ready_at(self, source: str, t: float | None = None) -> float:
        """The earliest time ``source`` may start again (from ``t``, with the book)."""
        last = self.last_end.get(source)
        ready = float("-inf") if last is None else last + self.cooldown
        key = source_key(source)
        # The book's until is cooldown after the item ended: it rests from that end on
        # (the airing itself started before it, so a plan that made it is unchanged).
        rest = self.cooldown + 2 * SAME_AIRING_SECONDS
        if t is not None and self.book is not None and self.book.holds(key, t, rest):
            ready = max(ready, self.book.until(key) or ready)
        return ready

    def eligible(self, source: str, t: float) -> bool:
        return t >= self.ready_at(source, t) - 1e-6


class _SourceQueue:
    """A source's items in a seeded shuffle drawn lazily, each once before any repeats.

    Draws are a Fisher-Yates shuffle done one step at a time (O(1) each), so a block
    that needs a hundred picks from a 100,000-item source does not shuffle it all. An
    item drawn when it does not fit the time left waits for the next pick.
    """

    def __init__(self, items: Sequence[MediaItem], rng: random.Random) -> None:
        self.items = items
        self.rng = rng
        self.swaps: dict[int, int] = {}
        self.drawn = 0
        self.waiting: list[MediaItem] = []

    def _draw(self) -> MediaItem:
        n = len(self.items)
        if self.drawn >= n:
            self.swaps, self.drawn = {}, 0
        j = self.rng.randrange(self.drawn, n)
        chosen = self.swaps.get(j, j)
        self.swaps[j] = self.swaps.get(self.drawn, self.drawn)
        self.drawn += 1
        return self.items[chosen]

    def take(self, room: float) -> MediaItem | None:
        for i, item in enumerate(self.waiting):
            if length(item) <= room + 1e-6:
                return self.waiting.pop(i)
        for _ in range(min(len(self.items), 32)):
            item = self._draw()
            if length(item) <= room + 1e-6:
                return item
            self.waiting.append(item)
        fitting = [i for i in self.items if length(i) <= room + 1e-6]
        return self.rng.choice(fitting) if fitting else None


class BalancePicker(Picker):
    """Weight calculator + cooldown tracker + source selector for one block."""

    def __init__(self, sources: Sequence[WeightedSource], cooldown: float,
                 rng: random.Random, book: CooldownBook | None = None) -> None:
        self.sources = [s for s in sources if s.items]
        self.total_weight = sum(s.weight for s in self.sources) or 1.0
        self.tracker = CooldownTracker(cooldown, book=book)
        self.counts = {s.collection: 0 for s in self.sources}
        self.queues = {s.collection: _SourceQueue(s.items, rng) for s in self.sources}
        self.rng = rng
        self.picks = 0
        self.shortest = {s.collection: s.shortest for s in self.sources}

    def pick(self, t: float, room: float) -> Pick | None:
        fitting = [s for s in self.sources if self.shortest[s.collection] <= room + 1e-6]
        if not fitting:
            return None
        eligible = [s for s in fitting if self.tracker.eligible(s.collection, t)]
        if not eligible:
            soonest = min(self.tracker.ready_at(s.collection, t) for s in fitting)
            eligible = [s for s in fitting if self.tracker.ready_at(s.collection, t) == soonest]
        # Weight calculator: the source furthest behind what it is owed goes next.
        scale = (self.picks + 1) / self.total_weight
        best: list[WeightedSource] = []
        best_deficit = float("-inf")
        for source in eligible:
            deficit = round(scale * source.weight - self.counts[source.collection], 9)
            if deficit > best_deficit:
                best, best_deficit = [source], deficit
            elif deficit == best_deficit:
                best.append(source)
        chosen = best[0] if len(best) == 1 else self.rng.choice(best)
        item = self.queues[chosen.collection].take(room)
        if item is None:
            return None
        self.counts[chosen.collection] += 1
        self.picks += 1
        self.tracker.record(chosen.collection, t + length(item))
        return Pick(item, chosen.collection)


class BalanceScheduler(BlockScheduler):
    """``type: balance``: spec 3.2; see the module docstring."""

    default_block_hours = 72.0

    @property
    def cooldown(self) -> float:
        return float(self.options.get("cooldown_minutes", 0)) * 60.0

    def picker(self, rng: random.Random, block: int) -> Picker:
        return BalancePicker(self.sources, self.cooldown, rng, self.context.cooldowns)

    def cooldowns(self, entry: ScheduledItem) -> list[Cooldown]:
        """A programme's source rests ``cooldown_minutes`` after the item ends."""
        if entry.kind != "program" or entry.item is None or self.cooldown <= 0:
            return []
        end = entry.start - entry.seek + length(entry.item)
        return [Cooldown(source_key(s.collection), end + self.cooldown)
                for s in self.sources if s.holds(entry.item)]


SCHEMA = vol.Schema({
    vol.Required("sources"): weighted_sources,
    vol.Optional("cooldown_minutes", default=0): non_negative_int,
    **block_options(hours=72),
})

__all__ = ["SCHEMA", "BalancePicker", "BalanceScheduler", "CooldownTracker"]

