"""Fan-out: 1, 50 and 200 viewers of one channel, against a bare Quart/Hypercorn loop.

For each viewer count, every viewer reads as fast as data comes; the delivered rate is
what each viewer received over a measuring window divided by what the channel produced
in it (target >= 99 %). Server CPU and RSS growth per added viewer come from /proc.
Baseline, same run: a bare Quart app on Hypercorn pacing a byte stream per connection
with ``await asyncio.sleep`` (the naive way), at the channel's measured rate.
Run: python bench/bench_fanout.py [--counts 1,50,200] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

from _common import Counter, cpu_seconds, rss_bytes, start_server, table
from common import result

from tests.helpers import free_port

BASELINE_APP = textwrap.dedent('''
    import asyncio, sys, time
    from quart import Quart, Response
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    app = Quart(__name__)
    RATE = float(sys.argv[2])

    @app.route("/stream")
    async def stream():
        async def body():
            chunk = b"G" * int(RATE * 0.1)
            while True:
                yield chunk
                await asyncio.sleep(0.1)  # naive pacing: drifts with load
        r = Response(body(), mimetype="video/mp2t")
        r.timeout = None
        return r

    c = Config(); c.bind = [f"127.0.0.1:{sys.argv[1]}"]; c.accesslog = None
    asyncio.run(serve(app, c))
''')


async def measure(port: int, path: str, count: int, seconds: float,
                  produced: Callable[[], int]) -> list[float]:
    """Per-viewer delivered/produced over a window after warm-up."""
    counters = [Counter() for _ in range(count)]
    tasks = [asyncio.create_task(c.run("127.0.0.1", port, path, seconds + 3.0))
             for c in counters]
    await asyncio.sleep(2.0)
    t0, p0 = time.monotonic(), produced()
    await asyncio.sleep(seconds)
    t1, p1 = time.monotonic(), produced()
    await asyncio.gather(*tasks, return_exceptions=True)
    made = p1 - p0
    return [c.between(t0, t1) / made if made else 0.0 for c in counters]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1,50,200")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    server = start_server(session_manager={"max_sessions_per_channel": 1000},
                          streaming={"idle_stop_seconds": 30})
    rows: list[tuple[str, str]] = []
    results: dict[int, tuple[float, float]] = {}
    try:
        def produced() -> int:
            return int(server.get("/api/channels/1").json()["pipeline"]["bytes"])

        pid = server.proc.pid
        warm = Counter()
        asyncio.run(warm.run("127.0.0.1", server.port, "/stream/channels/1.ts", 3.0))
        rate = 0.0
        base_rss = rss_bytes(pid)
        for count in counts:
            c0, p0, t0 = cpu_seconds(pid), produced(), time.monotonic()
            ratios = asyncio.run(measure(server.port, "/stream/channels/1.ts", count,
                                                 args.seconds, produced))
            cpu = (cpu_seconds(pid) - c0) / (args.seconds + 3.0)
            rss = rss_bytes(pid)
            rate = max(rate, (produced() - p0) / (time.monotonic() - t0))
            results[count] = (statistics.mean(ratios), min(ratios))
            per_viewer = (rss - base_rss) / count
            rows.append((f"exstreamtv {count:>3} viewers",
                         f"delivered mean {statistics.mean(ratios):.1%} min {min(ratios):.1%}, "
                         f"CPU {cpu:.0%}, RSS +{per_viewer / 1024:.0f} KiB/viewer"))
    finally:
        server.stop()
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(port), str(rate)])
    try:
        time.sleep(2.0)
        base_results: dict[int, float] = {}
        for count in counts:
            counters = [Counter() for _ in range(count)]

            async def run_all(cs: list[Counter] = counters) -> None:
                await asyncio.gather(*(c.run("127.0.0.1", port, "/stream", args.seconds + 2.0)
                                       for c in cs), return_exceptions=True)

            asyncio.run(run_all())
            ratios = []
            for c in counters:
                if len(c.marks) > 2:
                    t0 = c.marks[0][0] + 1.0
                    t1 = t0 + args.seconds
                    ratios.append(c.between(t0, t1) / (rate * args.seconds))
            base_results[count] = statistics.mean(ratios) if ratios else 0.0
            rows.append((f"bare Quart loop {count:>3} viewers",
                         f"delivered mean {base_results[count]:.1%}"))
    finally:
        baseline.kill()  # a graceful stop would wait on its endless responses
        baseline.wait()
    print(f"bench_fanout (channel rate {rate * 8 / 1000:.0f} kbit/s)")
    table(rows)
    top = counts[-1]
    result(f"{top} viewers on one channel, share of play speed delivered",
           f"{results[top][0]:.1%}", f"bare Quart loop {base_results[top]:.1%}",
           results[top][0] / max(base_results[top], 1e-9),
           f"slowest viewer {results[top][1]:.1%}; channel {rate * 8 / 1000:.0f} kbit/s")


if __name__ == "__main__":
    main()
