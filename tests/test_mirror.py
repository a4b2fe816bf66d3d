"""Mirror channels: another channel's playout, shifted; bad mirrors are load errors."""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

from exstreamtv.config.loader import validate_config
from exstreamtv.errors import ConfigError
from exstreamtv.scheduling.mirror import MirrorScheduler
from tests.helpers import decode_errors
from tests.scheduling_helpers import items, library, registry, scheduler


def test_a_mirror_is_its_source_shifted() -> None:
    lib = library({"shows": items("shows", [600, 900, 1200, 300])})
    source = scheduler({"type": "shuffle", "collection": "shows", "seed": 4}, lib)
    mirror = MirrorScheduler(source, 3600.0)
    t = 1_780_000_000.0
    theirs = source.window(t - 3600, t + 86400 - 3600)
    ours = mirror.window(t, t + 86400)
    assert [(e.item, e.start + 3600, e.duration) for e in theirs] == [
        (e.item, e.start, e.duration) for e in ours]
    assert mirror.item_at(t + 10).item == source.item_at(t + 10 - 3600).item


def _problems(channels: list[dict[str, Any]]) -> list[str]:
    data = {"sources": [{"id": "clips", "type": "local", "path": "/tmp/clips"}],
            "channels": channels}
    try:
        validate_config(data, registry())
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_bad_mirrors_are_load_errors() -> None:
    one = {"number": 1, "name": "One", "schedule": {"type": "ordered", "collection": "clips"}}
    assert _problems([one, {"number": 2, "name": "Late", "mirror_of": 1,
                            "offset_minutes": 60}]) == []
    assert any("channels[1].mirror_of" in p and "cannot mirror itself" in p
               for p in _problems([one, {"number": 2, "name": "Me", "mirror_of": 2}]))
    assert any("channels[1].mirror_of" in p and "there is no channel 7" in p
               for p in _problems([one, {"number": 2, "name": "X", "mirror_of": 7}]))
    cycle = _problems([one, {"number": 2, "name": "A", "mirror_of": 3},
                       {"number": 3, "name": "B", "mirror_of": 2}])
    assert any("mirrors form a cycle (2 -> 3 -> 2)" in p for p in cycle), cycle
    assert any("remove schedule or mirror_of" in p for p in _problems(
        [one, {**one, "number": 2, "mirror_of": 1}]))
    assert any("channels[1].schedule" in p and "mirror_of" in p
               for p in _problems([one, {"number": 2, "name": "None"}]))
    assert any("offset_minutes" in p for p in _problems(
        [one, {"number": 2, "name": "Neg", "mirror_of": 1, "offset_minutes": -5}]))


def _guide(server: Any, channel: int) -> list[tuple[int, str]]:
    xml = server.get("/api/xmltv.xml", timeout=30).text
    found = re.findall(rf'<programme start="(\d{{14}}) \+0000" stop="\d{{14}} \+0000" '
                       rf'channel="{channel}\.exstreamtv"><title>([^<]*)</title>', xml)
    return [(calendar.timegm(time.strptime(s, "%Y%m%d%H%M%S")), t) for s, t in found]


def test_a_server_plays_a_mirror_one_minute_late(config_for: Any, make_server: Any) -> None:
    config = config_for()
    config["channels"][0]["schedule"]["type"] = "shuffle"
    config["channels"].append({"number": 2, "name": "Late", "mirror_of": 1,
                               "offset_minutes": 1})
    server = make_server(config)
    server.wait_for(lambda: len(_guide(server, 2)) > 20, timeout=60)  # after the first scan
    source = dict(_guide(server, 1))
    mirror = _guide(server, 2)
    shifted = [(s - 60, t) for s, t in mirror if s - 60 in source]
    assert len(shifted) > 20
    assert all(source[s] == t for s, t in shifted)
    late = server.get("/api/channels/2").json()
    assert late["now"]["item_id"] is not None
    code, errors = decode_errors(f"{server.url}/stream/channels/2.ts", 5, timeout=120)
    assert code == 0, errors
