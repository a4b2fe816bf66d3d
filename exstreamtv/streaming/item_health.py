"""Which items a channel fails on, for health: ``/api/health``, ``/api/channels/{n}``, MQTT.

Two sources, both named by item title:

- the pipeline's failure events (``ChannelEvent`` action ``failure``: an ffmpeg that
  crashed, stalled or could not read its file); an item that failed
  ``REPEATED_FAILURES`` times within ``WINDOW_SECONDS`` makes its channel degraded;
- the failed-items store (items given up on, left out of the playout until their file
  changes): each one keeps its channel degraded until it is forgiven.

A channel that plays normally again stays degraded until the failures age out of the
window, so a problem that recurs every loop is never hidden between two occurrences.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exstreamtv.events import ChannelEvent, Event, EventBus

if TYPE_CHECKING:
    from exstreamtv.database.failed_items import FailedItem

#: How far back failures count.
WINDOW_SECONDS = 1800.0
#: Failures of one item within the window that make its channel degraded.
REPEATED_FAILURES = 2
_KEEP = 200


@dataclass(frozen=True)
class Failure:
    """One ffmpeg failure of an item on a channel."""

    at: float
    title: str
    message: str


class ItemHealth:
    """Recent item failures per channel, from the event bus."""

    def __init__(self, bus: EventBus) -> None:
        self._recent: dict[int, deque[Failure]] = defaultdict(lambda: deque(maxlen=_KEEP))
        bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ChannelEvent) and event.action == "failure":
            self._recent[event.channel].append(
                Failure(event.timestamp, event.title, event.message))

    def failing(self, number: int, now: float | None = None) -> list[dict[str, Any]]:
        """Items of ``number`` that failed repeatedly within the window, most failures first."""
        cutoff = (time.time() if now is None else now) - WINDOW_SECONDS
        by_title: dict[str, list[Failure]] = defaultdict(list)
        for failure in self._recent.get(number, ()):
            if failure.at >= cutoff:
                by_title[failure.title].append(failure)
        out = [{"title": title, "failures": len(seen), "last_error": seen[-1].message,
                "last_failed_at": seen[-1].at, "unplayable": False}
               for title, seen in by_title.items() if len(seen) >= REPEATED_FAILURES]
        return sorted(out, key=lambda f: (-f["failures"], f["title"]))

    def report(self, number: int, unplayable: Iterable[FailedItem],
               now: float | None = None) -> dict[str, Any]:
        """``{"status", "reason", "failing_items"}`` for channel ``number``."""
        items = [{"title": r.title, "failures": r.attempts, "last_error": r.reason,
                  "last_failed_at": r.failed_at, "unplayable": True, "item_id": r.item_id,
                  "source_id": r.source_id} for r in unplayable]
        named = {i["title"] for i in items}
        items += [f for f in self.failing(number, now) if f["title"] not in named]
        if not items:
            return {"status": "ok", "reason": "", "failing_items": []}
        parts = [f"'{i['title']}' " + ("cannot be played" if i["unplayable"]
                                       else f"failed {i['failures']} times")
                 for i in items]
        return {"status": "degraded", "reason": "; ".join(parts), "failing_items": items}
