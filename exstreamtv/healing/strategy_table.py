"""The strategy table: which strategies fix which issue, at what risk, in what order.

The spec's Issue-to-Strategy Mapping (a primary strategy per issue type, with its risk
and prior confidence), the fallbacks tried after it (ESCALATE always ends a chain), and
the :class:`Learner` that reorders a chain by what has worked here.

Learning: each (issue type, strategy) pair has a Beta(a, b) posterior over its success
probability, with the table confidence c as a prior of strength 10 (a = 10c,
b = 10(1 - c)); a verified fix adds 1 to a, a failed or rolled-back one 1 to b. The
posterior mean a / (a + b) is the confidence used to order strategies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exstreamtv.healing.vocabulary import IssueType, Risk

PRIOR_STRENGTH = 10.0


def risk_rank(risk: str) -> int:
    """SAFE=0 ... CRITICAL=4 (unknown counts as CRITICAL)."""
    return Risk.of(risk).rank


@dataclass(frozen=True)
class StrategyRule:
    """A row of the issue-to-strategy table."""

    strategy: str
    risk: str
    confidence: float


#: The spec's Issue-to-Strategy Mapping, exactly, plus HARDWARE_FAILED for encoders and
#: TONEMAP_FAILED for a device that cannot tone-map HDR (the encoder stays).
STRATEGY_TABLE: Mapping[str, StrategyRule] = {
    IssueType.FFMPEG_HANG: StrategyRule("RESTART", Risk.MEDIUM, 0.90),
    IssueType.FFMPEG_CRASH: StrategyRule("RESTART", Risk.MEDIUM, 0.85),
    IssueType.URL_EXPIRED: StrategyRule("REFRESH", Risk.SAFE, 0.95),
    IssueType.DB_POOL_EXHAUSTED: StrategyRule("EXPAND", Risk.LOW, 0.80),
    IssueType.AUTH_FAILED: StrategyRule("REFRESH", Risk.SAFE, 0.90),
    IssueType.MEMORY_PRESSURE: StrategyRule("REDUCE", Risk.MEDIUM, 0.70),
    IssueType.SOURCE_UNAVAILABLE: StrategyRule("FALLBACK", Risk.SAFE, 0.95),
    IssueType.HARDWARE_FAILED: StrategyRule("FALLBACK", Risk.LOW, 0.90),
    IssueType.TONEMAP_FAILED: StrategyRule("CPU_TONEMAP", Risk.LOW, 0.95),
    IssueType.CODEC_ERROR: StrategyRule("SKIP", Risk.LOW, 0.95),
}

#: Strategies that replay the item as it is: useless when the error is not recoverable.
RETRIES = frozenset({"RESTART", "REFRESH"})

#: What to try after the primary strategy (ESCALATE always ends a chain).
FALLBACK_CHAIN: Mapping[str, tuple[tuple[str, str, float], ...]] = {
    IssueType.FFMPEG_HANG: (("FALLBACK", Risk.LOW, 0.6),),
    IssueType.FFMPEG_CRASH: (("FALLBACK", Risk.LOW, 0.6),),
    IssueType.URL_EXPIRED: (("RESTART", Risk.MEDIUM, 0.4),),
    IssueType.AUTH_FAILED: (("RESTART", Risk.MEDIUM, 0.3),),
    IssueType.HARDWARE_FAILED: (("RESTART", Risk.MEDIUM, 0.3),),
    IssueType.SOURCE_UNAVAILABLE: (("RESTART", Risk.MEDIUM, 0.5),),
}


class Learner:
    """Beta posteriors of success per (issue type, strategy)."""

    def __init__(self) -> None:
        self.posteriors: dict[tuple[str, str], list[float]] = {}

    def _of(self, issue: str, strategy: str, prior: float) -> list[float]:
        return self.posteriors.setdefault(
            (issue, strategy), [PRIOR_STRENGTH * prior, PRIOR_STRENGTH * (1.0 - prior)])

    def confidence(self, issue: str, strategy: str, prior: float) -> float:
        a, b = self._of(issue, strategy, prior)
        return a / (a + b)

    def update(self, issue: str, strategy: str, prior: float, success: bool) -> float:
        ab = self._of(issue, strategy, prior)
        ab[0 if success else 1] += 1.0
        return ab[0] / (ab[0] + ab[1])

    def to_dict(self) -> dict[str, Any]:
        return {f"{i}/{s}": {"alpha": a, "beta": b, "mean": round(a / (a + b), 3)}
                for (i, s), (a, b) in self.posteriors.items()}
