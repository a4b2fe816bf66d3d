"""Channels built from Plex and Jellyfin libraries play through a running server.

The fakes serve the generated clips through their part/stream URLs (with Range); a third
source maps the server's paths to the local clips folder, so its channel reads files
directly. Tokens come from ``${ENV}`` and must appear nowhere in the log or the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.base import catalogue
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.fakes.plex import FakePlex
from tests.helpers import Server, channel, decode_errors, write_config

PLEX_TOKEN = "plexTOKEN-9d8e7f6a5b"
JF_KEY = "jfKEY-0a1b2c3d4e5f"
NEW_TOKEN = "plexNEW-1c2d3e4f5a6b"


@pytest.fixture
def fakes(clips: Path) -> Iterator[tuple[FakePlex, FakeJellyfin, FakePlex]]:
    plex = FakePlex(PLEX_TOKEN, catalogue(clips)).start()
    jelly = FakeJellyfin(JF_KEY, catalogue(clips, guid("movies"), guid("shows"))).start()
    local_libraries = catalogue(clips)
    for library in local_libraries:
        for item in library.items:
            item.server_path = f"/srv/media/{item.file.name}"
    plex_local = FakePlex(PLEX_TOKEN, local_libraries).start()
    yield plex, jelly, plex_local
    for fake in (plex, jelly, plex_local):
        fake.stop()


def api_dump(server: Server) -> str:
    """Every /api/* answer a client can read, concatenated."""
    paths = ["/api/health", "/api/channels", "/api/channels/1", "/api/sources",
             "/api/config/status", "/api/plugins", "/api/sessions", "/api/channels.m3u"]
    return "\n".join(server.get(p).text for p in paths)


def test_plex_and_jellyfin_channels_play(
    fakes: tuple[FakePlex, FakeJellyfin, FakePlex], clips: Path,
    config_for: Callable[..., dict[str, Any]], make_server: Callable[..., Server],
) -> None:
    plex, jelly, plex_local = fakes
    config = config_for(
        sources=[
            {"id": "plex", "type": "plex", "url": plex.url, "token": "${PLEX_TOKEN}"},
            {"id": "jelly", "type": "jellyfin", "url": jelly.url, "api_key": "${JF_KEY}",
             "libraries": ["Movies"], "scan_interval_minutes": 0.02},
            {"id": "plexlocal", "type": "plex", "url": plex_local.url, "token": "${PLEX_TOKEN}",
             "path_replacements": [{"from": "/srv/media", "to": str(clips)}]},
        ],
        channels=[channel(1, "Test Show", "plex:show:Test Show"),
                  channel(2, "Jellyfin Movies", "jelly:library:Movies"),
                  channel(3, "Local Plex", "plexlocal")],
    )
    server = make_server(config, env={"PLEX_TOKEN": PLEX_TOKEN, "JF_KEY": JF_KEY,
                                              "PLEX_TOKEN_NEW": NEW_TOKEN})

    def all_scanned() -> bool:
        states = {s["id"]: s for s in server.get("/api/sources").json()}
        return all(s["state"] == "ok" for s in states.values()) and len(states) == 3

    server.wait_for(all_scanned, timeout=30)
    now = server.get("/api/channels/1").json()["now"]
    assert now["metadata"]["show"] == "Test Show" and now["metadata"]["season"] == 1
    assert server.get("/api/channels/2").json()["now"]["metadata"]["kind"] == "movie"

    for number in (1, 2, 3):
        code, errors = decode_errors(f"{server.url}/stream/channels/{number}.ts", 5)
        assert code == 0 and not errors.strip(), f"channel {number}: {errors}\n{server.log}"
    assert plex.file_requests, "channel 1 did not read through the Plex part URL"
    assert jelly.file_requests, "channel 2 did not read through the Jellyfin stream URL"
    assert plex_local.file_requests == []  # read from the local clips folder instead

    # The scheduled rescan (every 1.2 s) runs on its own.
    first = next(s for s in server.get("/api/sources").json() if s["id"] == "jelly")
    server.wait_for(lambda: next(s for s in server.get("/api/sources").json()
                                 if s["id"] == "jelly")["last_scan"] > first["last_scan"])

    # Manual scan: the status, 404 for an unknown source.
    answer = server.post("/api/sources/plex/scan")
    assert answer.status_code == 200 and answer.json()["state"] == "ok"
    assert answer.json()["items"] == 4
    missing = server.post("/api/sources/nosuch/scan")
    assert missing.status_code == 404 and "nosuch" in missing.json()["error"]

    # A rejected token: the scan fails with the reason and the channel keeps its items.
    plex.fail = "401"
    answer = server.post("/api/sources/plex/scan")
    assert answer.json()["state"] == "error"
    assert "rejected the credentials (HTTP 401)" in answer.json()["error"]
    assert server.get("/api/channels/1").json()["now"]["metadata"]["show"] == "Test Show"
    health = server.get("/api/health").json()
    assert health["components"]["library"]["sources"]["plex"]["state"] == "error"

    # Part URLs now rejected too: the relay passes the 401 on and ffmpeg reports it for
    # the relay's URL (which carries no token).
    plex.secret = NEW_TOKEN
    decode_errors(f"{server.url}/stream/channels/1.ts", 3)
    server.wait_for(lambda: "/relay/" in server.log and "401 Unauthorized" in server.log,
                    timeout=20)

    # The new token goes into the config (hot reload): the source is rebuilt, keeps its
    # items meanwhile, syncs with the new token and the channel plays again.
    plex.fail = None
    config["sources"][0]["token"] = "${PLEX_TOKEN_NEW}"
    write_config(server.config_path, config)
    assert server.post("/api/config/reload").status_code == 200
    assert server.get("/api/channels/1").json()["now"]["metadata"]["show"] == "Test Show"
    server.wait_for(lambda: next(s for s in server.get("/api/sources").json()
                                 if s["id"] == "plex")["state"] == "ok")
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 4)
    assert code == 0 and not errors.strip(), errors
    dump = api_dump(server)
    log = server.log
    for secret in (PLEX_TOKEN, JF_KEY, NEW_TOKEN):
        assert secret not in log, f"{secret} leaked into the server log"
        assert secret not in dump, f"{secret} leaked into the API"
    assert json.loads(server.get("/api/sources").text)[0]["id"] == "plex"
