"""Reading a channel's shared buffer as one viewer: the MPEG-TS body of a response.

Each viewer is one async generator over the shared :class:`ChannelBuffer`; the server's
send back-pressure (Hypercorn awaits the socket drain) suspends only that viewer's
generator. A viewer that falls out of the buffer window is skipped ahead to the newest
keyframe and gets a session error; past the session's error limit it is disconnected.
Per-viewer pacing is the :class:`StreamThrottler`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from exstreamtv.config.model import StreamThrottlerConfig
from exstreamtv.streaming.buffer import ChannelBuffer, ReaderBehind
from exstreamtv.streaming.session_manager import SessionManager, SessionState, StreamSession
from exstreamtv.streaming.throttler import StreamThrottler

log = logging.getLogger(__name__)

FIRST_DATA_TIMEOUT = 30.0
DATA_TIMEOUT = 60.0


async def ts_body(
    buffer: ChannelBuffer,
    session: StreamSession,
    sessions: SessionManager,
    throttle: StreamThrottlerConfig | None = None,
    restarts: Callable[[], int] | None = None,
    floor_bps: int = 0,
) -> AsyncIterator[bytes]:
    """The channel from its newest keyframe on, as long as the viewer reads.

    ``restarts`` returns the pipeline's hot-swap count; the session's ``restart_count``
    counts the swaps it lived through. ``floor_bps`` is the channel's own output rate,
    below which the viewer is never paced.
    """
    throttler = StreamThrottler(throttle or StreamThrottlerConfig(enabled=False),
                                floor_bps=floor_bps)
    task = asyncio.current_task()
    if task is not None:
        sessions.attach(session, task)
    base_restarts = restarts() if restarts else 0
    try:
        seq = await _join(buffer)
        if seq is None:
            sessions.record_error(session, "the channel produced no picture in time")
            return
        while session.state is not SessionState.DISCONNECTED:
            if not await buffer.wait(seq, DATA_TIMEOUT):
                sessions.record_error(session, "the channel stopped producing data")
                return
            try:
                data, seq = buffer.read_bytes(seq)
            except ReaderBehind:
                newest = buffer.latest_keyframe_seq()
                seq = newest if newest is not None else buffer.next_seq
                sessions.record_error(session, "viewer fell behind; skipped to the newest keyframe")
                continue
            if not data:
                if buffer.closed:
                    return
                continue
            await throttler.throttle(len(data))
            if restarts is not None:
                session.restart_count = restarts() - base_restarts
            sessions.record_data(session, len(data))
            started = time.monotonic()
            yield data
            throttler.delivered(len(data), time.monotonic() - started)
    finally:
        sessions.detach(session)
        sessions.disconnect(session)


async def _join(buffer: ChannelBuffer) -> int | None:
    """The newest keyframe's position, waiting for the first one of a cold channel."""
    deadline = time.monotonic() + FIRST_DATA_TIMEOUT
    while True:
        seq = buffer.latest_keyframe_seq()
        if seq is not None:
            return seq
        if buffer.closed or time.monotonic() >= deadline:
            return None
        await buffer.wait(buffer.next_seq, 1.0)
