"""Filler lists and breaks: padding to the grid, roles, cooldowns, guide merging, bad input."""

from __future__ import annotations

import itertools
import os
import random
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.config.model import ChannelConfig, FFmpegConfig, ScheduleConfig
from exstreamtv.media.library import Library
from exstreamtv.scheduling.base import ScheduledItem, Scheduler, SchedulerContext
from exstreamtv.scheduling.breaks import BREAK_KEYS, validate_break_options, with_breaks
from exstreamtv.scheduling.cooldowns import CooldownBook
from exstreamtv.scheduling.guide import GuideChannel, merge_flex, render_xmltv, tiled
from tests.scheduling_helpers import config_problems, items, library, registry
from tests.test_guide import validate

GOLDEN = Path(__file__).parent / "golden"
START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday, midnight UTC
WEEK = 7 * 86400.0
MONTH = 30 * 86400.0


def break_scheduler(options: Mapping[str, Any], lib: Library, name: str = "Test",
                    cooldowns: CooldownBook | None = None) -> Scheduler:
    """A scheduler as the channel manager builds it: the plugin's, wrapped in breaks."""
    component = registry().get("scheduler", options["type"])
    plain = {k: v for k, v in options.items() if k != "type" and k not in BREAK_KEYS}
    validated = {**component.schema(plain), **validate_break_options(options)}
    channel = ChannelConfig(1, name, ScheduleConfig(options["type"], validated), FFmpegConfig())
    context = SchedulerContext(channel, lib, UTC, cooldowns=cooldowns)
    return with_breaks(component.factory(validated, context), context)


def _library(seed: int = 3, clips: int = 120) -> Library:
    rng = random.Random(seed)
    return library({
        "shows": items("shows", [rng.randint(5 * 60, 55 * 60) for _ in range(40)], show="Show"),
        "ads": items("ads", [rng.choice([15, 30, 45, 60]) for _ in range(clips)]),
        "bumpers": items("bumpers", [5, 8, 10, 12]),
        "promos": items("promos", [rng.randint(60, 240) for _ in range(60)]),
        "loops": items("loops", [600, 900, 1200, 1800]),
    })


FILLERS = [
    {"collection": "bumpers", "roles": ["pre_roll", "post_roll"]},
    {"collection": "ads", "weight": 3, "cooldown_minutes": 2, "roles": ["filler", "mid_roll"]},
    {"collection": "promos", "weight": 1, "roles": ["filler"]},
    {"collection": "loops", "roles": ["fallback"]},
]


def _options(kind: str = "ordered", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "collection": "shows", "pad_to_minutes": 30,
                            "fillers": FILLERS, "mid_roll_every_minutes": 10}
    if kind in ("shuffle", "random", "balance"):
        base["seed"] = 7
    return {**base, **extra}


def _tiles(entries: list[ScheduledItem]) -> None:
    for before, after in itertools.pairwise(entries):
        assert abs(after.start - before.end) < 1e-6, (before, after)


@pytest.mark.parametrize("kind", ["ordered", "shuffle", "random"])
def test_programmes_start_on_the_half_hour_over_a_week(kind: str) -> None:
    scheduler = break_scheduler(_options(kind), _library())
    window = scheduler.window(START, START + WEEK)
    _tiles(window)
    starts = [e.start for e in window if e.kind == "program" and e.seek == 0]
    assert len(starts) > 7 * 24  # at least one programme per hour
    assert all(round(s) % 1800 == 0 for s in starts), [s % 1800 for s in starts if s % 1800]
    # every programme plays whole: its parts add up to its duration
    played: dict[float, float] = defaultdict(float)
    current = 0.0
    for e in window:
        if e.kind == "program":
            current = e.start if e.seek == 0 else current
            played[current] += e.duration
            assert e.item is not None and e.seek + e.duration <= e.item.duration + 1e-6
    assert {e.kind for e in window} >= {"program", "filler"}
    roles = {e.slot for e in window if e.kind == "filler"}
    assert roles == {"pre_roll", "mid_roll", "post_roll", "filler", "fallback"}, roles
    # the guide shows each programme once, starting on :00 or :30
    guide = list(tiled(merge_flex(window, scheduler.merge_flex_seconds)))  # type: ignore[attr-defined]
    assert all(begin % 1800 == 0 for begin, _, entry in guide if entry.kind == "program")


