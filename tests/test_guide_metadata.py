"""The guide says what users expect: titles, episode numbers, ratings, new or not, icons."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.scheduling.guide import GuideChannel, render_xmltv
from exstreamtv.scheduling.programme import describe_programme
from tests.helpers import channel
from tests.library_layout import SHOW, build_library
from tests.test_guide import BASE, _config, _golden, validate

NOW = datetime(2026, 3, 28, 18, 0, tzinfo=UTC).timestamp()


def _items() -> list[MediaItem]:
    def item(n: str, title: str, **md: object) -> MediaItem:
        return MediaItem(id=n, source_id="lib", title=title, location=f"/lib/{n}.mkv",
                         duration=1800.0, metadata=md, collections=("lib",))

    return [
        item("pilot", "The Pilot", kind="episode", show="Show One", season=1, episode=1,
             episode_title="The Pilot", summary="Everything begins.", premiered="2005-03-24",
             genres=["Comedy", "Drama"], rating="TV-14", score=8.4, runtime=22,
             artwork={"thumb": "TV/Show One/Season 01/pilot-thumb.jpg"}),
        item("double", "Double Trouble", kind="episode", show="Show One", season=1, episode=2,
             episode_last=3, episode_title="Double Trouble"),
        item("fresh", "Fresh", kind="episode", show="Show One", season=2, episode=1,
             episode_title="Fresh", premiered="2026-03-25"),
        item("special", "Special", kind="episode", show="Show One", season=0, episode=1,
             episode_title="Special"),
        item("movie", "Café Society", kind="movie", year=1999, rating="PG-13", score=7.1,
             genres=["Romance"], summary="A plot."),
        item("plain", "plain-clip", kind="movie"),
    ]


class _Fixed:
    """A scheduler stand-in: the items back to back from NOW."""

    def __init__(self, items: list[MediaItem]) -> None:
        self.items = items

    def window(self, start: float, end: float) -> list[ScheduledItem]:
        out, t = [], NOW
        for item in self.items:
            out.append(ScheduledItem(item, t, item.duration))
            t += item.duration
        return out


def _icon(item: MediaItem) -> str | None:
    return f"{BASE}/artwork/items/{item.id}/thumb" if item.metadata.get("artwork") else None


def test_metadata_guide_golden_and_valid(tmp_path: Path) -> None:
    config = _config()
    gc = GuideChannel(config.channels[0], _Fixed(_items()), None)  # type: ignore[arg-type]
    xml = render_xmltv([gc], NOW, NOW + 86400, icon=_icon, now=NOW)
    _golden("guide_metadata.xmltv", xml)
    path = tmp_path / "guide.xml"
    path.write_text(xml)
    validate(path)
    programmes = {p.findtext("sub-title") or p.findtext("title"): p
                  for p in ET.fromstring(xml).iter("programme")}
    pilot = programmes["The Pilot"]
    assert pilot.findtext("title") == "Show One"
    assert [e.text for e in pilot.iter("episode-num")] == ["0.0.", "S01E01"]
    assert pilot.findtext("rating/value") == "TV-14"
    assert pilot.findtext("star-rating/value") == "8.4/10"
    assert pilot.find("previously-shown").get("start") == "20050324"
    assert pilot.find("new") is None
    assert pilot.find("icon").get("src") == f"{BASE}/artwork/items/pilot/thumb"
    assert [e.text for e in programmes["Double Trouble"].iter("episode-num")] == \
        ["0.1.", "S01E02-E03"]
    fresh = programmes["Fresh"]
    assert fresh.find("new") is not None and fresh.find("previously-shown") is None
    assert [e.text for e in programmes["Special"].iter("episode-num")] == [".0.", "S00E01"]
    movie = programmes["Café Society"]
    assert movie.findtext("date") == "1999" and movie.find("episode-num") is None
    assert movie.find("previously-shown") is None


def test_api_and_guide_describe_alike() -> None:
    entry = ScheduledItem(_items()[0], NOW, 1800.0)
    programme = describe_programme(entry, "Ch", now=NOW).to_dict()
    assert programme["title"] == "Show One" and programme["sub_title"] == "The Pilot"
    assert programme["episode_num_onscreen"] == "S01E01"
    assert programme["categories"] == ["Comedy", "Drama"]
    assert (programme["season"], programme["episode"]) == (1, 1)
    assert programme["display_title"] == "Show One S01E01 The Pilot"
    double = describe_programme(ScheduledItem(_items()[1], NOW, 1800.0), "Ch").to_dict()
    assert (double["episode"], double["episode_last"]) == (2, 3)
    assert double["display_title"] == "Show One S01E02-E03 Double Trouble"
    movie = describe_programme(ScheduledItem(_items()[4], NOW, 1800.0), "Ch")
    assert movie.display_title == "Café Society" and movie.season is None


def test_numbers_a_source_sends_as_junk_are_left_out() -> None:
    # What a media server or an NFO file may send for a number: none of it is trusted.
    for junk in ("", "  ", "two", "1e400", float("inf"), float("nan"), [1], {"n": 1}):
        item = MediaItem(id="x", source_id="lib", title="Odd", location="/lib/x.mkv",
                         duration=1800.0, metadata={"kind": "episode", "show": "Odd",
                                                    "season": junk, "episode": junk,
                                                    "runtime": junk})
        programme = describe_programme(ScheduledItem(item, NOW, 1800.0), "Ch")
        assert (programme.season, programme.episode) == (None, None), junk
        assert programme.episode_num_onscreen is None and programme.length_minutes is None
    item = MediaItem(id="y", source_id="lib", title="Odd", location="/lib/y.mkv",
                     duration=1800.0, metadata={"kind": "episode", "show": "Odd",
                                                "season": " 2 ", "episode": 5.0})
    assert describe_programme(ScheduledItem(item, NOW, 1800.0), "Ch").episode_num_onscreen \
        == "S02E05"


def _scanned(server) -> bool:
    status = server.get("/api/sources").json()[0]
    return status.get("state") not in ("pending", "scanning")


def test_a_scanned_library_gives_a_valid_guide_with_episode_numbers(make_server, config_for,
                                                                    tmp_path):
    root = build_library(tmp_path / "library")
    config = config_for(sources=[{"id": "lib", "type": "local", "path": str(root)}],
                        channels=[channel(1, "Library", "lib")], guide={"days_ahead": 1})
    server = make_server(config)
    server.wait_for(lambda: _scanned(server), timeout=180)
    guide = server.get("/api/xmltv.xml")
    assert guide.status_code == 200
    path = tmp_path / "guide.xml"
    path.write_bytes(guide.content)
    validate(path)
    tree = ET.fromstring(guide.content)
    by_sub = {p.findtext("sub-title"): p for p in tree.iter("programme")}
    pilot = by_sub["The Pilot"]
    assert pilot.findtext("title") == "Show One"
    assert pilot.findtext("desc") == "Everything begins & nothing ends."
    assert [e.text for e in pilot.iter("episode-num")] == ["0.0.", "S01E01"]
    assert [c.text for c in pilot.iter("category")] == ["Comedy", "Drama"]
    assert pilot.findtext("rating/value") == "TV-14"
    assert pilot.findtext("star-rating/value") == "8.4/10"
    double = by_sub["Double Trouble"]
    assert [e.text for e in double.iter("episode-num")] == ["0.1.", "S01E02-E03"]
    titles = {p.findtext("title") for p in tree.iter("programme")}
    assert {"Café Society", "Blade Runner", "Other Show", "Tagged Show"} <= titles, titles
    summary = server.get("/api/channels/1").json()
    for key in ("now", "next"):
        programme = summary[key]["programme"]
        assert programme["title"] and "episode_num_onscreen" in programme
    shows = {p.findtext("title") for p in tree.iter("programme")
             if p.findtext("sub-title") == "Fifth"}
    assert shows == {"Show One"}, f"{SHOW}: {shows}"
