"""Hot reload against a running server: valid edits apply live, invalid ones are kept out."""

from __future__ import annotations

import threading

import httpx
import yaml

from tests.helpers import channel, write_config


def m3u_numbers(server):
    text = server.get("/api/channels.m3u").text
    return [int(line.split("/")[-1].split(".")[0]) for line in text.splitlines()
            if line.startswith("http")]


def test_valid_edit_adds_and_removes_channels_live(make_server, config_for):
    config = config_for()
    server = make_server(config)
    assert m3u_numbers(server) == [1]
    config["channels"].append(channel(7, "Seven", "clips"))
    write_config(server.config_path, config)
    server.wait_for(lambda: m3u_numbers(server) == [1, 7], timeout=10)
    status = server.get("/api/config/status").json()
    assert status["version"] == 2 and status["last_error"] is None
    config["channels"] = [c for c in config["channels"] if c["number"] != 1]
    write_config(server.config_path, config)
    server.wait_for(lambda: m3u_numbers(server) == [7], timeout=10)
    assert server.get("/stream/channels/1.ts").status_code == 404


def test_invalid_edits_leave_the_running_config(make_server, config_for):
    config = config_for()
    server = make_server(config)
    server.config_path.write_text("channels: [\n  this is not yaml")
    status = server.wait_for(
        lambda: (s := server.get("/api/config/status").json())["last_error"] and s, timeout=10)
    assert "YAML syntax error" in status["last_error"]
    assert status["version"] == 1
    assert m3u_numbers(server) == [1]

    bad = yaml.safe_load(yaml.safe_dump(config))
    bad["channels"].append({"number": 2, "name": "Broken", "schedule": {"type": "nope"}})
    write_config(server.config_path, bad)
    status = server.wait_for(
        lambda: "nope" in ((s := server.get("/api/config/status").json())["last_error"] or "")
        and s, timeout=10)
    assert "channels[1].schedule.type" in status["last_error"]
    assert m3u_numbers(server) == [1]
    assert "Config edit rejected" in server.log
    health = server.get("/api/health").json()
    assert health["components"]["config"]["status"] == "degraded"
    # A good edit afterwards applies and clears the error.
    config["channels"].append(channel(3, "Three", "clips"))
    write_config(server.config_path, config)
    server.wait_for(lambda: m3u_numbers(server) == [1, 3], timeout=10)
    assert server.get("/api/config/status").json()["last_error"] is None


def test_viewers_of_unchanged_channels_are_not_disturbed(make_server, config_for):
    config = config_for()
    config["channels"].append(channel(2, "Two", "clips"))
    server = make_server(config)
    received = {"bytes": 0, "error": None}
    stop = threading.Event()

    def watch():
        try:
            with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=10) as r:
                for chunk in r.iter_bytes():
                    received["bytes"] += len(chunk)
                    if stop.is_set():
                        return
        except Exception as exc:  # the stream must not end during the reload
            received["error"] = repr(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    server.wait_for(lambda: received["bytes"] > 50_000, timeout=15)
    pid_before = server.get("/api/channels/1").json()["pipeline"]["pid"]
    config["channels"][1]["name"] = "Two renamed"
    config["channels"].append(channel(4, "Four", "clips"))
    write_config(server.config_path, config)
    server.wait_for(lambda: 4 in m3u_numbers(server), timeout=10)
    before = received["bytes"]
    server.wait_for(lambda: received["bytes"] > before + 50_000, timeout=15)
    info = server.get("/api/channels/1").json()["pipeline"]
    assert info["restarts"] == 0
    assert info["pid"] == pid_before or info["title"]  # same item process unless an item ended
    stop.set()
    thread.join(15)
    assert received["error"] is None
    assert "Two renamed" in server.get("/api/channels.m3u").text
