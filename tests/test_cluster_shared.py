"""What a cluster shares: node ids on sessions and events, one scheduled backup at a time,
and the cluster's device in Home Assistant.

Two real nodes on one real PostgreSQL and a real Mosquitto, started together once for the
module (each node with its own MQTT base topic, as docs/scale-out.md asks); the last test
stops the coordinator node.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_support import AUTH, Viewer, lease_owners, node_server
from tests.database.conftest import fresh_postgres
from tests.helpers import Server, free_port
from tests.mqtt_support import Broker, Watcher, retained_snapshot

NAMES = ("a", "b")


@dataclass
class Lineup:
    nodes: dict[str, Server]
    watcher: Watcher
    pg_url: str
    folder: Path


@pytest.fixture(scope="module")
def lineup(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Iterator[Lineup]:
    folder = tmp_path_factory.mktemp("lineup")
    broker = Broker(folder / "broker").start()
    watcher = Watcher(broker)
    gone = folder / "gone"  # a source folder that does not exist: a health event on each node
    sources = [{"id": "clips", "type": "local", "path": str(clips)},
               {"id": "gone", "type": "local", "path": str(gone)}]
    with fresh_postgres() as pg_url:
        nodes = {name: node_server(
            folder / name, clips, pg_url, name, sources=sources,
            mqtt={"enabled": True, "port": broker.port, "keepalive": 5,
                  "base_topic": f"exstreamtv/{name}"},
            database_backup={"first_backup_minutes": 0}) for name in NAMES}
        failed: list[BaseException] = []

        def start(node: Server) -> None:
            try:
                node.start(wait=60)
            except BaseException as exc:
                failed.append(exc)

        # Started together: both find their first scheduled backup due at once.
        starts = [threading.Thread(target=start, args=(node,)) for node in nodes.values()]
        for thread in starts:
            thread.start()
        for thread in starts:
            thread.join()
        try:
            assert not failed, failed
            yield Lineup(nodes, watcher, pg_url, folder)
        finally:
            for node in nodes.values():
                if node.proc is not None and node.proc.poll() is None:
                    node.stop()
    watcher.close()
    broker.stop()


def other(name: str) -> str:
    return "b" if name == "a" else "a"


def test_sessions_and_events_are_listed_lineup_wide_each_with_its_node(lineup: Lineup) -> None:
    a, b = lineup.nodes["a"], lineup.nodes["b"]
    # Channel 1 watched on both nodes: one transcodes it, the other relays it.
    viewers = {name: Viewer(f"{node.url}/stream/channels/1.ts")
               for name, node in lineup.nodes.items()}
    try:
        for name, viewer in viewers.items():
            lineup.nodes[name].wait_for(lambda v=viewer: v.bytes > 20_000, timeout=60)
        owner = lease_owners(b)[1]
        relay = other(owner)
        for node in lineup.nodes.values():  # any node lists every node's sessions
            sessions = node.get("/api/sessions", headers=AUTH).json()
            watching = {s["node_id"] for s in sessions if s["channel_number"] == 1
                        and s["bytes_sent"] > 0 and "relay_to" not in s}
            assert watching == {"a", "b"}, sessions
            # The owner's connection that feeds the other node says so.
            feeds = [s for s in sessions if s.get("relay_to") == relay]
            assert feeds and {s["node_id"] for s in feeds} == {owner}, sessions
        own = b.get("/api/sessions", params={"scope": "node"}, headers=AUTH).json()
        assert own and {s["node_id"] for s in own} == {"b"}
    finally:
        for viewer in viewers.values():
            viewer.close()
    for name, node in lineup.nodes.items():
        # The unreadable source raised a health event on each node; any node lists both.
        events = node.get("/api/healing/events", params={"kind": "health"}, headers=AUTH).json()
        gone = [e for e in events if e.get("component") == "source:gone"]
        assert {e["node_id"] for e in gone} == {"a", "b"}, events
        assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
        own = node.get("/api/healing/events", params={"kind": "health", "scope": "node"},
                       headers=AUTH).json()
        assert {e["node_id"] for e in own if e.get("component") == "source:gone"} == {name}
        published = lineup.watcher.wait_message(f"exstreamtv/{name}/events/health", timeout=30)
        assert published.json["node_id"] == name
    session_event = lineup.watcher.wait_message("exstreamtv/b/events/session", timeout=30)
    assert session_event.json["node_id"] == "b" and session_event.json["channel"] == 1
    assert a.get("/api/health").json()["components"]["cluster"]["node_id"] == "a"
    # Without the token (or the cluster secret) nothing is listed.
    assert a.get("/api/sessions").status_code == 401
    assert a.get("/api/sessions", headers={"X-ExStreamTV-Peer": "b",
                                           "X-ExStreamTV-Cluster-Secret": "wrong"}
                 ).status_code == 401


def test_a_node_that_does_not_answer_is_named_and_the_rest_is_listed(lineup: Lineup) -> None:
    # A node that crashed a moment ago: its row still looks alive, nothing listens.
    dead = free_port()
    asyncio.run(_row(lineup.pg_url, f"""
        INSERT INTO cluster_nodes (node_id, url, capacity, config_version, config_ok,
                                   heartbeat_at, started_at)
        SELECT 'ghost', 'http://127.0.0.1:{dead}', 0, config_version, false,
               now() + interval '30 seconds', now() + interval '30 seconds'
        FROM cluster_nodes WHERE node_id = 'a' RETURNING node_id"""))
    try:
        a = lineup.nodes["a"]
        for path in ("/api/sessions", "/api/healing/events"):
            answer = a.get(path, headers=AUTH)
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-ExStreamTV-Unreachable-Nodes"] == "ghost"
        events = a.get("/api/healing/events", params={"kind": "health"}, headers=AUTH).json()
        assert {e["node_id"] for e in events if e.get("component") == "source:gone"} == {
            "a", "b"}
    finally:
        asyncio.run(_row(lineup.pg_url, "DELETE FROM cluster_nodes WHERE node_id = 'ghost' "
                                        "RETURNING node_id"))


def scheduled_backups(node: Server) -> list[Path]:
    folder = Path(node.config_path).parent / "data" / "backups"
    return sorted(folder.glob("*-scheduled.json")) if folder.exists() else []


def test_one_node_takes_the_scheduled_backup_the_other_skips_it(lineup: Lineup) -> None:
    a, b = lineup.nodes["a"], lineup.nodes["b"]
    a.wait_for(lambda: all("Scheduled backup skipped" in n.log or "scheduled)" in n.log
                           for n in (a, b)), timeout=90)
    taken = {name for name, n in lineup.nodes.items() if scheduled_backups(n)}
    assert len(taken) == 1, {name: n.log[-2000:] for name, n in lineup.nodes.items()}
    taker = taken.pop()
    skipper = lineup.nodes[other(taker)]
    assert len(scheduled_backups(lineup.nodes[taker])) == 1
    assert "takes the cluster's scheduled backup" in lineup.nodes[taker].log
    assert f"Scheduled backup skipped on this node: node {taker} took" in skipper.log, skipper.log
    assert "Scheduled backup skipped" not in lineup.nodes[taker].log
    row = asyncio.run(_row(lineup.pg_url, "SELECT node_id, finished_at IS NOT NULL "
                                          "FROM cluster_backups WHERE job = 'scheduled'"))
    assert row == (taker, True)
    assert skipper.get("/api/health").json()["components"]["backups"]["status"] == "ok"


async def _row(url: str, statement: str) -> tuple[Any, ...] | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(text(statement))).first()
            return tuple(row) if row is not None else None
    finally:
        await engine.dispose()


def cluster_state(lineup: Lineup, node: str) -> dict[str, Any] | None:
    found = lineup.watcher.on(f"exstreamtv/{node}/cluster/state")
    return found[-1].json if found else None


def cluster_configs(lineup: Lineup, cluster_id: str) -> dict[str, dict[str, Any]]:
    """The retained discovery configs of the cluster's device, by unique_id."""
    prefix = f"homeassistant/sensor/exstreamtv_cluster_{cluster_id}_"
    return {m.json["unique_id"]: m.json
            for topic, m in retained_snapshot(lineup.watcher.broker, prefix).items()
            if m.payload}


