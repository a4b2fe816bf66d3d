"""AIAnalysis: why self-healing thinks an issue happened and why it chose its fix.

Every detected issue gets one :class:`AIAnalysis`, built by :class:`Analyst` from what
the server saw around it:

- the evidence: the correlated log lines of the collector's context window around the
  issue (the channel's own lines and server-wide ones, progress lines left out), and
  the failed ffmpeg's stderr tail;
- the decisive ffmpeg error of that tail (:func:`decisive_error`): its type, severity,
  whether retrying can help, and its probable cause;
- other channels failing in the same seconds (the collector's correlation): a shared
  cause (a source, the network or the host) rather than this channel's ffmpeg;
- the plan: the strategy chosen and why (learned confidence, risk, the approval gate)
  and the alternatives in the order they would be tried;
- later, each attempt's outcome and the final one.

The analysis travels with the issue (``DetectedIssue.analysis``) and is part of every
FixEvent about it, so it shows in ``GET /api/healing/events``, the MQTT event payload
and the dashboard.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from exstreamtv.healing.ffmpeg_monitor import FFmpegError, decisive_error
from exstreamtv.healing.log_collector import LogEvent, UnifiedLogCollector
from exstreamtv.healing.vocabulary import IssueType
from exstreamtv.secrets import mask

#: Seconds of log before and after an issue that make its context window.
CONTEXT_BEFORE = 15.0
CONTEXT_AFTER = 1.0
#: Most evidence lines kept (the newest), and the longest kept line.
MAX_EVIDENCE = 15
MAX_TAIL = 10
MAX_CHARS = 300

#: The probable cause of each issue type when no ffmpeg error names a better one.
DEFAULT_CAUSES: dict[str, str] = {
    IssueType.FFMPEG_CRASH: "ffmpeg exited before the end of the item (killed, crashed, or its "
                    "input ended early)",
    IssueType.FFMPEG_HANG: "ffmpeg stopped delivering at play speed (a stopped process, a stuck "
                   "input, or too little CPU)",
    IssueType.URL_EXPIRED: "the item's URL or token expired (the source answered 403)",
    IssueType.AUTH_FAILED: "the source refused the credentials (401)",
    IssueType.DB_POOL_EXHAUSTED: "every database connection was in use",
    IssueType.MEMORY_PRESSURE: "the host is short of memory",
    IssueType.SOURCE_UNAVAILABLE: "the source did not answer (network or server down)",
    IssueType.HARDWARE_FAILED: "the hardware encoder failed on this device",
    IssueType.TONEMAP_FAILED: "the encoder's device cannot tone-map HDR here",
    IssueType.CODEC_ERROR: "this ffmpeg cannot decode the item",
    IssueType.HOST_STARVED: "the host has too little CPU for the channels",
}


def _cut(text: str) -> str:
    text = mask(text)  # a URL ffmpeg quotes may carry a source's token
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "..."


@dataclass
class StrategyOption:
    """A strategy considered for an issue: its risk and learned confidence."""

    strategy: str
    risk: str
    confidence: float


@dataclass
class Attempt:
    """One fix attempt and how it ended."""

    fix_id: str
    strategy: str
    status: str
    message: str = ""
    at: float = field(default_factory=time.time)


@dataclass
class AIAnalysis:
    """What was detected, from which evidence, the probable cause, the plan and the outcome."""

    id: str
    issue: str
    channel: int | None
    detector: str
    severity: str
    recoverable: bool
    probable_cause: str
    evidence: list[dict[str, Any]]
    stderr_tail: list[str]
    error: dict[str, Any] | None = None
    related_channels: list[int] = field(default_factory=list)
    chosen: StrategyOption | None = None
    #: Strategies the severity kept from running (a WARNING gets nothing that cuts the picture).
    held_back: list[str] = field(default_factory=list)
    reason: str = ""
    alternatives: list[StrategyOption] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def plan(self, chain: Sequence[tuple[str, str, float]], approval_above: str,
             issue_risk: str, learning: bool, *, severity: str | None = None,
             held: Sequence[str] = ()) -> None:
        """Record the chain of strategies to try: the first is chosen, the rest wait;
        ``held``: the strategies the issue's ``severity`` keeps from running."""
        if severity is not None:
            self.severity = severity
        options = [StrategyOption(name, risk, round(conf, 3)) for name, risk, conf in chain]
        self.chosen = options[0] if options else None
        self.alternatives = options[1:]
        self.updated = time.time()
        if held:
            self.held_back = list(held)
        if self.chosen is None:
            self.reason = (f"severity {self.severity}: the programme still plays, so no fix "
                           f"that interrupts viewers ({', '.join(held)} held back)" if held
                           else "no strategy applies to this issue")
            return
        order = ("learned success probability" if learning else "the strategy table's order"
                 + (" (severity CRITICAL: the quickest way back to picture first)"
                    if self.severity == "CRITICAL" else ""))
        others = ", ".join(f"{o.strategy} ({o.confidence:.2f})" for o in self.alternatives)
        gate = f"issue risk {issue_risk}, strategy risk {self.chosen.risk}"
        self.reason = (f"{self.chosen.strategy} first by {order} "
                       f"(confidence {self.chosen.confidence:.2f}); {gate}; approval needed "
                       f"above {approval_above}" + (f"; then {others}" if others else ""))
        if not self.recoverable:
            self.reason += "; the error cannot be fixed by retrying the item, so no restart"
        if held:
            self.reason += (f"; severity {self.severity}: {', '.join(held)} held back (they "
                            "would interrupt viewers who still have picture)")

    def attempt(self, fix_id: str, strategy: str, status: str, message: str) -> None:
        """Note what happened to one attempt (the newest state of each fix id)."""
        for existing in self.attempts:
            if existing.fix_id == fix_id:
                existing.status, existing.message, existing.at = status, message, time.time()
                break
        else:
            self.attempts.append(Attempt(fix_id, strategy, status, message))
        if status in ("verified", "escalated", "rejected", "expired", "skipped"):
            self.outcome = status  # failed/rolled_back: the next strategy may still work
        self.updated = time.time()

    def finish(self, status: str | None) -> None:
        """The chain ended: its final status is the outcome."""
        if status is not None:
            self.outcome = status
        self.updated = time.time()


