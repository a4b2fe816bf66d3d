"""The cooldown book: what a channel aired that must rest, kept across restarts.

Schedules plan from their seed, so an unchanged channel plans the same breaks and picks
after a restart. What a plan cannot know is what aired under an *earlier* plan: before
a restart with an edited schedule or library, before the day (breaks) or block
(balance) it is planning. The book holds that. Each time a channel starts an item its
scheduler names the cooldowns the airing starts (:meth:`Scheduler.cooldowns`); the
book keeps, per key, the latest time the key may not start before, and the database
keeps the book (table ``cooldowns``), so a scheduler built later holds back what aired
within its cooldown.

Keys: ``clip:<item id>`` (``clip_cooldown_minutes``), ``list:<collection>`` (a filler
list's ``cooldown_minutes``), ``source:<collection>`` (a balance source's
``cooldown_minutes``).

A key rests from its airing until ``until``; the airing itself (``until - cooldown``,
give or take a second) is not held back, so a plan that made the airing plans the same
after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

#: An airing this close to ``until - cooldown`` is the one that set the cooldown.
SAME_AIRING_SECONDS = 1.0


@dataclass(frozen=True)
class Cooldown:
    """``key`` may not start again before ``until`` (POSIX seconds)."""

    key: str
    until: float


def clip_key(item_id: str) -> str:
    return f"clip:{item_id}"


def list_key(collection: str) -> str:
    return f"list:{collection}"


def source_key(collection: str) -> str:
    return f"source:{collection}"


class CooldownBook:
    """The latest ``until`` per key of one channel."""

    def __init__(self, entries: Mapping[str, float] | None = None) -> None:
        self._until: dict[str, float] = dict(entries or {})

    def __len__(self) -> int:
        return len(self._until)

    def __iter__(self) -> Iterator[Cooldown]:
        return (Cooldown(k, v) for k, v in self._until.items())

    def until(self, key: str) -> float | None:
        return self._until.get(key)

    def add(self, cooldowns: Iterable[Cooldown]) -> list[Cooldown]:
        """Record ``cooldowns``; returns the ones that moved a key's ``until`` later."""
        changed = []
        for cooldown in cooldowns:
            if cooldown.until > self._until.get(cooldown.key, float("-inf")) + 1e-6:
                self._until[cooldown.key] = cooldown.until
                changed.append(cooldown)
        return changed

    def holds(self, key: str, t: float, cooldown: float) -> bool:
        """Whether ``key`` rests at ``t``: after the airing that ends at ``until`` with
        ``cooldown``, and before ``until``."""
        until = self._until.get(key)
        if until is None or t >= until - 1e-6:
            return False
        return t > until - cooldown + SAME_AIRING_SECONDS

    def prune(self, now: float) -> None:
        """Forget keys that no longer rest."""
        self._until = {k: v for k, v in self._until.items() if v > now}

    def copy(self) -> CooldownBook:
        return CooldownBook(self._until)
