"""Health tells the truth: a channel that fails an item every time it comes round is
degraded, with the item named, in /api/health, /api/channels/{n} and Home Assistant.

A real server plays a channel of clips, one of them truncated: it probes fine (the
container says 6 s) but its data ends after about two seconds, so ffmpeg stops early
every time. A real Mosquitto broker carries the Home Assistant state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, make_clip
from tests.mqtt_support import Broker, Watcher
from tests.stream_tools import Reader


def truncated_clip(path: Path, seconds: float = 6.0, keep: float = 0.4) -> Path:
    """A clip whose index is intact (moov first) but whose data stops at ``keep``."""
    if not path.exists():
        full = make_clip(path.with_name(path.stem + ".full.mp4"), seconds, tone=700,
                         extra=["-movflags", "+faststart"])
        data = full.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        full.unlink()
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def test_an_item_failing_every_loop_degrades_its_channel_everywhere(
        tmp_path: Path, make_server: Callable[..., Server],
        config_for: Callable[..., dict[str, Any]], broker: Broker) -> None:
    media = tmp_path / "media"
    make_clip(media / "a good.mp4", 3.0, tone=300)
    truncated_clip(media / "b truncated.mp4")
    make_clip(media / "c good.mp4", 3.0, tone=500)
    config = config_for(mqtt={"enabled": True, "port": broker.port, "keepalive": 5})
    config["sources"][0]["path"] = str(media)
    watcher = Watcher(broker)
    try:
        server = make_server(config)
        assert server.get("/api/channels/1").json()["health"]["status"] == "ok"
        reader = Reader(f"{server.url}/stream/channels/1.ts", 150.0)
        reader.start()

        def degraded() -> Any:
            health = server.get("/api/channels/1").json()["health"]
            return health if health["status"] == "degraded" else None

        health = server.wait_for(degraded, timeout=120, interval=0.5)
        named = {item["title"] for item in health["failing_items"]}
        assert named == {"b truncated"}, health
        assert "'b truncated'" in health["reason"]
        report = server.get("/api/health").json()
        assert report["status"] == "degraded"
        failing = report["components"]["channels"]["failing"]["1"]
        assert failing["failing_items"][0]["title"] == "b truncated"
        assert failing["failing_items"][0]["failures"] >= 2

        def ha_problem() -> Any:
            message = watcher.latest().get("exstreamtv/channel/1/state")
            return message if message is not None and message.json.get("problem") else None

        state = watcher.wait_for(ha_problem, timeout=60).json
        assert state["health"] == "degraded" and state["health_score"] <= 50
        assert [i["title"] for i in state["failing_items"]] == ["b truncated"]
        problem = watcher.wait_message(
            next(t for t in watcher.latest() if t.endswith("_ch1_problem/config")))
        assert problem.json["device_class"] == "problem"
        assert "failing_items" in problem.json["json_attributes_template"]
        assert reader.error is None and reader.status == 200
    finally:
        watcher.close()  # the reader thread is a daemon; stopping the server ends it
