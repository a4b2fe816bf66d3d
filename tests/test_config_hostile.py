"""Hostile and broken config files against a running server: the running config stays.

Each test does the damage an editor, a careless user or an attacker with write access to
the file would do (truncate, rename over, delete, replace with a folder, alias bombs, deep
nesting, absurd numbers) and checks the safe outcome over HTTP: the token is still
required, the channels are still listed, the error is shown and published, memory holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import Server, channel, write_config

TOKEN = "hostile-test-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def billion_laughs() -> str:
    """The classic alias bomb: ~340 bytes that expand to 9**9 strings."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


class ConfigEvents:
    """Collects the ``config`` events of ``/api/events/stream`` in a background thread."""

    def __init__(self, server: Server) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(server,), daemon=True)
        self._thread.start()
        assert self.connected.wait(30), "the event stream did not connect"

    def _read(self, server: Server) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stops at the end of the test
            self._read_events(server)

    def _read_events(self, server: Server) -> None:
        with httpx.stream("GET", server.url + "/api/events/stream", headers=AUTH,
                          timeout=httpx.Timeout(10, read=None)) as response:
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event.get("kind") == "config":
                        self.events.append(event)

    def rejected(self) -> list[str]:
        return [e.get("error") or "" for e in self.events if e.get("action") == "rejected"]


def m3u_numbers(server: Server) -> list[int]:
    text = server.get("/api/channels.m3u").text
    return [int(line.split("/")[-1].split(".")[0]) for line in text.splitlines()
            if line.startswith("http")]


def status(server: Server) -> dict[str, Any]:
    response = server.get("/api/config/status", headers=AUTH)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_for_error(server: Server, needle: str, timeout: float = 20) -> dict[str, Any]:
    """Wait until the watcher has reported an error containing ``needle``."""
    found: dict[str, Any] = server.wait_for(
        lambda: needle in ((s := status(server))["last_error"] or "") and s, timeout=timeout)
    return found


def assert_still_guarded(server: Server, channels: list[int], version: int) -> None:
    """The running config is the old one: token required, channels listed, same version."""
    assert server.get("/api/config/status").status_code == 401
    assert server.get("/api/sessions").status_code == 401
    assert m3u_numbers(server) == channels
    assert status(server)["version"] == version


@pytest.fixture
def guarded(make_server, config_for):
    """A server with an API token and channels 1 and 2, plus its config mapping."""
    config = config_for()
    config["server"]["api_token"] = TOKEN
    config["channels"].append(channel(2, "Two", "clips"))
    server = make_server(config)
    return server, config


def test_empty_partial_and_tokenless_edits_never_open_the_api(guarded):
    server, config = guarded
    events = ConfigEvents(server)
    path = server.config_path

    path.write_text("")  # an editor's truncate, caught before the write
    assert "empty" in wait_for_error(server, "empty")["last_error"]
    assert_still_guarded(server, [1, 2], 1)

    path.write_text("# server:\n#   api_token: x\n\n# channels: []\n")
    wait_for_error(server, "only comments", timeout=20)
    server.wait_for(lambda: len(events.rejected()) >= 2, timeout=20)
    assert_still_guarded(server, [1, 2], 1)

    no_server = {k: v for k, v in config.items() if k != "server"}
    write_config(path, no_server)
    wait_for_error(server, "server: the section is missing")
    assert_still_guarded(server, [1, 2], 1)

    tokenless = json.loads(json.dumps(config))
    del tokenless["server"]["api_token"]
    tokenless["channels"].append(channel(3, "Three", "clips"))
    write_config(path, tokenless)
    error = wait_for_error(server, "server.api_token")["last_error"]
    assert "auth_disabled" in error
    assert_still_guarded(server, [1, 2], 1)
    assert any("server.api_token" in e for e in events.rejected())

    # Through a temporary file renamed over the config (vim, VS Code, sed -i).
    temp = path.with_name(".exstreamtv.yaml.swp")
    temp.write_text("\n# nothing yet\n")
    os.replace(temp, path)
    wait_for_error(server, "only comments")
    assert_still_guarded(server, [1, 2], 1)

    # Turning auth off on purpose takes the explicit key; then the API is open.
    tokenless["server"]["auth_disabled"] = True
    write_config(temp, tokenless)
    os.replace(temp, path)
    server.wait_for(lambda: server.get("/api/config/status").status_code == 200, timeout=20)
    assert m3u_numbers(server) == [1, 2, 3]
    assert server.get("/api/config/status").json()["last_error"] is None


