"""Playout state in the database: a restart keeps removed items in their place, and what
aired is recorded in play_history (real servers, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from exstreamtv.database.playout_state import memory_from_state, memory_to_state
from exstreamtv.scheduling.sequences import PlayoutMemory
from tests.database.conftest import fresh_postgres
from tests.helpers import clips_folder, decode_errors
from tests.scheduling_helpers import items, library


def test_memory_round_trips_through_its_json_form() -> None:
    lib = library({"shows": items("shows", [100, 200, 300])})
    memory = PlayoutMemory()
    memory.collection(lib, "shows")
    lib.items["shows"] = [lib.items["shows"][0], lib.items["shows"][2]]
    memory.collection(lib, "shows")
    again = memory_from_state(memory_to_state(memory))
    assert again.missing == memory.missing == {"shows-2": "'Shows 2' was removed from the library"}
    assert [(i.id, i.duration) for i in again.collections["shows"]] == [
        ("shows-1", 100.0), ("shows-2", 200.0), ("shows-3", 300.0)]


def _rows(url: str, sql: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql))).all())
        finally:
            await engine.dispose()
    return asyncio.run(run())


def _guide(server: Any) -> dict[str, str]:
    xml = server.get("/api/xmltv.xml", timeout=30).text
    found = re.findall(r'<programme start="(\d{14}) \+0000" stop="\d{14} \+0000" '
                       r'channel="1\.exstreamtv"><title>([^<]*)</title>', xml)
    return dict(found)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite or PostgreSQL database (PostgreSQL from EXSTREAMTV_TEST_POSTGRES_URL)."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'playout.db'}"
        return
    with fresh_postgres() as url:
        yield url


def _state(url: str) -> dict[str, Any]:
    rows = _rows(url, "SELECT state FROM channel_playout WHERE channel_number = 1")
    if not rows:
        return {}
    value = rows[0][0]
    return dict(json.loads(value) if isinstance(value, str) else value)


@pytest.mark.slow
def test_a_restart_keeps_removed_items_in_place_and_history_is_recorded(
        db_url: str, tmp_path: Path, config_for: Any, make_server: Any) -> None:
    media = tmp_path / "media"
    shutil.copytree(clips_folder("basic", 3, 4.0), media)
    config = config_for(sources=[{"id": "clips", "type": "local", "path": str(media)}])
    config["channels"][0]["schedule"]["epoch"] = "2024-01-01T00:00:00Z"
    config["database"]["url"] = url = db_url
    config["guide"] = {"days_ahead": 1, "hours_behind": 0}  # 4-second clips: a big XMLTV
    table, history = "channel_playout", "play_history"
    server = make_server(config)
    before = server.wait_for(lambda: len(_guide(server)) > 20 and _guide(server), timeout=60)
    server.wait_for(lambda: _state(url).get("collections"), timeout=30)
    assert table == "channel_playout"
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 6, timeout=120)
    assert code == 0, errors
    plays = server.wait_for(lambda: _rows(
        url, f"SELECT item_id, kind, started_at, duration FROM {history} "
        "WHERE channel_number = 1"), timeout=30)
    assert plays[0][0] and plays[0][1] == "program" and plays[0][3] > 0
    assert {i["location"] for i in _state(url)["collections"]["clips"]} == {
        str(p) for p in media.iterdir()}
    server.stop()

    removed = sorted(media.iterdir())[1]
    removed_title = next(t for t in before.values() if removed.stem.split("-")[-1] in t)
    removed.unlink()
    server = make_server(config, name="again.yaml")
    after = server.wait_for(lambda: (lambda g: removed_title not in g.values() and g)(
        _guide(server)), timeout=60)
    state_after = server.wait_for(lambda: _state(url).get("missing") and _state(url), timeout=60)
    assert [k for k in state_after["missing"]] and removed.stem in str(
        [i["location"] for i in state_after["collections"]["clips"]])
    common = [s for s in after if s in before or s > max(before)]
    shared = [s for s in common if s <= max(before)]
    assert len(shared) > 10
    for start in shared:
        assert after[start] == before[start], (start, after[start], before[start])
    # the removed item's time is folded into the programme before it: nothing else moved
    assert {s for s, t in before.items() if t == removed_title and s >= min(after)} & set(after) \
        == set()
