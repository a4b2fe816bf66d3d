"""The options of a time-slot schedule: the slot schema, the check that no two slots air
at once, and the :class:`TimeSlot` each validated slot becomes (see time_slots.py for how
they are scheduled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import voluptuous as vol

from exstreamtv.config.validators import Section, hh_mm, number, one_of, string
from exstreamtv.scheduling.options import (
    FLEX_MODES,
    ORDER_MODES,
    PADDING_MODES,
    epoch_option,
    seed_option,
    validated_list,
)

WEEK_MINUTES = 7 * 1440
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class TimeSlot:
    """One slot of the daily grid (spec 3.1)."""

    slot_id: str
    name: str
    start_time: time
    duration_minutes: int
    collection_id: str
    order_mode: str = "ordered"
    padding_mode: str = "none"
    flex_mode: str = "none"
    days_of_week: int = 127
    filler: str | None = None
    #: Seconds an overrun may delay this slot's start (None: as long as it runs).
    max_lateness: float | None = None

    def runs_on(self, day: date) -> bool:
        return bool(self.days_of_week & (1 << day.weekday()))


def _days_of_week(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 127:
        raise vol.Invalid(
            f"expected a bitmask from 1 to 127 (Monday = 1 ... Sunday = 64, every day = 127), "
            f"got {value!r}"
        )
    return value


def _lateness(value: Any) -> float:
    """Minutes, 0 to 1440."""
    return number(0, 1440)(value)


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1440:
        raise vol.Invalid(f"expected whole minutes from 1 to 1440, got {value!r}")
    return value


SLOT = Section(
    {
        vol.Required("name"): string,
        vol.Required("start_time"): hh_mm,
        vol.Required("duration_minutes"): _duration,
        vol.Required("collection"): string,
        vol.Optional("order_mode", default="ordered"): one_of(*ORDER_MODES),
        vol.Optional("padding_mode", default="none"): one_of(*PADDING_MODES),
        vol.Optional("flex_mode", default="none"): one_of(*FLEX_MODES),
        vol.Optional("days_of_week", default=127): _days_of_week,
        vol.Optional("filler"): string,
        vol.Optional("max_lateness_minutes"): _lateness,
        vol.Optional("id"): string,
    }
)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _slot_list(value: Any) -> list[dict[str, Any]]:
    return validated_list(value, SLOT, "slots")


_slot_list.item_schema = SLOT  # type: ignore[attr-defined]  # the editor's sub-form


def check_overlaps(options: dict[str, Any]) -> dict[str, Any]:
    """Refuse two slots that air at the same wall-clock minute of the week."""
    spans: list[tuple[int, int, int]] = []  # (start, end, slot index) in minutes of the week
    for i, slot in enumerate(options["slots"]):
        start = _minutes(slot["start_time"])
        for day in range(7):
            if slot["days_of_week"] & (1 << day):
                begin = day * 1440 + start
                end = begin + slot["duration_minutes"]
                spans.append((begin, min(end, WEEK_MINUTES), i))
                if end > WEEK_MINUTES:  # Sunday night running into Monday
                    spans.append((0, end - WEEK_MINUTES, i))
    spans.sort()
    errors: list[vol.Invalid] = []
    reported: set[tuple[int, int]] = set()
    reach: tuple[int, int] | None = None  # (end, slot) of the span reaching furthest so far
    for begin, end, b in spans:
        if reach is not None and begin < reach[0] and reach[1] != b:
            a = reach[1]
            pair = (min(a, b), max(a, b))
            if pair not in reported:
                reported.add(pair)
                first, second = options["slots"][pair[0]], options["slots"][pair[1]]
                errors.append(vol.Invalid(
                    f"slot '{second['name']}' ({second['start_time']}, "
                    f"{second['duration_minutes']} min) overlaps slot '{first['name']}' "
                    f"({first['start_time']}, {first['duration_minutes']} min) on "
                    f"{DAY_NAMES[begin // 1440]}",
                    path=["slots", pair[1], "start_time"],
                ))
        if reach is None or end > reach[0]:
            reach = (end, b)
    if errors:
        raise vol.MultipleInvalid(errors)
    return options


SCHEMA = vol.Schema(vol.All(
    Section({
        vol.Required("slots"): _slot_list,
        vol.Optional("filler"): string,
        vol.Optional("max_lateness_minutes"): _lateness,
        **seed_option(),
        **epoch_option(),
    }),
    check_overlaps,
))


def slots_from_options(options: Mapping[str, Any]) -> list[TimeSlot]:
    """The TimeSlot dataclasses of validated options."""
    out = []
    default_lateness = options.get("max_lateness_minutes")
    for i, s in enumerate(options["slots"]):
        lateness = s.get("max_lateness_minutes", default_lateness)
        hours, minutes = str(s["start_time"]).split(":")
        out.append(TimeSlot(
            slot_id=str(s.get("id") or f"{i}-{s['name']}"), name=str(s["name"]),
            start_time=time(int(hours), int(minutes)), duration_minutes=int(s["duration_minutes"]),
            collection_id=str(s["collection"]), order_mode=str(s.get("order_mode", "ordered")),
            padding_mode=str(s.get("padding_mode", "none")),
            flex_mode=str(s.get("flex_mode", "none")),
            days_of_week=int(s.get("days_of_week", 127)), filler=s.get("filler"),
            max_lateness=float(lateness) * 60.0 if lateness is not None else None,
        ))
    return out
