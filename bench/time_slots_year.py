"""A year of time-slot playout over a 100,000-item library (target < 1 s).

Baselines measured in the same run:

* naive stateless: each day's slots are found by replaying the grid from the epoch
  (2024-01-01), which is what a scheduler without arithmetic must do to answer for a
  day after a restart; quadratic in the age of the channel.
* naive stateful (a lower bound, not a real scheduler): one pass from the epoch with a
  pointer per slot, no timezone, DST, flex or padding rules, and no way to answer for
  one day without replaying all days before it.

    python bench/time_slots_year.py [--items 100000]
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

from common import make_library, make_scheduler, registry, result, timed

from exstreamtv.media.models import MediaItem

SLOTS = [
    {"name": "Morning", "start_time": "06:00", "duration_minutes": 180, "collection": "news"},
    {"name": "Day", "start_time": "09:00", "duration_minutes": 540, "collection": "shows",
     "order_mode": "shuffle", "padding_mode": "loop"},
    {"name": "Prime", "start_time": "18:00", "duration_minutes": 240, "collection": "movies",
     "flex_mode": "extend"},
    {"name": "Night", "start_time": "22:00", "duration_minutes": 480, "collection": "shows",
     "order_mode": "random", "flex_mode": "compress"},
]


def naive_year(items: dict[str, list[MediaItem]], epoch: date, first: date, days: int) -> int:
    """Simulate from ``epoch``: each slot takes items in order from its pointer (flex none)."""
    pointers = {s["name"]: 0 for s in SLOTS}
    count = 0
    day = epoch
    while day < first + timedelta(days=days):
        for slot in SLOTS:
            pool = items[str(slot["collection"])]
            t = 0.0
            length = int(slot["duration_minutes"]) * 60  # type: ignore[call-overload]
            while t < length:
                item = pool[pointers[str(slot["name"])] % len(pool)]
                pointers[str(slot["name"])] += 1
                t += item.duration
                if day >= first:
                    count += 1
        day += timedelta(days=1)
    return count


def naive_stateless(items: dict[str, list[MediaItem]], epoch: date, first: date,
                    days: int) -> int:
    """For every day: replay from the epoch to find where each slot's pointer stands."""
    count = 0
    for d in range(days):
        day = first + timedelta(days=d)
        pointers = {s["name"]: 0 for s in SLOTS}
        walk = epoch
        while walk <= day:
            for slot in SLOTS:
                pool = items[str(slot["collection"])]
                t, length = 0.0, int(slot["duration_minutes"]) * 60  # type: ignore[call-overload]
                while t < length:
                    t += pool[pointers[str(slot["name"])] % len(pool)].duration
                    pointers[str(slot["name"])] += 1
                    if walk == day:
                        count += 1
            walk += timedelta(days=1)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    lib = make_library({"news": args.items // 10, "shows": args.items * 6 // 10,
                        "movies": args.items * 3 // 10})
    reg = registry()
    first = date(2027, 1, 1)
    start = datetime(2027, 1, 1, tzinfo=UTC).timestamp()

    def ours() -> int:
        sched = make_scheduler(reg, {"type": "time_slots", "slots": SLOTS}, lib)
        return len(sched.window(start, start + 365 * 86400))

    fast_time, entries = timed(ours, repeat=2)
    epoch = date(2024, 1, 1)
    stateful_time, _ = timed(lambda: naive_year(lib.items, epoch, first, 365))
    stateless_time, _ = timed(lambda: naive_stateless(lib.items, epoch, first, 365))
    print(f"time slots, a year (2027) over {args.items} items: {entries} entries")
    print(f"  exstreamtv: {fast_time:.3f} s (target < 1 s)")
    print(f"  naive stateless (replay from the epoch per day): {stateless_time:.3f} s   "
          f"ratio naive/ours: {stateless_time / fast_time:.1f}x")
    print(f"  naive stateful one pass (lower bound, no rules): {stateful_time:.3f} s   "
          f"ratio: {stateful_time / fast_time:.2f}x")
    result(f"time slots, a year over {args.items} items", f"{fast_time:.3f} s",
           f"{stateless_time:.3f} s (replay per day)", fast_time / stateless_time, "target < 1 s")


if __name__ == "__main__":
    main()
