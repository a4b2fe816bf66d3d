"""``what is on at t`` for random t (target < 1 ms, independent of the channel's age).

For channels 1 day, 1 year and 10 years old, ``item_at(t)`` for t drawn uniformly over
the channel's whole life: "warm" is one long-lived scheduler (its small caches mostly
miss on random t), "cold" builds a fresh scheduler for each query (as after a restart
or a library change; includes building the scheduler). Baseline: the naive walk from the epoch (iterate entries until t), measured up
to 1 year (10 years would take minutes) in the same run.

    python bench/what_is_on.py [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from common import make_library, make_scheduler, registry, result

from exstreamtv.scheduling.base import ScheduledItem, Scheduler

EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
AGES = {"1 day": 86400.0, "1 year": 365 * 86400.0, "10 years": 3650 * 86400.0}
SCHEDULES: dict[str, dict[str, object]] = {
    "ordered": {"type": "ordered", "collection": "shows"},
    "shuffle": {"type": "shuffle", "collection": "shows"},
    "balance": {"type": "balance", "cooldown_minutes": 60,
                "sources": [{"collection": "shows", "weight": 3}, {"collection": "movies"}]},
    "time_slots": {"type": "time_slots", "slots": [
        {"name": "Day", "start_time": "06:00", "duration_minutes": 960, "collection": "shows",
         "order_mode": "shuffle", "padding_mode": "loop"},
        {"name": "Night", "start_time": "22:00", "duration_minutes": 480,
         "collection": "movies", "flex_mode": "extend"}]},
}


def naive_at(sched: Scheduler, t: float) -> ScheduledItem:
    for entry in sched.entries(EPOCH):
        if entry.end > t:
            return entry
    raise AssertionError


def per_query(fn: object, times: list[float]) -> float:
    start = time.process_time()
    for t in times:
        fn(t)  # type: ignore[operator]
    return (time.process_time() - start) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    reg = registry()
    lib = make_library({"shows": 2000, "movies": 500})
    rng = random.Random(3)
    print(f"what is on at t, mean CPU time per query over {args.queries} random t (ms)")
    print(f"{'schedule':<11} {'age':<9} {'cold':>8} {'warm':>8} {'naive':>10} {'ratio':>8}")
    for name, options in SCHEDULES.items():
        warm = make_scheduler(reg, options, lib)
        for age_name, age in AGES.items():
            times = [EPOCH + rng.uniform(0, age) for _ in range(args.queries)]
            cold = per_query(lambda t, o=options: make_scheduler(reg, o, lib).item_at(t),
                             times[: max(5, args.queries // 10)])
            hot = per_query(warm.item_at, times)
            line = f"{name:<11} {age_name:<9} {cold * 1e3:8.3f} {hot * 1e3:8.3f}"
            if age <= 365 * 86400:
                naive = per_query(lambda t, w=warm: naive_at(w, t), times[:5])
                line += f" {naive * 1e3:10.2f} {naive / hot:7.0f}x"
                result(f"what is on at t: {name}, channel age {age_name}",
                       f"{hot * 1e3:.3f} ms", f"{naive * 1e3:.2f} ms (walk from epoch)",
                       hot / naive, "target < 1 ms")
            else:
                line += f" {'(skipped)':>10}"
            print(line)


if __name__ == "__main__":
    main()