@pytest.mark.parametrize("kind", ["ordered", "shuffle"])
def test_no_filler_clip_repeats_within_its_cooldown_over_a_month(kind: str) -> None:
    cooldown = 90 * 60
    scheduler = break_scheduler(_options(kind, clip_cooldown_minutes=90), _library())
    window = scheduler.window(START, START + MONTH)
    _tiles(window)
    last: dict[str, float] = {}
    list_last: dict[str, float] = {}
    uses = 0
    for e in window:
        if e.kind != "filler" or e.item is None:
            continue
        uses += 1
        previous = last.get(e.item.id)
        assert previous is None or e.start - previous >= cooldown, (
            e.item.id, datetime.fromtimestamp(previous or 0, UTC), datetime.fromtimestamp(e.start, UTC))
        last[e.item.id] = e.start
        if e.item.id.startswith("ads-"):
            before = list_last.get(datetime.fromtimestamp(e.start, UTC).date().isoformat())
            assert before is None or e.start - before >= 120, "the ads list cooldown"
            list_last[datetime.fromtimestamp(e.start, UTC).date().isoformat()] = e.start
    assert uses > 30 * 100  # a month of breaks, many crossing midnight


def test_same_seed_same_breaks_from_any_moment() -> None:
    lib = _library()
    first = break_scheduler(_options("shuffle"), lib).window(START, START + 2 * 86400)
    again = break_scheduler(_options("shuffle"), lib)
    for probe in (START + 3600 * 23.99, START + 86400 + 17, START + 40000):
        expected = next(e for e in first if e.start <= probe < e.end)
        assert again.item_at(probe) == expected
    other = break_scheduler(_options("shuffle", seed=8), lib).window(START, START + 86400)
    assert [e.item for e in other] != [e.item for e in first[:len(other)]]


def test_mid_roll_splits_a_programme_that_the_guide_shows_once() -> None:
    lib = library({"film": items("film", [50 * 60]), "ads": items("ads", [30] * 20)})
    options = {"type": "ordered", "collection": "film", "pad_to_minutes": 60,
               "mid_roll_every_minutes": 20,
               "fillers": [{"collection": "ads", "roles": ["mid_roll", "fallback"]}]}
    window = break_scheduler(options, lib).window(START, START + 3600)
    parts = [(e.seek, e.duration) for e in window if e.kind == "program"]
    assert parts == [(0.0, 1200.0), (1200.0, 1200.0), (2400.0, 600.0)]
    assert [e.slot for e in window if e.kind == "filler"][:2] == ["mid_roll", "mid_roll"]
    guide = merge_flex(window, 1800.001)
    assert [(e.kind, e.duration) for e in guide] == [("program", 3600.0)]


def test_chapter_marks_place_the_mid_roll() -> None:
    film = items("film", [3000], chapters=[700.0, 1900.0])
    lib = library({"film": film, "ads": items("ads", [30] * 10)})
    options = {"type": "ordered", "collection": "film", "pad_to_minutes": 60,
               "fillers": [{"collection": "ads", "roles": ["mid_roll"]}]}
    window = break_scheduler(options, lib).window(START, START + 3600)
    assert [e.seek for e in window if e.kind == "program"] == [0.0, 700.0, 1900.0]


def test_fallback_is_cut_to_the_gap_and_offline_only_without_clips() -> None:
    lib = library({"shows": items("shows", [1000]), "loops": items("loops", [1500])})
    options = {"type": "ordered", "collection": "shows", "pad_to_minutes": 30,
               "fillers": [{"collection": "loops", "roles": ["fallback"]}]}
    window = break_scheduler(options, lib).window(START, START + 1800)
    assert [(e.kind, e.duration) for e in window] == [("program", 1000.0), ("filler", 800.0)]
    empty = library({"shows": items("shows", [1000]), "loops": []})
    window = break_scheduler(options, empty).window(START, START + 1800)
    assert [(e.kind, e.duration) for e in window] == [("program", 1000.0), ("offline", 800.0)]


def test_time_slot_gaps_are_filled_by_the_lists() -> None:
    lib = library({"news": items("news", [2000]), "ads": items("ads", [40] * 50)})
    options = {"type": "time_slots", "fillers": [{"collection": "ads"}],
               "slots": [{"name": "News", "start_time": "06:00", "duration_minutes": 60,
                          "collection": "news", "padding_mode": "none",
                          "flex_mode": "compress"}]}
    window = break_scheduler(options, lib).window(START + 6 * 3600, START + 7 * 3600)
    assert window[0].kind == "program"
    assert {e.kind for e in window[1:]} == {"filler"}
    assert sum(e.duration for e in window[1:]) == pytest.approx(3600 - 2000)


