"""Guide and discovery against a running server: XMLTV, M3U, HDHomeRun, channel API."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exstreamtv.web.hdhomerun import valid_device_id
from tests.browser import browser_page
from tests.helpers import Server, channel
from tests.test_guide import validate


def _config(config_for: Callable[..., dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    config = config_for()
    config["server"]["tuner_count"] = 3
    config["server"]["name"] = "Test TV"
    config["sources"].append({"id": "gone", "type": "local", "path": str(empty)})
    config["channels"] = [
        channel(1, "Clips", "clips"),
        {"number": 2, "name": "Mix", "schedule": {"type": "balance", "cooldown_minutes": 0,
         "sources": [{"collection": "clips", "weight": 3}, {"collection": "gone", "weight": 1}]}},
        {"number": 3, "name": "Grid", "schedule": {"type": "time_slots", "slots": [
            {"name": "All day", "start_time": "00:00", "duration_minutes": 1440,
             "collection": "gone"}]}},
    ]
    config["guide"] = {"days_ahead": 1, "hours_behind": 0}
    return config


def _wait_scanned(server: Server) -> None:
    def scanned() -> bool:
        sources = server.get("/api/health").json()["components"]["library"]["sources"]
        return all(s["state"] == "ok" for s in sources.values()) and len(sources) == 2

    server.wait_for(scanned, timeout=30)


def test_xmltv_m3u_and_channel_api(make_server: Callable[..., Server],
                                   config_for: Callable[..., dict[str, Any]],
                                   tmp_path: Path) -> None:
    server = make_server(_config(config_for, tmp_path))
    _wait_scanned(server)
    response = server.get("/api/xmltv.xml")
    assert response.status_code == 200 and "xml" in response.headers["content-type"]
    assert server.get("/iptv/xmltv.xml").text.count("<programme") > 0
    path = tmp_path / "served.xml"
    path.write_bytes(response.content)
    validate(path)
    tree = ET.fromstring(response.content)
    guide_ids = [c.get("id") for c in tree.findall("channel")]
    m3u = server.get("/api/channels.m3u").text
    assert server.get("/iptv/channels.m3u").text == m3u
    assert guide_ids == re.findall(r'tvg-id="([^"]+)"', m3u) == [
        "1.exstreamtv", "2.exstreamtv", "3.exstreamtv"]
    titles = {p.findtext("title") for p in tree.findall("programme")
              if p.get("channel") == "1.exstreamtv"}
    assert titles == {"clip-01", "clip-02", "clip-03"}
    # A day of programmes ahead, nothing from before the hour.
    stops = [p.get("stop") for p in tree.findall("programme") if p.get("channel") == "1.exstreamtv"]
    assert len(stops) > 1000  # 12-second loop of three 4-second clips: thousands a day

    mix = server.get("/api/channels/2").json()
    assert mix["now"] and mix["next"]
    assert mix["schedule_health"]["status"] == "degraded"
    assert "gone" in mix["schedule_health"]["reason"]
    stats = {s["collection"]: s for s in mix["schedule_stats"]["sources"]}
    assert stats["clips"]["target_share"] == 75.0 and stats["gone"]["picks"] == 0
    assert stats["clips"]["actual_share"] == 100.0

    grid = server.get("/api/channels/3").json()
    assert grid["now"]["kind"] == "offline" and grid["now"]["item_id"] is None
    assert grid["schedule_health"]["status"] == "degraded"
    assert "'gone' has no playable items" in grid["schedule_health"]["reason"]
    listing = server.get("/api/channels").json()
    assert [c["number"] for c in listing] == [1, 2, 3]
    assert listing[0]["now"]["title"].startswith("clip-0")


def test_hdhomerun_emulation(make_server: Callable[..., Server],
                             config_for: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    config = _config(config_for, tmp_path)
    server = make_server(config)
    discover = server.get("/discover.json").json()
    for key in ("FriendlyName", "ModelNumber", "FirmwareName", "FirmwareVersion", "DeviceID",
                "DeviceAuth", "BaseURL", "LineupURL", "TunerCount"):
        assert key in discover, key
    assert discover["FriendlyName"] == "Test TV" and discover["TunerCount"] == 3
    assert discover["BaseURL"] == server.url
    assert discover["LineupURL"] == f"{server.url}/lineup.json"
    device_id = discover["DeviceID"]
    assert valid_device_id(device_id)

    lineup = server.get("/lineup.json").json()
    assert [(e["GuideNumber"], e["GuideName"]) for e in lineup] == [
        ("1", "Clips"), ("2", "Mix"), ("3", "Grid")]
    assert all("?" not in e["URL"] and e["URL"].startswith(server.url) for e in lineup)
    assert server.get("/lineup.json?show=found").json() == lineup
    status = server.get("/lineup_status.json").json()
    assert status["ScanInProgress"] == 0 and status["ScanPossible"] == 1
    assert server.post("/lineup.post?scan=start").status_code == 200
    device = ET.fromstring(server.get("/device.xml").content)
    ns = {"u": "urn:schemas-upnp-org:device-1-0"}
    assert device.findtext("u:device/u:UDN", namespaces=ns) == f"uuid:{device_id}"
    assert device.findtext("u:URLBase", namespaces=ns) == server.url

    # A client's extra query string on a lineup URL is ignored: the stream plays.
    with httpx.stream("GET", lineup[0]["URL"] + "?transcode=mobile&x=1", timeout=60) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"] == "video/mp2t"
        data = b""
        for chunk in resp.iter_bytes():
            data += chunk
            if len(data) >= 188 * 20:
                break
    assert data[0] == 0x47

    # The DeviceID survives a restart (kept in the data directory).
    server.stop()
    assert (Path(config["server"]["data_directory"]) / "hdhomerun_device_id").exists()
    server.start()
    assert server.get("/discover.json").json()["DeviceID"] == device_id


def test_configured_device_id(make_server: Callable[..., Server],
                              config_for: Callable[..., dict[str, Any]]) -> None:
    config = config_for()
    config["server"]["device_id"] = "1234abcd"
    server = make_server(config)
    assert server.get("/discover.json").json()["DeviceID"] == "1234ABCD"


def test_time_slot_channel_streams(make_server: Callable[..., Server],
                                               config_for: Callable[..., dict[str, Any]],
                                               tmp_path: Path) -> None:
    from tests.helpers import probe_packets, timing_problems

    config = _config(config_for, tmp_path)
    config["server"]["timezone"] = "Europe/Paris"
    config["channels"].append(
        {"number": 4, "name": "Slots", "schedule": {"type": "time_slots", "slots": [
            {"name": "All day", "start_time": "00:00", "duration_minutes": 1440,
             "collection": "clips", "order_mode": "shuffle", "padding_mode": "loop"}]}})
    server = make_server(config)
    _wait_scanned(server)
    summary = server.get("/api/channels/4").json()
    assert summary["now"]["title"].startswith("clip-0")
    # The slot on now and the next one: their names and wall-clock windows (Paris days).
    paris = ZoneInfo("Europe/Paris")
    slot = summary["slot"]
    start, end = (datetime.fromtimestamp(slot[k], paris) for k in ("start", "end"))
    assert (slot["name"], slot["collection"]) == ("All day", "clips")
    assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)
    assert end.date() == start.date() + timedelta(days=1)
    assert slot["start"] <= time.time() < slot["end"]
    assert summary["next_slot"]["name"] == "All day"
    assert summary["next_slot"]["start"] == summary["slot"]["end"]
    assert "slot" not in server.get("/api/channels/1").json()  # not a time-slot channel
    with browser_page() as page:
        page.goto(server.url + "/")
        row = page.locator('tr.channel[data-number="4"]')
        assert row.locator(".now .slot").text_content().startswith("All day ")
        assert row.locator(".next .slot").text_content().startswith("All day ")
        assert page.locator('tr.channel[data-number="1"] .now .slot').text_content() == ""
    packets = probe_packets(f"{server.url}/stream/channels/4.ts", 5)
    video = [p for p in packets if p["codec_type"] == "video"]
    assert video and float(video[-1]["dts_time"]) - float(video[0]["dts_time"]) >= 4.0
    assert timing_problems(video) == []
