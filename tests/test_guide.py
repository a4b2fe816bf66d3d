"""XMLTV and M3U rendering: DTD validation, metadata, flex merging, golden files."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exstreamtv.config.loader import validate_config
from exstreamtv.config.model import Config
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SchedulerContext
from exstreamtv.scheduling.guide import GuideChannel, logo_url, merge_flex, render_xmltv
from exstreamtv.web.iptv import render_m3u
from tests.scheduling_helpers import items, library, registry

GOLDEN = Path(__file__).parent / "golden"
DTD = Path("/usr/share/xmltv/xmltv.dtd")
START = datetime(2026, 3, 28, 18, 0, tzinfo=UTC).timestamp()  # fixed clock for golden files
BASE = "http://tv.example:8409"


def _episodes() -> list[MediaItem]:
    return [
        MediaItem(
            id=f"ep{n}", source_id="shows", title=f"Episode <{n}> & more", location=f"/s/{n}.mkv",
            duration=1500.0, collections=("shows",),
            metadata={"show": "Café \"Stories\"", "season": 2, "episode": n,
                      "description": f"Part {n} of the story.", "genres": ["Drama", "Comedy"],
                      "thumb": f"http://img.example/{n}.jpg?size=big&x=1", "year": 2019,
                      "aired": "2019-03-0" + str(n)},
        )
        for n in (1, 2, 3)
    ]


def _config() -> Config:
    raw = {
        "server": {"base_url": BASE},
        "sources": [{"id": "shows", "type": "local", "path": "/srv/shows"},
                    {"id": "films", "type": "local", "path": "/srv/films"},
                    {"id": "ads", "type": "local", "path": "/srv/ads"}],
        "channels": [
            {"number": 1, "name": "Stories & Co", "logo": "logos/one.png", "group": "Drama",
             "schedule": {"type": "ordered", "collection": "shows"}},
            {"number": 2, "name": "Films, at night", "logo": "http://img.example/two.png",
             "schedule": {"type": "time_slots", "filler": "ads", "slots": [
                 {"name": "Evening", "start_time": "19:00", "duration_minutes": 240,
                  "collection": "films", "padding_mode": "filler"},
                 {"name": "Morning", "start_time": "07:00", "duration_minutes": 120,
                  "collection": "shows", "flex_mode": "compress"}]}},
            {"number": 10, "name": "Mix", "schedule": {"type": "balance", "seed": 3,
             "sources": [{"collection": "shows", "weight": 2}, {"collection": "films"}]}},
            {"number": 11, "name": "Hidden", "enabled": False,
             "schedule": {"type": "ordered", "collection": "films"}},
        ],
    }
    return validate_config(raw, registry())


def _guide(config: Config, hours: float = 30) -> str:
    lib = library({"shows": _episodes(), "films": items("films", [5400, 6300, 7000]),
                   "ads": items("ads", [20, 95])})
    channels = []
    for channel in config.channels:
        if not channel.enabled:
            continue
        component = registry().get("scheduler", channel.schedule.type)
        sched = component.factory(dict(channel.schedule.options),
                                  SchedulerContext(channel, lib, UTC))
        channels.append(GuideChannel(channel, sched, logo_url(channel, BASE)))
    return render_xmltv(channels, START, START + hours * 3600, merge_seconds=300)


def validate(path: Path) -> None:
    tool = shutil.which("tv_validate_file")
    if tool is None:
        pytest.skip("tv_validate_file is not installed (Debian package xmltv-util)")
    result = subprocess.run([tool, "--dtd-file", str(DTD), str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; UPDATE_GOLDEN=1 rewrites it after review"


def test_xmltv_golden_and_valid(tmp_path: Path) -> None:
    xml = _guide(_config())
    _golden("guide.xmltv", xml)
    path = tmp_path / "guide.xml"
    path.write_text(xml)
    validate(path)


def test_m3u_golden_and_ids_match_the_guide() -> None:
    config = _config()
    m3u = render_m3u(config, BASE)
    _golden("channels.m3u", m3u)
    assert m3u.startswith(f'#EXTM3U url-tvg="{BASE}/api/xmltv.xml" x-tvg-url="{BASE}/api/xmltv.xml"')
    xml = _guide(config, hours=2)
    for number in (1, 2, 10):
        assert f'tvg-id="{number}.exstreamtv"' in m3u
        assert f'<channel id="{number}.exstreamtv">' in xml
    assert "11.exstreamtv" not in m3u and "11.exstreamtv" not in xml


def test_programme_metadata() -> None:
    xml = _guide(_config(), hours=2)
    first = xml[xml.index('<programme start="20260328175000 +0000"'):]
    first = first[:first.index("</programme>")]
    assert 'channel="1.exstreamtv"><title>Café "Stories"</title>' in first
    for fragment in ('<sub-title>Episode &lt;', "<desc>Part ", "<date>2019030",
                     "<category>Drama</category><category>Comedy</category>",
                     '<icon src="http://img.example/', "size=big&amp;x=1",
                     '<episode-num system="xmltv_ns">1.', '<episode-num system="onscreen">S02E0',
                     '<previously-shown start="201903'):
        assert fragment in first, fragment


def test_short_flex_is_merged_into_the_previous_entry() -> None:
    item = items("x", [600])[0]
    entries = [
        ScheduledItem(item, 0, 600),
        ScheduledItem(None, 600, 120, kind="offline"),  # short: merged
        ScheduledItem(item, 720, 600),
        ScheduledItem(None, 1320, 3600, kind="offline"),  # long: its own entry
        ScheduledItem(None, 4920, 160, kind="offline"),  # offline after offline: one block
        ScheduledItem(item, 5080, 600),
        *[ScheduledItem(item, 5680 + 30 * i, 30, kind="filler") for i in range(20)],  # 10 min
        ScheduledItem(item, 6280, 600),
    ]
    merged = merge_flex(entries, 300)
    assert [(e.start, e.end, e.item is None, e.kind) for e in merged] == [
        (0, 720, False, "program"), (720, 1320, False, "program"),
        (1320, 5080, True, "offline"), (5080, 5680, False, "program"),
        (5680, 6280, True, "filler"), (6280, 6880, False, "program")]


class _FixedEntries(Scheduler):
    """A schedule of given (start, duration) pairs, as a plugin could produce them."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.spans = spans

    def entries(self, t: float) -> Iterator[ScheduledItem]:
        for n, (start, duration) in enumerate(self.spans):
            if start + duration > t:
                yield ScheduledItem(items("x", [duration])[0] if n % 2 else None,
                                    start, duration, kind="program" if n % 2 else "offline")
        last = self.spans[-1][0] + self.spans[-1][1]
        while True:
            yield ScheduledItem(None, last, 3600.0, kind="offline")
            last += 3600.0


def _programme_times(xml: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'<programme start="([^"]+)" stop="([^"]+)"', xml)


def test_programmes_tile_exactly_whatever_the_fractions():
    base = START
    spans = [(base, 10.45), (base + 10.5, 20.05), (base + 30.5, 0.4), (base + 30.9, 5.0),
             (base + 35.9, 0.55), (base + 40.0, 12.0)]  # 36.45 -> 40.0: a real gap
    channel = _config().channels[0]
    xml = render_xmltv([GuideChannel(channel, _FixedEntries(spans))], base, base + 60,
                       merge_seconds=0)
    times = _programme_times(xml)
    pairs = list(itertools.pairwise(times))
    joined = [a[1] == b[0] for a, b in pairs]
    # every boundary closer than a second is shared; the 3.5 s hole is kept
    assert joined == [True, True, False, True], times
    # the 0.4 s and 0.55 s entries have no whole second of their own: left out
    assert all(start < stop for start, stop in times) and len(times) == 5
