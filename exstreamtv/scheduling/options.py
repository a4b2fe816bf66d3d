"""Option validators shared by the scheduler plugins (seed, epoch, collections, weights)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import voluptuous as vol

from exstreamtv.config.validators import non_negative_int, number, one_of, string

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


def epoch_option() -> dict[Any, Any]:
    """``epoch:`` the instant a playout is counted from (ISO date-time)."""
    return {
        vol.Optional("epoch", default=DEFAULT_EPOCH.isoformat()): vol.All(
            parse_epoch, lambda d: d.isoformat()
        )
    }


def seed_option() -> dict[Any, Any]:
    """``seed:`` an integer; the same seed gives the same playout."""
    return {vol.Optional("seed", default=0): non_negative_int}


def positive_weight(value: Any) -> float:
    """A weight greater than zero."""
    checked = number()(value)
    if checked <= 0:
        raise vol.Invalid(f"a weight must be greater than 0, got {value!r}")
    return checked


def validated_list(value: Any, entry: Any, what: str) -> list[dict[str, Any]]:
    """A non-empty list, each item checked by ``entry``; errors carry the item's index."""
    if not isinstance(value, list) or not value:
        raise vol.Invalid(f"expected a non-empty list of {what}")
    out: list[dict[str, Any]] = []
    errors: list[vol.Invalid] = []
    for i, item in enumerate(value):
        try:
            out.append(entry(item))
        except vol.MultipleInvalid as exc:
            errors += [vol.Invalid(e.msg, path=[i, *e.path]) for e in exc.errors]
        except vol.Invalid as exc:
            errors.append(vol.Invalid(exc.msg, path=[i, *exc.path]))
    if errors:
        raise vol.MultipleInvalid(errors)
    return out


WEIGHTED_SOURCE = vol.Schema({vol.Required("collection"): string,
                              vol.Optional("weight", default=1): positive_weight})


def weighted_sources(value: Any) -> list[dict[str, Any]]:
    """A non-empty list of ``{collection, weight}``."""
    return validated_list(value, WEIGHTED_SOURCE, "{collection, weight}")


# What each item is: the editor page draws a repeatable sub-form from it.
weighted_sources.item_schema = WEIGHTED_SOURCE  # type: ignore[attr-defined]


ORDER_MODES = ("ordered", "shuffle", "random")
PADDING_MODES = ("none", "filler", "loop", "next")
FLEX_MODES = ("none", "extend", "compress")

__all__ = [
    "DEFAULT_EPOCH",
    "FLEX_MODES",
    "ORDER_MODES",
    "PADDING_MODES",
    "epoch_option",
    "one_of",
    "parse_epoch",
    "positive_weight",
    "seed_option",
    "weighted_sources",
]
