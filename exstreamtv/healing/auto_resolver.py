"""AutoResolver (spec 6.4): from a detected issue to an applied, verified fix.

For each :class:`DetectedIssue` the resolver builds the chain of strategies to try (the
spec's primary strategy first, then the issue's fallbacks, ESCALATE last; with learning
enabled, ordered by the learned success probability), then for each strategy:

1. risk check: a strategy whose risk is above ``require_approval_above_risk`` waits in
   the pending list for an approval (or a rejection, or expiry);
2. rate check: at most ``max_auto_fixes_per_hour`` fixes are applied per hour on one
   channel (a failing channel cannot use up the fixes of the others);
3. ``apply`` (a strategy that raises is a failed fix, isolated from the rest);
4. verify: after a window the issue must not have been seen again; if it was, the fix
   is rolled back and the next strategy is tried.

Every outcome is a :class:`FixRecord` in the outcome store and a ``FixEvent``.

Learning: each (issue type, strategy) pair has a Beta(a, b) posterior over its success
probability, with the table confidence c as a prior of strength 10 (a = 10c,
b = 10(1 - c)); a verified fix adds 1 to a, a failed or rolled-back one 1 to b. The
posterior mean a / (a + b) is the confidence used to order strategies.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import EllipsisType
from typing import Any, Protocol

from exstreamtv.events import EventBus, FixEvent
from exstreamtv.healing.vocabulary import RISK_LEVELS

log = logging.getLogger(__name__)

PRIOR_STRENGTH = 10.0
PENDING_TTL_SECONDS = 300.0


def risk_rank(risk: str) -> int:
    """SAFE=0 ... CRITICAL=4 (unknown counts as CRITICAL)."""
    return RISK_LEVELS.index(risk) if risk in RISK_LEVELS else len(RISK_LEVELS) - 1


@dataclass(frozen=True)
class StrategyRule:
    """A row of the issue-to-strategy table."""

    strategy: str
    risk: str
    confidence: float


#: The spec's Issue-to-Strategy Mapping, exactly, plus HARDWARE_FAILED for encoders.
STRATEGY_TABLE: Mapping[str, StrategyRule] = {
    "FFMPEG_HANG": StrategyRule("RESTART", "MEDIUM", 0.90),
    "FFMPEG_CRASH": StrategyRule("RESTART", "MEDIUM", 0.85),
    "URL_EXPIRED": StrategyRule("REFRESH", "SAFE", 0.95),
    "DB_POOL_EXHAUSTED": StrategyRule("EXPAND", "LOW", 0.80),
    "AUTH_FAILED": StrategyRule("REFRESH", "SAFE", 0.90),
    "MEMORY_PRESSURE": StrategyRule("REDUCE", "MEDIUM", 0.70),
    "SOURCE_UNAVAILABLE": StrategyRule("FALLBACK", "SAFE", 0.95),
    "HARDWARE_FAILED": StrategyRule("FALLBACK", "LOW", 0.90),
}

#: What to try after the primary strategy (ESCALATE always ends a chain).
FALLBACK_CHAIN: Mapping[str, tuple[tuple[str, str, float], ...]] = {
    "FFMPEG_HANG": (("FALLBACK", "LOW", 0.6),),
    "FFMPEG_CRASH": (("FALLBACK", "LOW", 0.6),),
    "URL_EXPIRED": (("RESTART", "MEDIUM", 0.4),),
    "AUTH_FAILED": (("RESTART", "MEDIUM", 0.3),),
    "HARDWARE_FAILED": (("RESTART", "MEDIUM", 0.3),),
    "SOURCE_UNAVAILABLE": (("RESTART", "MEDIUM", 0.5),),
}


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FixRecord:
    """One attempt to fix one issue with one strategy, and how it ended."""

    id: str
    issue: str
    strategy: str
    channel: int | None
    risk: str
    confidence: float
    status: str  # pending | applied | verified | rolled_back | failed | rejected | expired | capped
    message: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OutcomeStore(Protocol):
    """Where fix outcomes are kept (in memory here; a database table when available)."""

    def record(self, fix: FixRecord) -> None: ...

    def all(self) -> list[FixRecord]: ...


class MemoryOutcomeStore:
    """The last ``size`` outcomes in memory."""

    def __init__(self, size: int = 1000) -> None:
        self._records: deque[FixRecord] = deque(maxlen=size)

    def record(self, fix: FixRecord) -> None:
        self._records.append(fix)

    def all(self) -> list[FixRecord]:
        return list(self._records)


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


class Strategy(Protocol):
    """What the resolver needs from a healing strategy plugin (see HealingStrategy)."""

    name: str

    async def apply(self, issue: DetectedIssue, context: Any) -> Any: ...

    async def rollback(self, issue: DetectedIssue, context: Any, state: Any) -> None: ...


@dataclass
class PendingFix:
    """A fix waiting for approval."""

    record: FixRecord
    issue: DetectedIssue
    remaining: list[tuple[str, str, float]]
    expires: float
    decided: asyncio.Future[bool] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "expires": self.expires,
                "issue_detail": self.issue.to_dict()}


class ApprovalError(Exception):
    """An approval or rejection that cannot be done; ``status`` is 404 or 409."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


