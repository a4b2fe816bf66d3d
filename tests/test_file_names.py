"""Every name from the file system is safe in every output (XMLTV, M3U, lineup, JSON)."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from tests.helpers import MEDIA_CACHE, channel, make_clip
from tests.test_guide import validate

CONTROL_NAME = "Tom & Jerry <b>\x01\x1b 'quoted'.mp4"
NOT_UTF8 = b"caf\xe9 latin-1.mp4"


def hostile_folder(tmp: Path) -> Path:
    """22 clips: 20 plain, one with control characters and markup, one not valid UTF-8."""
    clip = make_clip(MEDIA_CACHE / "names" / "one-second.mp4", 1.0)
    folder = tmp / "names"
    folder.mkdir()
    for i in range(20):
        shutil.copy(clip, folder / f"clip-{i + 1:02d}.mp4")
    shutil.copy(clip, folder / CONTROL_NAME)
    shutil.copy(clip, os.fsdecode(os.path.join(os.fsencode(folder), NOT_UTF8)))
    return folder


def test_one_bad_file_name_never_breaks_a_source_or_the_guide(make_server, config_for, tmp_path):
    folder = hostile_folder(tmp_path)
    config = config_for(sources=[{"id": "names", "type": "local", "path": str(folder)}],
                        channels=[channel(1, "Names <&> \x07", "names")],
                        guide={"days_ahead": 1})
    server = make_server(config)

    def scanned():
        status = server.get("/api/sources").json()[0]
        return status if status.get("state") not in ("pending", "scanning") else None

    status = server.wait_for(scanned, timeout=120)
    assert status.get("items") in (21, 22), status
    guide = server.get("/api/xmltv.xml")
    assert guide.status_code == 200
    tree = ET.fromstring(guide.content)  # well-formed
    titles = {p.findtext("title") for p in tree.iter("programme")}
    assert any(t and "Tom & Jerry <b>" in t for t in titles), titles
    path = tmp_path / "guide.xml"
    path.write_bytes(guide.content)
    validate(path)
    m3u = server.get("/api/channels.m3u").text
    assert "\x07" not in m3u and "\x01" not in m3u
    for route in ("/lineup.json", "/api/channels", "/api/channels/1"):
        response = server.get(route)
        assert response.status_code == 200, route
        response.json()
    assert server.get("/lineup.json").json()[0]["GuideName"] == "Names <&> \ufffd"
    ET.fromstring(server.get("/device.xml").content)
    skipped = [line for line in server.log.splitlines() if "latin-1" in line]
    assert skipped and all("\\xe9" in line for line in skipped), skipped
    # The channel plays.
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=60) as response:
        assert response.status_code == 200
        assert next(response.iter_bytes())[:1] == b"\x47"
