"""Secrets stay inside the server: masked at every exit, never on a command line.

A drop-in plugin plays the careless component: it puts the Plex token and the API token
into health and channel events and log lines, twice a second. Every way out (the
healing API, the SSE stream, MQTT, the log) must show ``***`` instead. A Plex or
Jellyfin channel plays through the local media relay while every process's command
line is read.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exstreamtv import HealthEvent, secrets
from exstreamtv.config.loader import load_config
from tests.fakes.base import FakeItem, FakeLibrary, catalogue
from tests.fakes.emby import FakeEmby
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.fakes.plex import FakePlex
from tests.helpers import Server, base_config, channel, relay_commands, write_config
from tests.media_files import multitrack
from tests.mqtt_support import Broker, Watcher

PLEX_TOKEN = "plexSECRET-5e6f7a8b9c"
API_TOKEN = "apiSECRET-1a2b3c4d5e"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

LEAKY_PLUGIN = '''
import asyncio, logging, os
from exstreamtv import ChannelEvent, HealthEvent, hookimpl

log = logging.getLogger("leaky")


@hookimpl
def startup(hub):
    url = ("http://plex.example:32400/library/parts/1/file.mp4?X-Plex-Token="
           + os.environ["PLEX_TOKEN"])
    api = hub.config.server.api_token

    async def leak():
        while True:
            hub.bus.publish(HealthEvent(component="leaky", status="error",
                                        message=f"cannot open {url} (api {api})"))
            hub.bus.publish(ChannelEvent(channel=1, action="error", title="leaky",
                                         message=f"ffmpeg: {url}: 401"))
            log.warning("leaky plugin fetched %s with %s", url, api)
            await asyncio.sleep(0.5)

    hub.spawn(leak(), name="leaky")
'''


@pytest.fixture
def plex(clips: Path) -> Iterator[FakePlex]:
    fake = FakePlex(PLEX_TOKEN, catalogue(clips)).start()
    yield fake
    fake.stop()


def plex_config(tmp_path: Path, clips: Path, plex: FakePlex, **sections: Any) -> dict[str, Any]:
    config = base_config(tmp_path, clips, **sections)
    config["server"]["api_token"] = API_TOKEN
    config["sources"].append({"id": "plex", "type": "plex", "url": plex.url,
                              "token": "${PLEX_TOKEN}"})
    config["channels"] = [channel(1, "Plex Shows", "plex:show:Test Show")]
    return config


def scanned(server: Server) -> bool:
    states = {s["id"]: s["state"] for s in server.get("/api/sources", headers=AUTH).json()}
    return states.get("plex") == "ok"


def sse_text(server: Server, until: str, timeout: float = 60.0) -> str:
    """The SSE stream's text from connecting until ``until`` has appeared in it."""
    seen = ""
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", f"{server.url}/api/events/stream", headers=AUTH,
                      timeout=timeout) as response:
        assert response.status_code == 200
        for chunk in response.iter_text():
            seen += chunk
            if until in seen or time.monotonic() > deadline:
                break
    return seen


