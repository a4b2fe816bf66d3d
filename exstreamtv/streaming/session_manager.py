"""Viewer sessions (spec 1.2): one StreamSession per connected viewer.

States follow the spec's diagram: created -> active; active -> error -> active
(recover) or disconnected (max errors); active -> idle (no activity) -> active
(resume) or disconnected (timeout); active -> disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from exstreamtv.config.model import SessionManagerConfig
from exstreamtv.errors import StreamUnavailable
from exstreamtv.events import EventBus, SessionEvent
from exstreamtv.streaming.capacity import SendCapacity

log = logging.getLogger(__name__)

MAX_ERRORS = 5
#: A session that never received a byte after this long is dropped (its client is gone).
NEVER_STARTED_SECONDS = 30


class SessionState(StrEnum):
    CREATED = "created"
    ACTIVE = "active"
    IDLE = "idle"
    ERROR = "error"
    DISCONNECTED = "disconnected"


@dataclass
class SessionError:
    timestamp: datetime
    message: str


@dataclass
class StreamSession:
    """The spec's StreamSession, plus the output kind (ts or hls)."""

    session_id: str
    channel_id: int
    channel_number: int
    client_id: str | None
    client_ip: str | None
    user_agent: str | None
    state: SessionState
    created_at: datetime
    last_activity: datetime
    bytes_sent: int = 0
    errors: list[SessionError] = field(default_factory=list)
    restart_count: int = 0
    output: str = "ts"

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "channel_id": self.channel_id,
            "channel_number": self.channel_number,
            "client_id": self.client_id,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "last_activity": self.last_activity.isoformat(),
            "bytes_sent": self.bytes_sent,
            "errors": [{"timestamp": e.timestamp.isoformat(), "message": e.message}
                       for e in self.errors],
            "restart_count": self.restart_count,
            "output": self.output,
        }


def _now() -> datetime:
    return datetime.now(UTC)


