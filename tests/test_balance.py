"""Balance scheduling: weights, cooldowns, distribution stats."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

from exstreamtv.scheduling.balance import BalanceScheduler
from tests.scheduling_helpers import items, library, scheduler

EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

WEIGHTS = {"movies": 40, "shows": 30, "docs": 20, "specials": 10}


def _lib():  # type: ignore[no-untyped-def]
    return library({
        "movies": items("movies", [5400 + 300 * i for i in range(12)]),
        "shows": items("shows", [1320 + 60 * i for i in range(20)]),
        "docs": items("docs", [2700 + 120 * i for i in range(8)]),
        "specials": items("specials", [3600, 4200, 1800]),
    })


def _sources() -> list[dict[str, object]]:
    return [{"collection": c, "weight": w} for c, w in WEIGHTS.items()]


def test_shares_follow_weights_over_10000_picks() -> None:
    for seed in (0, 1, 99):
        sched = scheduler({"type": "balance", "sources": _sources(), "seed": seed}, _lib())
        assert isinstance(sched, BalanceScheduler)
        picks: list[str] = []
        t = EPOCH
        while len(picks) < 10_000:
            picks += [source for _, source in sched.picks_between(t, t + 86400)]
            t += 86400
        counts = Counter(picks[:10_000])
        for collection, weight in WEIGHTS.items():
            assert abs(100 * counts[collection] / 10_000 - weight) <= 2, (seed, counts)
        stats = sched.stats(EPOCH, t)
        by_name = {s["collection"]: s for s in stats["sources"]}
        assert by_name["movies"]["target_share"] == 40.0
        assert abs(by_name["movies"]["actual_share"] - 40.0) <= 2


def test_no_source_repeats_inside_its_cooldown_while_another_is_eligible() -> None:
    cooldown = 90
    sched = scheduler({"type": "balance", "sources": _sources(), "cooldown_minutes": cooldown,
                       "block_hours": 168}, _lib())
    assert isinstance(sched, BalanceScheduler)
    entries = sched.picks_between(EPOCH, EPOCH + 168 * 3600)
    assert len(entries) > 100
    last_end: dict[str, float] = {}
    repeats_allowed = 0
    for entry, source in entries:
        ready = {s: last_end.get(s, float("-inf")) + cooldown * 60 for s in WEIGHTS}
        eligible = [s for s, at in ready.items() if entry.start >= at - 1e-6]
        if entry.start < ready[source] - 1e-6:
            # Only allowed when every source was cooling down, and then the soonest ready.
            assert not eligible, (source, eligible)
            assert ready[source] == min(ready.values())
            repeats_allowed += 1
        last_end[source] = entry.end
    # With four sources and 90 minutes the cooldown decides a lot: shares drift from the
    # weights, but every source still plays.
    counts = Counter(source for _, source in entries)
    assert set(counts) == set(WEIGHTS)


def test_zero_cooldown_sources_can_follow_themselves() -> None:
    sched = scheduler({"type": "balance", "sources": [{"collection": "movies", "weight": 9},
                                                      {"collection": "shows", "weight": 1}]},
                      _lib())
    assert isinstance(sched, BalanceScheduler)
    sources = [s for _, s in sched.picks_between(EPOCH, EPOCH + 7 * 86400)]
    assert any(a == b == "movies" for a, b in itertools.pairwise(sources))
