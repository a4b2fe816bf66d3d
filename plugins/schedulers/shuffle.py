"""``type: shuffle``: the collection in a seeded random order, every item once per round.

Options: ``collection``, ``seed`` (integer, default 0: the same seed gives the same
playout; another seed another one) and ``epoch``. Each round is a fresh permutation of
the whole collection, so no item repeats before every other one has played.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from exstreamtv import (
    SchedulerContext,
    SequenceScheduler,
    ShuffledSequence,
    epoch_option,
    hookimpl,
    parse_epoch,
    seed_option,
)

SCHEMA = {vol.Required("collection"): str, **seed_option(), **epoch_option()}


class ShuffleScheduler(SequenceScheduler):
    """Seeded shuffles of the collection, back to back."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        epoch = parse_epoch(options.get("epoch", "2024-01-01T00:00:00Z")).timestamp()
        seed = (int(options.get("seed", 0)), self.collection)
        self.sequence = ShuffledSequence(context.collection(self.collection), epoch, seed,
                                         length=context.slot_length)


@hookimpl
def register_schedulers(register: Any) -> None:
    register("shuffle", ShuffleScheduler, SCHEMA, "seeded shuffles, every item once per round")