class SessionManager:
    """Creates, tracks and expires viewer sessions; enforces the per-channel limit."""

    def __init__(self, config: SessionManagerConfig, bus: EventBus) -> None:
        self.config = config
        self.bus = bus
        self.sessions: dict[str, StreamSession] = {}
        self._task: asyncio.Task[None] | None = None
        self._serving: dict[str, asyncio.Task[object]] = {}
        self.capacity = SendCapacity(config.max_send_load)

    def attach(self, session: StreamSession, task: asyncio.Task[object]) -> None:
        """The task sending ``session``'s stream: cancelled if the session is ended here
        (idle timeout, too many errors, server stop) while it is stuck in a send."""
        self._serving[session.session_id] = task

    def detach(self, session: StreamSession) -> None:
        self._serving.pop(session.session_id, None)

    def for_channel(self, number: int) -> list[StreamSession]:
        return [s for s in self.sessions.values()
                if s.channel_number == number and s.state is not SessionState.DISCONNECTED]

    def create_session(
        self, channel_number: int, client_ip: str | None, user_agent: str | None,
        client_id: str | None = None, output: str = "ts", session_id: str | None = None,
    ) -> StreamSession:
        """A new session; StreamUnavailable when a viewer limit is reached."""
        self._check_limits(channel_number)
        now = _now()
        session = StreamSession(
            session_id=session_id or uuid.uuid4().hex, channel_id=channel_number, channel_number=channel_number,
            client_id=client_id, client_ip=client_ip, user_agent=user_agent,
            state=SessionState.CREATED, created_at=now, last_activity=now, output=output,
        )
        self.sessions[session.session_id] = session
        self._emit(session, "created")
        return session

    def _check_limits(self, channel_number: int) -> None:
        """StreamUnavailable (a 503) when the channel, the server or the machine is full."""
        if len(self.for_channel(channel_number)) >= self.config.max_sessions_per_channel:
            raise StreamUnavailable(
                f"channel {channel_number} already has "
                f"{self.config.max_sessions_per_channel} viewers "
                "(session_manager.max_sessions_per_channel)"
            )
        total = self.config.max_sessions_total
        if total is not None and len(self.sessions) >= total:
            raise StreamUnavailable(
                f"the server already has {total} viewers (session_manager.max_sessions_total)")
        refusal = self.capacity.refusal(len(self._serving))
        if refusal is not None:
            raise StreamUnavailable(refusal)

    def activate(self, session: StreamSession) -> None:
        if session.state in (SessionState.CREATED, SessionState.IDLE, SessionState.ERROR):
            action = "resumed" if session.state is SessionState.IDLE else "activated"
            session.state = SessionState.ACTIVE
            session.last_activity = _now()
            self._emit(session, action)

    def record_data(self, session: StreamSession, nbytes: int) -> None:
        session.bytes_sent += nbytes
        session.last_activity = _now()
        if session.state is SessionState.ERROR:
            self.recover(session)
        elif session.state is not SessionState.ACTIVE:
            self.activate(session)

    def record_error(self, session: StreamSession, message: str) -> None:
        """Note an error; past MAX_ERRORS the session is disconnected."""
        session.errors.append(SessionError(_now(), message))
        if len(session.errors) >= MAX_ERRORS:
            self.disconnect(session, f"too many errors: {message}")
            return
        session.state = SessionState.ERROR
        self._emit(session, "error", message)

    def recover(self, session: StreamSession) -> None:
        if session.state is SessionState.ERROR:
            session.state = SessionState.ACTIVE
            self._emit(session, "recovered")

    def disconnect(self, session: StreamSession, reason: str = "client left") -> None:
        if session.state is SessionState.DISCONNECTED:
            return
        session.state = SessionState.DISCONNECTED
        self.sessions.pop(session.session_id, None)
        self._emit(session, "disconnected", reason)
        task = self._serving.pop(session.session_id, None)
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()  # its viewer stopped reading; free the connection

    def touch(self, session_id: str) -> StreamSession | None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.last_activity = _now()
            self.activate(session)
        return session

    def cleanup(self) -> None:
        """Move quiet sessions to idle, and idle ones past the timeout to disconnected."""
        now = _now()
        for session in list(self.sessions.values()):
            quiet = (now - session.last_activity).total_seconds()
            if session.state is SessionState.CREATED and quiet >= NEVER_STARTED_SECONDS:
                self.disconnect(session, "the stream never started")
            elif session.state is SessionState.IDLE and quiet >= self.config.idle_timeout_seconds:
                self.disconnect(session, "idle timeout")
            elif session.state is SessionState.ACTIVE and quiet >= min(
                30, self.config.idle_timeout_seconds
            ):
                session.state = SessionState.IDLE
                self._emit(session, "idle")

    async def run_cleanup(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval_seconds)
            self.cleanup()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_cleanup())
        self.capacity.start(lambda: len(self._serving))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.capacity.stop()
        for session in list(self.sessions.values()):
            self.disconnect(session, "server stopping")

    def health(self) -> dict[str, Any]:
        """Session counts for GET /api/health (``tasks``: the event loop's, to spot leaks)."""
        by_output: dict[str, int] = {}
        for session in self.sessions.values():
            by_output[session.output] = by_output.get(session.output, 0) + 1
        try:
            tasks = asyncio.all_tasks()
        except RuntimeError:
            tasks = set()
        kinds = Counter(t.get_coro().__qualname__ for t in tasks  # type: ignore[union-attr]
                        if t.get_coro() is not None)
        return {"status": "ok", "sessions": len(self.sessions), "by_output": by_output,
                "serving": len(self._serving), "tasks": len(tasks),
                **self.capacity.estimate.to_dict(),
                "task_kinds": dict(kinds.most_common(20))}

    def _emit(self, session: StreamSession, action: str, message: str = "") -> None:
        self.bus.publish(SessionEvent(session_id=session.session_id,
                                      channel=session.channel_number, action=action,
                                      state=session.state.value, message=message))
