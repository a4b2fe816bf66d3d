"""Viewer sessions (spec 1.2): one StreamSession per connected viewer.

States follow the spec's diagram: created -> active; active -> error -> active
(recover) or disconnected (``max_errors`` errors within ``error_window_seconds``);
active -> idle (no activity) -> active (resume) or disconnected (timeout);
active -> disconnected.

Viewer limits count viewers: a TS session is a connection and counts from the start; an
HLS session counts once it has loaded a segment (a playlist fetch alone holds no slot).
HLS has no connection to watch, so an HLS session that requests nothing for
``hls_release_segments`` target durations (and has no request in progress) is released,
which frees the channel's pipeline as a closed TS connection does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from exstreamtv.config.model import SessionManagerConfig
from exstreamtv.errors import StreamUnavailable
from exstreamtv.events import EventBus, SessionEvent
from exstreamtv.streaming.capacity import SendCapacity

log = logging.getLogger(__name__)

#: Errors kept per session for the API (the limit counts only the recent ones).
KEPT_ERRORS = 50
#: A session that never received a byte after this long is dropped (its client is gone).
NEVER_STARTED_SECONDS = 30
#: How often quiet HLS sessions are looked for (seconds).
HLS_CHECK_SECONDS = 1.0
#: The HLS target duration assumed until the channel's packager says otherwise.
DEFAULT_TARGET_DURATION = 2.0


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
    #: HLS: the channel's segment target duration (seconds), for the release time.
    target_duration: float = DEFAULT_TARGET_DURATION
    #: HLS: requests of this session being answered right now (never released meanwhile).
    in_flight: int = 0
    #: HLS: asked for a segment, so a viewer (a playlist fetch alone is not).
    admitted: bool = False
    #: In a cluster, the node serving this viewer.
    node_id: str | None = None
    #: In a cluster, the node this connection feeds (a relay, not a viewer of its own).
    relay_to: str | None = None

    @property
    def is_viewer(self) -> bool:
        """Counts toward the channel's limit: TS always, HLS once it asked for a segment."""
        return self.output != "hls" or self.admitted

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
        } | ({"node_id": self.node_id} if self.node_id is not None else {}) | (
            {"relay_to": self.relay_to} if self.relay_to is not None else {})


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
        #: This server's cluster node id, stamped on its sessions (None when single-node).
        self.node_id: str | None = None

    def attach(self, session: StreamSession, task: asyncio.Task[object]) -> None:
        """The task sending ``session``'s stream: cancelled if the session is ended here
        (idle timeout, too many errors, server stop) while it is stuck in a send."""
        self._serving[session.session_id] = task

    def detach(self, session: StreamSession) -> None:
        self._serving.pop(session.session_id, None)

    def for_channel(self, number: int) -> list[StreamSession]:
        return [s for s in self.sessions.values()
                if s.channel_number == number and s.state is not SessionState.DISCONNECTED]

    def viewers(self, number: int | None = None) -> list[StreamSession]:
        """The sessions of channel ``number`` (every channel's when None) that count as
        viewers: what the viewer limit, the API and MQTT count."""
        return [s for s in self.sessions.values()
                if (number is None or s.channel_number == number)
                and s.state is not SessionState.DISCONNECTED and s.is_viewer]

    def _check_limit(self, number: int) -> None:
        """StreamUnavailable (a 503) when the channel, the server or the machine is full."""
        if len(self.viewers(number)) >= self.config.max_sessions_per_channel:
            raise StreamUnavailable(
                f"channel {number} already has "
                f"{self.config.max_sessions_per_channel} viewers "
                "(session_manager.max_sessions_per_channel)"
            )
        total = self.config.max_sessions_total
        if total is not None and len(self.viewers()) >= total:
            raise StreamUnavailable(
                f"the server already has {total} viewers (session_manager.max_sessions_total)")
        refusal = self.capacity.refusal(len(self._serving))
        if refusal is not None:
            raise StreamUnavailable(refusal)

    def admit(self, session: StreamSession) -> None:
        """An HLS session about to load its first segment becomes a viewer; StreamUnavailable
        when the channel is full."""
        if not session.is_viewer:
            self._check_limit(session.channel_number)
            session.admitted = True

    @contextlib.contextmanager
    def request(self, session: StreamSession) -> Iterator[None]:
        """Around an HLS request: the session is not released while it is answered."""
        session.in_flight += 1
        try:
            yield
        finally:
            session.in_flight -= 1
            session.last_activity = _now()

    def create_session(
        self, channel_number: int, client_ip: str | None, user_agent: str | None,
        client_id: str | None = None, output: str = "ts", session_id: str | None = None,
    ) -> StreamSession:
        """A new session; StreamUnavailable when a viewer limit is reached."""
        self._check_limit(channel_number)
        if output == "hls":
            self._drop_oldest_pending(channel_number)
        now = _now()
        session = StreamSession(
            session_id=session_id or uuid.uuid4().hex, channel_id=channel_number, channel_number=channel_number,
            client_id=client_id, client_ip=client_ip, user_agent=user_agent,
            state=SessionState.CREATED, created_at=now, last_activity=now, output=output,
            node_id=self.node_id,
        )
        self.sessions[session.session_id] = session
        self._emit(session, "created")
        return session

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
        """Note an error; at ``max_errors`` errors within ``error_window_seconds`` the
        session is disconnected (older errors expire: a viewer watching for days is not
        cut off by the fifth hiccup of its life)."""
        now = _now()
        session.errors.append(SessionError(now, message))
        del session.errors[:-KEPT_ERRORS]
        window = timedelta(seconds=self.config.error_window_seconds)
        recent = sum(1 for e in session.errors if now - e.timestamp <= window)
        if recent >= self.config.max_errors:
            self.disconnect(session, f"too many errors ({recent} in "
                            f"{self.config.error_window_seconds}s; session_manager.max_errors):"
                            f" {message}")
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

    def release_quiet_hls(self) -> None:
        """Release HLS sessions that stopped fetching (``hls_release_segments`` target
        durations without a request)."""
        now = _now()
        for session in list(self.sessions.values()):
            if session.output != "hls" or session.in_flight > 0:
                continue
            limit = self.config.hls_release_segments * session.target_duration
            if (now - session.last_activity).total_seconds() >= limit:
                log.info("Channel %d: HLS viewer %s left (no request for %.0f s)",
                         session.channel_number, session.client_ip or "?", limit)
                self.disconnect(session, f"stopped fetching for {limit:.0f}s")

    def _drop_oldest_pending(self, number: int) -> None:
        """Keep at most ``max_sessions_per_channel`` HLS sessions that never loaded a
        segment: a client opening playlists in a loop cannot grow memory."""
        pending = [s for s in self.for_channel(number)
                   if not s.is_viewer and s.in_flight == 0]
        excess = len(pending) - self.config.max_sessions_per_channel + 1
        for session in sorted(pending, key=lambda s: s.last_activity)[:max(0, excess)]:
            self.disconnect(session, "never loaded a segment")

    async def run_cleanup(self) -> None:
        loop = asyncio.get_running_loop()
        next_cleanup = loop.time() + self.config.cleanup_interval_seconds
        while True:
            await asyncio.sleep(HLS_CHECK_SECONDS)
            self.release_quiet_hls()
            if loop.time() >= next_cleanup:
                next_cleanup = loop.time() + self.config.cleanup_interval_seconds
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