def _evidence(events: Iterable[LogEvent]) -> list[dict[str, Any]]:
    kept = [e for e in events if e.level != "debug"]
    return [{"at": round(e.timestamp, 3), "source": e.source, "level": e.level,
             "channel": e.channel, "message": _cut(e.message)} for e in kept[-MAX_EVIDENCE:]]


class Analyst:
    """Builds the :class:`AIAnalysis` of each issue from the collector's windows."""

    def __init__(self, collector: UnifiedLogCollector) -> None:
        self.collector = collector
        self._ids = itertools.count(1)

    def analyse(self, issue_type: str, channel: int | None, at: float, *, detector: str = "",
                message: str = "", stderr_tail: Iterable[str] = (),
                evidence: Iterable[str] = ()) -> AIAnalysis:
        """The analysis of an issue of ``issue_type`` seen on ``channel`` at ``at``."""
        tail = [_cut(line) for line in stderr_tail if line.strip()][-MAX_TAIL:]
        error: FFmpegError | None = decisive_error(tail, channel)
        if error is None and message:
            error = decisive_error([message], channel)
        window = self.collector.context(at, CONTEXT_BEFORE, CONTEXT_AFTER, channel)
        lines = _evidence(window)
        known = {line["message"] for line in lines}
        for extra in evidence:  # a detector's own evidence (pattern hits) not in the window
            if _cut(extra) not in known:
                lines.append({"at": at, "source": detector or "detector", "level": "warning",
                              "channel": channel, "message": _cut(extra)})
        related = sorted(
            number for number, events in self.collector.correlate(at, CONTEXT_AFTER + 4).items()
            if number is not None and number != channel and any(e.is_error for e in events))
        cause = error.cause if error is not None else DEFAULT_CAUSES.get(issue_type, message)
        if related:
            cause += (f"; channels {', '.join(map(str, related))} had errors in the same "
                      "seconds, so the cause may be shared (a source, the network or the host)")
        return AIAnalysis(
            id=f"an-{next(self._ids)}", issue=issue_type, channel=channel, detector=detector,
            severity=error.severity if error is not None else "ERROR",
            recoverable=error.recoverable if error is not None else True,
            probable_cause=cause, evidence=lines[-MAX_EVIDENCE:], stderr_tail=tail,
            error=error.to_dict() if error is not None else None, related_channels=related,
            created=at)
