"""Bad schedules are refused at config check, with the path and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.scheduling_helpers import config_problems

SLOT = {"name": "News", "start_time": "06:00", "duration_minutes": 60, "collection": "news"}


def test_good_schedules_pass() -> None:
    for schedule in (
        {"type": "shuffle", "collection": "news", "seed": 4},
        {"type": "random", "sources": [{"collection": "news", "weight": 1}], "filler": "movies"},
        {"type": "balance", "sources": [{"collection": "news", "weight": 40},
                                        {"collection": "movies", "weight": 60}],
         "cooldown_minutes": 60},
        {"type": "time_slots", "filler": "movies", "slots": [
            SLOT, {**SLOT, "name": "Films", "start_time": "07:00", "collection": "movies",
                   "order_mode": "shuffle", "padding_mode": "filler", "flex_mode": "extend",
                   "days_of_week": 96},
            {**SLOT, "name": "Overnight", "start_time": "23:00", "duration_minutes": 420}]},
    ):
        assert config_problems(schedule) == [], schedule


def test_empty_sources_list() -> None:
    assert config_problems({"type": "balance", "sources": []}) == [
        "channels[0].schedule.sources: expected a non-empty list of {collection, weight}"]


def test_zero_weight() -> None:
    problems = config_problems({"type": "balance", "sources": [
        {"collection": "news", "weight": 10}, {"collection": "movies", "weight": 0}]})
    assert problems == ["channels[0].schedule.sources[1].weight: a weight must be greater "
                        "than 0, got 0"]


def test_overlapping_slots() -> None:
    problems = config_problems({"type": "time_slots", "slots": [
        SLOT, {**SLOT, "name": "Talk", "start_time": "06:30"}]})
    assert len(problems) == 1
    assert problems[0].startswith("channels[0].schedule.slots[1].start_time: slot 'Talk' "
                                  "(06:30, 60 min) overlaps slot 'News' (06:00, 60 min) on Mon")


def test_overlap_across_midnight_and_week_end() -> None:
    # Sunday 23:00 for 3 hours runs into Monday 01:00.
    problems = config_problems({"type": "time_slots", "slots": [
        {**SLOT, "name": "Late", "start_time": "23:00", "duration_minutes": 180,
         "days_of_week": 64},
        {**SLOT, "name": "Early", "start_time": "01:00", "days_of_week": 1}]})
    assert len(problems) == 1 and "overlaps slot 'Late'" in problems[0], problems
    # Different days do not overlap.
    assert config_problems({"type": "time_slots", "slots": [
        {**SLOT, "days_of_week": 1}, {**SLOT, "name": "Other", "days_of_week": 2}]}) == []


def test_unknown_collection_in_a_slot_and_filler() -> None:
    problems = config_problems({"type": "time_slots", "filler": "adverts",
                                "slots": [{**SLOT, "collection": "newz"}]})
    assert sorted(p.split(":")[0] for p in problems) == [
        "channels[0].schedule.filler", "channels[0].schedule.slots[0].collection"]
    assert all("unknown collection" in p for p in problems)


def test_days_of_week_zero_and_bad_modes() -> None:
    problems = config_problems({"type": "time_slots", "slots": [
        {**SLOT, "days_of_week": 0, "order_mode": "sorted", "start_time": "25:00"}]})
    assert sorted(problems) == [
        "channels[0].schedule.slots[0].days_of_week: expected a bitmask from 1 to 127 "
        "(Monday = 1 ... Sunday = 64, every day = 127), got 0",
        "channels[0].schedule.slots[0].order_mode: expected one of ordered, shuffle, random, "
        "got 'sorted'",
        'channels[0].schedule.slots[0].start_time: expected a time as "HH:MM" (00:00 to 23:59), '
        "got '25:00'",
    ]


def test_config_check_command_reports_paths(tmp_path: Path) -> None:
    config = {
        "sources": [{"id": "news", "type": "local", "path": str(tmp_path)}],
        "channels": [{"number": 1, "name": "Grid", "schedule": {"type": "time_slots", "slots": [
            SLOT, {**SLOT, "name": "Talk", "start_time": "06:30"}]}},
                     {"number": 2, "name": "Mix", "schedule": {"type": "balance", "sources": []}}],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "exstreamtv", "config", "check", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "channels[0].schedule.slots[1].start_time" in output
    assert "channels[1].schedule.sources" in output
