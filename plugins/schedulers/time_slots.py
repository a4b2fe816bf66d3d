"""``type: time_slots``: a daily grid of wall-clock slots (spec 3.1).

The engine and its rules (overruns, padding, DST) live in
``exstreamtv.scheduling.time_slots``; docs/scheduling.md describes every key.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import TIME_SLOTS_SCHEMA, TimeSlotScheduler, hookimpl


@hookimpl
def register_schedulers(register: Any) -> None:
    register("time_slots", TimeSlotScheduler, TIME_SLOTS_SCHEMA, "wall-clock slots of collections")
