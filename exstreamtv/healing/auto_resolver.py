"""AutoResolver (spec 6.4): from a detected issue to an applied, verified fix.

For each :class:`DetectedIssue` the resolver builds the chain of strategies to try (the
spec's primary strategy first, then the issue's fallbacks, ESCALATE last; with learning
enabled, ordered by the learned success probability), then for each strategy:

1. risk check: when the higher of the issue's risk (a pattern's level) and the
   strategy's is above ``require_approval_above_risk``, the fix waits in the pending
   list for an approval (or a rejection, or expiry; a reload that lowers the bar or
   turns automatic fixes off decides a waiting fix at once);
2. rate check: at most ``max_auto_fixes_per_hour`` fixes are applied per hour on one
   channel (a failing channel cannot use up the fixes of the others);
3. ``apply``, time-boxed (a strategy that raises or hangs is a failed fix, isolated
   from the rest);
4. verify: the verifier says whether the channel is healthy again (the engine's
   measures play speed at the channel's output); if not, the fix is rolled back and
   the next strategy is tried.

An issue that retrying cannot fix (``recoverable`` false: a codec this ffmpeg lacks)
never gets RESTART. The issue's severity (:mod:`.severity`) decides the rest: a WARNING
gets no fix that cuts the picture (it is recorded as skipped), a CRITICAL one goes
straight down the strategy table's order (its primary first) and its restarts show the
error screen at once. The settings are read live from a ``settings`` callable (the
``ai_auto_heal`` section), so a reload applies to the next decision.

Every outcome is a :class:`FixRecord` in the outcome store and a ``FixEvent``.

The strategy table and the learner are in :mod:`.strategy_table`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from exstreamtv.events import EventBus, FixEvent
from exstreamtv.healing.issue import DetectedIssue, Strategy, Verifier
from exstreamtv.healing.outcomes import FixRecord, MemoryOutcomeStore, OutcomeStore
from exstreamtv.healing.severity import rule_for
from exstreamtv.healing.strategy_table import (
    FALLBACK_CHAIN,
    RETRIES,
    STRATEGY_TABLE,
    Learner,
    StrategyRule,
    risk_rank,
)
from exstreamtv.healing.vocabulary import Severity

if TYPE_CHECKING:
    from exstreamtv.config.model import AIAutoHealConfig

__all__ = ["FALLBACK_CHAIN", "RETRIES", "STRATEGY_TABLE", "ApprovalError", "AutoResolver",
           "DetectedIssue", "FixRecord", "Learner", "MemoryOutcomeStore", "OutcomeStore",
           "PendingFix", "Strategy", "StrategyRule", "Verifier", "risk_rank"]

log = logging.getLogger(__name__)

PENDING_TTL_SECONDS = 300.0
#: Longest a strategy's apply (or rollback) may take before it counts as failed.
APPLY_TIMEOUT_SECONDS = 30.0
#: How often a fix waiting for approval looks at the live settings again.
PENDING_RECHECK_SECONDS = 0.5


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


class AutoResolver:
    """Picks, checks, applies, verifies, rolls back and learns."""

    def __init__(self, bus: EventBus, strategies: Mapping[str, Strategy], context: Any,
                 verifier: Verifier, *, max_per_hour: int = 50,
                 approval_above: str = "MEDIUM", learning: bool = True,
                 enabled: bool = True, store: OutcomeStore | None = None,
                 pending_ttl: float = PENDING_TTL_SECONDS,
                 settings: Callable[[], AIAutoHealConfig] | None = None,
                 apply_timeout: float = APPLY_TIMEOUT_SECONDS) -> None:
        self.bus = bus
        self.strategies = dict(strategies)
        self.context = context
        self.verifier = verifier
        self.settings = settings
        self._max_per_hour = max_per_hour
        self._approval_above = approval_above
        self._learning = learning
        self._enabled = enabled
        self.pending_ttl = pending_ttl
        self.apply_timeout = apply_timeout
        self.store: OutcomeStore = store or MemoryOutcomeStore()
        self.learner = Learner()
        self.pending: dict[str, PendingFix] = {}
        self.active: set[tuple[str, int | None]] = set()
        self._applied: dict[int | None, deque[float]] = {}
        self._ids = itertools.count(1)
        self._issues: dict[str, DetectedIssue] = {}  # fix id -> its issue, while it runs

    # -- live settings ----------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """``auto_resolve_enabled`` (and ``enabled``) now."""
        if self.settings is not None:
            cfg = self.settings()
            return bool(cfg.enabled and cfg.auto_resolve_enabled)
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = value

    @property
    def approval_above(self) -> str:
        """``require_approval_above_risk`` now."""
        return self.settings().require_approval_above_risk if self.settings else self._approval_above

    @approval_above.setter
    def approval_above(self, value: str) -> None:
        self._approval_above = value

    @property
    def max_per_hour(self) -> int:
        """``max_auto_fixes_per_hour`` now."""
        return self.settings().max_auto_fixes_per_hour if self.settings else self._max_per_hour

    @max_per_hour.setter
    def max_per_hour(self, value: int) -> None:
        self._max_per_hour = value

    @property
    def learning(self) -> bool:
        """``learning_enabled`` now."""
        return self.settings().learning_enabled if self.settings else self._learning

    @learning.setter
    def learning(self, value: bool) -> None:
        self._learning = value

    def needs_approval(self, issue: DetectedIssue, risk: str) -> bool:
        """Whether the higher of the issue's and the strategy's risk is above the bar."""
        return max(risk_rank(risk), risk_rank(issue.risk)) > risk_rank(self.approval_above)

    # -- chain ----------------------------------------------------------------

    def _candidates(self, issue: str, recoverable: bool) -> list[tuple[str, str, float]]:
        """The table's strategies for ``issue`` that are registered and can help."""
        rule = STRATEGY_TABLE.get(issue)
        items = ([(rule.strategy, rule.risk, rule.confidence)] if rule else [])
        items += list(FALLBACK_CHAIN.get(issue, ()))
        items = [i for i in items if i[0] in self.strategies]
        if not recoverable:
            items = [i for i in items if i[0] not in RETRIES]
        return items

    def interrupts(self, strategy: str) -> bool:
        """Whether ``strategy`` cuts the viewers' picture (a fresh ffmpeg, another item)."""
        return bool(getattr(self.strategies.get(strategy), "interrupts", True))

    def chain(self, issue: str, recoverable: bool = True,
              severity: str = Severity.ERROR) -> list[tuple[str, str, float]]:
        """(strategy, risk, prior) in the order to try; ESCALATE last. ``severity`` holds
        back the strategies that cut the picture (WARNING) and keeps the table's order
        (CRITICAL), per :data:`~exstreamtv.healing.severity.SEVERITY_RULES`."""
        rule = rule_for(severity)
        items = self._candidates(issue, recoverable)
        if not rule.may_interrupt:
            items = [i for i in items if not self.interrupts(i[0])]
        if self.learning and rule.learned_order:
            items.sort(key=lambda i: -self.learner.confidence(issue, i[0], i[2]))
        if "ESCALATE" in self.strategies and (items or rule.may_interrupt):
            items.append(("ESCALATE", "SAFE", 1.0))
        return items

    def held_back(self, issue: DetectedIssue) -> list[tuple[str, str, float]]:
        """The strategies the issue's severity keeps from running (they cut the picture)."""
        if rule_for(issue.severity).may_interrupt:
            return []
        return [i for i in self._candidates(issue.type, issue.recoverable)
                if self.interrupts(i[0])]

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
        chain = self.chain(issue.type, issue.recoverable, issue.severity)
        held = self.held_back(issue)
        if issue.analysis is not None:
            issue.analysis.plan(chain, self.approval_above, issue.risk,
                                self.learning and rule_for(issue.severity).learned_order,
                                severity=issue.severity, held=[h[0] for h in held])
        try:
            record = (self._hold_back(issue, held) if held and not chain
                      else await self._run_chain(issue, chain))
            if issue.analysis is not None:
                issue.analysis.finish(record.status if record is not None else None)
            return record
        finally:
            self.active.discard(key)

    def _hold_back(self, issue: DetectedIssue,
                   held: list[tuple[str, str, float]]) -> FixRecord:
        """Record, as skipped, the fix a WARNING does not get: viewers still have picture."""
        name, risk, prior = held[0]
        record = self._record(issue, name, risk, self.learner.confidence(issue.type, name, prior))
        names = ", ".join(h[0] for h in held)
        return self._finish(record, "skipped", f"held back: severity {issue.severity} (the "
                            f"programme still plays at play speed) and {names} would "
                            "interrupt viewers")

    async def _run_chain(self, issue: DetectedIssue,
                         chain: list[tuple[str, str, float]]) -> FixRecord | None:
        last: FixRecord | None = None
        for index, (name, risk, prior) in enumerate(chain):
            confidence = self.learner.confidence(issue.type, name, prior)
            record = self._record(issue, name, risk, confidence)
            if not self.enabled:
                return self._finish(record, "skipped", "auto_resolve_enabled is false")
            if name != "ESCALATE" and self.needs_approval(issue, risk):
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
        record = FixRecord(f"fix-{next(self._ids)}", issue.type, name, issue.channel, risk,
                           round(confidence, 3), "proposed", issue.message,
                           cause=issue.analysis.probable_cause if issue.analysis else "")
        self._issues[record.id] = issue
        return record

    async def _attempt(self, record: FixRecord, issue: DetectedIssue) -> bool:
        """Apply, verify, roll back if needed; True when the issue is gone."""
        strategy = self.strategies[record.strategy]
        prior = self._prior(issue.type, record.strategy)
        applied_at = time.time()
        if record.strategy != "ESCALATE":
            self._applied.setdefault(issue.channel, deque()).append(applied_at)
        try:
            state = await asyncio.wait_for(strategy.apply(issue, self.context),
                                           self.apply_timeout)
        except TimeoutError:
            log.warning("Healing strategy %s did not finish on %s within %.0fs",
                        record.strategy, issue.type, self.apply_timeout)
            self._learn(issue, record, prior, False)
            self._finish(record, "failed", f"timed out after {self.apply_timeout:.0f}s")
            return False
        except Exception as exc:
            log.warning("Healing strategy %s failed on %s: %s", record.strategy, issue.type, exc)
            self._learn(issue, record, prior, False)
            self._finish(record, "failed", f"{type(exc).__name__}: {exc}")
            return False
        self._publish(record, "applied", record.message, issue)
        if record.strategy == "ESCALATE":
            self._finish(record, "escalated", issue.message)
            return True
        try:
            verdict = await self.verifier(issue, applied_at)
            resolved, why = bool(verdict), str(getattr(verdict, "reason", ""))
        except Exception as exc:
            log.exception("Verifying a fix failed")
            resolved, why = False, f"verification failed: {exc}"
        if resolved:
            self._learn(issue, record, prior, True)
            self._finish(record, "verified", why or "the issue did not come back", issue)
            return True
        why = why or "the issue persisted"
        try:
            await asyncio.wait_for(strategy.rollback(issue, self.context, state),
                                   self.apply_timeout)
            message = f"{why}; fix rolled back"
        except Exception as exc:
            message = f"{why}; rollback failed: {exc or type(exc).__name__}"
        self._learn(issue, record, prior, False)
        self._finish(record, "rolled_back", message, issue)
        return False

    def _prior(self, issue: str, strategy: str) -> float:
        rule = STRATEGY_TABLE.get(issue)
        for name, _risk, prior in ([(rule.strategy, rule.risk, rule.confidence)] if rule else []
                                   ) + list(FALLBACK_CHAIN.get(issue, ())):
            if name == strategy:
                return prior
        return 0.5

    def _learn(self, issue: DetectedIssue, record: FixRecord, prior: float, ok: bool) -> None:
        if self.learning and record.strategy != "ESCALATE":
            self.learner.update(issue.type, record.strategy, prior, ok)

    def _finish(self, record: FixRecord, status: str, message: str,
                issue: DetectedIssue | None = None) -> FixRecord:
        record.status = status
        record.message = message
        record.finished = time.time()
        self.store.record(record)
        self._publish(record, status, message, issue or self._issues.get(record.id))
        self._issues.pop(record.id, None)
        return record

    def _publish(self, record: FixRecord, action: str, message: str,
                 issue: DetectedIssue | None = None) -> None:
        issue = issue or self._issues.get(record.id)
        analysis = issue.analysis if issue is not None else None
        if analysis is not None:
            analysis.attempt(record.id, record.strategy, action, message)
        self.bus.publish(FixEvent(issue=record.issue, strategy=record.strategy, action=action,
                                  channel=record.channel, risk=record.risk,
                                  confidence=record.confidence, message=message,
                                  fix_id=record.id,
                                  analysis=analysis.to_dict() if analysis else None))

    # -- approvals -------------------------------------------------------------

    async def _wait_for_approval(self, record: FixRecord, issue: DetectedIssue,
                                 remaining: list[tuple[str, str, float]]) -> FixRecord:
        record.status = "pending"
        pending = PendingFix(record, issue, remaining, time.time() + self.pending_ttl,
                             asyncio.get_running_loop().create_future())
        self.pending[record.id] = pending
        risk = max(record.risk, issue.risk, key=risk_rank)
        self._publish(record, "pending",
                      f"risk {risk} is above {self.approval_above}; waiting for approval")
        assert pending.decided is not None
        try:
            approved = await self._decision(pending, record, issue)
        except (TimeoutError, asyncio.CancelledError):
            task = asyncio.current_task()
            if not pending.decided.cancelled() and task is not None and task.cancelling():
                raise  # the server is stopping, not an expiry
            if self.pending.pop(record.id, None) is not None:
                self._finish(record, "expired", "nobody approved the fix in time")
            return record
        if approved is None:  # automatic fixes were turned off meanwhile
            return record
        if not approved:
            return record
        if await self._attempt(record, issue):
            return record
        return await self._run_chain(issue, remaining) or record

    async def _decision(self, pending: PendingFix, record: FixRecord,
                        issue: DetectedIssue) -> bool | None:
        """An operator's decision, or the live settings' (a reload while the fix waits).

        True: approved (or no approval needed any more); False: rejected; None: automatic
        fixes were turned off, the fix is skipped. Raises TimeoutError at expiry.
        """
        assert pending.decided is not None
        while True:
            left = pending.expires - time.time()
            if left <= 0:
                raise TimeoutError
            try:
                return await asyncio.wait_for(asyncio.shield(pending.decided),
                                              min(left, PENDING_RECHECK_SECONDS))
            except TimeoutError:
                pass
            if record.id not in self.pending:
                continue  # decided just now; the future says how
            if not self.enabled:
                self.pending.pop(record.id, None)
                self._finish(record, "skipped", "auto_resolve_enabled was turned off while "
                             "the fix waited for approval")
                return None
            if not self.needs_approval(issue, record.risk):
                self.pending.pop(record.id, None)
                self._publish(record, "approved", f"require_approval_above_risk is now "
                              f"{self.approval_above}: no approval needed any more")
                return True

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
