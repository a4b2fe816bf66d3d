"""Cooldowns kept in the database: what aired rests across a restart, even when the
restarted channel plans differently (an edited schedule), on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.scheduling.cooldowns import Cooldown, CooldownBook, clip_key
from tests.helpers import TEST_FFMPEG, clips_folder, free_port
from tests.scheduling_helpers import items, library
from tests.test_breaks import START, break_scheduler
from tests.test_playout_state import _rows, db_url  # noqa: F401  (the fixture)

COOLDOWN_MINUTES = 4
ADS = 48


def _options(seed: int, **extra: Any) -> dict[str, Any]:
    return {"type": "shuffle", "collection": "shows", "seed": seed, "pad_to_minutes": 1,
            "clip_cooldown_minutes": COOLDOWN_MINUTES, "fillers": [{"collection": "ads"}],
            **extra}


def _repeats(entries: list[Mapping[str, Any]], aired: Mapping[str, float]) -> list[str]:
    """Aired clips (key -> until) that an entry starts again within their cooldown."""
    out = []
    for e in entries:
        until = aired.get(clip_key(e["item_id"])) if e["item_id"] else None
        if until is not None and until - COOLDOWN_MINUTES * 60 + 1 < e["start"] < until:
            out.append(e["item_id"])
    return out


def test_a_plan_holds_back_what_aired_under_another_and_repeats_its_own_airings() -> None:
    lib = library({"shows": items("shows", [4.0]), "ads": items("ads", [2.0] * ADS)})
    window = (START + 12 * 3600, START + 12 * 3600 + 600)
    first = break_scheduler(_options(1), lib).window(*window)
    aired = [e for e in first if e.kind == "filler" and e.start < window[0] + 60]
    assert len(aired) >= 8
    book = CooldownBook()
    for entry in aired:
        book.add(break_scheduler(_options(1), lib).cooldowns(entry))
    assert len(book) == len(aired)
    # The same schedule with the book of its own airings plans exactly the same.
    again = break_scheduler(_options(1), lib, cooldowns=book).window(*window)
    assert again == first
    # Another seed plans other breaks: without the book they repeat what aired...
    until = {c.key: c.until for c in book}
    other = [{"item_id": e.item.id if e.item else None, "start": e.start}
             for e in break_scheduler(_options(2), lib).window(*window)]
    assert _repeats(other, until)
    # ... and with it, nothing that aired starts again within its cooldown.
    held = [{"item_id": e.item.id if e.item else None, "start": e.start}
            for e in break_scheduler(_options(2), lib, cooldowns=book).window(*window)]
    assert _repeats(held, until) == []
    assert sum(1 for e in held if e["item_id"] and e["item_id"].startswith("ads-")) > 20


def test_the_book_keeps_the_latest_until_and_forgets_what_ended() -> None:
    book = CooldownBook()
    assert book.add([Cooldown("clip:a", 100.0), Cooldown("clip:b", 50.0)]) == [
        Cooldown("clip:a", 100.0), Cooldown("clip:b", 50.0)]
    assert book.add([Cooldown("clip:a", 90.0)]) == []  # an earlier until changes nothing
    assert book.holds("clip:a", 95.0, 60.0) and not book.holds("clip:a", 100.0, 60.0)
    assert not book.holds("clip:a", 40.0, 60.0)  # the airing that set it is not held back
    book.prune(60.0)
    assert [c.key for c in book] == ["clip:a"]


def _playout(server: Any) -> dict[str, Any]:
    data: dict[str, Any] = server.get("/api/channels/1/playout?hours=0.2", timeout=30).json()
    return data


def _fillers(server: Any) -> None:
    """Wait until every ad is scanned and the plan has breaks."""
    server.wait_for(lambda: server.get("/api/health").json()["components"]["library"][
        "sources"].get("ads", {}).get("items") == ADS, timeout=60)
    server.wait_for(lambda: len([e for e in _playout(server)["entries"]
                                 if e["kind"] == "filler"]) > 10, timeout=60)


@pytest.mark.slow
def test_a_restart_keeps_cooldowns(db_url: str, tmp_path: Path,  # noqa: F811
                                   make_server: Any) -> None:
    ads = tmp_path / "ads"
    ads.mkdir()
    one = clips_folder("ad", 1, 2.0) / "clip-01.mp4"
    for i in range(ADS):
        shutil.copy(one, ads / f"ad-{i + 1:02d}.mp4")
    (tmp_path / "data").mkdir(exist_ok=True)
    # Each minute is a 40-second programme and its break: an epoch 36 s ago puts the
    # first break right after the server is up, instead of up to 40 s of waiting for it.
    epoch = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) - 36))

    def config(seed: int, url: str, label: str) -> dict[str, Any]:
        return {
            "server": {"host": "127.0.0.1", "port": free_port(),
                       "data_directory": str(tmp_path / f"data-{label}")},
            "database": {"url": url}, "ffmpeg": TEST_FFMPEG,
            # A 40-second programme a minute leaves 20 s for ten ads: 48 ads with a
            # 4-minute cooldown fill every minute's break.
            "sources": [{"id": "shows", "type": "local", "path": str(clips_folder("show", 1, 40.0))},
                        {"id": "ads", "type": "local", "path": str(ads)}],
            "channels": [{"number": 1, "name": "Breaks",
                          "schedule": _options(seed, epoch=epoch)}],
            "streaming": {"idle_stop_seconds": 2},
        }

    server = make_server(config(1, db_url, "first"))
    # The same channel planned from another seed, on a database that saw nothing air.
    fresh = make_server(config(2, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'fresh.db'}",
                               "fresh"), name="fresh.yaml")
    _fillers(server)
    # Watch until a few filler clips have aired and their cooldowns are stored.
    viewer = subprocess.Popen(["ffmpeg", "-v", "error", "-i", f"{server.url}/stream/channels/1.ts",
                               "-f", "null", "-"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        stored = server.wait_for(lambda: (lambda rows: len(rows) >= 8 and rows)(_rows(
            db_url, "SELECT key, until FROM cooldowns WHERE channel_number = 1")), timeout=120)
    finally:
        viewer.terminate()
        viewer.wait(timeout=15)
    aired = {str(k): float(u) for k, u in stored}
    assert all(k.startswith("clip:") for k in aired)
    server.stop()

    # The other seed's plan repeats clips that aired within their cooldown on a fresh
    # database; restarted on the database that saw them air, it does not.
    _fillers(fresh)
    assert _repeats(_playout(fresh)["entries"], aired), "the fresh plan should repeat a clip"
    fresh.stop()
    again = make_server(config(2, db_url, "again"), name="again.yaml")
    again.wait_for(lambda: len(_playout(again)["cooldowns"]) >= 8, timeout=60)
    _fillers(again)
    book = _playout(again)
    assert {c["key"] for c in book["cooldowns"]} >= {k for k, u in aired.items()
                                                     if u > book["entries"][0]["start"]}
    assert _repeats(book["entries"], aired) == []
    assert [e for e in book["entries"] if e["kind"] == "filler"]  # other clips still air


def test_playout_lists_entries_and_refuses_bad_hours(make_server: Any, config_for: Any) -> None:
    server = make_server(config_for())
    entries = server.get("/api/channels/1/playout?hours=0.1").json()["entries"]
    assert entries and all(a["end"] == b["start"] for a, b in itertools.pairwise(entries))
    for hours in ("0", "-1", "49", "nan", "soon"):
        answer = server.get(f"/api/channels/1/playout?hours={hours}")
        assert answer.status_code == 400 and "hours" in answer.json()["error"], hours
    assert server.get("/api/channels/9/playout").status_code == 404


def test_a_balance_source_rests_across_a_block_boundary() -> None:
    lib = library({"movies": items("movies", [1800.0] * 20),
                   "shows": items("shows", [1800.0] * 20)})
    options = {"type": "balance", "sources": [{"collection": "movies"}, {"collection": "shows"}],
               "cooldown_minutes": 60, "block_hours": 24, "seed": 3}
    plain = break_scheduler(options, lib)
    for day in range(1, 8):
        boundary = START + day * 86400
        first = plain.item_at(boundary)
        assert first.start == boundary and first.item is not None
        # The block before ended with an item of the same source: it rests an hour.
        book = CooldownBook()
        book.add(plain.cooldowns(ScheduledItem(first.item, boundary - 1800.0, 1800.0)))
        held = break_scheduler(options, lib, cooldowns=book).window(boundary, boundary + 3600)
        other = "movies" if first.item.source_id == "shows" else "shows"
        assert held[0].item is not None and held[0].item.source_id == other
        # Then both rest; the one free soonest plays (the channel never goes dark).
        assert held[1].item is not None and held[1].item.source_id == first.item.source_id
        # A book of the plan's own airings changes nothing.
        own = CooldownBook()
        for entry in plain.window(boundary, boundary + 7200):
            own.add(plain.cooldowns(entry))
        assert break_scheduler(options, lib, cooldowns=own).window(
            boundary, boundary + 86400) == plain.window(boundary, boundary + 86400)
