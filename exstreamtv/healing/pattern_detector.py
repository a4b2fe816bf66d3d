"""PatternDetector (spec 6.3): known failure patterns over sliding windows of log events.

Each pattern is a row of the spec's table: indicator phrases and a risk level. Over a
sliding window (per channel, and globally for server-wide patterns) the detector counts
events matching any indicator; at ``min_hits`` matching events it reports a
:class:`PatternDetection` with the matching lines as evidence and a confidence that
grows with the number of hits and of distinct indicators seen:

    confidence = min(0.99, 0.5 + 0.1 * (hits - min_hits) + 0.15 * (indicators - 1))

A pattern is reported once per window per channel (no repeat until it has been quiet
for a full window).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from exstreamtv.healing.log_collector import LEVELS, LogEvent
from exstreamtv.healing.vocabulary import IssueType, Risk


@dataclass(frozen=True)
class Pattern:
    """One known pattern: indicators (regular expressions) and a risk level."""

    name: str
    issue: str
    indicators: tuple[str, ...]
    risk: str
    window_seconds: float = 60.0
    min_hits: int = 3
    system_wide: bool = False

    def matches(self, text: str) -> list[str]:
        """The indicators found in ``text``."""
        return [i for i in self.indicators if re.search(i, text, re.IGNORECASE)]


#: The spec's Known Pattern Indicators table (indicator phrases as regexes).
PATTERNS: tuple[Pattern, ...] = (
    Pattern("db_pool_exhaustion", IssueType.DB_POOL_EXHAUSTED,
            ("pool exhausted", "connection timeout", "no connections", r"QueuePool limit"),
            Risk.HIGH, system_wide=True),
    Pattern("ffmpeg_degradation", IssueType.FFMPEG_HANG,
            (r"speed\s*<\s*1\.0x|at 0\.\d+x play speed", "dropping frames|drop(ped)? frames",
             "buffer underrun"), Risk.MEDIUM),
    Pattern("url_expiration", IssueType.URL_EXPIRED,
            (r"403 forbidden|http error 403", r"401 unauthori[sz]ed|http error 401",
             "token expired"), Risk.MEDIUM, min_hits=1),
    Pattern("network_instability", IssueType.SOURCE_UNAVAILABLE,
            ("connection reset", "connection refused", r"timed? ?out"), Risk.HIGH),
    Pattern("memory_pressure", IssueType.MEMORY_PRESSURE,
            ("out of memory", "allocation failed", "swap usage", r"memory 9\d%"),
            Risk.CRITICAL, min_hits=2, system_wide=True),
)


@dataclass(frozen=True)
class PatternDetection:
    """A pattern seen: where, how sure, and the log lines that show it."""

    pattern: str
    issue: str
    risk: str
    confidence: float
    channel: int | None
    evidence: tuple[str, ...]
    indicators: tuple[str, ...]
    at: float = field(default_factory=time.time)
    #: When the newest matching line was logged (a fix applied after it is not undone
    #: by this detection).
    last_seen: float = 0.0
    #: The worst log level among the matching lines (the issue's severity as seen).
    level: str = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "issue": self.issue, "risk": self.risk,
                "confidence": self.confidence, "channel": self.channel,
                "evidence": list(self.evidence), "indicators": list(self.indicators),
                "at": self.at, "last_seen": self.last_seen, "level": self.level}


class PatternDetector:
    """Finds the known patterns in a stream of :class:`LogEvent`."""

    def __init__(self, patterns: Iterable[Pattern] = PATTERNS,
                 clock: Callable[[], float] = time.time, max_evidence: int = 10) -> None:
        self.patterns = tuple(patterns)
        self.clock = clock
        self.max_evidence = max_evidence
        self._reported: dict[tuple[str, int | None], float] = {}

    def scan(self, events: Iterable[LogEvent]) -> list[PatternDetection]:
        """Detections in ``events`` (the collector's recent window), newest state."""
        now = self.clock()
        events = list(events)
        found: list[PatternDetection] = []
        for pattern in self.patterns:
            groups: dict[int | None, list[tuple[LogEvent, list[str]]]] = {}
            for event in events:
                if now - event.timestamp > pattern.window_seconds:
                    continue
                if event.source == "system" and event.level == "debug":
                    continue
                hits = pattern.matches(event.message)
                if hits:
                    key = None if pattern.system_wide else event.channel
                    groups.setdefault(key, []).append((event, hits))
            for channel, matched in groups.items():
                detection = self._detect(pattern, channel, matched, now)
                if detection is not None:
                    found.append(detection)
        return found

    def _detect(self, pattern: Pattern, channel: int | None,
                matched: list[tuple[LogEvent, list[str]]], now: float) -> PatternDetection | None:
        if len(matched) < pattern.min_hits:
            return None
        key = (pattern.name, channel)
        last = self._reported.get(key)
        if last is not None and now - last < pattern.window_seconds:
            return None
        self._reported[key] = now
        indicators = sorted({i for _, hits in matched for i in hits})
        confidence = min(0.99, 0.5 + 0.1 * (len(matched) - pattern.min_hits)
                         + 0.15 * (len(indicators) - 1))
        evidence = tuple(e.message for e, _ in matched[-self.max_evidence:])
        level = max((e.level for e, _ in matched),
                    key=lambda lv: LEVELS.index(lv) if lv in LEVELS else 0)
        return PatternDetection(pattern.name, pattern.issue, pattern.risk, round(confidence, 3),
                                channel, evidence, tuple(indicators), now,
                                max(e.timestamp for e, _ in matched), level)
