"""AIAnalysis, the approval gate, verification at play speed, live settings, bad input.

Real parts throughout: the collector, monitor, detector and resolver run as the server
runs them; the strategies are small recording plugins (the resolver's contract).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from typing import Any

import pytest

from exstreamtv.config.model import AIAutoHealConfig
from exstreamtv.events import EventBus, FixEvent
from exstreamtv.healing.analysis import Analyst
from exstreamtv.healing.auto_resolver import AutoResolver, DetectedIssue
from exstreamtv.healing.ffmpeg_monitor import FFmpegAIMonitor, classify_error
from exstreamtv.healing.log_collector import CollectorHandler, UnifiedLogCollector
from exstreamtv.healing.pattern_detector import PatternDetector
from tests.test_healing_units import Recorder


def make_resolver(strategies: dict[str, Any], settings: Any = None, ok: bool = True, **kw: Any
                  ) -> tuple[AutoResolver, list[FixEvent]]:
    bus = EventBus()
    seen: list[FixEvent] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, FixEvent) else None)

    async def verify(issue: DetectedIssue, at: float) -> bool:
        return ok

    return AutoResolver(bus, strategies, None, verify, settings=settings, **kw), seen


# -- AIAnalysis ---------------------------------------------------------------------------

def test_analysis_has_evidence_cause_plan_and_outcome():
    async def run() -> None:
        collector = UnifiedLogCollector()
        collector.record("app", "Channel 3: playing 'Movie'", level="info", channel=3)
        collector.record("ffmpeg", "[error] Connection refused", channel=7)
        collector.record("ffmpeg", "frame=  1 fps=0.0 speed=0.1x", level="debug", channel=3)
        tail = ["[h264 @ 0x1] [info] something", "[error] Decoder (codec hevc) not found for "
                "input stream #0:0"]
        analysis = Analyst(collector).analyse("FFMPEG_CRASH", 3, time.time(),
                                              detector="pipeline", stderr_tail=tail)
        assert analysis.recoverable is False and analysis.severity == "CRITICAL"
        assert analysis.error is not None and analysis.error["type"] == "CODEC_ERROR"
        assert "cannot decode" in analysis.probable_cause
        assert analysis.related_channels == [7] and "shared" in analysis.probable_cause
        messages = [e["message"] for e in analysis.evidence]
        assert "Channel 3: playing 'Movie'" in messages
        assert not any("frame=" in m for m in messages), "progress lines are no evidence"
        assert analysis.stderr_tail == tail
        issue = DetectedIssue("FFMPEG_CRASH", 3, "ffmpeg died", recoverable=False,
                              analysis=analysis)
        restart, fallback = Recorder("RESTART"), Recorder("FALLBACK")
        res, seen = make_resolver({"RESTART": restart, "FALLBACK": fallback,
                                   "ESCALATE": Recorder("ESCALATE")})
        record = await res.resolve(issue)
        assert record is not None and record.strategy == "FALLBACK"
        assert restart.applied == 0, "a non-recoverable error was retried"
        assert analysis.chosen is not None and analysis.chosen.strategy == "FALLBACK"
        assert [a.strategy for a in analysis.alternatives] == ["ESCALATE"]
        assert "no restart" in analysis.reason
        assert analysis.outcome == "verified"
        assert [(a.strategy, a.status) for a in analysis.attempts] == [("FALLBACK", "verified")]
        assert all(e.analysis is not None and e.analysis["id"] == analysis.id for e in seen)
    asyncio.run(run())


# -- the approval gate ---------------------------------------------------------------------

def test_gate_uses_the_higher_of_issue_and_strategy_risk():
    async def run() -> None:
        restart = Recorder("RESTART")
        res, seen = make_resolver({"RESTART": restart}, approval_above="MEDIUM")
        task = asyncio.ensure_future(res.resolve(DetectedIssue("FFMPEG_HANG", 1, risk="HIGH")))
        await asyncio.sleep(0.1)
        assert [p["strategy"] for p in res.list_pending()] == ["RESTART"]
        assert restart.applied == 0
        assert "risk HIGH is above MEDIUM" in seen[-1].message
        res.approve(res.list_pending()[0]["id"])
        assert (await task).status == "verified"
        # The same strategy for an issue without a risk of its own runs at once.
        record = await res.resolve(DetectedIssue("FFMPEG_HANG", 2))
        assert record is not None and record.status == "verified" and restart.applied == 2
    asyncio.run(run())


# -- live settings -----------------------------------------------------------------------------

class Live:
    """A settable ai_auto_heal section, as the hub's config is after a reload."""

    def __init__(self, **kw: Any) -> None:
        self.value = AIAutoHealConfig(**kw)

    def __call__(self) -> AIAutoHealConfig:
        return self.value

    def set(self, **kw: Any) -> None:
        self.value = replace(self.value, **kw)


