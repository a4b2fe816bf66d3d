"""Breaks and filler lists: a 7-day guide for many channels, and "what is on at t" a year out.

Every channel is a shuffle of shows padded to the half hour with pre-, mid- and post-roll,
filler and fallback lists of ``--clips`` clips each and a 60-minute clip cooldown.
Baseline: the same channels without filler lists (no padding), in the same run.

    python bench/breaks.py [--channels 100] [--clips 5000] [--days 7] [--queries 50]
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime
from typing import Any

from common import make_library, registry, result, timed

from exstreamtv.config.model import ChannelConfig, FFmpegConfig, ScheduleConfig
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import Scheduler, SchedulerContext
from exstreamtv.scheduling.breaks import (
    BREAK_KEYS,
    validate_break_options,
    with_breaks,
)

START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
BREAKS: dict[str, Any] = {
    "pad_to_minutes": 30, "clip_cooldown_minutes": 60, "mid_roll_every_minutes": 15,
    "fillers": [
        {"collection": "bumpers", "roles": ["pre_roll", "post_roll"]},
        {"collection": "ads", "weight": 3, "cooldown_minutes": 2, "roles": ["filler", "mid_roll"]},
        {"collection": "loops", "roles": ["fallback"]},
    ],
}


def build(reg: Any, lib: Any, number: int, with_filler: bool) -> Scheduler:
    options: dict[str, Any] = {"type": "shuffle", "collection": f"show{number % 20}",
                               "seed": number, **(BREAKS if with_filler else {})}
    component = reg.get("scheduler", "shuffle")
    plain = {k: v for k, v in options.items() if k != "type" and k not in BREAK_KEYS}
    validated = {**component.schema(plain), **validate_break_options(options)}
    channel = ChannelConfig(number, f"Channel {number}", ScheduleConfig("shuffle", validated),
                            FFmpegConfig())
    context = SchedulerContext(channel, lib, UTC)
    return with_breaks(component.factory(validated, context), context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    reg = registry()
    lib = make_library({f"show{i}": 200 for i in range(20)})
    rng = random.Random(5)
    for name, lengths in (("bumpers", (5, 10)), ("ads", (15, 90)), ("loops", (300, 1200))):
        lib.items[name] = [MediaItem(id=f"{name}-{i}", source_id=name, title=f"{name} {i}",
                                     location=f"/m/{name}/{i}.mkv",
                                     duration=float(rng.randint(*lengths)), collections=(name,))
                           for i in range(args.clips)]
    end = START + args.days * 86400
    for label, filler in (("with filler", True), ("without", False)):
        seconds, count = timed(lambda f=filler: sum(
            len(build(reg, lib, n, f).window(START, end)) for n in range(1, args.channels + 1)))
        print(f"{args.days}-day guide, {args.channels} channels {label}: {seconds:.2f} s CPU, "
              f"{count} entries")
        if filler:
            ours = seconds
        else:
            base = seconds
    result("breaks_guide", f"{ours:.2f} s", f"{base:.2f} s", ours / base,
           f"{args.days}-day guide, {args.channels} channels, lists of {args.clips} clips")
    year = [START + 365 * 86400 + rng.uniform(0, 86400) for _ in range(args.queries)]
    costs = {}
    for label, filler in (("with filler", True), ("without", False)):
        seconds, _ = timed(lambda f=filler: [build(reg, lib, 1, f).item_at(t) for t in year])
        warm = build(reg, lib, 1, filler)
        days = [t + 86400 * k for k, t in enumerate(year)]  # a different day each: no cache hit
        warm_seconds, _ = timed(lambda w=warm, d=days: [w.item_at(t) for t in d])
        costs[label] = warm_seconds / len(year)
        print(f"what is on a year out, {label}: cold (scheduler built per query) "
              f"{seconds / len(year) * 1e3:.2f} ms, warm {costs[label] * 1e3:.2f} ms")
    result("breaks_what_is_on", f"{costs['with filler'] * 1e3:.2f} ms",
           f"{costs['without'] * 1e3:.2f} ms", costs["with filler"] / costs["without"],
           "a year out, warm scheduler, a new day each query (plans that day's breaks)")


if __name__ == "__main__":
    main()
