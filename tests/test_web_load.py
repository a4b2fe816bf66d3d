"""Clients that need no token cannot stall the streams: the guide is built off the loop."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.helpers import channel
from tests.stream_tools import Reader

GUIDE_CLIENTS = 8


def media_seconds(data: bytes) -> float:
    """The span of video timestamps in a piece of MPEG-TS (what a player would show)."""
    data = data[: len(data) // 188 * 188]
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-f", "mpegts", "-select_streams", "v",
         "-show_entries", "packet=pts_time", "-of", "json", "-"],
        input=data, capture_output=True, timeout=60, check=True)
    times = [float(p["pts_time"]) for p in json.loads(out.stdout)["packets"]
             if p.get("pts_time") not in (None, "N/A")]
    return max(times) - min(times) if times else 0.0


def play_speed(server, seconds: float = 10.0) -> float:
    """Media seconds a TS viewer receives per wall-clock second, after a 3 s warm-up."""
    reader = Reader(f"{server.url}/stream/channels/1.ts", seconds + 4)
    reader.start()
    deadline = time.monotonic() + 60
    while not reader.marks and time.monotonic() < deadline and reader.is_alive():
        time.sleep(0.2)
    assert reader.marks, f"the viewer got no data: {reader.error}\n{server.log}"
    t0 = reader.marks[0][0] + 3.0
    reader.join(seconds + 60)
    before = max((n for t, n in reader.marks if t <= t0), default=0)
    after = max((n for t, n in reader.marks if t <= t0 + seconds), default=0)
    start = before - before % 188
    return media_seconds(bytes(reader.data[start:after])) / seconds


@pytest.mark.slow
def test_viewers_keep_play_speed_while_clients_fetch_the_guide(make_server, config_for, tmp_path):
    # Ten channels of 4-second clips: a guide of ~100,000 programmes, seconds of CPU work.
    channels = [channel(n, f"Clips {n}", "clips") for n in range(1, 11)]
    server = make_server(config_for(channels=channels, guide={"days_ahead": 1},
                                    rate_limit={"enabled": False}))
    baseline = play_speed(server)

    stop = threading.Event()
    results: list[int] = []
    bodies: list[bytes] = []

    def fetch_guide() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                response = client.get(f"{server.url}/api/xmltv.xml")
                results.append(response.status_code)
                if not bodies and response.status_code == 200:
                    bodies.append(response.content)

    fetchers = [threading.Thread(target=fetch_guide, daemon=True) for _ in range(GUIDE_CLIENTS)]
    for fetcher in fetchers:
        fetcher.start()
    try:
        server.wait_for(lambda: len(results) >= GUIDE_CLIENTS, timeout=120)
        loaded = play_speed(server)
    finally:
        stop.set()
        for fetcher in fetchers:
            fetcher.join(180)
    print(f"play speed: {baseline:.2f} alone, {loaded:.2f} with {GUIDE_CLIENTS} guide "
          f"clients ({len(results)} guides fetched)")
    assert set(results) == {200}, results
    programmes = ET.fromstring(bodies[0]).findall("programme")
    assert len(programmes) > 50_000
    assert loaded >= 0.85 * min(baseline, 1.0), (baseline, loaded)
