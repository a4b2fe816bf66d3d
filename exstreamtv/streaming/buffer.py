"""The shared buffer of a channel: recent output in keyframe-aligned chunks.

One pipeline writes; every viewer of the channel reads at its own position. Memory
is bounded by time (``keep_seconds``) and bytes; a reader that falls out of the
window is told so and skips ahead to the newest keyframe.

Readers are woken at most once per ``wake_interval`` (not on every append): with
hundreds of viewers, waking each of them for every small piece the pipeline writes is
what costs the CPU, while one wake per interval hands each viewer one larger, coalesced
write. The delay this adds (a tenth of a second) is far inside the channel's lead.
A read copies only the chunks the reader has not had yet, taken from the deque's end.
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


#: Seconds between wake-ups of the readers while data keeps coming.
WAKE_INTERVAL = 0.1
#: At most this much goes into one viewer's write: a viewer far behind catches up in
#: steps instead of the server holding its whole backlog in one buffer.
MAX_READ_BYTES = 256 * 1024


class ChannelBuffer:
    """A bounded, append-only window of chunks with async waiting for new ones."""

    def __init__(self, keep_seconds: float = 6.0, max_bytes: int = 64 * 1024 * 1024,
                 wake_interval: float = WAKE_INTERVAL) -> None:
        self.keep_seconds = keep_seconds
        self.wake_interval = wake_interval
        self.max_bytes = max_bytes
        self.chunks: deque[Chunk] = deque()
        self.next_seq = 0
        self.bytes = 0
        self.total_bytes = 0
        self.closed = False
        self._event = asyncio.Event()
        self._wake_timer: asyncio.TimerHandle | None = None
        self._joined: tuple[tuple[int, int], bytes, int] | None = None

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
        if self._wake_timer is None:
            if self.wake_interval <= 0:
                self._wake()
            else:
                self._wake_timer = asyncio.get_running_loop().call_later(
                    self.wake_interval, self._wake)

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
        if self._wake_timer is not None:
            self._wake_timer.cancel()
            self._wake_timer = None
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
        chunks = self.chunks
        size = len(chunks)
        # Index from the end: a deque reaches its ends in O(1), and readers are near it.
        return [chunks[i] for i in range(seq - first, size)]

    def read_bytes(self, seq: int, limit: int = MAX_READ_BYTES) -> tuple[bytes, int]:
        """The bytes from ``seq`` on (whole chunks, about ``limit`` at most), joined, and
        the position after them; raises ReaderBehind like :meth:`read`. Readers at the
        same position (most viewers, woken together) share one joined copy."""
        cached = self._joined
        if cached is not None and cached[0] == (seq, self.next_seq):
            return cached[1], cached[2]
        chunks = self.read(seq)
        if not chunks:
            return b"", seq
        size, count = 0, 0
        for chunk in chunks:
            if count and size + len(chunk.data) > limit:
                break
            size += len(chunk.data)
            count += 1
        data = chunks[0].data if count == 1 else b"".join(c.data for c in chunks[:count])
        after = chunks[count - 1].seq + 1
        self._joined = ((seq, self.next_seq), data, after)
        return data, after

    async def wait(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until a chunk at or after ``seq`` exists (or the buffer closes).

        While a wake-up is due (the pipeline is still adding to the current batch), a
        reader waits for it even when some data is there already, so that it sends the
        whole batch in one write.
        """
        if self.closed or (self.next_seq > seq and self._wake_timer is None):
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
