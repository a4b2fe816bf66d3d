"""A media server's sidecar subtitle files are burned in like a local file's.

Plex lists a sidecar as a subtitle Stream with a ``key`` and no ``index``; Jellyfin and
Emby as a MediaStream with ``IsExternal`` and the server's ``Path``. A real server plays
a black clip whose sidecar (an ASS file drawing a full-frame red box, so no font is
needed) must come out burned into the picture: read through the relay (no token on any
command line) or, with a path replacement, from the local file, whose name has an
apostrophe the subtitles filter must get escaped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.base import FakeItem, FakeLibrary, FakeServer, FakeSubtitle
from tests.fakes.emby import FakeEmby
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.fakes.plex import FakePlex
from tests.helpers import (
    MEDIA_CACHE,
    Server,
    base_config,
    channel,
    ffmpeg_bin,
    make_clip,
    relay_commands,
)

SECRET = "subSECRET-7c1d2e3f4a"
SERVER_FOLDER = "/srv/media"
RED_BOX = """[Script Info]
ScriptType: v4.00+
PlayResX: 320
PlayResY: 180

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Sans,20,&H000000FF,&H000000FF,&H000000FF,&H00000000,0,0,0,0,100,100,0,0,1,0,0,\
7,0,0,0,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.00,9:00:00.00,Default,,0,0,0,,{\\pos(0,0)\\p1}m 0 0 l 320 0 320 180 0 180{\\p0}
"""


def fake_server(product: str, item: FakeItem) -> tuple[FakeServer, dict[str, Any]]:
    """The fake for ``product`` serving ``item``, and the source config reading it."""
    if product == "plex":
        plex = FakePlex(SECRET, [FakeLibrary("1", "Movies", "movie", [item])]).start()
        return plex, {"id": "remote", "type": "plex", "url": plex.url, "token": "${SUB_SECRET}"}
    cls = FakeEmby if product == "emby" else FakeJellyfin
    fake = cls(SECRET, [FakeLibrary(guid("movies"), "Movies", "movie", [item])]).start()
    source: dict[str, Any] = {"id": "remote", "type": "emby" if product == "emby" else "jellyfin",
                              "url": fake.url, "api_key": "${SUB_SECRET}"}
    return fake, source


def centre_colour(ts: Path) -> tuple[int, int, int]:
    """The mean RGB of the middle of the first frame of ``ts``."""
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", str(ts),
                           "-frames:v", "1", "-vf", "crop=120:60:100:60,scale=1:1:flags=area",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, timeout=60, check=True)
    r, g, b = proc.stdout[:3]
    return r, g, b


@pytest.mark.parametrize("product", ["plex", "jellyfin", "emby", "jellyfin-local"])
def test_sidecar_subtitles_of_a_media_server_are_burned_in(
        tmp_path: Path, make_server: Callable[..., Server], product: str) -> None:
    media = tmp_path / "media"
    media.mkdir()
    clip = media / "It's black.mp4"
    os.symlink(make_clip(MEDIA_CACHE / "black-6s.mp4", 6.0, pattern="color"), clip)
    sidecar = media / "It's black.en.ass"
    sidecar.write_text(RED_BOX, encoding="utf-8")
    local = product == "jellyfin-local"
    item = FakeItem(id="401", title="Black", file=clip, updated=1_700_000_500,
                    server_path=f"{SERVER_FOLDER}/{clip.name}" if local else None,
                    subtitles=(FakeSubtitle(sidecar, "eng", "ass", server_path=(
                        f"{SERVER_FOLDER}/{sidecar.name}" if local else None)),))
    fake, source = fake_server(product.removesuffix("-local"), item)
    try:
        if local:
            source["path_replacements"] = [{"from": SERVER_FOLDER, "to": str(media)}]
        burn = {"subtitles": {"mode": "burn", "languages": ["eng"], "prefer": "text"}}
        config = base_config(tmp_path, media, sources=[source],
                             channels=[channel(1, "Subtitled", "remote", ffmpeg=burn)])
        server = make_server(config, env={"SUB_SECRET": SECRET})
        server.wait_for(lambda: server.get("/api/sources").json()[0]["state"] == "ok", timeout=60)
        ts = tmp_path / "channel.ts"
        with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=90) as response:
            assert response.status_code == 200
            with ts.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if out.tell() > 300_000:
                        break
                leaks, _ = relay_commands(SECRET)
                assert not leaks, f"the secret is on a command line: {leaks}"
        r, g, b = centre_colour(ts)
        assert r > 180 and g < 80 and b < 80, f"the sidecar was not burned in: {(r, g, b)}"
        asked = [p for p in fake.requests if "/library/streams/" in p or "/Subtitles/" in p]
        assert bool(asked) is not local, fake.requests  # relayed, or read from the local file
        assert " 401 " not in server.log and SECRET not in server.log
    finally:
        fake.stop()
