"""``type: ordered``: the collection in order, looped forever from a fixed epoch.

What is on at time t depends only on the config, the library and ``epoch``, so it
survives restarts. Options: ``collection`` (a source id or collection name) and
``epoch`` (an ISO date-time the loop is counted from; default 2024-01-01T00:00:00Z).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol

from exstreamtv import LoopingSequence, ScheduledItem, Scheduler, SchedulerContext, hookimpl

DEFAULT_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def parse_epoch(value: Any) -> datetime:
    """An aware datetime from an ISO string (naive values are UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise vol.Invalid(
                f"expected an ISO date-time like 2024-01-01T00:00:00Z, got {value!r}"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


SCHEMA = {
    vol.Required("collection"): str,
    vol.Optional("epoch", default=DEFAULT_EPOCH.isoformat()): vol.All(
        parse_epoch, lambda d: d.isoformat()
    ),
}


class OrderedScheduler(Scheduler):
    """Plays its collection in library order, back to back, looping."""

    def __init__(self, options: Mapping[str, Any], context: SchedulerContext) -> None:
        super().__init__(options, context)
        self.collection = str(options["collection"])
        self.epoch = parse_epoch(options.get("epoch", DEFAULT_EPOCH)).timestamp()
        self.sequence = LoopingSequence(context.library.collection(self.collection), self.epoch)

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        return self.sequence.entries(t)

    def health(self) -> tuple[str, str]:
        if not self.sequence.items:
            return "degraded", f"collection '{self.collection}' has no playable items"
        return "ok", ""


@hookimpl
def register_schedulers(register: Any) -> None:
    register("ordered", OrderedScheduler, SCHEMA, "the collection in order, looped")
