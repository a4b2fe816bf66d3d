"""Reading a channel's shared buffer as one viewer: the MPEG-TS body of a response."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from exstreamtv.streaming.buffer import ChannelBuffer, ReaderBehind
from exstreamtv.streaming.session_manager import SessionManager, StreamSession

log = logging.getLogger(__name__)

FIRST_DATA_TIMEOUT = 30.0
DATA_TIMEOUT = 60.0


async def ts_body(
    buffer: ChannelBuffer, session: StreamSession, sessions: SessionManager
) -> AsyncIterator[bytes]:
    """The channel from its newest keyframe on, as long as the viewer reads."""
    try:
        seq = await _join(buffer)
        if seq is None:
            sessions.record_error(session, "the channel produced no picture in time")
            return
        while True:
            try:
                chunks = buffer.read(seq)
            except ReaderBehind:
                newest = buffer.latest_keyframe_seq()
                seq = newest if newest is not None else buffer.next_seq
                sessions.record_error(session, "viewer fell behind; skipped to the newest keyframe")
                continue
            if not chunks:
                if buffer.closed:
                    return
                if not await buffer.wait(seq, DATA_TIMEOUT):
                    sessions.record_error(session, "the channel stopped producing data")
                    return
                continue
            seq = chunks[-1].seq + 1
            data = chunks[0].data if len(chunks) == 1 else b"".join(c.data for c in chunks)
            sessions.record_data(session, len(data))
            yield data
    finally:
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
