"""Self-healing parts on real input: ffmpeg lines, log floods, the resolver's rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exstreamtv.events import EventBus, FixEvent
from exstreamtv.healing.auto_resolver import (
    STRATEGY_TABLE,
    ApprovalError,
    AutoResolver,
    DetectedIssue,
)
from exstreamtv.healing.ffmpeg_monitor import (
    ErrorType,
    FFmpegAIMonitor,
    classify_error,
    parse_progress,
)
from exstreamtv.healing.log_collector import CollectorHandler, UnifiedLogCollector
from exstreamtv.healing.pattern_detector import PatternDetector

STATS = "frame=  250 fps= 25 q=-1.0 size=     512kB time=00:00:10.00 bitrate= 419.4kbits/s dup=2 drop=1 speed=0.98x"


def test_progress_line_parsed():
    sample = parse_progress(STATS)
    assert sample is not None
    assert (sample.frame, sample.fps, sample.speed, sample.dup, sample.drop) == (250, 25, 0.98, 2, 1)
    assert sample.bitrate_kbps == pytest.approx(419.4)
    assert sample.out_time == 10.0


@pytest.mark.parametrize("line", [
    "Bild=  12 Geschwindigkeit=1.0x",  # another language
    "\x00\xff garbage \u2603",
    "frame=N/A fps=N/A time=N/A speed=N/A",
    "",
])
def test_unexpected_lines_never_raise(line):
    monitor = FFmpegAIMonitor()
    monitor.on_line(1, line)
    assert monitor.metrics(1).score <= 1.0


@pytest.mark.parametrize(("line", "kind"), [
    ("[tcp @ 0x1] Connection timed out", ErrorType.CONNECTION_TIMEOUT),
    ("[https @ 0x1] HTTP error 403 Forbidden", ErrorType.HTTP_ERROR),
    ("[error] Decoder (codec hevc) not found for input stream #0:0", ErrorType.CODEC_ERROR),
    ("[AVHWDeviceContext @ 0x1] Failed to initialise VAAPI connection", ErrorType.HARDWARE_ERROR),
    ("[error] Cannot allocate memory", ErrorType.MEMORY_ERROR),
    ("/media/x.mp4: Invalid data found when processing input", ErrorType.INVALID_DATA),
])
def test_error_classification_table(line, kind):
    error = classify_error(line, 3)
    assert error is not None and error.type is kind
    if kind is ErrorType.HTTP_ERROR:
        assert error.http_status == 403


def test_falling_speed_predicts_a_stall_and_lowers_health():
    monitor = FFmpegAIMonitor(health_threshold=0.8)
    for speed in (1.0, 0.95, 0.9, 0.85, 0.8):
        monitor.on_line(1, STATS.replace("0.98x", f"{speed}x"))
    prediction = monitor.predict(1)
    assert prediction is not None and prediction.confidence >= 0.75
    steady = FFmpegAIMonitor()
    for _ in range(5):
        steady.on_line(1, STATS.replace("0.98x", "1.01x"))
    assert steady.predict(1) is None
    assert steady.metrics(1).healthy


def test_flood_of_lines_stays_bounded():
    collector = UnifiedLogCollector(buffer_minutes=30, max_events=1000)
    listen = collector.ffmpeg_listener(1)
    for i in range(50_000):
        listen(f"[error] packet {i} corrupt " + "x" * 5000)
    assert len(collector.events) == 1000
    assert collector.dropped >= 49_000
    assert all(len(e.message) <= 2003 for e in collector.events)


def test_collector_windows_correlation_and_log_handler():
    import logging

    collector = UnifiedLogCollector()
    handler = CollectorHandler(collector)
    logger = logging.getLogger("exstreamtv.test_heal")
    logger.addHandler(handler)
    try:
        logger.error("Channel 4: ffmpeg failed")
    finally:
        logger.removeHandler(handler)
    collector.record("ffmpeg", "[error] Connection refused", channel=2)
    event = collector.recent_errors()[0]
    assert event.channel == 4 and event.source == "app"
    groups = collector.correlate(event.timestamp)
    assert set(groups) >= {2, 4}
    assert len(collector.context(event.timestamp, channel=2)) == 1


def test_patterns_with_evidence_and_risk():
    collector = UnifiedLogCollector()
    for _ in range(3):
        collector.record("ffmpeg", "[tcp] Connection reset by peer", channel=5)
    collector.record("ffmpeg", "HTTP error 403 Forbidden", channel=6)
    found = {d.pattern: d for d in PatternDetector().scan(collector.events)}
    assert found["network_instability"].risk == "HIGH"
    assert found["network_instability"].channel == 5
    assert len(found["network_instability"].evidence) == 3
    assert found["url_expiration"].issue == "URL_EXPIRED"
    assert PatternDetector().scan([]) == []


def test_strategy_table_is_the_spec_table():
    rows = {k: (r.strategy, r.risk, r.confidence) for k, r in STRATEGY_TABLE.items()}
    assert rows["FFMPEG_HANG"] == ("RESTART", "MEDIUM", 0.90)
    assert rows["FFMPEG_CRASH"] == ("RESTART", "MEDIUM", 0.85)
    assert rows["URL_EXPIRED"] == ("REFRESH", "SAFE", 0.95)
    assert rows["DB_POOL_EXHAUSTED"] == ("EXPAND", "LOW", 0.80)
    assert rows["AUTH_FAILED"] == ("REFRESH", "SAFE", 0.90)
    assert rows["MEMORY_PRESSURE"] == ("REDUCE", "MEDIUM", 0.70)
    assert rows["SOURCE_UNAVAILABLE"] == ("FALLBACK", "SAFE", 0.95)


class Recorder:
    """A strategy that records calls; ``fail`` makes apply raise."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.applied = 0
        self.rolled_back = 0

    async def apply(self, issue: DetectedIssue, context: Any) -> Any:
        self.applied += 1
        if self.fail:
            raise RuntimeError("strategy plugin bug")
        return "state"

    async def rollback(self, issue: DetectedIssue, context: Any, state: Any) -> None:
        assert state == "state"
        self.rolled_back += 1


