"""``type: shuffle``: the collection in a seeded random order, every item once per round.

Options: ``collection``, ``seed`` (integer, default 0: the same seed gives the same
playout; another seed another one) and ``epoch``. Each round is a fresh permutation of
the whole collection, so no item repeats before every other one has played.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import voluptuous as vol

from exstreamtv import (
    ScheduledItem,
    Scheduler,
    SchedulerContext,
    ShuffledSequence,
    epoch_option,
    hookimpl,
    parse_epoch,
    seed_option,
    skip_missing,
)

SCHEMA = {vol.Required("collection"): str, **seed_option(), **epoch_option()}


class ShuffleScheduler(Scheduler):
    """Seeded shuffles of the collection, back to back."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.collection = str(options["collection"])
        epoch = parse_epoch(options.get("epoch", "2024-01-01T00:00:00Z")).timestamp()
        seed = (int(options.get("seed", 0)), self.collection)
        self.sequence = ShuffledSequence(context.collection(self.collection), epoch, seed)
        self.missing = context.missing

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        return skip_missing(self.sequence.entries(t), self.missing)

    def health(self) -> tuple[str, str]:
        if not self.sequence.items:
            return "degraded", f"collection '{self.collection}' has no playable items"
        return "ok", ""


@hookimpl
def register_schedulers(register: Any) -> None:
    register("shuffle", ShuffleScheduler, SCHEMA, "seeded shuffles, every item once per round")
