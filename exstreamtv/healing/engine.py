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
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from exstreamtv.events import ChannelEvent, Event, FixEvent, HealthEvent, SessionEvent
from exstreamtv.healing.auto_resolver import (
    ApprovalError,
    AutoResolver,
    DetectedIssue,
    FixRecord,
)
from exstreamtv.healing.ffmpeg_monitor import ErrorType, FFmpegAIMonitor, FFmpegError
from exstreamtv.healing.log_collector import (
    CollectorHandler,
    UnifiedLogCollector,
    sample_system,
)
from exstreamtv.healing.outcomes import DatabaseOutcomeStore
from exstreamtv.healing.pattern_detector import PatternDetector
from exstreamtv.healing.strategy import FixContext
from exstreamtv.healing.vocabulary import IssueType
from exstreamtv.streaming.control import ChannelControl, EndReason, SegmentEnded
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
SPECIFIC_ISSUES = (IssueType.URL_EXPIRED, IssueType.AUTH_FAILED, IssueType.HARDWARE_FAILED)

__all__ = ["ApprovalError", "HealingEngine"]


class HealingEngine:
    """Detection, prediction and resolution for the whole server."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        cfg = hub.config.ai_auto_heal
        self.collector = UnifiedLogCollector(cfg.log_buffer_minutes)
        self.monitor = FFmpegAIMonitor(cfg.ffmpeg_health_threshold)
        self.detector = PatternDetector()
        self.context = FixContext(hub, cfg.use_error_screen_fallback, cfg.hot_swap_enabled,
                                  channels=hub.channels)
        self.resolver = AutoResolver(
            hub.bus, self._strategies(), self.context, self._verify,
            max_per_hour=cfg.max_auto_fixes_per_hour,
            approval_above=cfg.require_approval_above_risk,
            learning=cfg.learning_enabled, enabled=cfg.auto_resolve_enabled)
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.verify_seconds = VERIFY_SECONDS
        self._seen: dict[tuple[str, int | None], float] = {}
        self._unfixed: dict[int | None, int] = {}
        self._cooldown: dict[int | None, tuple[float, float]] = {}
        self._healthy: dict[int, bool] = {}
        self._predicted: dict[int, float] = {}
        self._handler: CollectorHandler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_system = 0.0
        self._last_scan = 0.0
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
        if not self.config.enabled:
            return
        self._handler = CollectorHandler(self.collector)
        logging.getLogger("exstreamtv").addHandler(self._handler)
        self.hub.pipeline_listeners.append(self._attach)
        self.hub.spawn(self._tick_loop(), name="healing")

    async def stop(self) -> None:
        if self._handler is not None:
            logging.getLogger("exstreamtv").removeHandler(self._handler)
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
        hold = ERROR_SCREEN_HOLD if self.config.use_error_screen_fallback else None
        control.configure(RecoverySettings(error_screen_hold=hold))
        to_log = self.collector.ffmpeg_listener(number)

        def listen(line: str) -> None:
            to_log(line)
            if not self.config.ffmpeg_monitor_enabled:
                return
            found = self.monitor.on_line(number, line)
            if isinstance(found, FFmpegError):
                self._on_ffmpeg_error(number, found)

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

    def _on_ffmpeg_error(self, channel: int, error: FFmpegError) -> None:
        issue_type = None
        if error.type is ErrorType.HTTP_ERROR and error.http_status in (401, 403):
            issue_type = (IssueType.AUTH_FAILED if error.http_status == 401
                          else IssueType.URL_EXPIRED)
        elif error.type is ErrorType.HARDWARE_ERROR:
            issue_type = IssueType.HARDWARE_FAILED
        elif error.type is ErrorType.MEMORY_ERROR:
            issue_type = IssueType.MEMORY_PRESSURE
        if issue_type is not None:
            self.raise_issue(DetectedIssue(issue_type, channel, error.line, "ffmpeg_monitor",
                                           evidence=(error.line,)))

    def _on_failure(self, ended: SegmentEnded) -> None:
        """A segment failed. Its stderr was read to the end before the event, so a specific
        cause (an expired URL, a failed hardware encoder) has already been raised."""
        kind = IssueType.FFMPEG_HANG if ended.reason == EndReason.STALLED else IssueType.FFMPEG_CRASH
        message = ended.message or f"ffmpeg {ended.reason} (exit {ended.exit_code})"
        issue = DetectedIssue(kind, ended.channel, message, "pipeline")
        now = time.time()
        if any((t, issue.channel) in self.resolver.active
               or now - self._seen.get((t, issue.channel), 0) < 3 for t in SPECIFIC_ISSUES):
            self._seen[(issue.type, issue.channel)] = issue.at
            return
        self.raise_issue(issue)

    def raise_issue(self, issue: DetectedIssue) -> None:
        """Note ``issue`` and start resolving it (unless one like it is being resolved)."""
        self._seen[(issue.type, issue.channel)] = issue.at
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
                                      message=issue.message))
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

    async def _verify(self, issue: DetectedIssue, applied_at: float) -> bool:
        """The issue counts as fixed when it was not seen again within the window."""
        await asyncio.sleep(self.verify_seconds)
        if issue.type == "MEMORY_PRESSURE":
            sample = sample_system(str(self.hub.data_dir))
            return (sample.memory_used_fraction or 0.0) < MEMORY_PRESSURE_FRACTION
        related = [issue.type]
        if issue.type in ("FFMPEG_CRASH", "FFMPEG_HANG"):
            related = ["FFMPEG_CRASH", "FFMPEG_HANG"]
        return all(self._seen.get((t, issue.channel), 0.0) <= applied_at for t in related)

    # -- the tick -------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self._tick()
            except Exception:
                log.exception("Self-healing tick failed")

    def _tick(self) -> None:
        now = time.time()
        for control in self.hub.channels.controls():
            self._check_health(control)
            self._check_prediction(control.number, now)
        if now - self._last_system >= 5.0:
            self._last_system = now
            self._check_system()
        if self.config.pattern_detection_enabled and now - self._last_scan >= 2.0:
            self._last_scan = now
            for found in self.detector.scan(self.collector.recent(300)):
                self.hub.bus.publish(FixEvent(
                    issue=found.issue, strategy="", action="pattern", channel=found.channel,
                    risk=found.risk, confidence=found.confidence,
                    message=f"{found.pattern}: " + " | ".join(found.evidence[-3:])))
                if found.confidence >= self.config.prediction_confidence_threshold:
                    self.raise_issue(DetectedIssue(found.issue, found.channel, found.pattern,
                                                   "pattern_detector", found.confidence,
                                                   found.evidence))

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
                                           "prediction", prediction.confidence))

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
