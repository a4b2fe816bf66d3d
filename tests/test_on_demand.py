"""On-demand channels: the playout advances only while watched, and survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exstreamtv.scheduling.on_demand import OnDemandClock, OnDemandScheduler
from tests.helpers import clips_folder, decode_errors
from tests.scheduling_helpers import config_problems, items, library, scheduler


def test_the_clock_runs_only_while_watched() -> None:
    lib = library({"shows": items("shows", [600, 900, 1200])})
    inner = scheduler({"type": "ordered", "collection": "shows"}, lib)
    epoch = inner.epoch  # type: ignore[attr-defined]
    real = [1_800_000_000.0]
    clock = OnDemandClock(epoch)
    sched = OnDemandScheduler(inner, clock, real_time=lambda: real[0])
    first = sched.item_at(real[0])
    assert first.item is not None and first.item.id == "shows-1" and first.start == real[0]
    real[0] += 5000  # nobody watches: nothing advances, the guide starts from now
    assert sched.item_at(real[0]).item == first.item
    assert sched.item_at(real[0]).offset_at(real[0]) == 0
    clock.resume(real[0])
    real[0] += 700  # watched for 700 s: 100 s into the second item
    now = sched.item_at(real[0])
    assert now.item is not None and now.item.id == "shows-2"
    assert now.offset_at(real[0]) == 100
    clock.pause(real[0])
    real[0] += 9999
    assert sched.item_at(real[0]).offset_at(real[0]) == 100
    assert clock.position == epoch + 700


def test_clock_is_checked() -> None:
    assert any("clock" in p for p in config_problems(
        {"type": "ordered", "collection": "news", "clock": "sometimes"}))
    assert config_problems({"type": "ordered", "collection": "news", "clock": "on_demand"}) == []


def _now(server: Any) -> tuple[str, float]:
    now = server.get("/api/channels/1").json()["now"]
    return str(now["item_id"]), float(now["offset"])


def test_a_server_advances_an_on_demand_channel_only_while_watched(
        tmp_path: Path, config_for: Any, make_server: Any) -> None:
    config = config_for(sources=[{"id": "clips", "type": "local",
                                  "path": str(clips_folder("long", 3, 10.0))}])
    config["channels"][0]["schedule"]["clock"] = "on_demand"
    server = make_server(config)
    start = server.wait_for(lambda: (lambda n: n[0] != "None" and n)(_now(server)), timeout=60)
    assert start[1] < 0.01  # the playout waits at its beginning
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 14, timeout=120)
    assert code == 0, errors
    # the viewer left: once the channel stops (idle_stop_seconds), its position holds
    server.wait_for(lambda: server.get("/api/sessions").json() == [] or
                    not server.get("/api/sessions").json(), timeout=30)
    paused = server.wait_for(lambda: (lambda a, b: a == b and a)(_now(server), _now(server)),
                             timeout=30, interval=1.0)
    assert paused != start  # it advanced while watched
    server.stop()
    server = make_server(config, name="again.yaml")
    resumed = server.wait_for(lambda: (lambda n: n[0] != "None" and n)(_now(server)), timeout=60)
    assert resumed[0] == paused[0] and abs(resumed[1] - paused[1]) < 1.0, (paused, resumed)
