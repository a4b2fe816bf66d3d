"""MQTT and Home Assistant against a real Mosquitto and a real ``exstreamtv serve``."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, channel, write_config
from tests.mqtt_support import Broker, Watcher, retained_snapshot

WEIRD = "News + Sport #1 / Ünïcode"
SERVER_KEYS = {"channels_on_air", "viewers", "health", "fixes_last_hour", "fixes_pending",
               "problem", "reload_config", "create_backup", "pending_fix", "approve_fix",
               "reject_fix"}
CHANNEL_KEYS = {"now_playing", "viewers", "health_score", "streaming", "problem", "restart", "skip",
                "fix"}
TOPIC_SAFE = re.compile(r"^[A-Za-z0-9_/-]+$")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def watcher(broker: Broker) -> Iterator[Watcher]:
    w = Watcher(broker)
    yield w
    w.close()


@pytest.fixture
def mqtt_config(config_for: Callable[..., dict[str, Any]], broker: Broker
                ) -> Callable[..., dict[str, Any]]:
    def make(**mqtt: Any) -> dict[str, Any]:
        config = config_for(mqtt={"enabled": True, "port": broker.port, "keepalive": 5, **mqtt})
        config["channels"].append(channel(2, WEIRD, "clips"))
        return config

    return make


def discovery(watcher: Watcher) -> dict[str, Any]:
    """Non-empty discovery configs seen so far, by topic."""
    return {t: m.json for t, m in watcher.latest().items()
            if t.startswith("homeassistant/") and t.endswith("/config") and m.payload}


def wait_discovery(watcher: Watcher, count: int = len(SERVER_KEYS) + 2 * len(CHANNEL_KEYS)
                   ) -> dict[str, Any]:
    found: dict[str, Any] = watcher.wait_for(
        lambda: (d := discovery(watcher)) and len(d) >= count and d, what="discovery")
    return found


def test_discovery_payloads_complete_and_ids_stable(make_server, mqtt_config, watcher):
    config = mqtt_config()
    server = make_server(config)
    watcher.wait_message("exstreamtv/status", "online")
    configs = wait_discovery(watcher)
    assert len(configs) == len(SERVER_KEYS) + 2 * len(CHANNEL_KEYS)
    retained = retained_snapshot(watcher.broker, "homeassistant/")
    assert set(retained) == set(configs), "every discovery config is retained"
    for topic, payload in configs.items():
        assert TOPIC_SAFE.match(topic), topic
        component, object_id = topic.split("/")[1:3]
        assert object_id == payload["unique_id"]
        for key in ("name", "unique_id", "device", "origin", "availability_topic"):
            assert key in payload, (topic, key)
        assert payload["availability_topic"] == "exstreamtv/status"
        assert set(payload["origin"]) >= {"name", "sw_version", "support_url"}
        for key in ("state_topic", "command_topic", "json_attributes_topic"):
            if key in payload:
                assert TOPIC_SAFE.match(payload[key]), payload[key]
        if component in ("button", "select"):
            assert "command_topic" in payload
        if component in ("sensor", "binary_sensor", "select", "event"):
            assert "state_topic" in payload
    servers = [p for p in configs.values() if "via_device" not in p["device"]]
    channels = [p for p in configs.values() if "via_device" in p["device"]]
    server_id = servers[0]["device"]["identifiers"][0]
    assert {p["device"]["identifiers"][0] for p in servers} == {server_id}
    assert {p["unique_id"].removeprefix(server_id + "_") for p in servers} == SERVER_KEYS
    assert {p["device"]["via_device"] for p in channels} == {server_id}
    weird = [p for p in channels if p["device"]["name"] == f"2 {WEIRD}"]
    assert {p["unique_id"].removeprefix(f"{server_id}_ch2_") for p in weird} == CHANNEL_KEYS
    event = next(p for p in weird if p["unique_id"].endswith("_fix"))
    assert "applied" in event["event_types"]
    # Retained state for every state topic, with the weird name intact inside the JSON.
    state = watcher.wait_message("exstreamtv/channel/2/state")
    assert state.json["name"] == WEIRD
    assert {"exstreamtv/state", "exstreamtv/channel/1/state", "exstreamtv/channel/2/state",
            "exstreamtv/status"} <= set(retained_snapshot(watcher.broker, "exstreamtv/"))
    assert watcher.wait_message("exstreamtv/state").json["health"] in ("ok", "degraded", "error")
    # Clean shutdown: "offline" (retained); a restart announces the same ids.
    assert server.stop() == 0
    assert retained_snapshot(watcher.broker, "exstreamtv/status")[
        "exstreamtv/status"].text == "offline"
    watcher.clear()
    make_server(config, name="again.yaml")
    watcher.wait_message("exstreamtv/status", "online")
    again = wait_discovery(watcher)
    assert {p["unique_id"] for p in again.values()} == {p["unique_id"] for p in configs.values()}


def test_will_is_offline_after_kill_9(make_server, mqtt_config, watcher):
    server = make_server(mqtt_config())
    online = len(watcher.on("exstreamtv/status"))
    watcher.wait_message("exstreamtv/status", "online")
    assert server.proc is not None
    server.proc.kill()
    server.proc.wait()
    message = watcher.wait_message("exstreamtv/status", "offline", after=online, timeout=15)
    assert message.payload == b"offline"


def test_discovery_published_again_when_home_assistant_comes_online(make_server, mqtt_config,
                                                                   watcher):
    make_server(mqtt_config())
    wait_discovery(watcher)
    watcher.clear()
    watcher.publish("homeassistant/status", "online")
    configs = wait_discovery(watcher)
    assert len(configs) == len(SERVER_KEYS) + 2 * len(CHANNEL_KEYS)
    watcher.wait_message("exstreamtv/channel/1/state")


def _watch_channel(server: Server, stop: threading.Event) -> None:
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=30) as response:
        for _ in response.iter_bytes():
            if stop.is_set():
                return


def _fetch_playlists_only(server: Server, clients: int, stop: threading.Event) -> None:
    """HLS clients that open the playlist and keep refreshing it, never loading a segment."""
    with httpx.Client(timeout=60) as client:
        media = [client.get(f"{server.url}/stream/channels/1.m3u8").text.strip().splitlines()[-1]
                 for _ in range(clients)]
        while not stop.wait(1.0):
            for path in media:
                client.get(f"{server.url}/stream/channels/{path}")


def test_server_viewers_count_only_real_viewers(make_server, mqtt_config, watcher):
    """The server-wide ``viewers`` counts like /api/channels: three HLS clients that only
    fetch playlists are no viewers, one TS client is one."""
    server = make_server(mqtt_config())
    wait_discovery(watcher)
    stop_viewer, stop_playlists = threading.Event(), threading.Event()
    viewer = threading.Thread(target=_watch_channel, args=(server, stop_viewer), daemon=True)
    playlists = threading.Thread(target=_fetch_playlists_only, args=(server, 3, stop_playlists),
                                 daemon=True)
    viewer.start()

    def states() -> list[int]:
        return [m.json["viewers"] for m in watcher.on("exstreamtv/state")]

    try:
        watcher.wait_for(lambda: 1 in states(), what="one viewer", timeout=60)
        playlists.start()
        server.wait_for(lambda: len([s for s in server.get("/api/sessions").json()
                                     if s["output"] == "hls"]) == 3, timeout=60)
        stop_viewer.set()
        viewer.join(30)
        # The TS viewer leaving publishes fresh state while the playlist clients stay.
        watcher.wait_for(lambda: states()[-1] == 0, what="no viewers", timeout=60)
        hls = [s for s in server.get("/api/sessions").json() if s["output"] == "hls"]
        assert len(hls) == 3, hls
        assert max(states()) == 1, states()
        assert server.get("/api/channels/1").json()["viewers"] == 0
    finally:
        stop_viewer.set()
        stop_playlists.set()
        playlists.join(30)


def test_restart_button_restarts_the_channel_and_junk_is_ignored(make_server, mqtt_config,
                                                                 watcher):
    server = make_server(mqtt_config())
    wait_discovery(watcher)
    # Junk first: not UTF-8, an unknown channel, a bad payload, an unknown command.
    watcher.publish("exstreamtv/channel/1/command/restart", b"\xff\xfe\x00junk")
    watcher.publish("exstreamtv/channel/99/command/restart", "PRESS")
    watcher.publish("exstreamtv/channel/abc/command/skip", "PRESS")
    watcher.publish("exstreamtv/command/launch_missiles", "PRESS")
    watcher.publish("exstreamtv/command/backup", "PRESS")
    watcher.publish("exstreamtv/command/fix/approve", "PRESS")
    results = watcher.wait_for(lambda: len(r := watcher.on("exstreamtv/command/result")) >= 3
                               and r, what="three results")
    by_command = {(m.json["command"], m.json.get("channel")): m.json for m in results}
    assert by_command[("restart", 99)]["ok"] is False
    assert "no channel 99" in by_command[("restart", 99)]["message"]
    # The backup button really creates a backup through the database layer.
    results = watcher.wait_for(
        lambda: (r := {m.json["command"]: m.json for m in watcher.on("exstreamtv/command/result")})
        .get("backup") and r, what="the backup result")
    assert results["backup"]["ok"] is True, results["backup"]
    assert "created" in results["backup"]["message"]
    assert by_command[("fix/approve", None)]["ok"] is False
    assert len(results) == 3, [m.json for m in results]
    assert "ignored a message" in server.log
    assert server.get("/api/health").status_code == 200
    # A viewer keeps channel 1 on air; the button restarts its pipeline.
    stop = threading.Event()
    viewer = threading.Thread(target=_watch_channel, args=(server, stop), daemon=True)
    viewer.start()
    try:
        server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"]["state"]
                        == "running", timeout=30)
        streaming = watcher.wait_for(lambda: [m for m in watcher.on("exstreamtv/channel/1/state")
                                              if m.json["streaming"]], what="streaming ON")
        assert streaming[-1].json["viewers"] == 1
        before = server.get("/api/channels/1").json()["pipeline"]["restarts"]
        watcher.publish("exstreamtv/channel/1/command/restart", "PRESS")
        server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"]["restarts"]
                        > before, timeout=20)
        ok = watcher.wait_for(lambda: [m.json for m in watcher.on("exstreamtv/command/result")
                                       if m.json.get("channel") == 1 and m.json["ok"]],
                              what="restart result")
        assert ok[0]["command"] == "restart"
        watcher.publish("exstreamtv/channel/1/command/skip", "PRESS")
        watcher.wait_for(lambda: [m for m in watcher.on("exstreamtv/command/result")
                                  if m.json["command"] == "skip" and m.json["ok"]],
                         what="skip result")
        assert "Channel 1" in server.log and server.get("/api/channels/1").json()[
            "pipeline"]["state"] == "running"
    finally:
        stop.set()
        viewer.join(10)


def test_broker_restart_reconnects_and_publishes_again(make_server, mqtt_config, broker,
                                                       watcher):
    server = make_server(mqtt_config())
    wait_discovery(watcher)
    watcher.close()
    broker.stop()
    server.wait_for(lambda: server.get("/api/health").json()["components"]["mqtt"]["state"]
                    != "connected", timeout=10)
    assert server.get("/api/health").json()["components"]["mqtt"]["status"] == "degraded"
    broker.start()  # no persistence: every retained message is gone
    fresh = Watcher(broker)
    try:
        fresh.wait_message("exstreamtv/status", "online", timeout=40)
        assert len(wait_discovery(fresh)) == len(SERVER_KEYS) + 2 * len(CHANNEL_KEYS)
        fresh.wait_message("exstreamtv/state")
        health = server.get("/api/health").json()["components"]["mqtt"]
        assert health["state"] == "connected" and health["connections"] >= 2
    finally:
        fresh.close()
    assert server.log.count("unavailable") == 1, server.log


def test_removed_channel_loses_its_entities_on_hot_reload(make_server, mqtt_config, watcher,
                                                          tmp_path):
    config = mqtt_config()
    server = make_server(config)
    configs = wait_discovery(watcher)
    channel2 = [t for t, p in configs.items() if p["device"].get("name") == f"2 {WEIRD}"]
    assert len(channel2) == len(CHANNEL_KEYS)
    config["channels"] = [c for c in config["channels"] if c["number"] != 2]
    write_config(server.config_path, config)
    assert server.post("/api/config/reload").status_code == 200
    for topic in channel2:
        watcher.wait_message(topic, "")
    expected = len(SERVER_KEYS) + len(CHANNEL_KEYS)
    retained = retained_snapshot(watcher.broker, "homeassistant/", expect=expected)
    assert not set(channel2) & set(retained)
    assert len(retained) == expected, sorted(retained)
    assert "exstreamtv/channel/2/state" not in retained_snapshot(watcher.broker, "exstreamtv/")
    # The reload itself went out as an event, with no secrets in it.
    event = watcher.wait_message("exstreamtv/events/config")
    assert event.json["action"] == "reloaded" and not event.retain


def test_refused_credentials_are_reported_and_a_reload_fixes_them(make_server, config_for,
                                                                  tmp_path):
    broker = Broker(tmp_path / "auth", users={"tv": "right-password"}).start()
    try:
        config = config_for(mqtt={"enabled": True, "port": broker.port, "username": "tv",
                                  "password": "wrong-password"})
        server = make_server(config)
        mqtt = server.wait_for(lambda: (c := server.get("/api/health").json()["components"][
            "mqtt"])["state"] == "refused" and c, timeout=20)
        assert mqtt["status"] == "degraded"
        assert "wrong-password" not in server.get("/api/health").text
        server.wait_for(lambda: broker_attempts(broker) >= 2, timeout=20)
        assert server.log.count("refused the connection") == 1, server.log
        assert "wrong-password" not in server.log
        # Hot reload of the mqtt section reconnects with the new password.
        watcher = Watcher(broker, ("tv", "right-password"))
        try:
            config["mqtt"]["password"] = "right-password"
            write_config(server.config_path, config)
            assert server.post("/api/config/reload").status_code == 200
            watcher.wait_message("exstreamtv/status", "online")
            server.wait_for(lambda: server.get("/api/health").json()["components"]["mqtt"][
                "state"] == "connected")
        finally:
            watcher.close()
    finally:
        broker.stop()


def broker_attempts(broker: Broker) -> int:
    log = (broker.folder / "mosquitto.log").read_text(errors="replace")
    return log.count("not authorised") + log.count("not authorized")


def test_broker_down_never_blocks_the_server(make_server, config_for, tmp_path):
    unused = Broker(tmp_path / "never-started")
    server = make_server(config_for(mqtt={"enabled": True, "port": unused.port}))
    health = server.get("/api/health").json()
    assert health["components"]["mqtt"]["status"] == "degraded"
    assert server.get("/api/channels").status_code == 200
    assert server.stop() == 0


def test_events_raised_while_not_connected_are_sent_once_connected(make_server, config_for,
                                                                   tmp_path):
    broker = Broker(tmp_path / "auth", users={"tv": "right-password"}).start()
    watcher = Watcher(broker, ("tv", "right-password"))
    try:
        config = config_for(mqtt={"enabled": True, "port": broker.port, "username": "tv",
                                  "password": "wrong-password", "keepalive": 5})
        # A source that does not exist: a health event raised while the broker refuses us.
        config["sources"].append({"id": "gone", "type": "local", "path": str(tmp_path / "x")})
        server = make_server(config)
        server.wait_for(lambda: any(e.get("component") == "source:gone" for e in server.get(
            "/api/healing/events", params={"kind": "health"}).json()))
        assert server.get("/api/health").json()["components"]["mqtt"]["state"] != "connected"
        assert not watcher.on("exstreamtv/events/health")
        # The event is kept, across the reload that gives the right password, and sent.
        config["mqtt"]["password"] = "right-password"
        write_config(server.config_path, config)
        assert server.post("/api/config/reload").status_code == 200
        message = watcher.wait_for(
            lambda: next((m for m in watcher.on("exstreamtv/events/health")
                          if m.json.get("component") == "source:gone"), None),
            timeout=30, what="the source's health event")
        assert message.json["status"] == "error"
        assert "raised while the broker was unreachable" in server.log, server.log
    finally:
        watcher.close()
        broker.stop()


def test_channel_removed_while_stopped_loses_its_entities_at_start(make_server, mqtt_config,
                                                                   watcher):
    config = mqtt_config()
    server = make_server(config)
    configs = wait_discovery(watcher)
    channel2 = {t for t, p in configs.items() if p["device"].get("name") == f"2 {WEIRD}"}
    assert server.stop() == 0
    config["channels"] = [c for c in config["channels"] if c["number"] != 2]
    make_server(config, name="without-2.yaml")
    for topic in channel2:
        watcher.wait_message(topic, "")
    retained = retained_snapshot(watcher.broker, "homeassistant/")
    assert len(retained) == len(SERVER_KEYS) + len(CHANNEL_KEYS), sorted(retained)
    assert not channel2 & set(retained)


def test_tls_with_password(make_server, config_for, tmp_path):
    broker = Broker(tmp_path / "tls", users={"tv": "tls-password"}, tls=True).start()
    try:
        watcher = Watcher(broker, ("tv", "tls-password"))
        try:
            tls = {"enabled": True, "ca_certs": str(broker.ca)}
            server = make_server(config_for(mqtt={
                "enabled": True, "port": broker.port, "username": "tv",
                "password": "tls-password", "tls": tls}))
            watcher.wait_message("exstreamtv/status", "online")
            assert len(wait_discovery(watcher, len(SERVER_KEYS) + len(CHANNEL_KEYS))) == \
                len(SERVER_KEYS) + len(CHANNEL_KEYS)
            assert server.get("/api/health").json()["components"]["mqtt"]["state"] == "connected"
        finally:
            watcher.close()
        # A CA file that does not exist: the server runs, health says why MQTT does not.
        broken = make_server(config_for(mqtt={
            "enabled": True, "port": broker.port,
            "tls": {"enabled": True, "ca_certs": str(tmp_path / "missing.crt")}}),
            name="broken.yaml")
        mqtt = broken.get("/api/health").json()["components"]["mqtt"]
        assert mqtt["status"] == "error" and "cannot start" in mqtt["message"]
    finally:
        broker.stop()
