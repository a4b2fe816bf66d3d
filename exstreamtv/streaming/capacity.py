"""How many viewers the server can send to at full rate: measured, not guessed.

Every viewer's bytes are sent by the one event loop thread, so that thread's CPU is the
budget. :class:`SendCapacity` samples it once a second (``time.thread_time`` of the loop
thread over the wall time: the share of one core it used) next to how many viewers were
being served. A new viewer is admitted while the loop's load with one more viewer of the
average cost stays under ``max_send_load``; past it, the viewer gets a 503 instead of every
viewer slowing down. The loop's lateness counts too: a loop that wakes far behind its
timers (a host starved of CPU by other programs) cannot take more viewers either, whatever
its own CPU share says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds between samples.
SAMPLE_SECONDS = 1.0
#: Weight of a new sample in the moving average.
_EWMA = 0.5
#: Loop lateness (seconds a 1 s sleep overshoots) that counts as a fully busy loop.
LATE_FULL = 0.5


@dataclass(frozen=True)
class Capacity:
    """One estimate: the loop's load (share of one core, lateness included) and viewers."""

    load: float
    viewers: int
    late: float

    def with_one_more(self) -> float:
        """The load expected with one more viewer of the average cost."""
        if self.viewers <= 0:
            return self.load
        return self.load * (self.viewers + 1) / self.viewers

    def to_dict(self) -> dict[str, float | int]:
        return {"send_load": round(self.load, 3), "viewers_measured": self.viewers,
                "loop_late_seconds": round(self.late, 3)}


class SendCapacity:
    """The loop's measured sending load; ``refusal(viewers)`` says when to say 503."""

    def __init__(self, max_load: float) -> None:
        self.max_load = max_load
        self.estimate = Capacity(0.0, 0, 0.0)
        self._task: asyncio.Task[None] | None = None

    def refusal(self, viewers: int) -> str | None:
        """Why one more viewer cannot be served at full rate, or None."""
        est = self.estimate
        if self.max_load >= 1.0 or viewers <= 0 or est.viewers <= 0:
            return None
        projected = est.with_one_more()
        if projected <= self.max_load:
            return None
        return (f"the server is at its sending capacity: {viewers} viewers keep its event "
                f"loop {est.load:.0%} busy and one more would take it past "
                f"{self.max_load:.0%} (session_manager.max_send_load); try again later or "
                "watch on another server")

    def start(self, viewers: Callable[[], int]) -> None:
        """Sample in the running loop; ``viewers()`` gives the number being served."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sample(viewers))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sample(self, viewers: Callable[[], int]) -> None:
        loop = asyncio.get_running_loop()
        cpu, wall = time.thread_time(), loop.time()
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            cpu1, wall1 = time.thread_time(), loop.time()
            elapsed = max(wall1 - wall, 1e-6)
            late = max(0.0, elapsed - SAMPLE_SECONDS)
            busy = (cpu1 - cpu) / elapsed
            load = max(busy, min(1.0, late / LATE_FULL))
            old = self.estimate
            smoothed = load if old.viewers == 0 else _EWMA * load + (1 - _EWMA) * old.load
            self.estimate = Capacity(smoothed, int(viewers()), late)
            cpu, wall = cpu1, wall1
