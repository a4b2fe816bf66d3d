"""Small voluptuous building blocks that produce errors a person can act on."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import voluptuous as vol


class Section:
    """A mapping validator that names unknown keys together with the allowed ones."""

    def __init__(self, fields: Mapping[Any, Any], *, extra_ok: bool = False) -> None:
        self.fields = dict(fields)
        self.extra_ok = extra_ok
        self.schema = vol.Schema(self.fields, extra=vol.ALLOW_EXTRA if extra_ok else vol.PREVENT_EXTRA)
        self.allowed = sorted(str(getattr(k, "schema", k)) for k in self.fields)

    def __call__(self, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise vol.Invalid(f"expected a mapping of keys ({', '.join(self.allowed)})")
        if not self.extra_ok:
            unknown = [k for k in value if str(k) not in self.allowed]
            if unknown:
                errors = [
                    vol.Invalid(
                        f"unknown key '{k}' (allowed: {', '.join(self.allowed)})", path=[k]
                    )
                    for k in unknown
                ]
                raise vol.MultipleInvalid(errors)
        return self.schema(dict(value))


def positive_int(value: Any) -> int:
    """An integer greater than zero."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise vol.Invalid(f"expected a positive integer, got {value!r}")
    return value


def non_negative_int(value: Any) -> int:
    """An integer of zero or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise vol.Invalid(f"expected an integer >= 0, got {value!r}")
    return value


def int_range(minimum: int, maximum: int, unit: str = "") -> Callable[[Any], int]:
    """An integer from ``minimum`` to ``maximum``; the error names the range and unit."""
    unit_text = f" {unit}" if unit else ""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise vol.Invalid(f"expected an integer from {minimum:,} to {maximum:,}{unit_text}, "
                              f"got {value!r}")
        return value

    check.__doc__ = f"an integer from {minimum} to {maximum}{unit_text}"
    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Callable[[Any], float]:
    """A finite float (ints accepted) within optional bounds."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise vol.Invalid(f"expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise vol.Invalid(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise vol.Invalid(f"must be at most {maximum}, got {value}")
        return float(value)

    bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
    check.__doc__ = "a number " + " and ".join(b for b in bounds if b)
    return check


def one_of(*choices: str) -> Callable[[Any], str]:
    """One of a fixed set of strings; the error lists them."""

    def check(value: Any) -> str:
        if value not in choices:
            raise vol.Invalid(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    check.choices = choices  # type: ignore[attr-defined]
    return check


def string(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a non-empty string, got {value!r}")
    return value


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def identifier(value: Any) -> str:
    """An id made of letters, digits, '_', '.' and '-' (used in URLs and topics)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise vol.Invalid(
            f"expected an id of letters, digits, '_', '.' or '-', got {value!r}"
        )
    return value


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)\Z")


def hh_mm(value: Any) -> str:
    """A wall-clock time as "HH:MM"."""
    if not isinstance(value, str) or not _HHMM.match(value):
        raise vol.Invalid(f"expected a time as \"HH:MM\" (00:00 to 23:59), got {value!r}")
    hours, minutes = value.split(":")
    return f"{int(hours):02d}:{minutes}"


def language_list(value: Any) -> list[str]:
    """A list of language codes (ISO 639 1 or 2 letters; normalised later)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str) and re.fullmatch(r"[A-Za-z]{2,3}", v) for v in value
    ):
        raise vol.Invalid(f"expected a list of language codes like [eng, fre], got {value!r}")
    return [v.lower() for v in value]