def test_bad_break_options_are_load_errors() -> None:
    shows = {"type": "ordered", "collection": "news"}
    problems = config_problems({**shows, "pad_to_minutes": 7})
    assert any("pad_to_minutes" in p and "divides the day" in p for p in problems), problems
    problems = config_problems({**shows, "fillers": [{"collection": "movies",
                                                      "roles": ["pre_roll"]}]})
    assert any("set schedule.pad_to_minutes" in p for p in problems), problems
    problems = config_problems({**shows, "fillers": [{"collection": "nope"}]})
    assert any("fillers[0].collection" in p and "unknown collection 'nope'" in p
               for p in problems), problems
    problems = config_problems({**shows, "fillers": [{"collection": "movies",
                                                      "roles": ["preroll"]}]})
    assert any("unknown role 'preroll'" in p for p in problems), problems
    problems = config_problems({**shows, "fillers": []})
    assert any("fillers" in p for p in problems), problems
    assert config_problems({**shows, "pad_to_minutes": 30,
                            "fillers": [{"collection": "movies", "roles": ["pre_roll"]}]}) == []


def test_filler_heavy_week_golden_xmltv(tmp_path: Path) -> None:
    lib = _library(clips=80)
    schedule = _options("shuffle", clip_cooldown_minutes=60)
    scheduler = break_scheduler(schedule, lib, name="Breaks")
    channel = ChannelConfig(5, "Breaks", ScheduleConfig("shuffle", {}), FFmpegConfig())
    # A grid with long gaps: flex over 30 minutes shows as the channel's filler entry.
    grid = break_scheduler({"type": "time_slots", "fillers": [
        {"collection": "ads", "weight": 3}, {"collection": "promos"}], "slots": [
        {"name": "Evening", "start_time": "18:00", "duration_minutes": 180, "collection": "shows",
         "padding_mode": "none"}]}, lib, name="Evening")
    evening = ChannelConfig(6, "Evening", ScheduleConfig("time_slots", {}), FFmpegConfig())
    xml = render_xmltv([GuideChannel(channel, scheduler), GuideChannel(evening, grid)], START,
                       START + WEEK, merge_seconds=300, now=START)
    path = GOLDEN / "guide_breaks.xmltv"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(xml)
    assert xml == path.read_text(), "guide_breaks.xmltv changed; UPDATE_GOLDEN=1 rewrites it"
    starts = [line.split('start="')[1][8:12] for line in xml.splitlines()
              if line.startswith("<programme") and '"5.exstreamtv"' in line]
    assert starts and all(s[2:] in ("00", "30") for s in starts)
    assert "<title>Evening: between programmes</title>" in xml
    (tmp_path / "guide.xml").write_text(xml)
    validate(tmp_path / "guide.xml")


def test_slots_get_pre_mid_and_post_roll_on_the_grid() -> None:
    lib = _library()
    options = {"type": "time_slots", "pad_to_minutes": 30, "mid_roll_every_minutes": 10,
               "fillers": FILLERS, "slots": [
                   {"name": "Morning", "start_time": "06:00", "duration_minutes": 240,
                    "collection": "shows", "order_mode": "shuffle", "flex_mode": "compress"},
                   {"name": "Late", "start_time": "22:00", "duration_minutes": 60,
                    "collection": "shows", "max_lateness_minutes": 0}]}
    scheduler = break_scheduler(options, lib)
    for day in range(7):
        morning = START + day * 86400 + 6 * 3600
        window = [e for e in scheduler.window(morning, morning + 4 * 3600)
                  if morning <= e.start < morning + 4 * 3600]
        _tiles(window)
        starts = [e.start for e in window if e.kind == "program" and e.seek == 0]
        assert starts[0] == morning and len(starts) >= 4
        assert all(round(s) % 1800 == 0 for s in starts)
        assert all(e.slot == "Morning" for e in window if e.kind == "program")
        roles = {e.slot for e in window if e.kind == "filler"}
        assert {"pre_roll", "post_roll", "mid_roll"} <= roles, roles
        assert window[-1].end == morning + 4 * 3600  # compress: nothing crosses the slot end
