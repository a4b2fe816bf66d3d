"""One ffmpeg run of a channel, and what a channel's output tells about its health.

A :class:`Segment` is one ffmpeg playing part of a schedule entry (or an error screen).
:class:`DeliveryMeter` measures the channel's output at the buffer (seconds of programme
per second of wall time) and :class:`ChannelHealth` turns that and the failures into
ok/degraded with hysteresis: a channel is degraded only when viewers would notice (its
output below play speed for some seconds, or a failure just now), not because a
prestarted ffmpeg waits for its turn or a boundary took a moment.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exstreamtv.events import ChannelEvent
from exstreamtv.ffmpeg.presets import first_error

if TYPE_CHECKING:
    from exstreamtv.ffmpeg.process import FFmpegProcess
    from exstreamtv.scheduling.base import ScheduledItem
    from exstreamtv.streaming.orders import Orders
    from exstreamtv.streaming.planner import Plan
    from exstreamtv.streaming.webvtt import Cue

#: Window over which delivery is measured, seconds.
DELIVERY_WINDOW = 5.0
#: Delivered speed under which viewers' buffers drain.
SLOW_SPEED = 0.9
#: How long output must stay slow before the channel counts as degraded, and fine again
#: before it counts as ok; how long a failure keeps it degraded.
DEGRADED_AFTER = 3.0
RECOVERED_AFTER = 5.0
FAILURE_SECONDS = 10.0


@dataclass
class Segment:
    """One ffmpeg process playing ``duration`` seconds of an entry (or an error screen)."""

    entry: ScheduledItem
    offset: float
    duration: float
    plan: Plan
    process: FFmpegProcess
    started: float = field(default_factory=time.monotonic)
    head: bytes = b""  # output read ahead (by a hot restart) before the segment plays
    bytes_out: int = 0
    start_out: float | None = None  # the channel clock when the segment began to play
    produced: float = 0.0  # seconds of output it gave, once it has ended
    reading: asyncio.Future[bytes] | None = None  # a read of its stdout in flight
    read_since: float | None = None  # monotonic time that read began
    cues: asyncio.Task[list[Cue]] | None = None  # its text subtitles being read (HLS WebVTT)

    @property
    def kind(self) -> str:
        return self.plan.kind

    def damage(self) -> str | None:
        """ffmpeg's first error line of a programme that played to its end (damaged data
        it decoded around), or None."""
        if self.kind != "program":
            return None
        line = first_error("\n".join(self.process.stderr_tail))
        return line if line and "[error]" in line else None

    def started_event(self, channel: int) -> ChannelEvent:
        """What the channel publishes as this segment begins to play."""
        if self.kind != "program":
            return ChannelEvent(channel=channel, action="error_screen", title=self.plan.title)
        item = self.entry.item
        return ChannelEvent(
            channel=channel, action="item", title=self.plan.title,
            item_id=item.id if item else None, source_id=item.source_id if item else None,
            entry_kind=self.entry.kind, started_at=self.entry.start + self.offset,
            duration=self.duration)

    async def read(self, size: int, orders: Orders,
                   stall_seconds: float) -> bytes | TimeoutError | None:
        """The next bytes of its output; None when a command came first (``orders``);
        TimeoutError after ``stall_seconds`` without output (the next call waits anew)."""
        if self.reading is None:
            self.reading = asyncio.ensure_future(self.process.stdout.read(size))
            self.read_since = time.monotonic()
        assert self.read_since is not None
        deadline = self.read_since + stall_seconds
        while not self.reading.done():
            if orders.waiting:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self.read_since = time.monotonic()  # a new window if it is given patience
                return TimeoutError()
            await orders.wait_for(self.reading, left)
        reading, self.reading, self.read_since = self.reading, None, None
        return reading.result()

    async def cancel_read(self) -> None:
        """Drop a read in flight (before the process is stopped and drained)."""
        reading, self.reading = self.reading, None
        self.read_since = None
        if reading is not None and not reading.done():
            reading.cancel()
            await asyncio.wait({reading}, timeout=1.0)  # let it let go of the stream


class DeliveryMeter:
    """Seconds of output per second of wall time, measured where viewers read it."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()
        self._clock = time.monotonic

    def note(self, output_clock: float | None) -> None:
        """The output reached ``output_clock`` seconds (the spliced stream's clock) now."""
        if output_clock is None:
            return
        now = self._clock()
        self._samples.append((now, output_clock))
        while self._samples and now - self._samples[0][0] > 3 * DELIVERY_WINDOW:
            self._samples.popleft()

    def reset(self) -> None:
        self._samples.clear()

    def speed(self, window: float = DELIVERY_WINDOW) -> float | None:
        """Delivered speed over the last ``window`` seconds (None: not measured long enough).

        Silence counts: with no output in the window the speed falls towards 0.
        """
        if not self._samples:
            return None
        now = self._clock()
        first_t, _ = self._samples[0]
        if now - first_t < window:
            return None
        base = None
        for t, c in self._samples:
            if t <= now - window:
                base = (t, c)
            else:
                break
        if base is None:
            return None
        last_c = self._samples[-1][1]
        return max(0.0, (last_c - base[1]) / max(now - base[0], 1e-6))


class ChannelHealth:
    """ok/degraded for one channel, with hysteresis."""

    def __init__(self) -> None:
        self.degraded = False
        self.reason = ""
        self.last_failure: float | None = None
        self._slow_since: float | None = None
        self._fine_since: float | None = None

    def failed(self, why: str) -> None:
        """A failure viewers saw (an ffmpeg that died or stalled mid-programme)."""
        self.last_failure = time.monotonic()
        self.degraded = True
        self.reason = why

    def update(self, speed: float | None) -> tuple[bool, str]:
        """Re-evaluate with the delivered ``speed`` now; returns (degraded, reason)."""
        now = time.monotonic()
        failing = self.last_failure is not None and now - self.last_failure < FAILURE_SECONDS
        slow = speed is not None and speed < SLOW_SPEED
        if slow:
            self._fine_since = None
            if self._slow_since is None:
                self._slow_since = now
        else:
            self._slow_since = None
            if self._fine_since is None:
                self._fine_since = now
        if not self.degraded:
            if failing:
                self.degraded = True
            elif self._slow_since is not None and now - self._slow_since >= DEGRADED_AFTER:
                self.degraded = True
                self.reason = f"output at {speed:.2f}x play speed"
        elif not failing and self._fine_since is not None \
                and now - self._fine_since >= RECOVERED_AFTER:
            self.degraded, self.reason = False, ""
        return self.degraded, self.reason
