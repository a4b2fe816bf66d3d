"""Time-slot scheduling: slot boundaries, overruns, padding, days of week, DST."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.scheduling.time_slots import TimeSlotScheduler
from tests.scheduling_helpers import at, items, library, scheduler

PARIS = ZoneInfo("Europe/Paris")


def grid(lib, slots, tz=UTC, **extra) -> TimeSlotScheduler:  # type: ignore[no-untyped-def]
    sched = scheduler({"type": "time_slots", "slots": slots, **extra}, lib, tz)
    assert isinstance(sched, TimeSlotScheduler)
    return sched


def local(entry: ScheduledItem, tz=PARIS) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    fmt = "%Y-%m-%d %H:%M"
    return (datetime.fromtimestamp(entry.start, tz).strftime(fmt),
            datetime.fromtimestamp(entry.end, tz).strftime(fmt))


def programs(entries: list[ScheduledItem], slot: str) -> list[ScheduledItem]:
    return [e for e in entries if e.kind == "program" and e.slot == slot]


def test_items_align_to_slot_boundaries() -> None:
    lib = library({"news": items("news", [1500] * 5), "movies": items("movies", [5400] * 4)})
    sched = grid(lib, [
        {"name": "News", "start_time": "06:00", "duration_minutes": 180, "collection": "news"},
        {"name": "Movies", "start_time": "09:00", "duration_minutes": 360, "collection": "movies"},
    ])
    for day in range(1, 8):
        entries = sched.window(at(UTC, 2026, 5, day, 0, 0), at(UTC, 2026, 5, day, 23, 59))
        news, movies = programs(entries, "News"), programs(entries, "Movies")
        assert news[0].start == at(UTC, 2026, 5, day, 6, 0)
        assert movies[0].start == at(UTC, 2026, 5, day, 9, 0)
        assert all(e.end <= at(UTC, 2026, 5, day, 9, 0) for e in news)
        assert all(a.end == b.start for a, b in itertools.pairwise(news))
        # 180 min of 25-min news: 7 whole items, then either an 8th cut at 09:00 (flex
        # none) when its turn came in this slot, or a 5-minute gap shown offline.
        assert [e.duration for e in news[:7]] == [1500] * 7
        if len(news) == 8:
            assert news[7].duration == 300 and news[7].end == movies[0].start
        else:
            gap = next(e for e in entries if e.start == news[-1].end)
            assert gap.item is None and gap.end == movies[0].start
        assert sched.get_active_slot(at(UTC, 2026, 5, day, 7, 0)).name == "News"  # type: ignore[union-attr]
        assert sched.get_active_slot(at(UTC, 2026, 5, day, 20, 0)) is None
        assert sched.get_next_slot(at(UTC, 2026, 5, day, 7, 0)).name == "Movies"  # type: ignore[union-attr]
        now = at(UTC, 2026, 5, day, 10, 0)
        assert sched.get_current_item(now) == sched.item_at(now)


def test_ordered_slot_continues_where_yesterday_stopped() -> None:
    lib = library({"shows": items("shows", [1800] * 10)})
    sched = grid(lib, [{"name": "Evening", "start_time": "20:00", "duration_minutes": 60,
                        "collection": "shows"}])
    seen = []
    for day in range(1, 11):
        seen += [e.item.id for e in programs(
            sched.window(at(UTC, 2026, 6, day, 19, 0), at(UTC, 2026, 6, day, 22, 0)), "Evening")]
    # Two 30-minute items a day, continuing the collection in order from day to day.
    numbers = [int(i.split("-")[1]) for i in seen]
    assert len(numbers) == 20
    assert all(b == a % 10 + 1 for a, b in itertools.pairwise(numbers)), numbers


def test_overrunning_item_by_flex_mode() -> None:
    # A 50-minute slot of 20-minute items: the third item would end 10 minutes late.
    lib = library({"shows": items("shows", [1200] * 6), "news": items("news", [600] * 6),
                   "ads": items("ads", [120, 240])})
    day = (2026, 7, 1)

    def run(flex: str, padding: str = "none") -> list[ScheduledItem]:
        sched = grid(lib, [
            {"name": "Shows", "start_time": "10:00", "duration_minutes": 50, "collection": "shows",
             "flex_mode": flex, "padding_mode": padding},
            {"name": "News", "start_time": "10:50", "duration_minutes": 30, "collection": "news",
             "flex_mode": "compress"},
        ], filler="ads")
        return sched.window(at(UTC, *day, 10, 0), at(UTC, *day, 11, 20))

    # none: the item is cut at the slot end; the next slot starts on time.
    cut = run("none")
    shows = programs(cut, "Shows")
    assert [e.duration for e in shows] == [1200, 1200, 600]
    assert programs(cut, "News")[0].start == at(UTC, *day, 10, 50)
    # extend: the item plays to its end; the next slot starts late and keeps its end.
    late = run("extend")
    shows, news = programs(late, "Shows"), programs(late, "News")
    assert [e.duration for e in shows] == [1200] * 3
    assert news[0].start == at(UTC, *day, 11, 0)
    assert news[-1].end <= at(UTC, *day, 11, 20)
    assert len(news) == 2  # 20 minutes left of 30: two 10-minute items
    # compress: the item that does not fit is not started; padding fills 10:40-10:50.
    tight = run("compress", "filler")
    shows = programs(tight, "Shows")
    assert [e.duration for e in shows] == [1200, 1200]
    pad = [e for e in tight if shows[-1].end <= e.start < at(UTC, *day, 10, 50)]
    assert pad and all(e.kind == "filler" for e in pad)
    assert sum(e.duration for e in pad) <= 600 and pad[0].start == at(UTC, *day, 10, 40)
    # No entry overlaps another, in any mode.
    for entries in (cut, late, tight):
        assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(entries))


def test_padding_modes() -> None:
    lib = library({"shows": items("shows", [1500] * 3), "ads": items("ads", [60, 90]),
                   "late": items("late", [3600] * 2)})
    day = (2026, 7, 2)

    def run(padding: str, filler: str | None = "ads") -> list[ScheduledItem]:
        extra = {"filler": filler} if filler else {}
        sched = grid(lib, [
            {"name": "Shows", "start_time": "12:00", "duration_minutes": 60, "collection": "shows",
             "padding_mode": padding},
            {"name": "Late", "start_time": "13:00", "duration_minutes": 120, "collection": "late"},
        ], **extra)
        return sched.window(at(UTC, *day, 12, 0), at(UTC, *day, 13, 0))

    # Two 25-minute items leave 10 minutes.
    offline = run("none")
    assert [e.kind for e in offline if e.start >= at(UTC, *day, 12, 50)][:1] == ["offline"]
    filler = [e for e in run("filler") if at(UTC, *day, 12, 50) <= e.start < at(UTC, *day, 13)]
    assert filler[0].kind == "filler" and filler[0].item is not None
    no_filler = [e for e in run("filler", None) if at(UTC, *day, 12, 50) <= e.start < at(UTC, *day, 13)]
    assert [e.kind for e in no_filler] == ["offline"]
    looped = programs(run("loop"), "Shows")
    assert len(looped) == 3 and looped[-1].end == at(UTC, *day, 13, 0)  # the third item, cut
    early = run("next")
    assert programs(early, "Late")[0].start == at(UTC, *day, 12, 50)


def test_days_of_week() -> None:
    lib = library({"shows": items("shows", [3600] * 3)})
    # Monday (1) and Saturday (32) only.
    sched = grid(lib, [{"name": "Weekly", "start_time": "21:00", "duration_minutes": 60,
                        "collection": "shows", "days_of_week": 1 | 32}])
    start = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
    aired = []
    for d in range(14):
        day = start + timedelta(days=d)
        entries = programs(sched.window(day.timestamp(), (day + timedelta(days=1)).timestamp()),
                           "Weekly")
        if entries:
            aired.append((day.strftime("%a"), entries[0].item.id))  # type: ignore[union-attr]
    assert [day for day, _ in aired] == ["Mon", "Sat", "Mon", "Sat"]
    numbers = [int(item.split("-")[1]) for _, item in aired]
    assert all(b == a % 3 + 1 for a, b in itertools.pairwise(numbers)), aired


def _paris_day(sched: TimeSlotScheduler, y: int, m: int, d: int) -> list[ScheduledItem]:
    return sched.window(at(PARIS, y, m, d, 0, 0), at(PARIS, y, m, d, 23, 59))


def test_dst_spring_and_autumn_keep_wall_clock_slots() -> None:
    lib = library({"night": items("night", [1800] * 40), "day": items("day", [1800] * 40)})
    sched = grid(lib, [
        # loop: an autumn night is 9 real hours, its items are planned for 8; loop fills it.
        {"name": "Night", "start_time": "22:00", "duration_minutes": 480, "collection": "night",
         "padding_mode": "loop"},
        {"name": "Day", "start_time": "06:00", "duration_minutes": 960, "collection": "day"},
    ], tz=PARIS)
    for day in ((2026, 3, 29), (2026, 10, 25)):
        entries = _paris_day(sched, *day)
        day_slot = programs(entries, "Day")
        assert local(day_slot[0])[0] == f"{day[0]}-{day[1]:02d}-{day[2]:02d} 06:00"
        assert local(day_slot[-1])[1] == f"{day[0]}-{day[1]:02d}-{day[2]:02d} 22:00"
        night = [e for e in programs(entries, "Night") if e.start < at(PARIS, *day, 6, 0)]
        # The night slot (22:00 the day before) ends at 06:00 local time.
        assert night[-1].end == at(PARIS, *day, 6, 0)
        assert sched.get_active_slot(at(PARIS, *day, 3, 30)).name == "Night"  # type: ignore[union-attr]
        assert sched.get_next_slot(at(PARIS, *day, 3, 30)).name == "Day"  # type: ignore[union-attr]
        real = at(PARIS, *day, 6, 0) - at(PARIS, day[0], day[1], day[2] - 1, 22, 0)
        assert real == (7 if day[1] == 3 else 9) * 3600  # spring loses an hour, autumn gains one
        # 30-minute items fill the whole night, with no gap or overlap.
        full = [e for e in entries if e.start < at(PARIS, *day, 6, 0)]
        assert all(a.end == b.start for a, b in itertools.pairwise(full))
        assert all(e.item is not None for e in full)
    # The day after each change the grid is back to normal.
    for day in ((2026, 3, 30), (2026, 10, 26)):
        assert local(programs(_paris_day(sched, *day), "Day")[0])[0].endswith("06:00")


def test_what_is_on_matches_the_guide_at_random_times() -> None:
    lib = library({"a": items("a", [900 + 97 * i for i in range(25)]),
                   "b": items("b", [1300 + 11 * i for i in range(9)]),
                   "ads": items("ads", [45, 75, 130])})
    options = {"type": "time_slots", "filler": "ads", "seed": 3, "slots": [
        {"name": "A", "start_time": "05:30", "duration_minutes": 200, "collection": "a",
         "flex_mode": "extend", "padding_mode": "filler"},
        {"name": "B", "start_time": "08:50", "duration_minutes": 300, "collection": "b",
         "order_mode": "shuffle", "flex_mode": "extend", "padding_mode": "next"},
        {"name": "C", "start_time": "13:50", "duration_minutes": 500, "collection": "a",
         "order_mode": "random", "flex_mode": "compress", "padding_mode": "loop"},
        {"name": "D", "start_time": "23:00", "duration_minutes": 240, "collection": "b",
         "days_of_week": 0b0011111}]}
    start = at(PARIS, 2026, 3, 27, 0, 0)
    guide = scheduler(options, lib, PARIS).window(start, start + 5 * 86400)
    assert all(a.end == b.start for a, b in itertools.pairwise(guide))
    rng = random.Random(11)
    for _ in range(60):
        t = rng.uniform(start + 86400, start + 4 * 86400)
        on = scheduler(options, lib, PARIS).item_at(t)
        expected = next(e for e in guide if e.start <= t < e.end)
        assert (on.item, on.start, on.end) == (expected.item, expected.start, expected.end)


def test_slot_starting_in_the_skipped_or_repeated_hour() -> None:
    lib = library({"shows": items("shows", [600] * 6)})
    sched = grid(lib, [{"name": "Early", "start_time": "02:30", "duration_minutes": 60,
                        "collection": "shows"}], tz=PARIS)
    spring = programs(_paris_day(sched, 2026, 3, 29), "Early")
    # 02:30-03:30 that night: 02:00-03:00 does not exist, the slot keeps 03:00-03:30.
    assert [local(e) for e in spring] == [("2026-03-29 03:00", "2026-03-29 03:10"),
                                          ("2026-03-29 03:10", "2026-03-29 03:20"),
                                          ("2026-03-29 03:20", "2026-03-29 03:30")]
    autumn = programs(_paris_day(sched, 2026, 10, 25), "Early")
    first = autumn[0].start
    assert local(autumn[0])[0] == "2026-10-25 02:30"
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()  # the first 02:30 (CEST)


def test_max_lateness_cuts_an_overrun_and_slot_windows_name_the_grid() -> None:
    # Shows (10:00, 30 min) that day plays its second 20-minute item to its end (extend):
    # 10 minutes over.
    lib = library({"shows": items("shows", [1200] * 4), "news": items("news", [600] * 6)})
    day = (2026, 7, 3)

    def run(**lateness: float) -> tuple[TimeSlotScheduler, list[ScheduledItem]]:
        """``slot=m``: News may start m minutes late; ``schedule=m``: every slot may."""
        news: dict[str, object] = {"name": "News", "start_time": "10:30",
                                   "duration_minutes": 30, "collection": "news"}
        extra: dict[str, object] = {}
        if "slot" in lateness:
            news["max_lateness_minutes"] = lateness["slot"]
        if "schedule" in lateness:
            extra["max_lateness_minutes"] = lateness["schedule"]
        sched = grid(lib, [
            {"name": "Shows", "start_time": "10:00", "duration_minutes": 30,
             "collection": "shows", "flex_mode": "extend"}, news], **extra)
        return sched, sched.window(at(UTC, *day, 10, 0), at(UTC, *day, 11, 0))

    # No limit: News waits for the overrun and starts 10 minutes late.
    _, waited = run()
    assert programs(waited, "Shows")[-1].end == at(UTC, *day, 10, 40)
    assert programs(waited, "News")[0].start == at(UTC, *day, 10, 40)
    # At most 5 minutes late: the overrunning item is cut at 10:35, where News starts.
    for key in ("slot", "schedule"):
        sched, capped = run(**{key: 5})
        shows, news = programs(capped, "Shows"), programs(capped, "News")
        assert shows[-1].end == at(UTC, *day, 10, 35) and shows[-1].duration == 900
        assert news[0].start == at(UTC, *day, 10, 35)
        assert [e.duration for e in news] == [600, 600, 300]  # its end holds: 11:00
        assert news[-1].end == at(UTC, *day, 11, 0)
        assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(capped))
    # A late start within the limit is left alone.
    _, within = run(slot=30)
    assert programs(within, "News")[0].start == at(UTC, *day, 10, 40)
    # The grid's windows: the overrun does not move them.
    active, following = sched.slot_windows(at(UTC, *day, 10, 32))
    assert active is not None and following is not None
    assert (active.name, active.start, active.end) == (
        "News", at(UTC, *day, 10, 30), at(UTC, *day, 11, 0))
    assert (following.name, following.start) == ("Shows", at(UTC, *day, 10, 0) + 86400)
    between, upcoming = sched.slot_windows(at(UTC, *day, 12, 0))
    assert between is None and upcoming is not None and upcoming.name == "Shows"
