"""SessionManager (spec 1.2): the state diagram, limits, expiry and bus events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from exstreamtv.config.model import SessionManagerConfig
from exstreamtv.errors import StreamUnavailable
from exstreamtv.events import EventBus, SessionEvent
from exstreamtv.streaming.session_manager import SessionManager, SessionState


def manager(**config: int) -> tuple[SessionManager, EventBus]:
    bus = EventBus()
    return SessionManager(SessionManagerConfig(**config), bus), bus


def actions(bus: EventBus, session_id: str) -> list[str]:
    return [e.action for e in bus.recent
            if isinstance(e, SessionEvent) and e.session_id == session_id]


def test_lifecycle_follows_the_state_diagram() -> None:
    sessions, bus = manager()
    s = sessions.create_session(1, "127.0.0.1", "vlc")
    assert s.state is SessionState.CREATED
    sessions.record_data(s, 1000)
    assert s.state is SessionState.ACTIVE and s.bytes_sent == 1000
    sessions.record_error(s, "fell behind")
    assert s.state is SessionState.ERROR
    sessions.record_data(s, 500)  # data flows again: recover
    assert s.state is SessionState.ACTIVE and s.bytes_sent == 1500
    sessions.disconnect(s)
    assert s.state is SessionState.DISCONNECTED
    assert s.session_id not in sessions.sessions
    assert actions(bus, s.session_id) == ["created", "activated", "error", "recovered",
                                          "disconnected"]


def test_max_errors_disconnects() -> None:
    sessions, bus = manager()
    s = sessions.create_session(1, None, None)
    sessions.activate(s)
    for i in range(5):  # the default session_manager.max_errors
        sessions.record_error(s, f"error {i}")
    assert s.state is SessionState.DISCONNECTED
    assert len(s.errors) == 5
    last = [e for e in bus.recent if isinstance(e, SessionEvent)][-1]
    assert last.action == "disconnected" and "too many errors" in last.message


def test_errors_expire_over_the_window_and_the_limit_is_configurable() -> None:
    sessions, _ = manager(max_errors=3, error_window_seconds=60)
    s = sessions.create_session(1, None, None)
    sessions.activate(s)
    for day in range(10):  # two errors a day for ten days: never three in a minute
        for i in range(2):
            sessions.record_error(s, f"day {day} error {i}")
        for error in s.errors:
            error.timestamp -= timedelta(hours=24)
        sessions.record_data(s, 188)
    assert s.state is SessionState.ACTIVE and len(s.errors) == 20
    for i in range(3):
        sessions.record_error(s, f"burst {i}")
    assert s.state is SessionState.DISCONNECTED


def test_limit_per_channel() -> None:
    sessions, _ = manager(max_sessions_per_channel=2)
    sessions.create_session(1, None, None)
    sessions.create_session(1, None, None)
    with pytest.raises(StreamUnavailable, match="max_sessions_per_channel"):
        sessions.create_session(1, None, None)
    sessions.create_session(2, None, None)  # another channel has its own limit


def test_idle_then_timeout_then_resume() -> None:
    sessions, bus = manager(idle_timeout_seconds=10)
    quiet = sessions.create_session(1, None, None)
    back = sessions.create_session(1, None, None)
    for s in (quiet, back):
        sessions.activate(s)
        s.last_activity -= timedelta(seconds=10)
    sessions.cleanup()
    assert quiet.state is SessionState.IDLE and back.state is SessionState.IDLE
    sessions.touch(back.session_id)
    assert back.state is SessionState.ACTIVE
    assert "resumed" in actions(bus, back.session_id)
    sessions.cleanup()
    assert quiet.state is SessionState.DISCONNECTED
    assert back.state is SessionState.ACTIVE


def test_timeout_cancels_a_viewer_stuck_in_a_send() -> None:
    async def run() -> None:
        sessions, _ = manager(idle_timeout_seconds=1)
        s = sessions.create_session(1, None, None)
        sessions.activate(s)

        async def stuck() -> None:
            await asyncio.sleep(3600)  # a send that never completes

        task = asyncio.get_running_loop().create_task(stuck())
        sessions.attach(s, task)
        s.last_activity -= timedelta(seconds=5)
        sessions.cleanup()  # -> idle
        sessions.cleanup()  # -> disconnected
        await asyncio.sleep(0)
        assert task.cancelled() or task.cancelling()
        assert sessions.health()["serving"] == 0

    asyncio.run(run())
