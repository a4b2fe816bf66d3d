"""Scale-out: real ``exstreamtv serve`` nodes on one machine sharing a real PostgreSQL.

Each node has its own data directory and port; the database is new for each test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster_support import (
    AUTH,
    TOKEN,
    Viewer,
    cluster,
    lease_owners,
    node_server,
    pipeline,
)
from tests.database.conftest import fresh_postgres
from tests.helpers import Server, decode_errors, probe_packets, timing_problems, write_config


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


NodeFactory = Callable[..., Server]


@pytest.fixture
def make_node(tmp_path: Path, clips: Path, pg_url: str) -> Iterator[NodeFactory]:
    """Start a node ``name`` (its own folder, port and data directory) on the shared database."""
    started: list[Server] = []

    def make(name: str, *, start: bool = True, **options: Any) -> Server:
        server = node_server(tmp_path / name, clips, pg_url, name, **options)
        if start:
            server.start(wait=60)
            started.append(server)
        return server

    yield make
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.fixture
def viewers() -> Iterator[Callable[[str], Viewer]]:
    opened: list[Viewer] = []

    def open_viewer(url: str) -> Viewer:
        viewer = Viewer(url)
        opened.append(viewer)
        return viewer

    yield open_viewer
    for viewer in opened:
        viewer.close()


def test_nodes_are_listed_with_url_capacity_and_config_version(make_node: NodeFactory) -> None:
    a = make_node("a", max_channels=3)
    b = make_node("b")
    assert a.get("/api/cluster").status_code == 401  # behind the token
    nodes = a.wait_for(lambda: {n["node_id"]: n for n in cluster(a)["nodes"] if n["alive"]}
                       if len([n for n in cluster(a)["nodes"] if n["alive"]]) == 2 else None)
    assert nodes["a"]["url"] == a.url and nodes["b"]["url"] == b.url
    assert nodes["a"]["capacity"] == 3 and nodes["b"]["capacity"] == 2
    assert nodes["a"]["config_version"] == nodes["b"]["config_version"]
    assert nodes["a"]["config_ok"] and nodes["b"]["config_ok"]
    assert cluster(b)["this_node"]["node_id"] == "b"
    health = b.get("/api/health").json()["components"]["cluster"]
    assert health["status"] == "ok" and health["node_id"] == "b"


def test_a_second_node_with_the_same_id_refuses_to_start(make_node: NodeFactory) -> None:
    make_node("a")
    twin = make_node("a2", start=False)
    proc = subprocess.run(
        [sys.executable, "-m", "exstreamtv", "serve", "--config", str(twin.config_path),
         "--node-id", "a"], capture_output=True, text=True, timeout=90, cwd=twin.cwd)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "node id 'a' is already running" in proc.stderr
    assert "--node-id" in proc.stderr


def test_a_node_with_another_config_refuses_leases_and_says_why(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    a = make_node("a")
    odd = make_node("odd", channels=3)  # one channel more: another config version
    this = cluster(odd)["this_node"]
    assert this["refuses_leases"] and "differs from the lineup" in this["refuses_leases"]
    assert "node a" in this["refuses_leases"]
    health = odd.get("/api/health").json()["components"]["cluster"]
    assert health["status"] == "degraded" and "differs from the lineup" in health["problem"]
    viewers(f"{odd.url}/stream/channels/1.ts")  # served by relaying node a, which transcodes
    assert odd.wait_for(lambda: lease_owners(a).get(1), timeout=60) == "a"
    odd.wait_for(lambda: pipeline(odd, 1).get("cluster_role") == "relay", timeout=60)
    assert "refuses leases" in odd.log


def test_channels_are_transcoded_once_and_relayed_by_other_nodes(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    a = make_node("a", max_channels=1)
    b = make_node("b", max_channels=1)
    viewers(f"{a.url}/stream/channels/1.ts")
    a.wait_for(lambda: lease_owners(a) == {1: "a"}, timeout=60)
    # Node a is full: its viewer of channel 2 is relayed from b, which takes the lease.
    viewers(f"{a.url}/stream/channels/2.ts")
    a.wait_for(lambda: lease_owners(a) == {1: "a", 2: "b"}, timeout=60)
    a.wait_for(lambda: pipeline(a, 2).get("cluster_role") == "relay", timeout=60)
    assert pipeline(a, 2)["relay_from"] == "b"
    assert pipeline(a, 2)["pid"] is None  # no ffmpeg for channel 2 on a
    assert pipeline(b, 2)["cluster_role"] == "owner" and pipeline(b, 2)["pid"]
    # A viewer on b of channel 1 is relayed from a; the relayed stream decodes cleanly.
    code, errors = decode_errors(f"{b.url}/stream/channels/1.ts", 6)
    assert code == 0 and not errors.strip(), errors
    assert pipeline(b, 1)["relay_from"] == "a" and pipeline(b, 1)["pid"] is None
    assert lease_owners(b) == {1: "a", 2: "b"}
    # HLS works on a node that relays: its segments come from its own relayed buffer.
    code, errors = decode_errors(f"{a.url}/stream/channels/2.m3u8", 4)
    assert code == 0 and not errors.strip(), errors
    assert lease_owners(a) == {1: "a", 2: "b"}
    # An HLS session made on a is answered by b as well (a balancer without sticky
    # sessions): b passes its requests on to a, so playlist and segments are a's.
    master = httpx.get(f"{a.url}/stream/channels/2.m3u8", timeout=30).text
    media = next(line for line in master.splitlines() if line.endswith("index.m3u8"))
    session_id = media.split("/")[1]
    on_a = httpx.get(f"{a.url}/stream/channels/{media}", timeout=60).text
    on_b = httpx.get(f"{b.url}/stream/channels/{media}", timeout=60).text
    common = [n for n in on_b.splitlines() if n.endswith(".ts") and n in on_a.splitlines()]
    assert common, (on_a, on_b)
    segment = f"/stream/channels/2/{session_id}/{common[len(common) // 2]}"
    from_b, from_a = httpx.get(b.url + segment, timeout=30), httpx.get(a.url + segment, timeout=30)
    assert from_b.status_code == 200 and from_b.headers["content-type"] == "video/mp2t"
    assert from_b.content == from_a.content and from_b.content[:1] == b"\x47"
    held_by_b = b.get("/api/sessions", params={"scope": "node"}, headers=AUTH).json()
    assert session_id not in {s["session_id"] for s in held_by_b}


def test_relay_requests_need_the_secret_and_a_relay_is_not_relayed(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    a = make_node("a", max_channels=1)
    b = make_node("b", max_channels=1)
    viewers(f"{a.url}/stream/channels/1.ts")
    a.wait_for(lambda: lease_owners(a).get(1) == "a", timeout=60)
    viewers(f"{b.url}/stream/channels/1.ts")
    b.wait_for(lambda: pipeline(b, 1).get("cluster_role") == "relay", timeout=60)
    url = f"{b.url}/stream/channels/1.ts"
    wrong = httpx.get(url, headers={"X-ExStreamTV-Relay": "a",
                                    "X-ExStreamTV-Cluster-Secret": "nope"}, timeout=10)
    assert wrong.status_code == 403 and "cluster secret" in wrong.json()["error"]
    with httpx.stream("GET", url, timeout=10, headers={
        "X-ExStreamTV-Relay": "a", "X-ExStreamTV-Cluster-Secret": TOKEN}) as loop:
        assert loop.status_code == 409
        assert "not relayed again" in loop.read().decode()


def test_viewers_of_a_relay_survive_the_owner_being_killed(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    a = make_node("a")
    b = make_node("b")
    viewers(f"{a.url}/stream/channels/1.ts")
    a.wait_for(lambda: lease_owners(a).get(1) == "a", timeout=60)
    survivor = viewers(f"{b.url}/stream/channels/1.ts")
    b.wait_for(lambda: pipeline(b, 1).get("cluster_role") == "relay", timeout=60)
    b.wait_for(lambda: survivor.bytes > 50_000, timeout=60)
    probe: dict[str, Any] = {}
    prober = threading.Thread(target=lambda: probe.update(
        packets=probe_packets(f"{b.url}/stream/channels/1.ts", 20, timeout=150)), daemon=True)
    prober.start()  # a second viewer on b, reading every packet's timing across the failover
    b.wait_for(lambda: len(b.get("/api/sessions", params={"scope": "node"}, headers=AUTH).json()) >= 2, timeout=60)
    assert a.proc is not None
    a.proc.kill()  # kill -9: no clean shutdown, the lease is left to expire
    a.proc.wait()
    b.wait_for(lambda: lease_owners(b).get(1) == "b", timeout=60)
    b.wait_for(lambda: pipeline(b, 1).get("cluster_role") == "owner", timeout=60)
    after = survivor.bytes
    b.wait_for(lambda: survivor.bytes > after + 50_000, timeout=60)
    assert survivor.ended is None, survivor.ended
    assert "now transcodes channel 1" in b.log
    assert "showing the error screen (node a is unreachable)" in b.log  # the gap
    prober.join(timeout=180)
    packets = probe["packets"]
    assert {p["codec_type"] for p in packets} == {"video", "audio"}
    assert timing_problems(packets) == []  # one continuous timeline through the takeover
    code, errors = decode_errors(f"{b.url}/stream/channels/1.ts", 4)
    assert code == 0, errors


@pytest.mark.slow
def test_a_node_that_lost_its_lease_stops_its_ffmpeg_and_relays_the_new_owner(
    make_node: NodeFactory, viewers: Callable[[str], Viewer], pg_url: str
) -> None:
    a = make_node("a")
    b = make_node("b")
    viewer = viewers(f"{a.url}/stream/channels/1.ts")
    a.wait_for(lambda: lease_owners(a).get(1) == "a" and pipeline(a, 1).get("pid"), timeout=60)
    a.wait_for(lambda: ffmpeg_children(a), timeout=30)
    # Node b takes the lease over behind a's back (as after a partition): a new token.
    asyncio.run(_sql(pg_url, "UPDATE cluster_leases SET owner = 'b', token = token + 1, "
                             "expires_at = now() + interval '30 seconds' WHERE channel = 1"))
    a.wait_for(lambda: pipeline(a, 1).get("cluster_role") == "relay", timeout=60)
    assert pipeline(a, 1)["pid"] is None
    a.wait_for(lambda: not ffmpeg_children(a), timeout=30)
    b.wait_for(lambda: pipeline(b, 1).get("cluster_role") == "owner", timeout=60)
    b.wait_for(lambda: ffmpeg_children(b), timeout=30)
    assert "another node took its lease" in a.log
    assert "showing the error screen (node a lost the channel's lease)" in a.log  # the gap
    before = viewer.bytes
    a.wait_for(lambda: viewer.bytes > before + 50_000, timeout=60)
    assert viewer.ended is None, viewer.ended


async def _sql(url: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def ffmpeg_children(server: Server) -> list[int]:
    """The pids of the ffmpeg processes ``server`` runs (from /proc)."""
    assert server.proc is not None
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            state, ppid = fields[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if comm == "ffmpeg" and int(ppid) == server.proc.pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def test_three_nodes_spread_the_channels_one_transcode_each(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    nodes = [make_node(name, channels=3, max_channels=1) for name in ("a", "b", "c")]
    a = nodes[0]
    for number in (1, 2, 3):  # every viewer on node a, which has room for one channel
        viewers(f"{a.url}/stream/channels/{number}.ts")
        a.wait_for(lambda n=number: n in lease_owners(a), timeout=60)
    owners = lease_owners(a)
    assert owners[1] == "a" and sorted(owners.values()) == ["a", "b", "c"]
    for number, owner in owners.items():
        node = next(n for n in nodes if cluster(n)["this_node"]["node_id"] == owner)
        node.wait_for(lambda n=number, s=node: pipeline(s, n).get("pid"), timeout=60)
        assert pipeline(node, number)["cluster_role"] == "owner"
        if node is not a:
            a.wait_for(lambda n=number: pipeline(a, n).get("cluster_role") == "relay", timeout=60)
            assert pipeline(a, number)["pid"] is None
    loads = {n["node_id"]: n["load"] for n in cluster(a)["nodes"]}
    assert loads == {"a": 1, "b": 1, "c": 1}


def test_without_cluster_config_nothing_changes_and_sqlite_refuses_clustering(
    make_server: Callable[..., Server], config_for: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    server = make_server(config_for())
    assert server.get("/api/cluster").json() == {"enabled": False, "nodes": [], "leases": []}
    assert "cluster_role" not in server.get("/api/channels/1").json()["pipeline"]
    path = write_config(tmp_path / "clustered.yaml", config_for(cluster={"enabled": True}))
    proc = subprocess.run([sys.executable, "-m", "exstreamtv", "serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cluster.enabled needs a PostgreSQL database.url" in proc.stderr


def test_a_node_takes_its_id_again_after_losing_its_database_sessions(
    make_node: NodeFactory, viewers: Callable[[str], Viewer], pg_url: str
) -> None:
    a = make_node("a")
    name = pg_url.rsplit("/", 1)[1]
    asyncio.run(_sql(pg_url.rsplit("/", 1)[0] + "/postgres",  # as a database restart would
                     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
    a.wait_for(lambda: "holds its node id again" in a.log, timeout=60)
    twin = make_node("a2", start=False)
    proc = subprocess.run(
        [sys.executable, "-m", "exstreamtv", "serve", "--config", str(twin.config_path),
         "--node-id", "a"], capture_output=True, text=True, timeout=90, cwd=twin.cwd)
    assert proc.returncode == 1 and "already running" in proc.stderr, proc.stderr
    viewers(f"{a.url}/stream/channels/1.ts")
    a.wait_for(lambda: lease_owners(a).get(1) == "a", timeout=60)


def test_viewers_tuning_one_channel_on_every_node_at_once_start_one_transcode(
    make_node: NodeFactory, viewers: Callable[[str], Viewer]
) -> None:
    nodes = [make_node(name) for name in ("a", "b", "c")]
    for node in nodes:  # all at once: the lease row lock decides
        viewers(f"{node.url}/stream/channels/1.ts")
    owner = nodes[0].wait_for(lambda: lease_owners(nodes[0]).get(1), timeout=60)
    for node in nodes:
        role = "owner" if cluster(node)["this_node"]["node_id"] == owner else "relay"
        node.wait_for(lambda n=node, r=role: pipeline(n, 1).get("cluster_role") == r, timeout=60)
    transcoder = next(n for n in nodes if cluster(n)["this_node"]["node_id"] == owner)
    transcoder.wait_for(lambda: ffmpeg_children(transcoder), timeout=30)
    assert [n for n in nodes if n is not transcoder and ffmpeg_children(n)] == []
