"""The shared buffer of a channel: recent output in keyframe-aligned chunks.

One pipeline writes; every viewer of the channel reads at its own position. Memory
is bounded by time (``keep_seconds``) and bytes; a reader that falls out of the
window is told so and skips ahead to the newest keyframe.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from exstreamtv.streaming.ts import Piece


@dataclass(frozen=True)
class Chunk:
    seq: int
    data: bytes
    keyframe: bool
    clock: float | None
    wall: float = field(default_factory=time.monotonic)


class ReaderBehind(Exception):
    """The reader's position is no longer in the buffer."""


class ChannelBuffer:
    """A bounded, append-only window of chunks with async waiting for new ones."""

    def __init__(self, keep_seconds: float = 6.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.keep_seconds = keep_seconds
        self.max_bytes = max_bytes
        self.chunks: deque[Chunk] = deque()
        self.next_seq = 0
        self.bytes = 0
        self.total_bytes = 0
        self.closed = False
        self._event = asyncio.Event()

    def append(self, piece: Piece) -> None:
        """Add a piece and wake the readers."""
        if not piece.data:
            return
        chunk = Chunk(self.next_seq, piece.data, piece.keyframe, piece.clock)
        self.next_seq += 1
        self.chunks.append(chunk)
        self.bytes += len(chunk.data)
        self.total_bytes += len(chunk.data)
        self._trim()
        self._wake()

    def _trim(self) -> None:
        newest = self.chunks[-1].wall
        keyframe = self.latest_keyframe_seq()
        while len(self.chunks) > 1:
            oldest = self.chunks[0]
            too_old = newest - oldest.wall > self.keep_seconds
            too_big = self.bytes > self.max_bytes
            if not (too_old or too_big):
                break
            if keyframe is not None and oldest.seq >= keyframe and not too_big:
                break  # always keep the newest keyframe for joining viewers
            self.chunks.popleft()
            self.bytes -= len(oldest.data)

    def _wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        """No more data will come; readers finish."""
        self.closed = True
        self._wake()

    def latest_keyframe_seq(self) -> int | None:
        for chunk in reversed(self.chunks):
            if chunk.keyframe:
                return chunk.seq
        return None

    def read(self, seq: int) -> list[Chunk]:
        """Chunks from ``seq`` on; raises ReaderBehind when ``seq`` was trimmed away."""
        if not self.chunks or seq >= self.next_seq:
            return []
        first = self.chunks[0].seq
        if seq < first:
            raise ReaderBehind(f"position {seq} is before the buffer start {first}")
        return list(self.chunks)[seq - first :]

    async def wait(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until a chunk at or after ``seq`` exists (or the buffer closes)."""
        if self.next_seq > seq or self.closed:
            return True
        event = self._event
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the event fires, and a viewer whose client has
        # gone would then keep streaming into a closed connection.
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True
