"""Severity decides what a fix may do: a warning is reported but does not cut the picture,
an outage goes straight down the strategy table and shows the error screen at once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

import pytest
from exstreamtv_plugins.healing.strategies import STRATEGIES

from exstreamtv.healing.auto_resolver import DetectedIssue
from exstreamtv.healing.log_collector import LogEvent
from exstreamtv.healing.pattern_detector import PatternDetector
from exstreamtv.healing.severity import (
    SEVERITY_RULES,
    Delivery,
    assess,
    delivery,
    rule_for,
    seen_as,
)
from exstreamtv.healing.vocabulary import IssueType, Severity
from tests.helpers import base_config, clips_folder, until, write_config
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
    assert cutting == {"RESTART", "REFRESH", "FALLBACK", "CPU_TONEMAP", "SKIP"}


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


def fixes(engine: Any, action: str, detector: str) -> list[dict[str, Any]]:
    """The engine's fix events with ``action`` for issues ``detector`` raised."""
    return [e for e in engine.events if e.get("action") == action
            and (e.get("analysis") or {}).get("detector") == detector]


def test_on_a_real_channel_a_warning_does_not_restart_and_an_outage_does(tmp_path):
    config = base_config(tmp_path, clips_folder("long", 3, 12.0))
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def run() -> None:
        hub = await started_hub(path)
        engine = hub.healing
        try:
            pipeline = await hub.channels.acquire(1)
            # What the degradation pattern raises (its lines are warnings), raised while
            # the channel plays at play speed: a hiccup that is over. (Raised directly:
            # on a loaded machine the pattern itself is set aside as a starved host.)
            hiccup = DetectedIssue(IssueType.FFMPEG_HANG, 1, "ffmpeg_degradation",
                                   "pattern_detector", 0.8, risk="MEDIUM",
                                   severity=seen_as("pattern_detector", "warning"))
            await until(lambda: delivery(pipeline.channel_status()) is Delivery.PLAYING, 90)
            before = pipeline.restarts
            engine.raise_issue(hiccup)
            skipped = await until(lambda: [e for e in engine.events
                                            if e.get("action") == "skipped"
                                            and e.get("issue") == "FFMPEG_HANG"], 30)
            assert "held back" in skipped[0]["message"]
            analysis = skipped[0]["analysis"]
            assert analysis["severity"] == "WARNING" and "RESTART" in analysis["held_back"]
            assert pipeline.restarts == before
            assert not fixes(engine, "applied", "pattern_detector")
            # An outage: the programme's ffmpeg is killed (again while one that already
            # wrote its whole item is gone). CRITICAL: RESTART at once.
            for _ in range(20):
                seg = pipeline.current
                if seg is not None and seg.kind == "program" and seg.process.returncode is None:
                    seg.process.send_signal(9)
                with contextlib.suppress(AssertionError):
                    await until(lambda: fixes(engine, "applied", "pipeline"), 3)
                    break
            applied = fixes(engine, "applied", "pipeline")
            assert applied and applied[0]["strategy"] == "RESTART"
            assert applied[0]["analysis"]["severity"] == "CRITICAL"
            hub.channels.release(1)
        finally:
            await hub.stop()
            gc.collect()
            await asyncio.sleep(0.1)

    asyncio.run(run())
