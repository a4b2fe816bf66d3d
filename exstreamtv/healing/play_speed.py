"""Verification by play speed, measured where viewers get it: at the channel's output.

ffmpeg's own ``speed=`` is cumulative over its whole life (a pre-started ffmpeg that
waited at a boundary reports well under 1x for minutes while delivering perfectly), so
self-healing judges delivery by the channel's delivered speed instead (the media seconds
its output clock advanced per wall second over a recent window; ``ChannelStatus``).

:class:`PlaySpeedVerifier` is the resolver's verifier: a fix counts as verified only
when the channel then delivers its programme (not an error screen) at play speed for a
whole window and the issue did not come back; otherwise it is rolled back and the next
strategy is tried, and learning is trained on that outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exstreamtv.healing.issue import DetectedIssue
    from exstreamtv.streaming.control import ChannelStatus

#: Delivery at or above this share of play speed counts as play speed (the pacer keeps
#: output at 1.0x; a busy machine measures a little under it over a short window).
MIN_SPEED = 0.85
WINDOW_SECONDS = 3.0
VERIFY_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Verdict:
    """A verification's result and why; true when the fix holds."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


Verifier = Callable[["DetectedIssue", float], Awaitable[bool]]


class PlaySpeedVerifier:
    """Verifies a channel fix by its delivered play speed; other fixes by ``fallback``."""

    def __init__(self, status: Callable[[int], ChannelStatus | None], fallback: Verifier,
                 recurred: Callable[[DetectedIssue, float], bool], *,
                 window: float = WINDOW_SECONDS, min_speed: float = MIN_SPEED,
                 timeout: float = VERIFY_TIMEOUT_SECONDS) -> None:
        self.status = status
        self.fallback = fallback
        self.recurred = recurred
        self.window = window
        self.min_speed = min_speed
        self.timeout = timeout

    async def __call__(self, issue: DetectedIssue, applied_at: float) -> Verdict:
        if issue.channel is None:
            ok = await self.fallback(issue, applied_at)
            return Verdict(ok, "the issue did not come back" if ok else "the issue persisted")
        deadline = time.monotonic() + self.timeout
        good_since: float | None = None
        speed: float | None = None
        kind: str | None = None
        while time.monotonic() < deadline:
            status = self.status(issue.channel)
            if status is None or not status.running:
                return Verdict(True, "the channel stopped (no viewers left); nothing to verify")
            if self.recurred(issue, applied_at):
                return Verdict(False, f"{issue.type} came back after the fix")
            speed, kind = status.delivered_speed, status.segment
            now = time.monotonic()
            if speed is not None and speed >= self.min_speed and kind == "program":
                good_since = good_since if good_since is not None else now
                if now - good_since >= self.window:
                    return Verdict(True, f"the programme played at play speed for "
                                         f"{self.window:.0f}s after the fix (now {speed:.2f}x)")
            else:
                good_since = None
            await asyncio.sleep(POLL_SECONDS)
        shown = "no measure" if speed is None else f"{speed:.2f}x"
        return Verdict(False, f"the channel did not deliver its programme at play speed within "
                       f"{self.timeout:.0f}s (last: {shown}, showing {kind or 'nothing'})")
