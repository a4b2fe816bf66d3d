"""StreamThrottler: the pacing math on a fake clock, plus one real-clock measurement."""

from __future__ import annotations

import asyncio
import time

import pytest

from exstreamtv.config.model import StreamThrottlerConfig
from exstreamtv.streaming.throttler import BURST_FACTOR, BURST_SECONDS, StreamThrottler

TARGET = 4_000_000  # bits per second
CHUNK = 188 * 100


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def throttler(mode: str, clock: FakeClock, enabled: bool = True) -> StreamThrottler:
    config = StreamThrottlerConfig(enabled=enabled, target_bitrate_bps=TARGET, mode=mode)
    return StreamThrottler(config, clock=clock, sleep=clock.sleep)


def send_for(t: StreamThrottler, clock: FakeClock, seconds: float) -> int:
    """A client that reads instantly: send chunks for ``seconds`` of fake time."""
    sent = 0
    start = clock.now

    async def run() -> None:
        nonlocal sent
        while clock.now - start < seconds:
            await t.throttle(CHUNK)
            sent += CHUNK

    asyncio.run(run())
    return sent


def test_realtime_holds_the_target_over_ten_minutes() -> None:
    clock = FakeClock()
    t = throttler("realtime", clock)
    sent = send_for(t, clock, 600)
    rate = sent * 8 / 600
    assert rate <= TARGET * 1.001
    assert rate >= TARGET * 0.999
    # Cheap: at most one sleep per chunk, never per TS packet.
    assert clock.sleeps <= sent / CHUNK


def test_realtime_does_not_pay_back_a_pause_with_a_spike() -> None:
    clock = FakeClock()
    t = throttler("realtime", clock)
    send_for(t, clock, 10)
    clock.now += 30  # the source had nothing for 30 s
    sent = send_for(t, clock, 10)
    assert sent * 8 / 10 <= TARGET * 1.05


def test_burst_sends_the_first_seconds_at_twice_the_target_then_paces() -> None:
    clock = FakeClock()
    t = throttler("burst", clock)
    burst_bytes = TARGET / 8 * BURST_SECONDS
    start = clock.now
    sent = 0
    while sent < burst_bytes:
        asyncio.run(t.throttle(CHUNK))
        sent += CHUNK
    burst_time = clock.now - start
    assert burst_time == pytest.approx(BURST_SECONDS / BURST_FACTOR, rel=0.02)
    later = send_for(t, clock, 60)
    assert later * 8 / 60 == pytest.approx(TARGET, rel=0.01)


def test_adaptive_follows_the_client() -> None:
    clock = FakeClock()
    t = throttler("adaptive", clock)
    # A fast client (sends return at once): up to twice the target to catch up.
    for _ in range(50):
        t.delivered(CHUNK, 0.0)
    assert t.rate() == TARGET / 8 * BURST_FACTOR
    # A client reading at 3 Mbit/s: the rate converges to it.
    for _ in range(100):
        t.delivered(CHUNK, CHUNK / (3_000_000 / 8))
    assert t.rate() == pytest.approx(3_000_000 / 8, rel=0.01)
    # A very slow client: never below half the target.
    for _ in range(100):
        t.delivered(CHUNK, 10.0)
    assert t.rate() == TARGET / 8 * 0.5


def test_disabled_and_enabled_false_do_not_pace() -> None:
    for mode, enabled in (("disabled", True), ("realtime", False)):
        clock = FakeClock()
        t = throttler(mode, clock, enabled)
        for _ in range(10_000):
            assert t.delay(CHUNK) == 0.0
        assert clock.sleeps == 0


def test_real_clock_measurement() -> None:
    """Realtime on the real monotonic clock: one second of 1 Mbit/s within 3 %."""
    config = StreamThrottlerConfig(enabled=True, target_bitrate_bps=1_000_000, mode="realtime")
    t = StreamThrottler(config)

    async def run() -> float:
        start = time.monotonic()
        for _ in range(int(1_000_000 / 8 / CHUNK)):
            await t.throttle(CHUNK)
        await t.throttle(1)  # the wait for the last chunk's time to pass
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    expected = int(1_000_000 / 8 / CHUNK) * CHUNK / (1_000_000 / 8)
    assert elapsed == pytest.approx(expected, rel=0.03)


def test_a_channel_above_the_target_is_never_starved() -> None:
    """The default 4 Mbit/s target and a 1080p channel at 6 Mbit/s: the viewer gets the
    channel's own rate (with headroom), in every mode."""
    from exstreamtv.config.model import AudioConfig, FFmpegConfig, VideoProfile
    from exstreamtv.config.profiles import output_rate_bps

    hd = FFmpegConfig(video=VideoProfile(width=1920, height=1080, bitrate_kbps=6000),
                      audio=AudioConfig(bitrate_kbps=160))
    floor = output_rate_bps(hd)
    assert floor > 6_160_000
    for mode in ("realtime", "burst", "adaptive"):
        clock = FakeClock()
        t = StreamThrottler(StreamThrottlerConfig(mode=mode), clock=clock, sleep=clock.sleep,
                            floor_bps=floor)
        if mode == "adaptive":
            t.delivered(CHUNK, 10.0)  # a client that once read very slowly
        assert t.rate() * 8 >= floor
        sent = send_for(t, clock, 60)
        assert sent * 8 / 60 >= floor * 0.999, mode
    # Below the floor the configured target still rules.
    clock = FakeClock()
    low = StreamThrottler(StreamThrottlerConfig(target_bitrate_bps=TARGET), clock=clock,
                          sleep=clock.sleep, floor_bps=1_000_000)
    assert low.rate() * 8 == TARGET


def test_load_warns_about_channels_above_the_target(tmp_path, caplog) -> None:
    import yaml

    from exstreamtv.config.loader import validate_config
    from tests.helpers import base_config, clips_folder

    config = base_config(tmp_path, clips_folder("basic", 3, 4.0))
    config["channels"][0]["ffmpeg"] = {"video": {"bitrate_kbps": 6000}}
    validate_config(yaml.safe_load(yaml.safe_dump(config)))
    assert "below channel 1 'Clips''s output rate" in caplog.text
    caplog.clear()
    config["stream_throttler"] = {"target_bitrate_bps": 10_000_000}
    validate_config(yaml.safe_load(yaml.safe_dump(config)))
    assert "output rate" not in caplog.text


def test_a_viewer_keeps_up_with_a_channel_above_the_target(make_server, config_for) -> None:
    """Real server, target 64 kbit/s against a ~470 kbit/s channel: the viewer still
    receives media as fast as it plays (before, it got ~1 s of media per 7 s)."""
    import subprocess

    import httpx

    server = make_server(config_for(stream_throttler={"target_bitrate_bps": 64_000,
                                                      "mode": "realtime"}))
    received = bytearray()
    started = time.monotonic()
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=30) as response:
        for chunk in response.iter_bytes():
            received += chunk
            if time.monotonic() - started >= 12:
                break
    wall = time.monotonic() - started
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                           "packet=pts_time", "-of", "csv=p=0", "-"], input=bytes(received),
                          capture_output=True, timeout=60, check=False)
    times = sorted(float(x.strip(",")) for x in proc.stdout.decode().split()
                   if x.strip(",").replace(".", "", 1).isdigit())
    assert times, proc.stderr.decode()
    media = times[-1] - times[0]
    assert media >= 0.75 * wall, (media, wall, len(received))
