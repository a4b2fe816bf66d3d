"""Local metadata: NFO files, file and folder names, embedded tags and artwork, at scan time."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from exstreamtv.config.model import SourceConfig
from exstreamtv.events import EventBus
from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.media.models import MediaItem
from exstreamtv.media.naming import parse_name
from exstreamtv.media.nfo import read_nfo
from exstreamtv.media.source import SourceContext
from plugins.sources.local import LocalSource
from tests.library_layout import ENTITY_BOMB, SHOW, build_library


@pytest.mark.parametrize(("name", "expected"), [
    ("Show/Season 02/Show - S02E05 - Title.mkv", ("Show", 2, 5, None, "Title", None)),
    ("Show (2005)/Season 1/Show.S01E01E02.Pilot.720p.mkv", ("Show", 1, 1, 2, "Pilot", None)),
    ("Show/Season 1/Show - S01E01-E02 - Two.mkv", ("Show", 1, 1, 2, "Two", None)),
    ("Show/Season 1/Show - S01E01-02 - Two.mkv", ("Show", 1, 1, 2, "Two", None)),
    ("Show/2x05 Cross.mkv", ("Show", 2, 5, None, "Cross", None)),
    ("Loose.Show.s03e10.mkv", ("Loose Show", 3, 10, None, None, None)),
    ("Show/Season 03/E04 - Thing.mkv", ("Show", 3, 4, None, "Thing", None)),
    ("Show/Specials/Show - S00E01 - Special.mkv", ("Show", 0, 1, None, "Special", None)),
    ("Movie (1999).mkv", (None, None, None, None, None, 1999)),
    ("Movies/Blade.Runner.1982.1080p.BluRay.mkv", (None, None, None, None, None, 1982)),
    ("2001 A Space Odyssey (1968).mkv", (None, None, None, None, None, 1968)),
    ("clip-01.mp4", (None, None, None, None, None, None)),
])
def test_names_as_sonarr_radarr_and_kodi_write_them(name, expected):
    info = parse_name(name)
    assert (info.show, info.season, info.episode, info.episode_last, info.episode_title,
            info.year) == expected


def test_movie_titles_from_names():
    assert parse_name("Movies/The Matrix (1999)/The Matrix (1999) Bluray-1080p.mkv").title \
        == "The Matrix"
    assert parse_name("2001 A Space Odyssey (1968).mkv").title == "2001 A Space Odyssey"
    assert parse_name("clip_01.mp4").title == "clip 01"


def test_nfo_fields_and_trailing_link(tmp_path):
    from tests.library_layout import EPISODE_NFO

    path = tmp_path / "e.nfo"
    path.write_text(EPISODE_NFO)
    [fields] = read_nfo(path) or [{}]
    assert fields == {"title": "The Pilot", "show": "Show One", "season": 1, "episode": 1,
                      "summary": "Everything begins & nothing ends.", "year": 2005,
                      "premiered": "2005-03-24", "runtime": 22, "score": 8.4}


@pytest.mark.parametrize("content", [
    b"", b"https://www.imdb.com/title/tt0133093/", b"<movie><title>open", b"\xff\xfe\x00<",
    ENTITY_BOMB.encode(),
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<movie><title>&x;</title></movie>",
])
def test_unreadable_nfo_gives_nothing(tmp_path, content):
    path = tmp_path / "bad.nfo"
    path.write_bytes(content)
    assert read_nfo(path) is None


def test_huge_nfo_is_not_read(tmp_path):
    path = tmp_path / "huge.nfo"
    path.write_text("<movie><title>" + "x" * 2_000_000 + "</title></movie>")
    assert read_nfo(path) is None


def test_multi_episode_nfo_and_wrong_encoding(tmp_path):
    path = tmp_path / "multi.nfo"
    path.write_bytes("<episodedetails><title>Première</title><season>1</season>"
                     "<episode>1</episode></episodedetails>\n<episodedetails><title>Two"
                     "</title><season>1</season><episode>2</episode></episodedetails>"
                     .encode("cp1252"))
    parts = read_nfo(path)
    assert parts is not None and [p["episode"] for p in parts] == [1, 2]
    assert parts[0]["title"] == "Première"


def _scan(source: LocalSource) -> dict[str, MediaItem]:
    items = asyncio.run(source.scan())
    return {str(item.metadata["path"]): item for item in items}


def _source(root: Path) -> LocalSource:
    config = SourceConfig("lib", "local", {"path": str(root)})
    return LocalSource(config, SourceContext(find_ffmpeg(), root, EventBus()))


def test_a_generated_library_scans_with_its_metadata(tmp_path):
    root = build_library(tmp_path / "library")
    source = _source(root)
    items = _scan(source)
    assert len(items) == 10, sorted(items)
    season1 = f"TV/{SHOW}/Season 01"
    pilot = items[f"{season1}/Show One - S01E01 - Pilot WEBDL-1080p.mp4"]
    md = pilot.metadata
    assert pilot.title == "The Pilot"
    assert (md["show"], md["season"], md["episode"], md["kind"]) == ("Show One", 1, 1, "episode")
    assert md["summary"] == "Everything begins & nothing ends."
    assert md["genres"] == ["Comedy", "Drama"]  # from tvshow.nfo
    assert md["rating"] == "TV-14" and md["score"] == 8.4 and md["premiered"] == "2005-03-24"
    assert md["artwork"] == {"thumb": f"{season1}/Show One - S01E01 - Pilot WEBDL-1080p-thumb.jpg",
                             "poster": f"TV/{SHOW}/poster.jpg",
                             "fanart": f"TV/{SHOW}/fanart.jpg"}
    double = items[f"{season1}/Show One - S01E02-E03 - Double Trouble.mp4"].metadata
    assert (double["season"], double["episode"], double["episode_last"]) == (1, 2, 3)
    assert double["episode_title"] == "Double Trouble" and double["show"] == "Show One"
    fifth = items[f"TV/{SHOW}/Season 02/Show One - S02E05 - Fifth.mp4"]  # its NFO is not XML
    assert fifth.title == "Fifth" and fifth.metadata["season"] == 2
    assert fifth.metadata["artwork"]["poster"] == f"TV/{SHOW}/season02-poster.jpg"
    cross = items["TV/Other Show/2x05 Cross Title.mp4"].metadata
    assert (cross["show"], cross["season"], cross["episode"]) == ("Other Show", 2, 5)
    cafe = items["Movies/Cafe Society (1999)/Cafe Society (1999).mp4"]
    assert cafe.title == "Café Society" and cafe.metadata["kind"] == "movie"
    assert (cafe.metadata["year"], cafe.metadata["rating"], cafe.metadata["score"]) == \
        (1999, "PG-13", 7.1)
    assert cafe.metadata["artwork"]["poster"] == "Movies/Cafe Society (1999)/poster.jpg"
    huge = items["Movies/Huge (2001)/Huge (2001).mp4"]
    assert (huge.title, huge.metadata["year"]) == ("Huge", 2001)
    assert items["Movies/Bomb (2002)/Bomb (2002).mp4"].title == "Bomb"
    blade = items["Movies/Blade.Runner.1982.1080p.BluRay.mp4"]
    assert (blade.title, blade.metadata["year"]) == ("Blade Runner", 1982)
    tagged = items["Misc/clip.mp4"]
    assert tagged.title == "Tagged Episode"
    assert (tagged.metadata["show"], tagged.metadata["season"], tagged.metadata["episode"]) == \
        ("Tagged Show", 3, 7)
    assert items["plain-clip.mp4"].title == "plain-clip"


def _touch_later(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_changed_nfo_or_new_artwork_is_read_on_the_next_scan(tmp_path):
    root = build_library(tmp_path / "library")
    source = _source(root)
    movie = "Movies/Cafe Society (1999)/Cafe Society (1999).mp4"
    first = _scan(source)[movie]
    nfo = root / "Movies" / "Cafe Society (1999)" / "movie.nfo"
    nfo.write_text("<movie><title>Renamed</title><year>2000</year></movie>")
    _touch_later(nfo)
    fanart = root / "Movies" / "Cafe Society (1999)" / "fanart.jpg"
    fanart.write_bytes((root / "TV" / SHOW / "fanart.jpg").read_bytes())
    second = _scan(source)[movie]
    assert (second.title, second.metadata["year"]) == ("Renamed", 2000)
    assert second.metadata["artwork"]["fanart"] == "Movies/Cafe Society (1999)/fanart.jpg"
    assert second.info is first.info  # the media did not change: no new probe
    nfo.unlink()
    third = _scan(source)[movie]
    assert (third.title, third.metadata["year"]) == ("Cafe Society", 1999)  # from the name