def test_every_exit_masks_secrets(plex: FakePlex, clips: Path, tmp_path: Path,
                                  make_server: Callable[..., Server]) -> None:
    plugin_dir = tmp_path / "leaky_plugins"
    plugin_dir.mkdir()
    (plugin_dir / "leaky.py").write_text(LEAKY_PLUGIN)
    broker = Broker(tmp_path / "mqtt").start()
    try:
        config = plex_config(tmp_path, clips, plex,
                             plugins={"directories": [str(plugin_dir)]},
                             mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
        watcher = Watcher(broker)
        server = make_server(config, env={"PLEX_TOKEN": PLEX_TOKEN})
        server.wait_for(lambda: scanned(server), timeout=60)
        watcher.wait_message("exstreamtv/events/health", timeout=60)

        events = server.wait_for(lambda: [e for e in server.get(
            "/api/healing/events", headers=AUTH).json() if e.get("component") == "leaky"])
        assert "X-Plex-Token=***" in events[0]["message"]
        status = server.wait_for(lambda: (s := server.get("/api/healing/status", headers=AUTH))
                                 and "leaky" in s.text and s.text)
        assert "X-Plex-Token=***" in status
        stream = sse_text(server, '"component": "leaky"')
        assert "X-Plex-Token=***" in stream
        mqtt_health = [m.text for m in watcher.on("exstreamtv/events/health")]
        assert any("X-Plex-Token=***" in m for m in mqtt_health)
        server.wait_for(lambda: "leaky plugin fetched" in server.log)
        assert "X-Plex-Token=***" in server.log

        exits = {
            "healing events": json.dumps(events),
            "healing status": status,
            "SSE": stream,
            "MQTT": "\n".join(m.text for m in watcher.messages),
            "log": server.log,
            "API": "\n".join(server.get(p, headers=AUTH).text for p in (
                "/api/health", "/api/channels", "/api/sources", "/api/config/status",
                "/api/sessions", "/api/healing/outcomes", "/api/healing/pending", "/")),
        }
        for where, text in exits.items():
            for secret in (PLEX_TOKEN, API_TOKEN):
                assert secret not in text, f"{secret} leaked through {where}"
        watcher.close()
    finally:
        broker.stop()


@pytest.fixture(params=["plex", "jellyfin", "emby"])
def remote(request: pytest.FixtureRequest, clips: Path) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(secret, fake server, source config) for each media-server product."""
    fake: FakePlex | FakeJellyfin
    if request.param == "plex":
        fake = FakePlex(PLEX_TOKEN, catalogue(clips)).start()
        source = {"id": "remote", "type": "plex", "url": fake.url, "token": "${PLEX_TOKEN}"}
    elif request.param == "emby":
        fake = FakeEmby(PLEX_TOKEN, catalogue(clips, guid("movies"), guid("shows"))).start()
        source = {"id": "remote", "type": "emby", "url": fake.url, "api_key": "${PLEX_TOKEN}"}
    else:
        fake = FakeJellyfin(PLEX_TOKEN, catalogue(clips, guid("movies"), guid("shows"))).start()
        source = {"id": "remote", "type": "jellyfin", "url": fake.url, "api_key": "${PLEX_TOKEN}"}
    yield PLEX_TOKEN, fake, source
    fake.stop()


def test_source_secret_never_on_a_command_line(remote: tuple[str, Any, dict[str, Any]],
                                               clips: Path, tmp_path: Path,
                                               make_server: Callable[..., Server]) -> None:
    """The Plex token / Jellyfin key is on no process's command line while a channel plays."""
    secret, fake, source = remote
    config = base_config(tmp_path, clips, sources=[source],
                         channels=[channel(1, "Remote Shows", "remote:show:Test Show")])
    server = make_server(config, env={"PLEX_TOKEN": secret})
    server.wait_for(lambda: server.get("/api/sources").json()[0]["state"] == "ok", timeout=60)
    probe = subprocess.Popen(
        ["ffprobe", "-v", "error", "-i", f"{server.url}/stream/channels/1.ts",
         "-read_intervals", "%+6", "-show_entries", "packet=codec_type", "-of", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        relayed: list[str] = []
        deadline = time.monotonic() + 90
        while not relayed and probe.poll() is None and time.monotonic() < deadline:
            leaks, relayed = relay_commands(secret, parent=server.proc.pid)
            assert not leaks, f"the source's secret is on a command line: {leaks}"
        assert relayed, f"no ffmpeg read the relay while the channel played\n{server.log}"
        while probe.poll() is None and time.monotonic() < deadline:
            leaks, _ = relay_commands(secret)
            assert not leaks, f"the source's secret is on a command line: {leaks}"
        out, err = probe.communicate(timeout=60)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
    assert probe.returncode == 0, err.decode(errors="replace")
    kinds = {p["codec_type"] for p in json.loads(out)["packets"]}
    assert kinds == {"video", "audio"}
    assert fake.file_requests, "the channel did not read the media server's file"

    # The relay URL ffmpeg was given: loopback, an unguessable id, Range passed through.
    url = next(a for a in relayed[0].split(" ") if "/relay/" in a)
    assert url.startswith("http://127.0.0.1:")
    assert len(url.rsplit("/", 1)[1]) >= 40
    part = httpx.get(url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 100-199/")
    assert secret not in str(part.headers)
    assert httpx.get(url.rsplit("/", 1)[0] + "/not-an-id", timeout=30).status_code == 404
    assert httpx.post(url, timeout=30).status_code == 405
    assert secret not in server.log


def test_config_secrets_are_registered_at_load(tmp_path: Path, clips: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXSTV_TEST_DB_PASSWORD", "dbPASS-77c1")
    monkeypatch.setenv("EXSTV_TEST_JELLY_KEY", "jellyKEY-90ab")
    config = base_config(tmp_path, clips)
    config["database"]["url"] = "postgresql+asyncpg://tv:${EXSTV_TEST_DB_PASSWORD}@db/tv"
    config["mqtt"] = {"password": "mqttPASS-2f3e"}
    config["sources"].append({"id": "jf", "type": "jellyfin", "url": "http://jf:8096",
                              "api_key": "${EXSTV_TEST_JELLY_KEY}"})
    load_config(write_config(tmp_path / "c.yaml", config))
    text = "db tv:dbPASS-77c1@db mqtt mqttPASS-2f3e key jellyKEY-90ab"
    assert secrets.mask(text) == "db tv:***@db mqtt *** key ***"
    # Structures: secret-named keys are hidden whole, other strings scrubbed.
    data = {"sources": [{"api_key": "x", "url": "http://jf/?api_key=jellyKEY-90ab"}],
            "tokens_used": 3}
    assert secrets.mask_data(data) == {"sources": [{"api_key": "***",
                                                    "url": "http://jf/?api_key=***"}],
                                       "tokens_used": 3}
    assert secrets.mask_data([HealthEvent(component="x", status="error",
                                          message="key=jellyKEY-90ab")])[0]["message"] == "key=***"
    # Stored URLs lose their credential parameters and keep the rest as written.
    assert secrets.strip_credentials(
        "http://plex/library/parts/1/f.mp4?X-Plex-Token=abc&x=1") == \
        "http://plex/library/parts/1/f.mp4?x=1"
    assert secrets.strip_credentials("http://jf/Videos/1/stream?static=true&MediaSourceId=a%2Cb") \
        == "http://jf/Videos/1/stream?static=true&MediaSourceId=a%2Cb"


def test_burned_in_subtitles_are_read_through_the_relay(tmp_path: Path,
                                                        make_server: Callable[..., Server],
                                                        clips: Path) -> None:
    """The subtitles filter opens the input itself: it gets the relay URL, not the part URL."""
    library = FakeLibrary("1", "Movies", "movie", [
        FakeItem(id="301", title="Subtitled", file=multitrack(), year=2001, genres=("Drama",),
                 summary="Three subtitle tracks.", updated=1_700_000_500)])
    fake = FakePlex(PLEX_TOKEN, [library]).start()
    try:
        source = {"id": "remote", "type": "plex", "url": fake.url, "token": "${PLEX_TOKEN}"}
        burn = {"subtitles": {"mode": "burn", "languages": ["eng"], "prefer": "text"}}
        config = base_config(tmp_path, clips, sources=[source],
                             channels=[channel(1, "Subtitled", "remote", ffmpeg=burn)])
        server = make_server(config, env={"PLEX_TOKEN": PLEX_TOKEN})
        server.wait_for(lambda: server.get("/api/sources").json()[0]["state"] == "ok", timeout=60)
        probe = subprocess.Popen(
            ["ffprobe", "-v", "error", "-i", f"{server.url}/stream/channels/1.ts",
             "-read_intervals", "%+4", "-show_entries", "packet=codec_type", "-of", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def burning() -> list[str]:
                leaks, relayed = relay_commands(PLEX_TOKEN, parent=server.proc.pid)
                assert not leaks, f"the Plex token is on a command line: {leaks}"
                return [c for c in relayed if "subtitles=filename=" in c]

            commands = server.wait_for(burning, timeout=90)
            out, err = probe.communicate(timeout=90)
        finally:
            if probe.poll() is None:
                probe.kill()
                probe.wait()
        assert "subtitles=filename=\\'http://127.0.0.1:" in commands[0]
        assert probe.returncode == 0, err.decode(errors="replace")
        assert {p["codec_type"] for p in json.loads(out)["packets"]} == {"video", "audio"}
        assert "401" not in server.log, server.log
    finally:
        fake.stop()
