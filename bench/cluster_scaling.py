"""Cluster scaling: viewers served and channels transcoded by 1, 2 and 3 real nodes.

Each round starts N nodes (``--per-node`` channels each, ``cluster.max_channels``) on one
fresh PostgreSQL, with ``--channels`` channels, and opens ``--viewers`` TS viewers per
channel spread round-robin over the nodes. After a settling time, a viewer counts as
served when, over a ``--window`` second window, it stayed connected, received at least
50 kB, and its node plays the channel (transcoding it or relaying its owner: not waiting
for room). Printed: channels transcoded (live leases) and viewers served per node count,
and the ratio against one node measured in the same run. All nodes share this machine's
cores, so the ratio says what the lineup gains in capacity, not in CPU.

Needs EXSTREAMTV_TEST_POSTGRES_URL. Usage: python bench/cluster_scaling.py
[--nodes 3] [--channels 3] [--per-node 1] [--viewers 2] [--window 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import result  # noqa: E402
from tests.cluster_support import Viewer, cluster, node_server, pipeline  # noqa: E402
from tests.database.conftest import fresh_postgres  # noqa: E402
from tests.helpers import Server, clips_folder  # noqa: E402

SERVED_BYTES = 50_000
NAMES = "abcdefgh"


def served(node: Server, viewer: Viewer, number: int, before: int) -> bool:
    role = pipeline(node, number).get("cluster_role")
    ok = (viewer.ended is None and viewer.bytes - before >= SERVED_BYTES
          and role in ("owner", "relay"))
    if not ok:
        print(f"  not served: channel {number} on {node.url}: role {role}, "
              f"{viewer.bytes - before} bytes in the window, ended: {viewer.ended}", flush=True)
    return ok


def round_(count: int, args: argparse.Namespace, url: str) -> tuple[int, int, int]:
    """(channels transcoded, viewers served, viewers) with ``count`` nodes."""
    tmp = Path(tempfile.mkdtemp(prefix=f"exstv-scaling-{count}-"))
    clips = clips_folder("basic", 3, 4.0)
    nodes = [node_server(tmp / NAMES[i], clips, url, NAMES[i], channels=args.channels,
                         max_channels=args.per_node) for i in range(count)]
    viewers: list[tuple[Server, Viewer, int]] = []
    try:
        for node in nodes:
            node.start(60)
        for number in range(1, args.channels + 1):
            for _ in range(args.viewers):
                node = nodes[len(viewers) % count]
                viewers.append((node, Viewer(f"{node.url}/stream/channels/{number}.ts"), number))
        time.sleep(args.settle)
        before = [viewer.bytes for _node, viewer, _n in viewers]
        time.sleep(args.window)
        ok = sum(served(node, viewer, number, start)
                 for (node, viewer, number), start in zip(viewers, before, strict=True))
        transcoded = len(cluster(nodes[0])["leases"])
        return transcoded, ok, len(viewers)
    finally:
        for _node, viewer, _n in viewers:
            viewer.close()
        for node in nodes:
            node.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--per-node", type=int, default=1)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args(argv)
    if not os.environ.get("EXSTREAMTV_TEST_POSTGRES_URL"):
        print("set EXSTREAMTV_TEST_POSTGRES_URL", file=sys.stderr)
        return 1
    rows = []
    for count in range(1, args.nodes + 1):
        with fresh_postgres() as url:
            transcoded, ok, total = round_(count, args, url)
        rows.append((count, transcoded, ok, total))
        print(f"{count} node(s): {transcoded} channels transcoded, {ok}/{total} viewers served",
              flush=True)
    _, base_channels, base_served, _ = rows[0]
    for count, transcoded, ok, total in rows[1:]:
        result(f"cluster_scaling_{count}_nodes_viewers", f"{ok}/{total} served",
               f"{base_served}/{total} on 1 node", ok / base_served if base_served else 0.0,
               f"{args.per_node} channel(s) per node, {args.channels} channels")
        result(f"cluster_scaling_{count}_nodes_channels", f"{transcoded} transcoded",
               f"{base_channels} on 1 node",
               transcoded / base_channels if base_channels else 0.0, "live leases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
