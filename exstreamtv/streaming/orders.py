"""A pipeline's command inbox, and how each command is carried out in the pipeline's loop.

:meth:`Orders.send` queues a command (from any task) and wakes the loop; the loop calls
:meth:`Orders.apply` between two reads of ffmpeg's output. A command that changes the
next segments only (preset, profile, location, work level) is applied at once; one that
changes what is on air answers with the step that ends the playing segment. A hot
restart readies a fresh ffmpeg in the background while the old output (or the error
screen) goes on, and swaps it in once it has output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exstreamtv.ffmpeg.presets import EncoderPreset
from exstreamtv.streaming.control import (
    Command,
    CommandResult,
    EndReason,
    LightenEncoding,
    PlayFromLocation,
    Reconfigure,
    Restart,
    RestartFrom,
    ShowErrorScreen,
    SkipItem,
    UseCpuTonemap,
    UsePreset,
    UseProfile,
)
from exstreamtv.streaming.recovery import MIN_LEFT_SECONDS, AtSchedule, Fill, Hold, Resume, Step
from exstreamtv.streaming.segment import Segment

if TYPE_CHECKING:
    from exstreamtv.streaming.pipeline import ChannelPipeline

log = logging.getLogger(__name__)

HEAD_SIZE = 188 * 40
#: The error screen of a restart shows at least this long before the programme returns.
MIN_SCREEN_SECONDS = 1.0


@dataclass(frozen=True)
class Swap:
    """A fresh, ready segment takes over now."""

    segment: Segment


@dataclass(frozen=True)
class SegmentEnd:
    """How the pipeline left a segment, and what a command wants next."""

    reason: EndReason
    produced: float
    returncode: int | None
    then: Step | Swap | AtSchedule | None = None


def _done(future: asyncio.Future[CommandResult], applied: bool, message: str) -> None:
    if not future.done():
        future.set_result(CommandResult(applied, message))


class Orders:
    """The inbox of one :class:`ChannelPipeline`."""

    def __init__(self, pipeline: ChannelPipeline) -> None:
        self.pipeline = pipeline
        self._inbox: deque[tuple[Command, asyncio.Future[CommandResult]]] = deque()
        self._signal: asyncio.Event | None = None
        self._fresh: asyncio.Task[Segment | None] | None = None
        self._fresh_for: list[asyncio.Future[CommandResult]] = []

    def _event(self) -> asyncio.Event:
        if self._signal is None:
            self._signal = asyncio.Event()
        return self._signal

    @property
    def waiting(self) -> bool:
        """Something for the loop: a command, or a fresh segment ready to take over."""
        return bool(self._inbox) or self._fresh_ready()

    def _fresh_ready(self) -> bool:
        if self._fresh is None or not self._fresh.done():
            return False
        seg = self.pipeline.current
        # Viewers see the error screen of a restart before the programme comes back.
        return seg is None or seg.kind != "error" or (
            seg.bytes_out > 0 and time.monotonic() - seg.started >= MIN_SCREEN_SECONDS)

    def send(self, command: Command) -> asyncio.Future[CommandResult]:
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        if not self.pipeline.running:
            _done(future, False, f"channel {self.pipeline.number} is not running")
            return future
        self._inbox.append((command, future))
        self._event().set()
        self.pipeline.pacer.wake()
        return future

    async def wait_for(self, reading: asyncio.Future[bytes], timeout: float) -> None:
        """Wait until ``reading`` is done, something is waiting, or ``timeout`` passed."""
        if self.waiting:
            return
        event = self._event()
        event.clear()
        waiter: asyncio.Future[bool] = asyncio.ensure_future(event.wait())
        pending: set[asyncio.Future[bytes] | asyncio.Future[bool]] = {reading, waiter}
        try:
            await asyncio.wait(pending, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def _drop_fresh(self, reason: str) -> None:
        """A command made the fresh segment being readied pointless: stop it."""
        for seg in await self.close_fresh(reason):
            await seg.process.stop(timeout=1.0)

    async def close_fresh(self, reason: str) -> list[Segment]:
        """Cancel a fresh segment being readied; returns it if it was ready (to stop)."""
        left: list[Segment] = []
        fresh, self._fresh = self._fresh, None
        if fresh is not None:
            if not fresh.done():
                fresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                seg = await fresh
                if seg is not None:
                    left.append(seg)
        for future in self._fresh_for:
            _done(future, False, reason)
        self._fresh_for.clear()
        return left

    async def close(self, reason: str) -> list[Segment]:
        """The pipeline stopped: refuse what waits; returns a fresh segment to stop."""
        while self._inbox:
            _, future = self._inbox.popleft()
            _done(future, False, reason)
        return await self.close_fresh(reason)

    # -- applying ------------------------------------------------------------------

    async def apply(self, seg: Segment) -> Step | Swap | AtSchedule | None:
        """Apply waiting commands in order, until one ends ``seg``; what comes next."""
        if self._fresh_ready():
            taken = await self._take_fresh()
            if taken is not None:
                return taken
        while self._inbox:
            command, future = self._inbox.popleft()
            try:
                then = await self._apply(command, future, seg)
            except Exception as exc:
                log.exception("Channel %d: command %s failed", self.pipeline.number, command)
                _done(future, False, f"{type(exc).__name__}: {exc}")
                continue
            if then is not None:
                return then
        return None

    async def _apply(self, command: Command, future: asyncio.Future[CommandResult],
                     seg: Segment) -> Step | AtSchedule | None:
        p = self.pipeline
        planner = p.planner
        if isinstance(command, UsePreset):
            preset = command.preset
            if not isinstance(preset, EncoderPreset):
                preset = planner.resolve_preset(preset)
            planner.use_preset(preset)
            _done(future, True, f"encoder {preset.name} from the next segment")
        elif isinstance(command, UseCpuTonemap):
            if planner.use_cpu_tonemap():
                log.warning("Channel %d: HDR tone mapping on the CPU from now on, encoder %s "
                            "kept (%s)", p.number, planner.preset.name, command.reason)
                _done(future, True, "HDR tone mapping on the CPU from the next segment")
            else:
                _done(future, False, "HDR items are already tone-mapped on the CPU")
        elif isinstance(command, UseProfile):
            planner.base_profile = command.profile
            _done(future, True, "new output profile from the next segment")
        elif isinstance(command, LightenEncoding):
            planner.work_level = command.level
            _done(future, True, f"work level {command.level} from the next segment")
        elif isinstance(command, PlayFromLocation):
            if command.location is None:
                p.locations.pop(command.item_id, None)
            else:
                p.locations[command.item_id] = command.location
            _done(future, True, "location set")
        elif isinstance(command, Reconfigure):
            level = planner.work_level
            p.channel, p.scheduler, p.planner = command.channel, command.scheduler, command.planner
            p.planner.work_level = level
            p._fill.clear()
            await p.discard_prepared()
            await self._drop_fresh("superseded by a new configuration")
            return self._restart(Restart(RestartFrom.SCHEDULE, "its configuration changed"),
                                 future, seg)
        elif isinstance(command, SkipItem):
            await self._drop_fresh("superseded by a skip")
            return self._skip(command, future, seg)
        elif isinstance(command, ShowErrorScreen):
            _done(future, True, f"error screen for {command.seconds:.0f}s")
            return Hold(command.seconds, command.reason, self._resume_point(seg))
        elif isinstance(command, Restart):
            return self._restart(command, future, seg)
        else:  # pragma: no cover (a new command type without a handler)
            _done(future, False, f"unknown command {type(command).__name__}")
        return None

    def _resume_point(self, seg: Segment) -> Resume | None:
        p = self.pipeline
        if seg.kind == "program":
            reached = p.reached(seg.entry)
            return Resume(seg.entry, reached if reached is not None else seg.offset)
        return p._after_hold

    def _skip(self, command: SkipItem, future: asyncio.Future[CommandResult],
              seg: Segment) -> Step | None:
        p = self.pipeline
        entry = seg.entry if seg.kind == "program" else (
            p._after_hold.entry if p._after_hold is not None else None)
        if entry is None:
            _done(future, False, "no item is playing")
            return None
        p._after_hold = None
        _done(future, True, f"'{entry.title}' skipped; back on the schedule at its end")
        return Fill(entry, f"'{entry.title}' {command.reason}")

    def _restart(self, command: Restart, future: asyncio.Future[CommandResult],
                 seg: Segment) -> Step | AtSchedule | None:
        p = self.pipeline
        since = command.unless_recovered_since
        if (since is not None and p.last_recovery is not None and p.last_recovery >= since
                and seg.kind == "program" and seg.process.returncode is None):
            _done(future, True, "the pipeline had already replaced the failed ffmpeg")
            return None
        log.info("Channel %d: restarting its ffmpeg (%s)", p.number, command.reason)
        if not command.hot:
            p.restarts += 1
            _done(future, True, "restarted")
            if command.from_ is RestartFrom.VIEWERS:
                return self._resume_point(seg) or AtSchedule()
            p._after_hold = None
            return AtSchedule()
        self._fresh_for.append(future)
        if self._fresh is None:
            self._fresh = asyncio.get_running_loop().create_task(self._ready(command))
            self._fresh.add_done_callback(lambda _task: self._event().set())
        if command.error_screen and seg.kind != "error":
            return Hold(command.timeout + MIN_SCREEN_SECONDS, f"restarting ({command.reason})",
                        self._resume_point(seg))
        return None

    async def _ready(self, command: Restart) -> Segment | None:
        """A fresh segment at the restart position, with its first output read."""
        p = self.pipeline
        entry, offset = p.position(p.air_time(), viewers=command.from_ is RestartFrom.VIEWERS)
        seg = await p._open(entry, offset)
        try:
            head = await asyncio.wait_for(seg.process.stdout.read(HEAD_SIZE), command.timeout)
        except TimeoutError:
            head = b""
        except asyncio.CancelledError:
            await asyncio.shield(seg.process.stop(timeout=1.0))
            raise
        if not head:
            await seg.process.stop(timeout=1.0)
            return None
        seg.head = head
        return seg

    async def _take_fresh(self) -> Swap | AtSchedule | None:
        p = self.pipeline
        task, self._fresh = self._fresh, None
        waiters, self._fresh_for = self._fresh_for, []
        seg: Segment | None = None
        error = "the fresh ffmpeg produced no output"
        if task is not None:
            try:
                seg = task.result()
            except Exception as exc:
                error = f"the fresh ffmpeg could not start: {exc}"
        if seg is not None and seg.entry.end - p.air_time() < MIN_LEFT_SECONDS:
            # Its item ended meanwhile: what the schedule has now replaces it (and ends an
            # error screen held for it).
            await seg.process.stop(timeout=1.0)
            for future in waiters:
                _done(future, True, "restarted with the next item")
            p._after_hold = None
            p.restarts += 1
            return AtSchedule()
        for future in waiters:
            _done(future, seg is not None, "a fresh ffmpeg took over" if seg else error)
        if seg is None:
            log.warning("Channel %d: %s", p.number, error)
            return None
        p._after_hold = None
        return Swap(seg)