def test_home_assistant_shows_the_cluster_device(lineup: Lineup) -> None:
    a = lineup.nodes["a"]
    viewer = Viewer(f"{a.url}/stream/channels/2.ts")
    try:
        owner = a.wait_for(lambda: lease_owners(a).get(2), timeout=60)
        state = lineup.watcher.wait_for(
            lambda: next((s for n in NAMES if (s := cluster_state(lineup, n))
                          and s["nodes_online"] == 2 and s["owners"].get("2") == owner), None),
            timeout=60, what="the cluster state with both nodes and channel 2's owner")
    finally:
        viewer.close()
    coordinator = state["coordinator"]
    assert coordinator in NAMES and set(state["nodes"]) == set(NAMES)
    assert cluster_state(lineup, other(coordinator)) is None  # one publisher
    device_id = f"exstreamtv_cluster_{state['cluster_id']}"
    configs = cluster_configs(lineup, state["cluster_id"])
    assert set(configs) == {f"{device_id}_{key}" for key in (
        "nodes_online", "channels_transcoded", "coordinator", "ch1_node", "ch2_node")}
    online = configs[f"{device_id}_nodes_online"]
    assert online["device"]["identifiers"] == [device_id]
    assert online["state_topic"] == f"exstreamtv/{coordinator}/cluster/state"
    assert online["availability_topic"] == f"exstreamtv/{coordinator}/status"
    assert online["value_template"] == "{{ value_json.nodes_online }}"
    assert "owners['2']" in configs[f"{device_id}_ch2_node"]["value_template"]


def test_the_next_node_publishes_the_cluster_when_the_coordinator_stops(lineup: Lineup) -> None:
    state = lineup.watcher.wait_for(
        lambda: next((s for n in NAMES if (s := cluster_state(lineup, n))), None), timeout=60)
    coordinator = state["coordinator"]
    survivor = other(coordinator)
    lineup.nodes[coordinator].stop()
    lineup.watcher.wait_for(
        lambda: (s := cluster_state(lineup, survivor)) and s["nodes_online"] == 1
        and s["coordinator"] == survivor, timeout=60, what=f"node {survivor} taking over")
    configs = lineup.watcher.wait_for(
        lambda: (c := cluster_configs(lineup, state["cluster_id"])) and all(
            p["availability_topic"] == f"exstreamtv/{survivor}/status" for p in c.values())
        and c, timeout=30, what="the discovery configs pointing at the survivor")
    assert len(configs) == 5
