"""Pacing a channel's output to play speed by its own clock (the spliced PCR).

The pacer anchors the output clock to the event loop's clock at the first chunk and then
sleeps before each chunk until it is due, ``lead`` seconds ahead of the wall clock. A
stream that fell more than :data:`CATCH_UP_SECONDS` behind is re-anchored instead of
being rushed; one that is far ahead (a dead ffmpeg's read-ahead was passed on at once)
waits it out. :meth:`wake` cuts a wait short (a hot swap switching segments).
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 3.0
AHEAD_NOTICE_SECONDS = 3.0


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)


class Pacer:
    """Play-speed pacing for one pipeline; ``name`` labels its log lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._anchor: tuple[float, float] | None = None  # (loop time, output clock)
        self._nap: asyncio.Future[None] | None = None
        self._ahead = False

    async def pace(self, clock: float | None, lead: float) -> None:
        """Sleep until output at ``clock`` is due, ``lead`` seconds ahead of the wall."""
        if clock is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._anchor is None:
            self._anchor = (now, clock)
            return
        wall0, clock0 = self._anchor
        due = wall0 + (clock - clock0) - lead
        ahead = due - now > AHEAD_NOTICE_SECONDS
        if ahead and not self._ahead:
            log.info("%s: output is %.1fs ahead of play speed; pausing it", self.name, due - now)
        self._ahead = ahead
        if due > now:
            self._nap = loop.create_future()
            timer = loop.call_later(due - now, _wake, self._nap)
            try:
                await self._nap
            finally:
                timer.cancel()
                self._nap = None
        elif now - due > CATCH_UP_SECONDS:
            self._anchor = (now - lead, clock)

    def ahead(self, clock: float | None) -> float:
        """Seconds until output at ``clock`` airs (negative: late); 0 before any output.

        Output at ``clock`` airs ``lead`` seconds after it is due to be sent: the channel
        clock and the wall clock are tied at the anchor.
        """
        if clock is None or self._anchor is None:
            return 0.0
        wall0, clock0 = self._anchor
        return wall0 + (clock - clock0) - asyncio.get_running_loop().time()

    def wake(self) -> None:
        """End a running wait now."""
        if self._nap is not None:
            _wake(self._nap)
