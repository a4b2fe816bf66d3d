"""The playout engine: looping, shuffles, determinism, removed items, what is on at t."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime

from exstreamtv.scheduling.base import ScheduledItem, Scheduler
from exstreamtv.scheduling.sequences import PlayoutMemory
from tests.scheduling_helpers import items, library, scheduler

EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def naive_walk(sched: Scheduler, t: float) -> ScheduledItem:
    """The entry at ``t`` found by walking the playout from the epoch (the slow, obvious way)."""
    for entry in sched.entries(EPOCH):
        if entry.start <= t < entry.end:
            return entry
    raise AssertionError("unreachable")


def test_ordered_loop_position_at_several_times() -> None:
    # Three items of 100, 200 and 300 s: a 600 s loop counted from the epoch.
    lib = library({"shows": items("shows", [100, 200, 300])})
    sched = scheduler({"type": "ordered", "collection": "shows"}, lib)
    cases = {
        0: ("shows-1", 0.0),
        99.5: ("shows-1", 99.5),
        100: ("shows-2", 0.0),
        350: ("shows-3", 50.0),
        600: ("shows-1", 0.0),
        600 * 1000 + 250: ("shows-2", 150.0),
        600 * 1_000_000 + 599: ("shows-3", 299.0),
    }
    for offset, (item_id, into) in cases.items():
        entry = sched.item_at(EPOCH + offset)
        assert entry.item is not None and entry.item.id == item_id, offset
        assert entry.offset_at(EPOCH + offset) == into, offset
    # Before the epoch the loop runs backwards consistently.
    entry = sched.item_at(EPOCH - 1)
    assert entry.item is not None and entry.item.id == "shows-3"
    # Entries follow each other without gaps.
    window = sched.window(EPOCH, EPOCH + 1800)
    assert [e.item.id for e in window if e.item] == ["shows-1", "shows-2", "shows-3"] * 3
    assert all(a.end == b.start for a, b in itertools.pairwise(window))


def test_shuffle_plays_every_item_once_per_round_and_matches_a_walk() -> None:
    lib = library({"clips": items("clips", [60 + 7 * i for i in range(20)])})
    sched = scheduler({"type": "shuffle", "collection": "clips", "seed": 5}, lib)
    total = sum(60 + 7 * i for i in range(20))
    for cycle in (0, 1, 2, 57):
        start = EPOCH + cycle * total
        round_ = [e.item.id for e in sched.window(start, start + total - 1) if e.item]
        assert sorted(round_) == sorted(f"clips-{i + 1}" for i in range(20)), cycle
    orders = {tuple(e.item.id for e in sched.window(EPOCH + c * total, EPOCH + (c + 1) * total - 1)
                    if e.item) for c in range(4)}
    assert len(orders) > 1, "each round should be a new permutation"
    rng = random.Random(1)
    for _ in range(20):
        t = EPOCH + rng.uniform(0, 5 * total)
        fast, slow = sched.item_at(t), naive_walk(sched, t)
        assert (fast.item, fast.start) == (slow.item, slow.start)


def _playout(sched: Scheduler, start: float, hours: int) -> list[tuple[str | None, float]]:
    return [(e.item.id if e.item else None, e.start)
            for e in sched.window(start, start + hours * 3600)]


def test_same_seed_same_playout_other_seed_different() -> None:
    lib = library({"a": items("a", [600 + 60 * i for i in range(30)]),
                   "b": items("b", [900] * 10)})
    start = EPOCH + 123 * DAY
    for options in (
        {"type": "shuffle", "collection": "a"},
        {"type": "random", "sources": [{"collection": "a", "weight": 2},
                                       {"collection": "b", "weight": 1}]},
        {"type": "balance", "sources": [{"collection": "a", "weight": 2},
                                        {"collection": "b", "weight": 1}], "cooldown_minutes": 30},
        {"type": "time_slots", "slots": [
            {"name": "A", "start_time": "06:00", "duration_minutes": 600, "collection": "a",
             "order_mode": "shuffle"},
            {"name": "B", "start_time": "18:00", "duration_minutes": 600, "collection": "a",
             "order_mode": "random"}]},
    ):
        one = _playout(scheduler({**options, "seed": 1}, lib), start, 48)
        again = _playout(scheduler({**options, "seed": 1}, lib), start, 48)
        other = _playout(scheduler({**options, "seed": 2}, lib), start, 48)
        assert one == again, options["type"]
        assert one != other, options["type"]


def test_what_is_on_does_not_depend_on_where_the_walk_started() -> None:
    lib = library({"a": items("a", [600 + 60 * i for i in range(30)]),
                   "b": items("b", [900] * 10)})
    rng = random.Random(7)
    for options in (
        {"type": "random", "collection": "a"},
        {"type": "balance", "sources": [{"collection": "a", "weight": 1},
                                        {"collection": "b", "weight": 1}]},
    ):
        sched = scheduler(options, lib)
        start = EPOCH + 400 * DAY
        window = sched.window(start, start + 3 * DAY)
        for _ in range(30):
            t = rng.uniform(start + 1, start + 3 * DAY - 1)
            on = scheduler(options, lib).item_at(t)  # a fresh scheduler: nothing cached
            expected = next(e for e in window if e.start <= t < e.end)
            assert (on.item, on.start, on.duration) == (expected.item, expected.start,
                                                        expected.duration)


def test_random_follows_weights() -> None:
    lib = library({"a": items("a", [300] * 5), "b": items("b", [300] * 5)})
    sched = scheduler({"type": "random", "sources": [{"collection": "a", "weight": 3},
                                                     {"collection": "b", "weight": 1}]}, lib)
    picks = Counter(e.item.source_id for e in sched.window(EPOCH, EPOCH + 30 * DAY) if e.item)
    share = picks["a"] / (picks["a"] + picks["b"])
    assert 0.72 < share < 0.78, picks


def test_removed_item_is_skipped_without_moving_the_rest() -> None:
    shows = items("shows", [100, 200, 300, 400])
    lib = library({"shows": shows})
    memory = PlayoutMemory()
    before = scheduler({"type": "ordered", "collection": "shows"}, lib, memory=memory)
    t0 = EPOCH + 10 * 1000
    old = before.window(t0, t0 + 3000)
    lib.items["shows"] = [shows[0], shows[2], shows[3]]  # shows-2 deleted
    lib.version += 1
    after = scheduler({"type": "ordered", "collection": "shows"}, lib, memory=memory)
    new = after.window(t0, t0 + 3000)
    assert [(e.start, e.duration) for e in old] == [(e.start, e.duration) for e in new]
    for a, b in zip(old, new, strict=True):
        if a.item is not None and a.item.id == "shows-2":
            assert b.item is None and b.kind == "offline" and "removed" in (b.slot or "")
        else:
            assert a.item == b.item
    # The file comes back: it airs again in its place.
    lib.items["shows"] = shows
    again = scheduler({"type": "ordered", "collection": "shows"}, lib, memory=memory)
    assert [e.item for e in again.window(t0, t0 + 3000)] == [e.item for e in old]


def test_empty_collection_plays_offline_and_says_why() -> None:
    lib = library({"shows": []})
    for options in (
        {"type": "ordered", "collection": "shows"},
        {"type": "shuffle", "collection": "shows"},
        {"type": "random", "collection": "shows"},
        {"type": "balance", "sources": [{"collection": "shows"}]},
        {"type": "time_slots", "slots": [{"name": "All day", "start_time": "00:00",
                                          "duration_minutes": 1440, "collection": "shows"}]},
    ):
        sched = scheduler(options, lib)
        status, reason = sched.health()
        assert status == "degraded" and "shows" in reason, options["type"]
        entries = sched.window(EPOCH + 5 * DAY, EPOCH + 6 * DAY)
        assert entries and all(e.item is None for e in entries), options["type"]