def resolver(strategies: dict[str, Recorder], persists: bool = False, **kw: Any
             ) -> tuple[AutoResolver, list[FixEvent]]:
    bus = EventBus()
    seen: list[FixEvent] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, FixEvent) else None)

    async def verify(issue: DetectedIssue, at: float) -> bool:
        return not persists

    return AutoResolver(bus, strategies, None, verify, **kw), seen


def test_raising_strategy_is_isolated_and_next_one_tried():
    async def run() -> None:
        broken, fallback = Recorder("RESTART", fail=True), Recorder("FALLBACK")
        res, seen = resolver({"RESTART": broken, "FALLBACK": fallback, "ESCALATE": Recorder("ESCALATE")},
                             learning=False)
        record = await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))
        assert record is not None and record.strategy == "FALLBACK" and record.status == "verified"
        assert [(e.strategy, e.action) for e in seen][:2] == [("RESTART", "failed"),
                                                              ("FALLBACK", "applied")]
    asyncio.run(run())


def test_persisting_issue_rolls_back_learns_and_escalates():
    async def run() -> None:
        restart, fallback, escalate = Recorder("RESTART"), Recorder("FALLBACK"), Recorder("ESCALATE")
        res, seen = resolver({"RESTART": restart, "FALLBACK": fallback, "ESCALATE": escalate},
                             persists=True)
        before = res.learner.confidence("FFMPEG_CRASH", "RESTART", 0.85)
        await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))
        assert restart.rolled_back == 1 and fallback.rolled_back == 1 and escalate.applied == 1
        assert ("RESTART", "rolled_back") in [(e.strategy, e.action) for e in seen]
        after = res.learner.confidence("FFMPEG_CRASH", "RESTART", 0.85)
        assert after < before  # Beta posterior: one failure, prior strength 10
        assert after == pytest.approx(8.5 / 11)
    asyncio.run(run())


def test_hourly_cap_stops_automatic_fixes_per_channel():
    async def run() -> None:
        restart, escalate = Recorder("RESTART"), Recorder("ESCALATE")
        res, seen = resolver({"RESTART": restart, "ESCALATE": escalate}, max_per_hour=2)
        for _ in range(4):
            await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))
        assert restart.applied == 2 and res.fixes_last_hour(1) == 2
        assert [e.action for e in seen].count("capped") == 2
        # A failing channel does not use up the fixes of another one.
        await res.resolve(DetectedIssue("FFMPEG_CRASH", 2))
        assert restart.applied == 3 and res.fixes_last_hour() == 3
        assert [e.action for e in seen].count("capped") == 2
    asyncio.run(run())


def test_approval_flow_reject_unknown_and_expired():
    async def run() -> None:
        restart = Recorder("RESTART")
        res, _seen = resolver({"RESTART": restart}, approval_above="SAFE", pending_ttl=0.3)
        task = asyncio.ensure_future(res.resolve(DetectedIssue("FFMPEG_CRASH", 1)))
        await asyncio.sleep(0.05)
        [pending] = res.list_pending()
        assert restart.applied == 0 and pending["status"] == "pending"
        res.approve(pending["id"])
        record = await task
        assert record is not None and record.status == "verified" and restart.applied == 1
        with pytest.raises(ApprovalError) as again:
            res.approve(pending["id"])
        assert again.value.status == 409
        with pytest.raises(ApprovalError) as unknown:
            res.reject("fix-999")
        assert unknown.value.status == 404
        task = asyncio.ensure_future(res.resolve(DetectedIssue("FFMPEG_CRASH", 2)))
        await asyncio.sleep(0.5)
        expired = await task
        assert expired is not None and expired.status == "expired"
        with pytest.raises(ApprovalError) as late:
            res.approve(expired.id)
        assert late.value.status == 409
        assert restart.applied == 1
    asyncio.run(run())
