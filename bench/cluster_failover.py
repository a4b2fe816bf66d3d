"""Cluster failover and relay cost: two real nodes on one machine and a real PostgreSQL.

For each round: node ``a`` transcodes channel 1 for a viewer on ``a``; a viewer on ``b``
is relayed from ``a``; ``a`` is killed with SIGKILL; measured (polled at 10 Hz):

* kill -> takeover: the lease of channel 1 belongs to ``b`` and ``b`` transcodes it;
* the relayed viewer on ``b`` stays connected (counted as a failure otherwise).

Then the relay cost: CPU of the relaying node's server process (not its ffmpeg) per
second with one relayed viewer, against the owner's server process with one local
viewer. Needs EXSTREAMTV_TEST_POSTGRES_URL. Usage: python bench/cluster_failover.py
[--rounds N] (default 3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import cpu_seconds  # noqa: E402
from tests.cluster_support import Viewer, lease_owners, node_server, pipeline  # noqa: E402
from tests.database.conftest import fresh_postgres  # noqa: E402
from tests.helpers import Server, clips_folder  # noqa: E402


def node(tmp: Path, name: str, url: str, lease: float) -> Server:
    return node_server(tmp / name, clips_folder("basic", 3, 4.0), url, name, lease=lease)


def until(predicate: object, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def cpu_rate(pid: int, seconds: float = 10.0) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def round_(tmp: Path, url: str, lease: float) -> tuple[float, bool]:
    a, b = node(tmp, "a", url, lease).start(60), node(tmp, "b", url, lease).start(60)
    viewers = [Viewer(f"{a.url}/stream/channels/1.ts")]
    try:
        until(lambda: lease_owners(a).get(1) == "a")
        viewers.append(Viewer(f"{b.url}/stream/channels/1.ts"))
        until(lambda: pipeline(b, 1).get("cluster_role") == "relay" and viewers[1].bytes > 50_000)
        assert a.proc is not None
        a.proc.kill()
        killed = time.monotonic()
        a.proc.wait()
        until(lambda: pipeline(b, 1).get("cluster_role") == "owner")
        takeover = time.monotonic() - killed
        after = viewers[1].bytes
        until(lambda: viewers[1].bytes > after + 50_000)
        return takeover, viewers[1].ended is None
    finally:
        for viewer in viewers:
            viewer.close()
        b.stop()


def relay_cost(tmp: Path, url: str) -> tuple[float, float]:
    a, b = node(tmp, "a", url, 6.0).start(60), node(tmp, "b", url, 6.0).start(60)
    viewers = [Viewer(f"{a.url}/stream/channels/1.ts")]
    try:
        until(lambda: lease_owners(a).get(1) == "a" and viewers[0].bytes > 100_000)
        assert a.proc is not None and b.proc is not None
        local = cpu_rate(a.proc.pid)  # owner's server process: splicing + one local viewer
        viewers.append(Viewer(f"{b.url}/stream/channels/1.ts"))
        until(lambda: viewers[1].bytes > 100_000)
        relayed = cpu_rate(b.proc.pid)  # relay node: one upstream + one relayed viewer
        return local, relayed
    finally:
        for viewer in viewers:
            viewer.close()
        a.stop()
        b.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not os.environ.get("EXSTREAMTV_TEST_POSTGRES_URL"):
        print("set EXSTREAMTV_TEST_POSTGRES_URL", file=sys.stderr)
        return 1
    takeovers: list[float] = []
    survived = 0
    for i in range(args.rounds):
        with fresh_postgres() as url:
            took, ok = round_(Path(tempfile.mkdtemp(prefix=f"exstv-cluster-{i}-")), url,
                              args.lease)
        takeovers.append(took)
        survived += ok
        print(f"round {i + 1}: takeover {took:.2f}s, relayed viewer "
              f"{'stayed connected' if ok else 'was dropped'}", flush=True)
    print(f"takeover with lease_seconds={args.lease}: median {statistics.median(takeovers):.2f}s, "
          f"worst {max(takeovers):.2f}s; viewers kept {survived}/{args.rounds}")
    with fresh_postgres() as url:
        local, relayed = relay_cost(Path(tempfile.mkdtemp(prefix="exstv-cluster-cpu-")), url)
    print(f"server-process CPU: owner with one local viewer {local * 100:.1f}% of a core, "
          f"relay node with one relayed viewer {relayed * 100:.1f}% "
          f"(ratio {relayed / local if local else float('nan'):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
