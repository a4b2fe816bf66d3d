"""What is on now and next says the same thing in the API, the dashboard and the guide.

A real server plays one episode laid out as Sonarr names it, with a poster: the channels
API carries show, episode title, season and episode numbers, the one-line name and the
poster URL (which answers with an image); the XMLTV programme agrees; and the names an
HDHomeRun client (Plex, Jellyfin) matches channels by are the channel's own, the same in
lineup.json, the M3U and the XMLTV.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from PIL import Image

from tests.helpers import MEDIA_CACHE, Server, channel, make_clip
from tests.library_layout import image


def _episode_library(root: Path) -> Path:
    season = root / "Night Shift" / "Season 01"
    season.mkdir(parents=True)
    os.symlink(make_clip(MEDIA_CACHE / "now-next-6s.mp4", 6.0),
               season / "Night Shift - S01E02 - Cold Open.mp4")
    image(root / "Night Shift" / "poster.jpg", "green", "60x90")
    return root


def test_now_next_carry_the_programme_and_tuner_names_stay_the_channel(
        tmp_path: Path, make_server, config_for) -> None:
    root = _episode_library(tmp_path / "library")
    config = config_for(sources=[{"id": "lib", "type": "local", "path": str(root)}],
                        channels=[channel(1, "Late Night", "lib")], guide={"days_ahead": 1})
    server: Server = make_server(config)
    summary = server.wait_for(
        lambda: (s := server.get("/api/channels/1").json()).get("now") and s["now"]["item_id"]
        and s, timeout=120)
    for key in ("now", "next"):  # the channel's only item follows itself
        p = summary[key]["programme"]
        assert (p["title"], p["sub_title"]) == ("Night Shift", "Cold Open")
        assert (p["season"], p["episode"], p["episode_num_onscreen"]) == (1, 2, "S01E02")
        assert p["display_title"] == "Night Shift S01E02 Cold Open"
        assert p["icon"] and p["icon"].startswith(server.url + "/artwork/items/")
    poster = httpx.get(summary["now"]["programme"]["icon"], timeout=30)
    assert poster.status_code == 200
    assert Image.open(io.BytesIO(poster.content)).convert("RGB").getpixel((5, 5))[1] > 100

    assert "Night Shift S01E02 Cold Open" in server.get("/").text  # the dashboard

    guide = ET.fromstring(server.get("/api/xmltv.xml").content)
    programme = next(guide.iter("programme"))
    assert (programme.findtext("title"), programme.findtext("sub-title")) == \
        ("Night Shift", "Cold Open")
    assert [e.text for e in programme.iter("episode-num")] == ["0.1.", "S01E02"]
    assert programme.find("icon").get("src") == summary["now"]["programme"]["icon"]
    # Plex and Jellyfin map a tuner's channels to the guide by number and name: the lineup
    # names the channel (never the programme, which would rename it every half hour).
    lineup = server.get("/lineup.json").json()
    assert [(e["GuideNumber"], e["GuideName"]) for e in lineup] == [("1", "Late Night")]
    assert guide.find("channel/display-name").text == "Late Night"
    assert 'tvg-chno="1" tvg-name="Late Night"' in server.get("/api/channels.m3u").text
