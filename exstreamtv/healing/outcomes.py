"""Fix outcomes: one :class:`FixRecord` per attempt, kept in memory and in the database,
so learning survives restarts.

Every finished fix is kept in memory (the last 1,000, for the API) and written to the
``healing_outcomes`` table in the background. At start, the recorded outcomes are read
back and replayed into the learner's Beta posteriors, so what the server learned about
which strategies work is not forgotten by a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from exstreamtv.secrets import mask

if TYPE_CHECKING:
    from exstreamtv.healing.auto_resolver import AutoResolver
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

SUCCESS = "verified"
REPLAYED = 1000


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
    #: The issue's probable cause (its analysis), kept with the outcome.
    cause: str = ""

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


class DatabaseOutcomeStore(MemoryOutcomeStore):
    """The memory store, plus a row per outcome in the database when it is available."""

    def __init__(self, hub: Hub, size: int = 1000) -> None:
        super().__init__(size)
        self.hub = hub
        self.written = 0

    def record(self, fix: FixRecord) -> None:
        super().record(fix)
        database = getattr(self.hub, "database", None)
        if database is None or not database.ready:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: kept in memory only
            self.hub.spawn(self._write(fix), name="healing-outcome")

    async def _write(self, fix: FixRecord) -> None:
        from exstreamtv.database.models import HealingOutcomeRow

        try:
            async with self.hub.database.manager.session() as session:
                session.add(HealingOutcomeRow(
                    created_at=fix.created, channel_number=fix.channel, pattern=fix.issue,
                    action=fix.strategy, risk=fix.risk, confidence=fix.confidence,
                    success=fix.status == SUCCESS,
                    details={"id": fix.id, "status": fix.status, "message": mask(fix.message),
                             "finished": fix.finished, "cause": mask(fix.cause)}))
                await session.commit()
            self.written += 1
        except Exception as exc:
            log.warning("A healing outcome could not be saved (%s); it is kept in memory", exc)

    async def load(self, resolver: AutoResolver, wait: float = 30.0) -> int:
        """Read recorded outcomes back and replay them into the learner."""
        from exstreamtv.database.models import HealingOutcomeRow

        database = getattr(self.hub, "database", None)
        if database is None:
            return 0
        for _ in range(int(wait * 10)):
            if database.ready:
                break
            await asyncio.sleep(0.1)
        else:
            return 0
        async with database.manager.session() as session:
            rows = (await session.execute(
                select(HealingOutcomeRow).order_by(HealingOutcomeRow.created_at.desc())
                .limit(REPLAYED))).scalars().all()
        for row in reversed(rows):
            details: dict[str, Any] = dict(row.details or {})
            fix = FixRecord(id=str(details.get("id", row.id)), issue=row.pattern,
                            strategy=row.action, channel=row.channel_number, risk=row.risk,
                            confidence=row.confidence or 0.0,
                            status=str(details.get("status", SUCCESS if row.success else "failed")),
                            message=str(details.get("message", "")), created=row.created_at,
                            finished=details.get("finished"),
                            cause=str(details.get("cause", "")))
            super().record(fix)
            if resolver.learning and row.action != "ESCALATE":
                resolver.learner.update(row.pattern, row.action,
                                        resolver._prior(row.pattern, row.action), row.success)
        if rows:
            log.info("Self-healing: %d recorded fix outcomes replayed into the learner", len(rows))
        return len(rows)
