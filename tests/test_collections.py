"""Playlists and smart collections from the config: resolution, library changes, bad input,
and a real server playing them."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.config.loader import validate_config
from exstreamtv.errors import ConfigError
from exstreamtv.media.collections import validate_collections
from exstreamtv.media.models import MediaItem
from tests.fakes.base import catalogue
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.helpers import base_config, clips_folder, running_hub, until, write_config
from tests.scheduling_helpers import items, library, registry, scheduler


def _library() -> Any:
    shows = items("shows", [1500, 1500, 1500, 2700], show="Cartoons", season=1, genres=["Kids"],
                  tags=["saturday"])
    shows[3] = replace(shows[3], metadata={"show": "News", "season": 2, "year": 1999,
                                           "genres": ["News"]})
    films = items("films", [5400, 7200], year=1979, genres=["Horror", "Sci-Fi"])
    lib = library({"shows": shows, "films": films})
    return lib


def _define(lib: Any, raw: list[dict[str, Any]]) -> None:
    lib.set_collections(validate_collections(raw))


def test_a_playlist_takes_items_from_any_source_in_its_own_order() -> None:
    lib = _library()
    _define(lib, [{"name": "marathon", "items": [
        {"source": "films", "title": "Films 2"},
        {"source": "shows", "path": "*/002.mkv"},
        {"source": "films", "title": "Films 1"},
    ]}])
    assert [i.id for i in lib.collection("marathon")] == ["films-2", "shows-2", "films-1"]
    sched = scheduler({"type": "ordered", "collection": "marathon"}, lib)
    first = sched.item_at(sched.epoch)  # type: ignore[attr-defined]
    assert first.item is not None and first.item.id == "films-2"


@pytest.mark.parametrize(("query", "expected"), [
    ({"source": "shows"}, ["shows-1", "shows-2", "shows-3", "shows-4"]),
    ({"show": "cartoons"}, ["shows-1", "shows-2", "shows-3"]),
    ({"show": "News", "season": 2}, ["shows-4"]),
    ({"genre": "sci-fi"}, ["films-1", "films-2"]),
    ({"year": [1970, 1985]}, ["films-1", "films-2"]),
    ({"duration_minutes": [0, 30]}, ["shows-1", "shows-2", "shows-3"]),
    ({"duration_minutes": 120}, ["films-2"]),
    ({"path": "/media/films/*"}, ["films-1", "films-2"]),
    ({"tags": ["Saturday"], "source": "shows"}, ["shows-1", "shows-2", "shows-3"]),
])
def test_smart_collection_queries(query: dict[str, Any], expected: list[str]) -> None:
    lib = _library()
    _define(lib, [{"name": "smart", "query": query}])
    assert sorted(i.id for i in lib.collection("smart")) == expected
    assert lib.collection_problems("smart") == []


def test_collections_follow_library_changes_and_say_what_is_missing() -> None:
    lib = _library()
    _define(lib, [{"name": "late", "query": {"genre": "Horror"}},
                  {"name": "list", "items": [{"source": "films", "title": "Films 1"},
                                             {"source": "films", "title": "Gone"}]}])
    assert len(lib.collection("late")) == 2
    assert lib.collection_problems("list") == [
        "collection 'list': item 1 (source=films, title=Gone) is not in the library"]
    sched = scheduler({"type": "ordered", "collection": "list"}, lib)
    assert sched.health()[0] == "degraded" and "title=Gone" in sched.health()[1]
    # A scan adds a horror film and removes the first one.
    new = MediaItem(id="films-3", source_id="films", title="Gone", location="/media/films/3.mkv",
                    duration=6000, metadata={"genres": ["Horror"]}, collections=("films",))
    lib.items["films"] = [lib.items["films"][1], new]
    lib.version += 1
    assert sorted(i.id for i in lib.collection("late")) == ["films-2", "films-3"]
    assert lib.collection_problems("list") == [
        "collection 'list': item 0 (source=films, title=Films 1) is not in the library"]
    _define(lib, [{"name": "late", "query": {"genre": "Western"}}])
    assert lib.collection("late") == []
    assert "matches nothing" in lib.collection_problems("late")[0]
    sched = scheduler({"type": "ordered", "collection": "late"}, lib)
    assert sched.item_at(0).kind == "offline"
    assert "query (genre=Western) matches nothing" in sched.health()[1]


def _problems(collections: Any, schedule: dict[str, Any] | None = None) -> list[str]:
    data = {"sources": [{"id": "films", "type": "local", "path": "/tmp/films"}],
            "collections": collections,
            "channels": [{"number": 1, "name": "One",
                          "schedule": schedule or {"type": "ordered", "collection": "films"}}]}
    try:
        validate_config(data, registry())
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_bad_collections_are_load_errors() -> None:
    assert any("collections[0].items" in p and "at least one item" in p
               for p in _problems([{"name": "x", "items": []}]))
    assert any("either items" in p for p in _problems([{"name": "x"}]))
    assert any("either items" in p for p in _problems(
        [{"name": "x", "items": [{"source": "films"}], "query": {"source": "films"}}]))
    assert any("collections[0].query" in p and "empty query" in p
               for p in _problems([{"name": "x", "query": {}}]))
    assert any("collections[0].query.colour" in p
               for p in _problems([{"name": "x", "query": {"colour": "red"}}]))
    assert any("collections[0].items[1].year" in p for p in _problems(
        [{"name": "x", "items": [{"source": "films"}, {"year": [2000, 1990]}]}]))
    assert any("unknown source 'tv'" in p
               for p in _problems([{"name": "x", "query": {"source": "tv"}}]))
    assert any("already a source id" in p
               for p in _problems([{"name": "films", "query": {"genre": "x"}}]))
    assert any("defined twice" in p for p in _problems(
        [{"name": "x", "query": {"genre": "a"}}, {"name": "x", "query": {"genre": "b"}}]))
    ok = [{"name": "late", "query": {"genre": "Horror"}}]
    assert _problems(ok, {"type": "ordered", "collection": "late"}) == []
    assert _problems(ok, {"type": "shuffle", "collection": "late", "pad_to_minutes": 30,
                          "fillers": [{"collection": "late", "roles": ["fallback"]}]}) == []
    assert any("unknown collection 'early'" in p
               for p in _problems(ok, {"type": "ordered", "collection": "early"}))


def test_a_server_plays_a_playlist_across_sources_in_order(
        tmp_path: Path, config_for: Any, make_server: Any) -> None:
    other = clips_folder("other", 2, 4.0)
    config = config_for(
        sources=[{"id": "clips", "type": "local", "path": str(clips_folder("basic", 3, 4.0))},
                 {"id": "other", "type": "local", "path": str(other)}],
        collections=[
            {"name": "mix", "items": [{"source": "other", "path": "*clip-02.mp4"},
                                      {"source": "clips", "path": "*clip-03.mp4"},
                                      {"source": "other", "path": "*clip-01.mp4"},
                                      {"source": "clips", "path": "*clip-99.mp4"}]},
            {"name": "short", "query": {"duration_minutes": [0, 1], "source": "clips"}}],
        channels=[{"number": 1, "name": "Mix", "schedule": {"type": "ordered",
                                                             "collection": "mix"}},
                  {"number": 2, "name": "Short", "schedule": {"type": "shuffle",
                                                               "collection": "short"}}])
    server = make_server(config)

    def guide_locations() -> list[str]:
        xml = server.get("/api/xmltv.xml", timeout=30).text
        return re.findall(r'channel="1\.exstreamtv"><title>([^<]*)</title>', xml)

    titles = server.wait_for(lambda: len(guide_locations()) > 6 and guide_locations(),
                             timeout=60)
    order = server.get("/api/channels/1").json()
    assert order["schedule_health"]["status"] == "degraded"
    assert "item 3 (source=clips, path=*clip-99.mp4) is not in the library" in (
        order["schedule_health"]["reason"])
    # three distinct items, repeating in playlist order
    cycle = titles[:3]
    assert len(set(cycle)) == 3
    assert titles[3:6] == cycle
    numbers = "".join(re.findall(r"(\d+)", t)[-1][-1] for t in titles[:3])
    assert numbers in ("231", "312", "123"), titles  # other/02, clips/03, other/01, looped
    now = server.get("/api/channels/1").json()["now"]
    assert now["item_id"] is not None
    short = server.get("/api/channels/2").json()
    assert short["schedule_health"]["status"] == "ok", short


def test_a_playlist_keeps_its_order_when_one_of_its_sources_scans_late(
        tmp_path: Path, clips: Path) -> None:
    # A media server that answers slowly: the local source is scanned first, and the
    # channel's schedule is built meanwhile (as a guide request would build it).
    fake = FakeJellyfin("late-key", catalogue(clips, guid("movies"), guid("shows"))).start()
    fake.fail, fake.slow_seconds = "slow", 1.0
    config = base_config(tmp_path, clips_folder("other", 2, 4.0))
    config["sources"].append({"id": "jf", "type": "jellyfin", "url": fake.url,
                              "api_key": "late-key"})
    config["collections"] = [{"name": "mix", "items": [
        {"source": "jf", "title": "Second Movie"}, {"source": "clips", "path": "*clip-01.mp4"},
        {"source": "jf", "title": "First Movie"}]}]
    config["channels"][0]["schedule"] = {"type": "ordered", "collection": "mix"}
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    def loop_ids(hub: Any) -> list[str]:
        window = hub.channels.scheduler(1).window(time.time(), time.time() + 120)
        return [e.item.id for e in window if e.item is not None]

    async def scenario() -> tuple[list[str], list[str]]:
        async with running_hub(path) as hub:
            await until(lambda: hub.library.items.get("clips"))
            assert not hub.library.items.get("jf"), "the media server answered too soon"
            loop_ids(hub)  # built while the media server's items are still unknown
            await until(lambda: hub.library.items.get("jf"), 60)
            return loop_ids(hub), [i.id for i in hub.library.collection("mix")]

    try:
        aired, playlist = asyncio.run(scenario())
    finally:
        fake.stop()
    assert len(playlist) == 3
    start = aired.index(playlist[0])
    assert aired[start:start + 3] == playlist, (aired, playlist)
