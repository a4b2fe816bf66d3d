"""StreamThrottler (spec 1.3): per-viewer pacing on top of the channel's own PCR pacing.

The channel pipeline already produces its output at play speed. The throttler decides
how fast one viewer is *sent* that output, chunk by chunk, with one token bucket per
session: a virtual "due time" advances by ``len(chunk) / rate`` per chunk, on a
monotonic clock. It costs a few float operations per chunk (never per TS packet) and
sleeps only when the viewer is ahead of its allowance by more than ``MIN_SLEEP``, so the
average stays exact over minutes while sleeps stay few.

Modes (``stream_throttler.mode``):

* ``realtime``: at most ``target_bitrate_bps`` on average; the backlog a joining viewer
  gets (newest keyframe to live edge) goes out at that rate.
* ``burst``: the first ``BURST_SECONDS`` worth of ``target_bitrate_bps`` go out at up to
  ``BURST_FACTOR`` times the target so the player's buffer fills fast; then realtime.
* ``adaptive``: follows what the client actually reads: the rate tracks the measured read
  rate of the client (time spent blocked in the send counts), kept between
  ``ADAPTIVE_MIN`` and ``BURST_FACTOR`` times the target, so a fast client catches up at
  up to twice the target and a slow one is not pushed into a full socket.
* ``disabled`` (or ``enabled: false``): no pacing at all.

Whatever the mode, a viewer is never paced below the channel's own output rate
(``floor_bps``, :func:`exstreamtv.config.profiles.output_rate_bps`): a target under it
would make the viewer fall behind a live channel, skip and be cut off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from exstreamtv.config.model import StreamThrottlerConfig

BURST_SECONDS = 4.0
BURST_FACTOR = 2.0
ADAPTIVE_MIN = 0.5
#: Credit a session may save up while idle, in seconds at its rate: keeps the average
#: at the target instead of letting a long pause be paid back with a spike.
MAX_CREDIT_SECONDS = 0.25
#: Delays shorter than this are carried over to the next chunk instead of slept.
MIN_SLEEP = 0.005
_EWMA = 0.2


class StreamThrottler:
    """One viewer's token bucket; ``await throttle(n)`` before sending ``n`` bytes."""

    def __init__(
        self,
        config: StreamThrottlerConfig,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
        floor_bps: int = 0,
    ) -> None:
        self.mode = config.mode if config.enabled else "disabled"
        self.floor = floor_bps / 8.0  # bytes per second: the channel's own rate
        self.target = max(config.target_bitrate_bps / 8.0, self.floor)
        self.clock = clock
        self._sleep = sleep
        self.sent = 0
        self._due: float | None = None  # when the bytes sent so far are paid for
        self._measured: float | None = None  # adaptive: client's read rate, bytes/s

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"

    def rate(self) -> float:
        """The send rate for the next chunk, in bytes per second."""
        if self.mode == "burst" and self.sent < self.target * BURST_SECONDS:
            return self.target * BURST_FACTOR
        if self.mode == "adaptive":
            if self._measured is None:
                return self.target * BURST_FACTOR
            low = max(self.target * ADAPTIVE_MIN, self.floor)
            high = self.target * BURST_FACTOR
            return min(high, max(low, self._measured))
        return self.target

    def delay(self, nbytes: int) -> float:
        """Account for ``nbytes`` about to be sent; seconds to wait before sending them."""
        if not self.enabled or nbytes <= 0:
            return 0.0
        now = self.clock()
        rate = self.rate()
        due = self._due if self._due is not None else now
        due = max(due, now - MAX_CREDIT_SECONDS)
        wait = due - now
        self._due = due + nbytes / rate
        self.sent += nbytes
        return wait if wait >= MIN_SLEEP else 0.0

    def delivered(self, nbytes: int, seconds: float) -> None:
        """The client took ``seconds`` to accept ``nbytes`` (adaptive mode learns from it)."""
        if self.mode != "adaptive" or nbytes <= 0:
            return
        observed = nbytes / max(seconds, 1e-4)
        self._measured = observed if self._measured is None else (
            (1 - _EWMA) * self._measured + _EWMA * observed
        )

    async def throttle(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be sent."""
        wait = self.delay(nbytes)
        if wait > 0:
            await self._sleep(wait)  # type: ignore[misc]
