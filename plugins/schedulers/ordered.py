"""``type: ordered``: the collection in order, looped forever from a fixed epoch.

What is on at time t depends only on the config, the library and ``epoch``, so it
survives restarts. Options: ``collection`` (a source id or collection name) and
``epoch`` (an ISO date-time the loop is counted from; default 2024-01-01T00:00:00Z).
An item removed from the library while the server runs keeps its place and airs as
the offline screen, so nothing else moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from exstreamtv import (
    LoopingSequence,
    SchedulerContext,
    SequenceScheduler,
    epoch_option,
    hookimpl,
    parse_epoch,
)

SCHEMA = {vol.Required("collection"): str, **epoch_option()}


class OrderedScheduler(SequenceScheduler):
    """Plays its collection in library order, back to back, looping."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.epoch = parse_epoch(options.get("epoch", "2024-01-01T00:00:00Z")).timestamp()
        self.sequence = LoopingSequence(context.collection(self.collection), self.epoch,
                                        length=context.slot_length)


@hookimpl
def register_schedulers(register: Any) -> None:
    register("ordered", OrderedScheduler, SCHEMA, "the collection in order, looped")