def test_truncate_then_write_is_never_applied_half_way(guarded):
    server, config = guarded
    seen: dict[str, Any] = {"lists": set(), "open": 0, "polls": 0}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            seen["lists"].add(tuple(m3u_numbers(server)))
            if server.get("/api/sessions").status_code != 401:
                seen["open"] += 1
            seen["polls"] += 1

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    config["channels"].append(channel(3, "Three", "clips"))
    text = yaml.safe_dump(config, sort_keys=False)
    with open(server.config_path, "w") as handle:  # truncates, like many editors
        handle.flush()
        # The empty file stays long enough for the watcher to read it.
        server.wait_for(lambda: "empty" in (status(server)["last_error"] or ""), timeout=20)
        handle.write(text[: len(text) // 2])
        handle.flush()
        handle.write(text[len(text) // 2:])
    server.wait_for(lambda: m3u_numbers(server) == [1, 2, 3], timeout=20)
    stop.set()
    poller.join(20)
    assert seen["polls"] > 0
    assert seen["lists"] <= {(1, 2), (1, 2, 3)}, seen["lists"]
    assert seen["open"] == 0
    assert status(server)["last_error"] is None


def test_deleted_folder_binary_and_non_utf8_files_give_a_status_not_a_500(guarded):
    server, config = guarded
    path = server.config_path
    path.unlink()
    wait_for_error(server, "cannot read the config file")
    reload = server.post("/api/config/reload", headers=AUTH)
    assert reload.status_code == 422 and "No such file" in reload.json()["last_error"]
    assert_still_guarded(server, [1, 2], 1)

    path.mkdir()
    wait_for_error(server, "not a regular file")
    assert server.post("/api/config/reload", headers=AUTH).status_code == 422
    path.rmdir()

    path.write_bytes(b"server:\n  name: caf\xe9\n")  # Latin-1, not UTF-8
    wait_for_error(server, "not UTF-8")
    path.write_bytes(bytes(range(256)) * 8)
    reload = server.post("/api/config/reload", headers=AUTH)
    assert reload.status_code == 422, reload.text
    assert_still_guarded(server, [1, 2], 1)

    write_config(path, config)  # the file comes back: applied, error cleared
    server.wait_for(lambda: status(server)["last_error"] is None, timeout=20)
    assert m3u_numbers(server) == [1, 2]
    assert "Traceback" not in server.log


def peak_memory_kib(server: Server) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def test_alias_bomb_and_deep_nesting_are_refused_without_memory_or_traceback(guarded):
    server, _config = guarded
    before = peak_memory_kib(server)
    bomb = billion_laughs()
    assert len(bomb) < 400
    server.config_path.write_text(bomb)
    error = wait_for_error(server, "aliases")["last_error"]
    assert "1,000,000 values" in error
    reload = server.post("/api/config/reload", headers=AUTH, timeout=60)
    assert reload.status_code == 422 and "aliases" in reload.json()["last_error"]

    server.config_path.write_text("[" * 20_000 + "]" * 20_000)
    wait_for_error(server, "nesting deeper than 64 levels")
    reload = server.post("/api/config/reload", headers=AUTH, timeout=60)
    assert reload.status_code == 422 and "nesting" in reload.json()["last_error"]
    server.config_path.write_text("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)))
    server.wait_for(lambda: "column 1001" not in (status(server)["last_error"] or "column 1001"),
                    timeout=20)
    assert "nesting deeper than 64 levels at line" in status(server)["last_error"]

    server.config_path.write_text("# padding\n" * 500_000)  # 5 MB
    wait_for_error(server, "over the 4 MiB limit")
    assert_still_guarded(server, [1, 2], 1)
    grown_mib = (peak_memory_kib(server) - before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"
    assert "Traceback" not in server.log and "RecursionError" not in server.log


def test_a_big_file_is_parsed_off_the_event_loop(guarded):
    server, _config = guarded
    # Valid YAML that takes seconds of Python to build, refused only after it is parsed.
    server.config_path.write_text("junk: [" + "1," * 500_000 + "1]\n")
    wait_for_error(server, "junk: unknown section", timeout=120)
    result: dict[str, Any] = {}

    def reload() -> None:
        result["response"] = server.post("/api/config/reload", headers=AUTH, timeout=180)

    thread = threading.Thread(target=reload)
    thread.start()
    answered = 0
    while thread.is_alive():
        health = server.get("/api/health", timeout=60)
        if thread.is_alive():
            answered += health.status_code == 200
        time.sleep(0.02)
    thread.join()
    assert result["response"].status_code == 422
    assert "junk" in result["response"].json()["last_error"]
    # With the parse on the event loop, no request is answered until it ends.
    assert answered >= 3, answered
    assert_still_guarded(server, [1, 2], 1)


def test_absurd_numbers_are_refused_with_their_key_path_on_reload(guarded):
    server, config = guarded
    bad = json.loads(json.dumps(config))
    bad["channels"][1]["ffmpeg"] = {"video": {"bitrate_kbps": 10**30}}
    text = yaml.safe_dump(bad, sort_keys=False).replace("bitrate_kbps: 400", "bitrate_kbps: 1e30")
    server.config_path.write_text(text)
    error = wait_for_error(server, "bitrate_kbps")["last_error"]
    assert "ffmpeg.video.bitrate_kbps: expected an integer from 50 to 100,000 kbit/s, " \
           "got '1e30'" in error
    assert "channels[1].ffmpeg.video.bitrate_kbps: expected an integer from 50 to 100,000" \
           in error
    assert_still_guarded(server, [1, 2], 1)