def test_each_resolver_setting_applies_to_the_next_decision():
    async def run() -> None:
        live = Live()
        restart, escalate = Recorder("RESTART"), Recorder("ESCALATE")
        res, seen = make_resolver({"RESTART": restart, "ESCALATE": escalate}, settings=live)
        assert (await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))).status == "verified"
        live.set(auto_resolve_enabled=False)
        assert (await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))).status == "skipped"
        live.set(auto_resolve_enabled=True, max_auto_fixes_per_hour=1)
        await res.resolve(DetectedIssue("FFMPEG_CRASH", 1))
        assert "capped" in [e.action for e in seen] and restart.applied == 1
        live.set(max_auto_fixes_per_hour=50, require_approval_above_risk="LOW")
        task = asyncio.ensure_future(res.resolve(DetectedIssue("FFMPEG_CRASH", 1)))
        await asyncio.sleep(0.1)
        assert len(res.list_pending()) == 1 and restart.applied == 1
        # A reload that lowers the bar decides the waiting fix.
        live.set(require_approval_above_risk="MEDIUM")
        record = await asyncio.wait_for(task, 5)
        assert record.status == "verified" and restart.applied == 2
        assert ("RESTART", "approved") in [(e.strategy, e.action) for e in seen]
        # A reload that turns fixes off while one waits skips it.
        live.set(require_approval_above_risk="LOW")
        task = asyncio.ensure_future(res.resolve(DetectedIssue("FFMPEG_CRASH", 2)))
        await asyncio.sleep(0.1)
        live.set(auto_resolve_enabled=False)
        record = await asyncio.wait_for(task, 5)
        assert record.status == "skipped" and restart.applied == 2 and not res.pending
        # learning_enabled: outcomes train the posteriors only while it is on.
        live.set(auto_resolve_enabled=True, require_approval_above_risk="MEDIUM",
                 learning_enabled=False)
        def posteriors() -> dict[Any, tuple[float, ...]]:
            return {k: tuple(v) for k, v in res.learner.posteriors.items()}

        before = posteriors()
        await res.resolve(DetectedIssue("FFMPEG_CRASH", 3))
        assert posteriors() == before
        live.set(learning_enabled=True)
        await res.resolve(DetectedIssue("FFMPEG_CRASH", 3))
        assert posteriors() != before
    asyncio.run(run())


# -- strategies that raise or hang -------------------------------------------------------------

class Hangs(Recorder):
    async def apply(self, issue: DetectedIssue, context: Any) -> Any:
        self.applied += 1
        await asyncio.sleep(3600)


def test_hanging_strategy_is_time_boxed_and_recorded_failed():
    async def run() -> None:
        hang, fallback = Hangs("RESTART"), Recorder("FALLBACK")
        res, seen = make_resolver({"RESTART": hang, "FALLBACK": fallback}, learning=False,
                                  apply_timeout=0.3)
        record = await asyncio.wait_for(res.resolve(DetectedIssue("FFMPEG_CRASH", 1)), 10)
        assert record is not None and record.strategy == "FALLBACK"
        failed = [e for e in seen if e.action == "failed"]
        assert failed and failed[0].strategy == "RESTART" and "timed out" in failed[0].message
        assert [r.status for r in res.store.all()][:1] == ["failed"]
    asyncio.run(run())