Verifier = Callable[[DetectedIssue, float], Awaitable[bool]]


class AutoResolver:
    """Picks, checks, applies, verifies, rolls back and learns."""

    def __init__(self, bus: EventBus, strategies: Mapping[str, Strategy], context: Any,
                 verifier: Verifier, *, max_per_hour: int = 50,
                 approval_above: str = "MEDIUM", learning: bool = True,
                 enabled: bool = True, store: OutcomeStore | None = None,
                 pending_ttl: float = PENDING_TTL_SECONDS) -> None:
        self.bus = bus
        self.strategies = dict(strategies)
        self.context = context
        self.verifier = verifier
        self.max_per_hour = max_per_hour
        self.approval_above = approval_above
        self.learning = learning
        self.enabled = enabled
        self.pending_ttl = pending_ttl
        self.store: OutcomeStore = store or MemoryOutcomeStore()
        self.learner = Learner()
        self.pending: dict[str, PendingFix] = {}
        self.active: set[tuple[str, int | None]] = set()
        self._applied: dict[int | None, deque[float]] = {}
        self._ids = itertools.count(1)

    # -- chain ----------------------------------------------------------------

    def chain(self, issue: str) -> list[tuple[str, str, float]]:
        """(strategy, risk, prior) in the order to try; ESCALATE last."""
        rule = STRATEGY_TABLE.get(issue)
        items = ([(rule.strategy, rule.risk, rule.confidence)] if rule else [])
        items += list(FALLBACK_CHAIN.get(issue, ()))
        items = [i for i in items if i[0] in self.strategies]
        if self.learning:
            items.sort(key=lambda i: -self.learner.confidence(issue, i[0], i[2]))
        if "ESCALATE" in self.strategies:
            items.append(("ESCALATE", "SAFE", 1.0))
        return items

    def fixes_last_hour(self, channel: int | EllipsisType | None = ...) -> int:
        """Fixes applied in the last hour: on ``channel`` (None: server-wide issues), or
        everywhere when no channel is given."""
        horizon = time.time() - 3600
        for times in self._applied.values():
            while times and times[0] < horizon:
                times.popleft()
        if channel is ...:
            return sum(len(t) for t in self._applied.values())
        return len(self._applied.get(channel, ()))

    # -- resolving ------------------------------------------------------------

    async def resolve(self, issue: DetectedIssue) -> FixRecord | None:
        """Fix ``issue`` (one resolution per issue type and channel at a time)."""
        key = (issue.type, issue.channel)
        if key in self.active:
            return None
        self.active.add(key)
        try:
            return await self._run_chain(issue, self.chain(issue.type))
        finally:
            self.active.discard(key)

    async def _run_chain(self, issue: DetectedIssue,
                         chain: list[tuple[str, str, float]]) -> FixRecord | None:
        last: FixRecord | None = None
        for index, (name, risk, prior) in enumerate(chain):
            confidence = self.learner.confidence(issue.type, name, prior)
            record = self._record(issue, name, risk, confidence)
            if not self.enabled:
                return self._finish(record, "skipped", "auto_resolve_enabled is false")
            if name != "ESCALATE" and risk_rank(risk) > risk_rank(self.approval_above):
                return await self._wait_for_approval(record, issue, chain[index + 1:])
            if name != "ESCALATE" and self.fixes_last_hour(issue.channel) >= self.max_per_hour:
                self._finish(record, "capped", f"max_auto_fixes_per_hour ({self.max_per_hour}) "
                             f"reached on channel {issue.channel}")
                record = self._record(issue, "ESCALATE", "SAFE", 1.0)
                await self._attempt(record, issue)
                return record
            last = record
            if await self._attempt(record, issue):
                return record
        return last

    def _record(self, issue: DetectedIssue, name: str, risk: str, confidence: float) -> FixRecord:
        return FixRecord(f"fix-{next(self._ids)}", issue.type, name, issue.channel, risk,
                         round(confidence, 3), "proposed", issue.message)

    async def _attempt(self, record: FixRecord, issue: DetectedIssue) -> bool:
        """Apply, verify, roll back if needed; True when the issue is gone."""
        strategy = self.strategies[record.strategy]
        prior = self._prior(issue.type, record.strategy)
        applied_at = time.time()
        if record.strategy != "ESCALATE":
            self._applied.setdefault(issue.channel, deque()).append(applied_at)
        try:
            state = await strategy.apply(issue, self.context)
        except Exception as exc:
            log.warning("Healing strategy %s failed on %s: %s", record.strategy, issue.type, exc)
            self._learn(issue, record, prior, False)
            self._finish(record, "failed", f"{type(exc).__name__}: {exc}")
            return False
        self._publish(record, "applied", record.message)
        if record.strategy == "ESCALATE":
            self._finish(record, "escalated", issue.message)
            return True
        try:
            resolved = await self.verifier(issue, applied_at)
        except Exception as exc:
            log.exception("Verifying a fix failed")
            resolved, record.message = False, f"verification failed: {exc}"
        if resolved:
            self._learn(issue, record, prior, True)
            self._finish(record, "verified", "the issue did not come back")
            return True
        try:
            await strategy.rollback(issue, self.context, state)
            message = "the issue persisted; fix rolled back"
        except Exception as exc:
            message = f"the issue persisted; rollback failed: {exc}"
        self._learn(issue, record, prior, False)
        self._finish(record, "rolled_back", message)
        return False

    def _prior(self, issue: str, strategy: str) -> float:
        for name, _risk, prior in self.chain(issue):
            if name == strategy:
                return prior
        return 0.5

    def _learn(self, issue: DetectedIssue, record: FixRecord, prior: float, ok: bool) -> None:
        if self.learning and record.strategy != "ESCALATE":
            self.learner.update(issue.type, record.strategy, prior, ok)

    def _finish(self, record: FixRecord, status: str, message: str) -> FixRecord:
        record.status = status
        record.message = message
        record.finished = time.time()
        self.store.record(record)
        self._publish(record, status, message)
        return record

    def _publish(self, record: FixRecord, action: str, message: str) -> None:
        self.bus.publish(FixEvent(issue=record.issue, strategy=record.strategy, action=action,
                                  channel=record.channel, risk=record.risk,
                                  confidence=record.confidence, message=message,
                                  fix_id=record.id))

    # -- approvals -------------------------------------------------------------

    async def _wait_for_approval(self, record: FixRecord, issue: DetectedIssue,
                                 remaining: list[tuple[str, str, float]]) -> FixRecord:
        record.status = "pending"
        pending = PendingFix(record, issue, remaining, time.time() + self.pending_ttl,
                             asyncio.get_running_loop().create_future())
        self.pending[record.id] = pending
        self._publish(record, "pending",
                      f"risk {record.risk} is above {self.approval_above}; waiting for approval")
        assert pending.decided is not None
        try:
            approved = await asyncio.wait_for(asyncio.shield(pending.decided),
                                              self.pending_ttl)
        except (TimeoutError, asyncio.CancelledError):
            task = asyncio.current_task()
            if not pending.decided.cancelled() and task is not None and task.cancelling():
                raise  # the server is stopping, not an expiry
            if self.pending.pop(record.id, None) is not None:
                self._finish(record, "expired", "nobody approved the fix in time")
            return record
        if not approved:
            return record
        if await self._attempt(record, issue):
            return record
        return await self._run_chain(issue, remaining) or record

    def list_pending(self) -> list[dict[str, Any]]:
        self._expire()
        return [p.to_dict() for p in self.pending.values()]

    def _expire(self) -> None:
        now = time.time()
        for fix_id, pending in list(self.pending.items()):
            if pending.expires <= now:
                self.pending.pop(fix_id)
                if pending.decided is not None and not pending.decided.done():
                    pending.decided.cancel()
                self._finish(pending.record, "expired", "nobody approved the fix in time")

    def _decide(self, fix_id: str, approve: bool) -> FixRecord:
        pending = self.pending.get(fix_id)
        if pending is None:
            done = next((r for r in self.store.all() if r.id == fix_id), None)
            if done is None:
                raise ApprovalError(404, f"there is no pending fix '{fix_id}'")
            raise ApprovalError(409, f"fix '{fix_id}' is no longer pending (it was {done.status})")
        if pending.expires <= time.time():
            self._expire()
            raise ApprovalError(409, f"fix '{fix_id}' expired before it was approved")
        self.pending.pop(fix_id)
        if not approve:
            self._finish(pending.record, "rejected", "rejected by an operator")
        else:
            self._publish(pending.record, "approved", "approved by an operator")
        if pending.decided is not None and not pending.decided.done():
            pending.decided.set_result(approve)
        return pending.record

    def approve(self, fix_id: str) -> FixRecord:
        """Approve a pending fix; raises :class:`ApprovalError` (404/409)."""
        return self._decide(fix_id, True)

    def reject(self, fix_id: str) -> FixRecord:
        """Reject a pending fix; raises :class:`ApprovalError` (404/409)."""
        return self._decide(fix_id, False)
