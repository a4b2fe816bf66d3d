"""The self-healing engine (``hub.healing``): collector, monitor, detector and resolver wired.

It attaches to every channel pipeline (through ``hub.pipeline_listeners``, which hands
it the channel's :class:`~exstreamtv.streaming.control.ChannelControl`): each ffmpeg
stderr line goes to the log collector and the ffmpeg monitor, and the channel's
recovery policy is configured (with ``use_error_screen_fallback`` a failing channel
shows its error screen until a fix swaps a fresh ffmpeg in). Each failed segment (a
``SegmentEnded`` event: crash, kill, stall, unplayable file) raises an issue; the
pipeline's own stall detector is the only one. A background tick (every 0.5 s) predicts
failures (not on a starved host, where slow is not stuck), samples the system, scans
for patterns and publishes each channel's health when it changes (with hysteresis).
Strategies act on channels only through their controls (typed commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from exstreamtv.events import ChannelEvent, Event, FixEvent, HealthEvent, SessionEvent
from exstreamtv.healing.analysis import Analyst
from exstreamtv.healing.auto_resolver import ApprovalError, AutoResolver, FixRecord
from exstreamtv.healing.ffmpeg_monitor import (
    DeviceFailure,
    ErrorType,
    FFmpegAIMonitor,
    FFmpegError,
    decisive_error,
    parse_progress,
)
from exstreamtv.healing.issue import DetectedIssue
from exstreamtv.healing.log_collector import (
    CollectorHandler,
    UnifiedLogCollector,
    sample_system,
)
from exstreamtv.healing.outcomes import DatabaseOutcomeStore
from exstreamtv.healing.pattern_detector import PatternDetector
from exstreamtv.healing.play_speed import MIN_SPEED, PlaySpeedVerifier
from exstreamtv.healing.severity import Delivery, assess, delivery, seen_as
from exstreamtv.healing.strategy import FixContext
from exstreamtv.healing.vocabulary import IssueType, Severity
from exstreamtv.secrets import mask
from exstreamtv.streaming.control import ChannelControl, ChannelStatus, EndReason, SegmentEnded
from exstreamtv.streaming.recovery import RecoverySettings

if TYPE_CHECKING:
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
#: How long the error screen stays on when no fix swaps the programme back in.
ERROR_SCREEN_HOLD = 5.0
#: After a fix, the issue must not come back for this long to count as fixed.
VERIFY_SECONDS = 3.0
#: Non-verified fixes in a row on one channel that make a restart loop.
LOOP_LIMIT = 3
MEMORY_PRESSURE_FRACTION = 0.92
SPECIFIC_ISSUES = (IssueType.URL_EXPIRED, IssueType.AUTH_FAILED, IssueType.HARDWARE_FAILED,
                   IssueType.TONEMAP_FAILED)
#: stderr lines of a channel kept for analyses, and how far back a failure looks in them.
TAIL_LINES = 40
#: Under play speed this long before a channel's delivery is logged as slow.
SLOW_FOR_SECONDS = 3.0
TAIL_SECONDS = 10.0

__all__ = ["ApprovalError", "HealingEngine"]


class HealingEngine:
    """Detection, prediction and resolution for the whole server."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        cfg = hub.config.ai_auto_heal
        self.collector = UnifiedLogCollector(cfg.log_buffer_minutes)
        self.monitor = FFmpegAIMonitor(cfg.ffmpeg_health_threshold)
        self.detector = PatternDetector()
        self.analyst = Analyst(self.collector)
        self.context = FixContext(hub, cfg.use_error_screen_fallback, cfg.hot_swap_enabled,
                                  channels=hub.channels)
        self.verifier = PlaySpeedVerifier(self._status, self._verify, self._recurred)
        self.resolver = AutoResolver(
            hub.bus, self._strategies(), self.context, self.verifier,
            settings=lambda: self.hub.config.ai_auto_heal)
        self._tails: dict[int, deque[tuple[float, str]]] = {}
        #: Per channel: the start of the run whose device failed to tone-map.
        self._tonemap_runs: dict[int, float] = {}
        self._delivery_checked: dict[int, float] = {}
        self._slow_since: dict[int, float] = {}
        self._error_screen_setting: float | None = self._hold()
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.verify_seconds = VERIFY_SECONDS
        self._seen: dict[tuple[str, int | None], float] = {}
        #: Per issue: the newest time it was shown by something a fix could have changed.
        self._recurrence: dict[tuple[str, int | None], float] = {}
        self._unfixed: dict[int | None, int] = {}
        self._cooldown: dict[int | None, tuple[float, float]] = {}
        self._healthy: dict[int, bool] = {}
        self._predicted: dict[int, float] = {}
        self._handler: CollectorHandler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_system = 0.0
        self._last_scan = 0.0
        #: Pattern-scan rounds so far (every 2 s), whether or not detection is enabled.
        self.scan_rounds = 0
        self._memory_high = 0

    @property
    def config(self) -> Any:
        return self.hub.config.ai_auto_heal

    def _strategies(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.hub.registry.types("healing_strategy"):
            try:
                out[name.upper()] = self.hub.registry.get("healing_strategy", name).factory()
            except Exception as exc:
                log.error("Healing strategy %s could not be built: %s", name, exc)
        return out

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Attach to pipelines, logs and the bus; start the background tick."""
        self.hub.bus.subscribe(self._on_bus)
        self.hub.components["healing"] = self.health
        store = DatabaseOutcomeStore(self.hub)
        self.resolver.store = store
        self.hub.spawn(store.load(self.resolver), name="healing-outcomes")
        # Attached even when disabled: ``enabled`` is read live, so a reload turns it on.
        self._handler = CollectorHandler(self.collector)
        logging.getLogger().addHandler(self._handler)  # filtered to ours and plugins
        self.hub.pipeline_listeners.append(self._attach)
        self.hub.spawn(self._tick_loop(), name="healing")

    async def stop(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- inputs ---------------------------------------------------------------

    def _attach(self, control: ChannelControl) -> Any:
        """Pipeline factory hook: configure the channel's recovery, return its stderr listener."""
        number = control.number
        control.configure(RecoverySettings(error_screen_hold=self._hold()))
        to_log = self.collector.ffmpeg_listener(number)
        tail = self._tails.setdefault(number, deque(maxlen=TAIL_LINES))

        def listen(line: str, started: float) -> None:
            if not self.config.enabled:
                return
            line = mask(line)  # issue messages and analyses carry these lines
            to_log(line)
            if parse_progress(line) is None:
                tail.append((time.time(), line))
            if not self.config.ffmpeg_monitor_enabled:
                return
            found = self.monitor.on_line(number, line)
            if isinstance(found, FFmpegError):
                self._on_ffmpeg_error(number, found, started)

        return listen

    def _on_bus(self, event: Event) -> None:
        if isinstance(event, SegmentEnded):
            if event.failed and self.config.enabled:
                self._on_failure(event)
        elif isinstance(event, FixEvent | HealthEvent):
            self.events.append(event.to_dict())
        elif isinstance(event, ChannelEvent):
            level = "error" if event.action in ("failure", "error") else "info"
            self.collector.record("channel", f"channel {event.action}: {event.title} "
                                  f"{event.message}".strip(), level=level, channel=event.channel)
            if event.action in ("started", "item", "error_screen"):
                self.monitor.reset(event.channel)
        elif isinstance(event, SessionEvent):
            self.collector.record("channel", f"session {event.action} {event.state}".strip(),
                                  level="info", channel=event.channel, session=event.session_id)
        elif event.kind not in ("config",):
            self.collector.record("source", f"{event.kind}: {event.to_dict()}", level="info")

    def _on_ffmpeg_error(self, channel: int, error: FFmpegError, started: float) -> None:
        issue_type = None
        status = self._status(channel)
        if error.type is ErrorType.HTTP_ERROR and error.http_status in (401, 403):
            issue_type = (IssueType.AUTH_FAILED if error.http_status == 401
                          else IssueType.URL_EXPIRED)
        elif (error.type is ErrorType.HARDWARE_ERROR and status is not None
              and status.preset.hardware):
            if error.device is DeviceFailure.TONEMAP:
                issue_type = IssueType.TONEMAP_FAILED  # tone-map on the CPU, keep the GPU
                self._tonemap_runs[channel] = started
            elif self._tonemap_runs.get(channel) != started:
                # A device failure of the encoder in use; in a run whose tone-map device
                # failed, the generic "Device creation failed" after it is that device's.
                issue_type = IssueType.HARDWARE_FAILED
        elif error.type is ErrorType.MEMORY_ERROR:
            issue_type = IssueType.MEMORY_PRESSURE
        if issue_type is not None:
            self.raise_issue(DetectedIssue(issue_type, channel, error.line, "ffmpeg_monitor",
                                           evidence=(error.line,), shown_by=started,
                                           severity=seen_as("ffmpeg_monitor", error.severity)))

    def _on_failure(self, ended: SegmentEnded) -> None:
        """A segment failed. Its stderr was read to the end before the event, so a specific
        cause (an expired URL, a failed hardware encoder) has already been raised."""
        kind = IssueType.FFMPEG_HANG if ended.reason == EndReason.STALLED else IssueType.FFMPEG_CRASH
        message = ended.message or f"ffmpeg {ended.reason} (exit {ended.exit_code})"
        tail = self._tail(ended.channel)
        error = decisive_error(tail, ended.channel)
        if error is not None and error.type is ErrorType.CODEC_ERROR:
            kind = IssueType.CODEC_ERROR  # retrying the item cannot help: skip it
        issue = DetectedIssue(kind, ended.channel, message, "pipeline", stderr_tail=tail,
                              recoverable=error.recoverable if error is not None else True,
                              shown_by=ended.started or None,
                              severity=seen_as("pipeline", error.severity if error else None))
        now = time.time()
        if any((t, issue.channel) in self.resolver.active
               or now - self._seen.get((t, issue.channel), 0) < 3 for t in SPECIFIC_ISSUES):
            self._note(issue)
            return
        self.raise_issue(issue)

    def _note(self, issue: DetectedIssue) -> None:
        """Record a sighting of ``issue``, and when it counts against a fix applied before
        it: a run's lines count from the run's start (a late line of the run a fix replaced
        is not the issue coming back), and a log pattern matched while its issue is being
        fixed is the log echoing the same failure."""
        key = (issue.type, issue.channel)
        self._seen[key] = issue.at
        if issue.shown_by is not None:
            mark = issue.shown_by
        elif issue.detector == "pattern_detector" and key in self.resolver.active:
            return
        else:
            mark = issue.at
        self._recurrence[key] = max(self._recurrence.get(key, 0.0), mark)

    def raise_issue(self, issue: DetectedIssue) -> None:
        """Note ``issue`` and start resolving it (unless one like it is being resolved)."""
        self._note(issue)
        if issue.analysis is None:
            issue = self._analysed(issue)
        self.collector.record("healing", f"issue {issue.type}: {issue.message}", level="error",
                              channel=issue.channel)
        if not self.config.auto_resolve_enabled and not self.config.enabled:
            return
        if (issue.type, issue.channel) in self.resolver.active:
            return
        until, _ = self._cooldown.get(issue.channel, (0.0, 0.0))
        if time.time() < until:
            return  # backing off after a restart loop: the pipeline's own backoff runs
        self.hub.bus.publish(FixEvent(issue=issue.type, strategy="", action="detected",
                                      channel=issue.channel, confidence=issue.confidence,
                                      risk=issue.risk, message=issue.message,
                                      analysis=issue.analysis.to_dict() if issue.analysis
                                      else None))
        self._spawn(self._resolve(issue))

    async def _resolve(self, issue: DetectedIssue) -> None:
        record = await self.resolver.resolve(issue)
        if record is None:
            return
        if record.status in ("verified",):
            self._unfixed[issue.channel] = 0
        elif record.status in ("failed", "rolled_back", "escalated"):
            count = self._unfixed.get(issue.channel, 0) + 1
            self._unfixed[issue.channel] = count
            if count >= LOOP_LIMIT:
                self._back_off(issue)

    def _back_off(self, issue: DetectedIssue) -> None:
        _, previous = self._cooldown.get(issue.channel, (0.0, 0.0))
        delay = min(max(previous * 2, 5.0), 120.0)
        self._cooldown[issue.channel] = (time.time() + delay, delay)
        self._unfixed[issue.channel] = 0
        message = (f"{LOOP_LIMIT} fixes in a row did not hold on channel {issue.channel}; "
                   f"no automatic fixes for {delay:.0f}s, an operator should look")
        log.error("Self-healing: %s", message)
        self.hub.bus.publish(FixEvent(issue=issue.type, strategy="ESCALATE", action="escalated",
                                      channel=issue.channel, message=message))
        self.hub.bus.publish(HealthEvent(component="healing", status="error", message=message,
                                         channel=issue.channel))

    def _status(self, number: int) -> ChannelStatus | None:
        """The running channel's status (None when it has no running pipeline)."""
        try:
            return self.hub.channels.control(number).status()
        except LookupError:
            return None

    def _tail(self, channel: int | None) -> tuple[str, ...]:
        """The channel's last stderr lines (not progress) of the last few seconds."""
        horizon = time.time() - TAIL_SECONDS
        lines = self._tails.get(channel) if channel is not None else None
        return tuple(line for at, line in lines or () if at >= horizon)

    def _analysed(self, issue: DetectedIssue) -> DetectedIssue:
        """``issue`` with its AIAnalysis (evidence, cause, recoverability) and its severity
        assessed against what the channel delivers now (a failed segment: nothing)."""
        tail = issue.stderr_tail or self._tail(issue.channel)
        analysis = self.analyst.analyse(issue.type, issue.channel, issue.at,
                                        detector=issue.detector, message=issue.message,
                                        stderr_tail=tail, evidence=issue.evidence)
        now = (Delivery.NOTHING if issue.detector == "pipeline" else
               delivery(self._status(issue.channel)) if issue.channel is not None else None)
        severity = assess(Severity.of(issue.severity), now)
        analysis.severity = severity
        return dataclasses.replace(issue, analysis=analysis, severity=severity,
                                   recoverable=issue.recoverable and analysis.recoverable)

    def _recurred(self, issue: DetectedIssue, applied_at: float) -> bool:
        """Whether ``issue`` (or its kin: a crash after a hang) was seen after the fix."""
        related = [issue.type]
        if issue.type in (IssueType.FFMPEG_CRASH, IssueType.FFMPEG_HANG):
            related = [IssueType.FFMPEG_CRASH, IssueType.FFMPEG_HANG]
        return any(self._recurrence.get((t, issue.channel), 0.0) > applied_at for t in related)

    async def _verify(self, issue: DetectedIssue, applied_at: float) -> bool:
        """A server-wide fix (no channel) counts as fixed when the issue stayed away."""
        await asyncio.sleep(self.verify_seconds)
        if issue.type == IssueType.MEMORY_PRESSURE:
            sample = sample_system(str(self.hub.data_dir))
            return (sample.memory_used_fraction or 0.0) < MEMORY_PRESSURE_FRACTION
        return not self._recurred(issue, applied_at)

    # -- the tick -------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self._tick()
            except Exception:
                log.exception("Self-healing tick failed")

    def _apply_settings(self) -> None:
        """Bring the parts built from ``ai_auto_heal`` up to the live config (a reload)."""
        cfg = self.config
        self.monitor.health_threshold = cfg.ffmpeg_health_threshold
        self.collector.buffer_seconds = cfg.log_buffer_minutes * 60.0
        self.context.error_screen = cfg.use_error_screen_fallback
        self.context.hot_swap = cfg.hot_swap_enabled
        hold = self._hold()
        if hold != self._error_screen_setting:
            self._error_screen_setting = hold
            for control in self.hub.channels.controls():
                control.configure(RecoverySettings(error_screen_hold=hold))

    def _hold(self) -> float | None:
        """The error-screen hold self-healing asks of the recovery policy (None: its own)."""
        cfg = self.config
        return ERROR_SCREEN_HOLD if cfg.enabled and cfg.use_error_screen_fallback else None

    def _tick(self) -> None:
        now = time.time()
        self._apply_settings()
        if not self.config.enabled:
            return
        for control in self.hub.channels.controls():
            status = control.status()
            self._check_delivery(status, now)
            self._check_health(control)
            self._check_prediction(control.number, now)
        if now - self._last_system >= 5.0:
            self._last_system = now
            self._check_system()
        if now - self._last_scan >= 2.0:
            self._last_scan = now
            self.scan_rounds += 1  # a round passes (and is counted) even with detection off
            found_now = (self.detector.scan(self.collector.recent(300))
                         if self.config.pattern_detection_enabled else [])
            for found in found_now:
                self.hub.bus.publish(FixEvent(
                    issue=found.issue, strategy="", action="pattern", channel=found.channel,
                    risk=found.risk, confidence=found.confidence,
                    message=f"{found.pattern}: " + " | ".join(found.evidence[-3:])))
                if found.issue == IssueType.FFMPEG_HANG and self.hub.channels.host.starved:
                    continue  # slow because the host is busy, not stuck: a restart adds load
                if found.confidence >= self.config.prediction_confidence_threshold:
                    self.raise_issue(DetectedIssue(found.issue, found.channel, found.pattern,
                                                   "pattern_detector", found.confidence,
                                                   found.evidence, found.last_seen,
                                                   risk=found.risk,
                                                   severity=seen_as("pattern_detector",
                                                                    found.level)))

    def _check_delivery(self, status: ChannelStatus, now: float) -> None:
        """Once a second, a channel that has played its programme under play speed
        (measured at its output) for :data:`SLOW_FOR_SECONDS` is logged with its speed:
        the degradation pattern reads these lines. A boundary's dip is shorter and is not
        logged. (ffmpeg's own speed= is cumulative: a pre-started ffmpeg reads under 1x for
        minutes while delivering perfectly, so it is not what the pattern reads.)"""
        number = status.number
        if now - self._delivery_checked.get(number, 0.0) < 1.0:
            return
        self._delivery_checked[number] = now
        speed = status.delivered_speed
        if speed is None or speed >= MIN_SPEED or status.segment != "program":
            self._slow_since.pop(number, None)
            return
        since = self._slow_since.setdefault(number, now)
        if now - since >= SLOW_FOR_SECONDS:
            self.collector.record("channel", f"Channel {number}: output at {speed:.2f}x "
                                  "play speed", level="warning", channel=number)

    def _check_health(self, control: ChannelControl) -> None:
        """Publish the channel's health when it changes (the pipeline keeps the hysteresis:
        degraded only while viewers would notice)."""
        status = control.status()
        healthy = status.health == "ok"
        if healthy != self._healthy.get(control.number, True):
            self._healthy[control.number] = healthy
            self.hub.bus.publish(HealthEvent(
                component="channel", status=status.health, channel=control.number,
                message=status.health_reason or "delivering at play speed again"))

    def _check_prediction(self, number: int, now: float) -> None:
        prediction = self.monitor.predict(number)
        if prediction is None or now - self._predicted.get(number, 0.0) < 30:
            return
        self._predicted[number] = now
        self.hub.bus.publish(FixEvent(issue=IssueType.FFMPEG_HANG, strategy="", action="predicted",
                                      channel=number, confidence=prediction.confidence,
                                      message=prediction.reason))
        if self.hub.channels.host.starved:
            return  # every channel is slow because the host is busy: a restart adds load
        if prediction.confidence >= self.config.prediction_confidence_threshold:
            self.raise_issue(DetectedIssue(IssueType.FFMPEG_HANG, number, prediction.reason,
                                           "prediction", prediction.confidence,
                                           severity=seen_as("prediction")))

    def _check_system(self) -> None:
        sample = sample_system(str(self.hub.data_dir))
        self.collector.record_system(sample)
        high = (sample.memory_used_fraction or 0.0) >= MEMORY_PRESSURE_FRACTION
        self._memory_high = self._memory_high + 1 if high else 0
        if self._memory_high == 2:
            self.raise_issue(DetectedIssue(
                IssueType.MEMORY_PRESSURE, None,
                f"memory {sample.memory_used_fraction:.0%} used", "system"))

    # -- the public face (API, MQTT) ------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        return self.resolver.list_pending()

    def approve(self, fix_id: str) -> FixRecord:
        return self.resolver.approve(fix_id)

    def reject(self, fix_id: str) -> FixRecord:
        return self.resolver.reject(fix_id)

    def fixes_last_hour(self) -> int:
        return self.resolver.fixes_last_hour()

    def outcomes(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.resolver.store.all()]

    def health(self) -> dict[str, Any]:
        """The ``healing`` entry of GET /api/health."""
        unhealthy = [n for n, ok in self._healthy.items() if not ok]
        return {
            "status": "degraded" if unhealthy or self.resolver.pending else "ok",
            "enabled": self.config.enabled,
            "fixes_last_hour": self.fixes_last_hour(),
            "pending": len(self.resolver.pending),
            "unhealthy_channels": unhealthy,
            "log_buffer": self.collector.stats(),
        }

    def status(self) -> dict[str, Any]:
        """Everything for GET /api/healing/status."""
        return {
            **self.health(),
            "channels": {str(n): self.monitor.metrics(n).to_dict()
                         for n in self.monitor.channels()},
            "learning": self.resolver.learner.to_dict(),
            "strategies": sorted(self.resolver.strategies),
            "recent_errors": [e.to_dict() for e in self.collector.recent_errors(20)],
        }
