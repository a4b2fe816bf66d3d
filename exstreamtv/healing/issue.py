"""What a detected issue is (:class:`DetectedIssue`), and what acts on it: a healing
strategy (:class:`Strategy`) and the check that a fix held (:data:`Verifier`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from exstreamtv.healing.vocabulary import Severity

if TYPE_CHECKING:
    from exstreamtv.healing.analysis import AIAnalysis


@dataclass(frozen=True)
class DetectedIssue:
    """Something wrong, found by the monitor, the pattern detector or the pipeline."""

    type: str
    channel: int | None = None
    message: str = ""
    detector: str = ""
    confidence: float = 1.0
    evidence: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)
    #: The issue's own risk (a pattern's level), weighed with the strategy's at the gate.
    risk: str = "SAFE"
    #: False when retrying the item cannot help (the decisive ffmpeg error says so).
    recoverable: bool = True
    #: How badly it hurts viewers (a Severity): what the detector saw, then, once the
    #: engine has assessed it, raised by what the channel delivers now.
    severity: str = Severity.ERROR
    #: The failed ffmpeg's last stderr lines, when a process failed.
    stderr_tail: tuple[str, ...] = ()
    #: Wall time the ffmpeg that showed the issue started, when one did: a fix is judged
    #: by runs started after it, not by late lines of the run it replaced.
    shown_by: float | None = None
    analysis: AIAnalysis | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "analysis"}
        return data


class Strategy(Protocol):
    """What the resolver needs from a healing strategy plugin (see HealingStrategy; one
    without ``interrupts`` counts as cutting the picture)."""

    name: str

    async def apply(self, issue: DetectedIssue, context: Any) -> Any: ...

    async def rollback(self, issue: DetectedIssue, context: Any, state: Any) -> None: ...


#: Says whether a fix holds: a truthy result means verified; a ``reason`` attribute on
#: the result (play_speed.Verdict) becomes the fix record's message.
Verifier = Callable[[DetectedIssue, float], Awaitable[Any]]
