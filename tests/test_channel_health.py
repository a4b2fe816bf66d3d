"""Channel health with hysteresis: degraded only when viewers would notice.

A prestarted ffmpeg waiting for its turn at an item boundary reports a falling speed;
that is not a problem, and neither is a boundary that takes a moment. A healthy channel
of 4-second items, watched and polled twice a second for two minutes (30 boundaries),
is never reported degraded: not in /api/health, not by self-healing, not in an event.
"""

from __future__ import annotations

import time

import pytest

from tests.test_healing_faults import Viewer


@pytest.mark.slow
def test_a_healthy_channel_is_never_degraded_at_boundaries(make_server, config_for):
    server = make_server(config_for())
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 20_000, 30)
    seen: list[str] = []
    deadline = time.monotonic() + 120  # two minutes, 30 boundaries of the 4-second clips
    polls = 0
    while time.monotonic() < deadline:
        health = server.get("/api/health").json()["components"]
        channel = health["channels"]["running"].get("1", {})
        if channel.get("status") != "ok":
            seen.append(f"channels: {channel}")
        if health["healing"]["unhealthy_channels"]:
            seen.append(f"healing: {health['healing']}")
        polls += 1
        time.sleep(0.5)
    viewer.finish()
    assert not viewer.ended and viewer.error is None
    degraded = [e for e in server.get("/api/healing/events").json()
                if e.get("kind") == "health" and e.get("status") != "ok"
                and e.get("component") in ("channel", "ffmpeg")]
    assert polls > 100
    assert not seen, seen[:5]
    assert not degraded, degraded[:5]
    items = server.get("/api/channels/1").json()["pipeline"]
    assert items["failures"] == 0 and items["health"] == "ok"
