"""Severity decides what a fix may do: a warning is reported but does not cut the picture,
an outage goes straight down the strategy table and shows the error screen at once."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from exstreamtv_plugins.healing.strategies import STRATEGIES

from exstreamtv.healing.auto_resolver import DetectedIssue
from exstreamtv.healing.log_collector import LogEvent
from exstreamtv.healing.pattern_detector import PatternDetector
from exstreamtv.healing.severity import SEVERITY_RULES, Delivery, assess, rule_for, seen_as
from exstreamtv.healing.vocabulary import Severity
from tests.helpers import base_config, clips_folder, write_config
from tests.test_healing_keys import _until
from tests.test_healing_outcomes import started_hub
from tests.test_healing_units import Recorder, resolver

W, E, C = Severity.WARNING, Severity.ERROR, Severity.CRITICAL


@pytest.mark.parametrize(("seen", "now", "expected"), [
    (W, Delivery.PLAYING, W), (W, None, W), (W, Delivery.SLOW, E), (W, Delivery.NOTHING, C),
    (E, Delivery.PLAYING, E), (E, Delivery.SLOW, E), (E, Delivery.NOTHING, C),
    (C, Delivery.PLAYING, C), (C, Delivery.SLOW, C), (C, None, C),
])
def test_severity_is_what_was_seen_raised_by_what_viewers_get(seen, now, expected):
    assert assess(seen, now) is expected


def test_what_each_detector_saw():
    assert seen_as("prediction") is W  # a forecast, whatever the level
    assert seen_as("pattern_detector", "warning") is W
    assert seen_as("pattern_detector", "info") is W
    assert seen_as("pattern_detector", "error") is E
    assert seen_as("ffmpeg_monitor", "CRITICAL") is C
    assert seen_as("pipeline") is E and seen_as("pipeline", "nonsense") is E


def test_the_one_table_and_the_strategies_that_cut_the_picture():
    assert [r.may_interrupt for r in SEVERITY_RULES.values()] == [False, True, True]
    assert [r.error_screen_at_once for r in SEVERITY_RULES.values()] == [False, False, True]
    assert [r.learned_order for r in SEVERITY_RULES.values()] == [True, True, False]
    assert rule_for("bogus") is SEVERITY_RULES[E]
    cutting = {s.name for s in STRATEGIES if s.interrupts}
    assert cutting == {"RESTART", "REFRESH", "FALLBACK", "SKIP"}


def test_pattern_severity_is_its_worst_line():
    detector = PatternDetector(clock=lambda: 100.0)
    lines = [LogEvent("channel", "warning", "Channel 1: output at 0.60x play speed", 1,
                      timestamp=99.0) for _ in range(3)]
    [found] = detector.scan(lines)
    assert found.level == "warning" and seen_as("pattern_detector", found.level) is W
    worse = [*lines, LogEvent("ffmpeg", "error", "[x] dropped frames", 2, timestamp=99.0)]
    worse += [LogEvent("ffmpeg", "warning", "buffer underrun", 2, timestamp=99.0)] * 2
    [found] = [f for f in PatternDetector(clock=lambda: 100.0).scan(worse) if f.channel == 2]
    assert found.level == "error"


def strategies(**names: bool) -> dict[str, Any]:
    """Recorders; the value says whether the strategy cuts the picture."""
    made = {}
    for name, cuts in names.items():
        made[name] = Recorder(name)
        made[name].interrupts = cuts
    return made


def test_a_warning_is_recorded_and_reported_but_gets_no_fix_that_cuts_the_picture():
    async def run() -> None:
        made = strategies(RESTART=True, FALLBACK=True, ESCALATE=False)
        res, seen = resolver(made)
        record = await res.resolve(DetectedIssue("FFMPEG_HANG", 1, severity=W))
        assert record is not None and record.status == "skipped" and record.strategy == "RESTART"
        assert "held back" in record.message and "RESTART, FALLBACK" in record.message
        assert [(e.strategy, e.action) for e in seen] == [("RESTART", "skipped")]
        assert not any(s.applied for s in made.values())  # not even ESCALATE: nothing failed
        # The same issue at ERROR is fixed as before.
        record = await res.resolve(DetectedIssue("FFMPEG_HANG", 1, severity=E))
        assert record is not None and record.status == "verified" and made["RESTART"].applied == 1
    asyncio.run(run())


def test_a_warning_still_gets_the_fixes_that_leave_the_picture_alone():
    async def run() -> None:
        made = strategies(REDUCE=False, ESCALATE=False)
        res, _seen = resolver(made)
        record = await res.resolve(DetectedIssue("MEMORY_PRESSURE", None, severity=W))
        assert record is not None and record.status == "verified" and made["REDUCE"].applied == 1
    asyncio.run(run())


def test_an_outage_goes_straight_to_the_tables_primary_strategy():
    async def run() -> None:
        made = strategies(RESTART=True, FALLBACK=True, ESCALATE=False)
        res, _seen = resolver(made)
        for _ in range(10):  # RESTART failed here before: learning prefers FALLBACK now
            res.learner.update("FFMPEG_HANG", "RESTART", 0.9, False)
        assert res.chain("FFMPEG_HANG", True, E)[0][0] == "FALLBACK"
        assert [s for s, *_ in res.chain("FFMPEG_HANG", True, C)] == ["RESTART", "FALLBACK",
                                                                      "ESCALATE"]
        record = await res.resolve(DetectedIssue("FFMPEG_HANG", 1, severity=C))
        assert record is not None and record.strategy == "RESTART"
        assert made["RESTART"].applied == 1 and made["FALLBACK"].applied == 0
    asyncio.run(run())


def test_on_a_real_channel_a_warning_does_not_restart_and_an_outage_does(tmp_path):
    config = base_config(tmp_path, clips_folder("long", 3, 12.0))
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def run() -> None:
        hub = await started_hub(path)
        engine = hub.healing
        try:
            pipeline = await hub.channels.acquire(1)
            await _until(lambda: (s := pipeline.channel_status()).segment == "program"
                         and (s.delivered_speed or 0) >= 0.9, 60)
            before = pipeline.restarts
            # The engine's own line for a channel below play speed, six times (enough for
            # the degradation pattern to pass the confidence threshold) while it plays at
            # play speed: a hiccup that is over.
            for _ in range(6):
                engine.collector.record("channel", "Channel 1: output at 0.60x play speed",
                                        level="warning", channel=1)
            skipped = await _until(lambda: [e for e in engine.events
                                            if e.get("action") == "skipped"
                                            and e.get("issue") == "FFMPEG_HANG"], 30)
            assert "held back" in skipped[0]["message"]
            analysis = skipped[0]["analysis"]
            assert analysis["severity"] == "WARNING" and "RESTART" in analysis["held_back"]
            assert pipeline.restarts == before
            assert not [e for e in engine.events if e.get("action") == "applied"]
            # An outage: the programme's ffmpeg is killed. CRITICAL, RESTART at once.
            assert pipeline.current is not None
            pipeline.current.process.send_signal(9)
            applied = await _until(lambda: [e for e in engine.events
                                            if e.get("action") == "applied"], 30)
            assert applied[0]["strategy"] == "RESTART"
            assert applied[0]["analysis"]["severity"] == "CRITICAL"
            hub.channels.release(1)
        finally:
            await hub.stop()
            gc.collect()
            await asyncio.sleep(0.1)

    asyncio.run(run())