# -- the degradation pattern ---------------------------------------------------------------------

def test_degradation_pattern_fires_from_delivery_lines():
    collector = UnifiedLogCollector()
    for speed in (0.7, 0.68, 0.6, 0.55, 0.5, 0.5):
        collector.record("channel", f"Channel 2: output at {speed:.2f}x play speed",
                         level="warning", channel=2)
    found = [d for d in PatternDetector().scan(collector.events) if d.issue == "FFMPEG_HANG"]
    assert found and found[0].channel == 2 and found[0].confidence >= 0.75
    assert found[0].last_seen == collector.events[-1].timestamp


# -- plugin loggers --------------------------------------------------------------------------

def test_plugin_loggers_are_collected_others_not():
    collector = UnifiedLogCollector()
    handler = CollectorHandler(collector)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        for name in ("exstreamtv_plugins.mqtt.bridge", "plugins.healing.strategies",
                     "exstreamtv_dropin_mine", "exstreamtv.streaming.pipeline",
                     "hypercorn.access", "sqlalchemy.engine"):
            logging.getLogger(name).warning("hello from %s", name)
    finally:
        root.removeHandler(handler)
    loggers = {e.logger for e in collector.events}
    assert loggers == {"exstreamtv_plugins.mqtt.bridge", "plugins.healing.strategies",
                       "exstreamtv_dropin_mine", "exstreamtv.streaming.pipeline"}


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    os.urandom(300).decode("utf-8", errors="replace"),
    "\x00" * 500 + "frame=",
    "Erreur lors de l'ouverture de l'encodeur pour le flux de sortie #0:0",
    "エンコーダーを開く際のエラー nvenc",
    "[h264_nvenc @ 0x1] " + "Ω" * 10_000,
    "speed=" + "9" * 400 + "x frame=" + "1" * 400,
])
def test_garbage_and_foreign_lines_are_no_device_failure(line):
    monitor = FFmpegAIMonitor()
    collector = UnifiedLogCollector(max_events=100)
    found = monitor.on_line(1, line)
    collector.ffmpeg_listener(1)(line)
    error = classify_error(line)
    assert error is None or error.device is None
    assert found is None or not hasattr(found, "device") or found.device is None
    assert len(collector.events) <= 1


def test_flood_of_unknown_lines_keeps_detection_working():
    collector = UnifiedLogCollector(max_events=2000)
    listen = collector.ffmpeg_listener(1)
    for i in range(30_000):
        listen(f"[mpegts @ 0x1] unknown thing {i} " + os.urandom(8).hex())
    listen("[http @ 0x1] [warning] HTTP error 403 Forbidden")
    found = PatternDetector().scan(collector.recent(60))
    assert [d.issue for d in found] == ["URL_EXPIRED"]
    assert len(collector.events) == 2000


def test_secrets_are_masked_in_what_is_collected_and_analysed():
    from exstreamtv.secrets import register_secret

    secret = "plex-token-8f3a9c1d"
    register_secret(secret)
    collector = UnifiedLogCollector()
    collector.ffmpeg_listener(1)(f"[error] http://plex/v.mp4?X-Plex-Token={secret}: "
                                 "Server returned 403 Forbidden (access denied)")
    handler = CollectorHandler(collector)
    logger = logging.getLogger("exstreamtv.test_secrets")
    logger.addHandler(handler)
    try:
        logger.error("Channel 1: fetching http://plex/?X-Plex-Token=%s failed", secret)
    finally:
        logger.removeHandler(handler)
    analysis = Analyst(collector).analyse(
        "URL_EXPIRED", 1, time.time(),
        stderr_tail=[f"[http @ 0x1] [warning] HTTP error 403 Forbidden ({secret})"])
    text = str(analysis.to_dict()) + str([e.to_dict() for e in collector.events])
    assert secret not in text and "***" in text
