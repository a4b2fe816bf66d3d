"""One channel's pipeline: schedule entries -> ffmpeg segments -> spliced, paced output.

A pipeline runs while its channel has viewers. It plays the entry on air now (seeking
into it), starts the next entry's ffmpeg a few seconds before the boundary so there is
no gap, and splices every segment into one MPEG-TS stream (:mod:`.ts`), paced to play
speed (:mod:`.pacer`) into a shared :class:`ChannelBuffer` that every viewer reads.

When ffmpeg dies or stalls mid-item, the pipeline restarts that item at the schedule
position it had reached; repeated failures show the channel's error screen with a
growing back-off and, after three failures of one item, move on to the next item.
Viewers stay connected throughout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from exstreamtv.config.model import ChannelConfig, StreamingConfig
from exstreamtv.events import ChannelEvent, EventBus, FixEvent, HealthEvent
from exstreamtv.ffmpeg.presets import first_error
from exstreamtv.ffmpeg.process import FFmpegProcess, LineListener
from exstreamtv.scheduling.base import ScheduledItem, Scheduler
from exstreamtv.streaming.buffer import ChannelBuffer
from exstreamtv.streaming.pacer import Pacer
from exstreamtv.streaming.planner import ItemPlanner, Plan
from exstreamtv.streaming.ts import Piece, TSSplicer

log = logging.getLogger(__name__)

READ_SIZE = 188 * 40  # small reads keep the output smooth at low bitrates
ERROR_READ_SIZE = 188 * 16
STALL_SECONDS = 8.0
MAX_BACKOFF_SECONDS = 30.0
FAILURES_BEFORE_SKIP = 3


@dataclass
class Segment:
    """One ffmpeg process playing ``duration`` seconds of an entry (or an error screen)."""

    entry: ScheduledItem
    offset: float
    duration: float
    plan: Plan
    process: FFmpegProcess
    started: float = field(default_factory=time.monotonic)
    head: bytes = b""  # output read ahead (by a hot swap) before the segment plays
    bytes_out: int = 0
    start_out: float | None = None  # the channel clock when the segment began to play
    produced: float = 0.0  # seconds of output it gave, once it has ended

    @property
    def kind(self) -> str:
        return self.plan.kind


@dataclass(frozen=True)
class SegmentResult:
    produced: float
    reason: str  # eof | stall | swap | skip | hot | hold
    returncode: int | None


LocationResolver = Callable[[ScheduledItem], "asyncio.Future[str] | None"]
#: Called with (pipeline, reason, exit code) when ffmpeg ended early (crash, stall, bad file).
FailureListener = Callable[["ChannelPipeline", str, "int | None"], None]


class ChannelPipeline:
    """The running output of one channel, shared by all of its viewers."""

    def __init__(
        self,
        channel: ChannelConfig,
        scheduler: Scheduler,
        planner: ItemPlanner,
        settings: StreamingConfig,
        bus: EventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channel = channel
        self.scheduler = scheduler
        self.planner = planner
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.buffer = ChannelBuffer(settings.buffer_seconds)
        self.splicer = TSSplicer()
        self.state = "stopped"
        self.current: Segment | None = None
        self.line_listeners: list[LineListener] = []
        self.failures = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.started_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._entries: Iterator[ScheduledItem] | None = None
        self._peeked: ScheduledItem | None = None
        self._prepared: Segment | None = None
        self._request: str | None = None
        self.pacer = Pacer(f"Channel {channel.number}")
        self._entry_failures = 0
        self._retry: tuple[ScheduledItem, float] | None = None
        # Self-healing hooks (exstreamtv.healing sets them; None/empty keeps the defaults).
        self.failure_listeners: list[FailureListener] = []
        self.error_screen_hold: float | None = None
        self.locations: dict[str, str] = {}
        self.waiting_since: float | None = None  # monotonic time a read of ffmpeg began
        #: Wall time the pipeline last replaced a failed ffmpeg by the programme itself
        #: (not an error screen): self-healing's restart need not do it a second time.
        self.resumed_at: float | None = None
        self._swap: tuple[Segment, Iterator[ScheduledItem]] | None = None

    @property
    def number(self) -> int:
        return self.channel.number

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- control ----------------------------------------------------------------

    def start(self) -> None:
        """Start playing the entry on air now."""
        if self.running:
            return
        self.state = "starting"
        self.started_at = time.time()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"channel-{self.number}")

    async def stop(self) -> None:
        """Stop ffmpeg and end every viewer's stream."""
        task, self._task = self._task, None
        # asyncio.wait_for (Python 3.11) can swallow a cancellation that lands as its
        # read completes; cancel again until the task has really ended.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        swap = self._swap[0] if self._swap is not None else None
        stops = [asyncio.ensure_future(seg.process.stop())
                 for seg in (self.current, self._prepared, swap) if seg is not None]
        if stops:
            _done, hung = await asyncio.wait(stops, timeout=5.0)
            for pending in hung:
                log.error("Channel %d: an ffmpeg did not stop in time", self.number)
                pending.cancel()
        self._prepared = self._swap = None
        self.state = "stopped"
        self.buffer.close()
        self.bus.publish(ChannelEvent(channel=self.number, action="stopped"))

    def request_restart(self, reason: str = "restart requested") -> None:
        """Hot-swap: replace the running ffmpeg with a fresh one at the schedule position."""
        log.info("Channel %d: restarting its pipeline (%s)", self.number, reason)
        self._request = "swap"
        self._kill_current()

    def request_skip(self) -> None:
        """Move on to the next item now."""
        self._request = "skip"
        self._kill_current()

    def _kill_current(self) -> None:
        if self.current is not None:
            self.current.process.send_signal(18)  # SIGCONT: a stopped ffmpeg must die too
            self.current.process.send_signal(9)

    async def hot_swap(self, reason: str, *, error_screen: bool = False,
                       timeout: float = 6.0) -> bool:
        """Start a fresh ffmpeg at the schedule position; switch to it once it has output.

        With ``error_screen`` the channel's error screen is spliced in first (if it is not
        on already) and shown until the fresh segment is ready. Returns False (and changes
        nothing more) when the fresh ffmpeg produced no output within ``timeout``.
        """
        if not self.running:
            return False
        log.info("Channel %d: hot-swapping its ffmpeg (%s)", self.number, reason)
        if error_screen and (self.current is None or self.current.kind != "error"):
            self._request = "hold"
            self._kill_current()
        now = self.clock() + self.settings.lead_seconds
        entries = self.scheduler.entries(now)
        entry = next(entries)
        offset = entry.offset_at(now)
        reached = self._reached(entry)
        if reached is not None and offset < reached < entry.duration - 1.0:
            offset = reached  # viewers have seen up to here: do not play it again
        seg = await self._open(entry, offset)
        try:
            head = await asyncio.wait_for(seg.process.stdout.read(READ_SIZE), timeout)
        except TimeoutError:
            head = b""
        if not head or not self.running:
            await seg.process.stop(timeout=1.0)
            return False
        seg.head = head
        if error_screen:  # let viewers see the error screen before the programme returns
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and not (  # noqa: ASYNC110 (bounded poll)
                self.current is not None and self.current.kind == "error"
                and self.current.bytes_out > 0
            ):
                await asyncio.sleep(0.02)
        if self._swap is not None:
            await self._swap[0].process.stop(timeout=1.0)
        self._swap = (seg, entries)
        self.restarts += 1
        self._request = "hot"
        self._kill_current()
        self.pacer.wake()
        return True

    def _reached(self, entry: ScheduledItem) -> float | None:
        """How far into ``entry`` the output has gone, if it is the entry playing (or
        waiting to be retried behind an error screen)."""
        if self._retry is not None and self._retry[0] == entry:
            return self._retry[1]
        seg = self.current
        if (seg is not None and seg.kind == "program" and seg.entry == entry
                and seg.start_out is not None and self.splicer.end_seconds is not None):
            return seg.offset + max(0.0, self.splicer.end_seconds - seg.start_out)
        return None

    # -- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            now = self.clock()
            self._reset_entries(now)
            entry = self._next_entry()
            segment = await self._open(entry, entry.offset_at(now))
            self.state = "running"
            self.bus.publish(ChannelEvent(channel=self.number, action="started"))
            while True:
                result = await self._play(segment)
                segment = await self._after(segment, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.state = "error"
            self.last_error = str(exc)
            log.exception("Channel %d: pipeline failed", self.number)
            self.bus.publish(ChannelEvent(channel=self.number, action="error", message=str(exc)))
            self.buffer.close()

    def _reset_entries(self, t: float) -> None:
        self._entries = self.scheduler.entries(t)
        self._peeked = None

    def _next_entry(self) -> ScheduledItem:
        if self._peeked is not None:
            entry, self._peeked = self._peeked, None
            return entry
        assert self._entries is not None
        return next(self._entries)

    def _peek_entry(self) -> ScheduledItem:
        if self._peeked is None:
            assert self._entries is not None
            self._peeked = next(self._entries)
        return self._peeked

    async def _open(self, entry: ScheduledItem, offset: float) -> Segment:
        """Start the ffmpeg for ``entry`` from ``offset``; an error screen if impossible."""
        duration = max(entry.duration - offset, 0.1)
        if entry.item is None:
            reason = f"{self.channel.name}: off air" + (f" ({entry.slot})" if entry.slot else "")
            plan = self.planner.error_screen(reason, duration)
        else:
            plan = self.planner.media(entry, offset, self.locations.get(entry.item.id))
        return await self._spawn(entry, offset, duration, plan)

    async def _spawn(self, entry: ScheduledItem, offset: float, duration: float, plan: Plan) -> Segment:
        proc = FFmpegProcess(plan.argv, f"channel {self.number}: {plan.title}", self.line_listeners)
        try:
            await proc.start()
        except OSError as exc:
            self.last_error = f"cannot start ffmpeg: {exc}"
            log.error("Channel %d: %s", self.number, self.last_error)
            raise
        return Segment(entry, offset, duration, plan, proc)

    async def _play(self, seg: Segment) -> SegmentResult:
        self.current = seg
        if seg.kind == "program":
            item = seg.entry.item
            self.bus.publish(ChannelEvent(
                channel=self.number, action="item", title=seg.plan.title,
                item_id=item.id if item else None, source_id=item.source_id if item else None,
                entry_kind=seg.entry.kind, started_at=seg.entry.start + seg.offset,
                duration=seg.duration))
        else:
            self.bus.publish(ChannelEvent(channel=self.number, action="error_screen",
                                          title=seg.plan.title))
        start_out = self.splicer.end_seconds or 0.0
        seg.start_out = start_out
        self.splicer.start_segment()
        if seg.head:
            seg.bytes_out += len(seg.head)
            self._publish(self.splicer.feed(seg.head))
            seg.head = b""
        reason = "eof"
        left_early = False
        prestart_at = seg.duration - self.settings.prestart_seconds
        while True:
            self.waiting_since = time.monotonic()
            try:
                # An error screen compresses to almost nothing: read it in small pieces so
                # pacing (and a hot swap ending it) stays fine-grained.
                size = READ_SIZE if seg.kind == "program" else ERROR_READ_SIZE
                data = await asyncio.wait_for(seg.process.stdout.read(size), STALL_SECONDS)
            except TimeoutError:
                reason = "stall"
                log.warning("Channel %d: ffmpeg produced nothing for %.0fs; restarting it",
                            self.number, STALL_SECONDS)
                await seg.process.stop(timeout=1.0)
                break
            finally:
                self.waiting_since = None
            if not data:
                break
            seg.bytes_out += len(data)
            self._publish(self.splicer.feed(data))
            clock = self.splicer.clock_seconds
            if (
                self._prepared is None
                and self._request is None
                and seg.kind != "error"
                and clock is not None
                and clock - start_out >= prestart_at
            ):
                await self._prepare_next()
            if seg.process.returncode in (None, 0):
                await self.pacer.pace(clock, self.settings.lead_seconds)
            # else: ffmpeg died; take its remaining output at once so the replacement starts
            # now, while viewers still play what was buffered.
            if self._request == "hot":
                left_early = True
                break
        self._publish(self.splicer.flush_hold())
        if left_early:
            # Left before EOF (a hot swap that came while the previous segment was being
            # replaced): this ffmpeg must end, or waiting for it would block on its pipe.
            await seg.process.stop(timeout=1.0)
        code = await seg.process.wait()
        produced = max(0.0, (self.splicer.end_seconds or 0.0) - start_out)
        seg.produced = produced
        if self._request is not None:
            reason, self._request = self._request, None
        return SegmentResult(produced, reason, code)

    async def _prepare_next(self) -> None:
        entry = self._peek_entry()
        try:
            self._prepared = await self._open(entry, 0.0)
        except OSError:
            self._prepared = None

    async def _discard_prepared(self) -> None:
        if self._prepared is not None:
            await self._prepared.process.stop(timeout=1.0)
            self._prepared = None

    async def _after(self, seg: Segment, result: SegmentResult) -> Segment:
        """Choose and start the next segment."""
        if result.reason == "hot" and self._swap is not None:
            await self._discard_prepared()
            nxt, self._entries = self._swap
            self._swap, self._peeked, self._retry = None, None, None
            return nxt
        if result.reason == "hold":
            await self._discard_prepared()
            self._retry = (seg.entry, seg.offset + result.produced)
            hold = self.error_screen_hold or 2.0
            plan = self.planner.error_screen(f"{self.channel.name}: technical difficulties", hold)
            return await self._spawn(seg.entry, seg.offset + result.produced, hold, plan)
        if result.reason == "swap":
            await self._discard_prepared()
            self.restarts += 1
            now = self.clock() + self.settings.lead_seconds
            self._reset_entries(now)
            entry = self._next_entry()
            return await self._open(entry, entry.offset_at(now))
        if result.reason == "skip":
            await self._discard_prepared()
            return await self._open(self._next_entry(), 0.0)
        if seg.kind == "error" and self._retry is not None:
            entry, offset = self._retry
            self._retry = None
            return await self._resume(entry, offset)

        complete = result.reason == "eof" and result.produced >= seg.duration - 1.0
        if complete or seg.kind == "error":
            self._entry_failures = 0
            damage = first_error("\n".join(seg.process.stderr_tail)) if seg.kind == "program" else None
            if damage and "[error]" in damage:
                log.warning("Channel %d: '%s' has damaged data; played what could be decoded "
                            "(ffmpeg: %s)", self.number, seg.plan.title, damage)
            if seg.kind == "program" and self.failures:
                log.info("Channel %d: playing normally again", self.number)
                self.failures = 0
            prepared, self._prepared = self._prepared, None
            if prepared is not None:
                self._next_entry()  # the peeked entry is now playing
                nxt = prepared
            else:
                nxt = await self._open(self._next_entry(), 0.0)
            return await self._resync(nxt)

        # ffmpeg ended early: a crash, a kill, a stall or an unreadable file.
        await self._discard_prepared()
        if self.planner.preset.hardware and result.produced < 1.0 and result.reason == "eof":
            self._hardware_failed(seg)
            return await self._open(seg.entry, seg.offset)
        self.failures += 1
        self._entry_failures += 1
        self.last_error = (
            f"ffmpeg {result.reason} (exit {result.returncode}) after {result.produced:.1f}s "
            f"of '{seg.plan.title}'"
        )
        log.warning("Channel %d: %s\n    %s", self.number, self.last_error,
                    seg.process.failure_report())
        self.bus.publish(ChannelEvent(channel=self.number, action="failure",
                                      title=seg.plan.title, message=self.last_error))
        for listener in list(self.failure_listeners):
            try:
                listener(self, result.reason, result.returncode)
            except Exception:
                log.exception("Channel %d: failure listener failed", self.number)
        reached = seg.offset + result.produced
        if self._entry_failures >= FAILURES_BEFORE_SKIP:
            log.error("Channel %d: '%s' failed %d times; skipping to the next item",
                      self.number, seg.plan.title, self._entry_failures)
            self._entry_failures = 0
            entry, reached = self._next_entry(), 0.0
        else:
            entry = seg.entry
        if self.failures == 1 and self.error_screen_hold is None:
            resumed = await self._resume(entry, reached)
            self.resumed_at = time.time()
            return resumed
        backoff = min(2.0 ** (self.failures - 1), MAX_BACKOFF_SECONDS)
        if self.error_screen_hold is not None:
            backoff = max(backoff, self.error_screen_hold)
        self._retry = (entry, reached)
        plan = self.planner.error_screen(f"{self.channel.name}: technical difficulties", backoff)
        return await self._spawn(entry, reached, backoff, plan)

    def _hardware_failed(self, seg: Segment) -> None:
        """A hardware encoder died before its first second: HARDWARE_ERROR, go software."""
        cause = first_error("\n".join(seg.process.stderr_tail)) or "no output"
        message = f"encoder {self.planner.preset.name} failed to start ({cause}); using software"
        log.error("Channel %d: HARDWARE_ERROR: %s", self.number, message)
        self.planner.use_software()
        self.bus.publish(HealthEvent(component="encoder", status="degraded", message=message,
                                     channel=self.number))
        self.bus.publish(FixEvent(issue="HARDWARE_ERROR", strategy="software_fallback",
                                  action="applied", channel=self.number, message=message))

    async def _resume(self, entry: ScheduledItem, reached: float) -> Segment:
        """Continue ``entry`` at the later of where it stopped and where the schedule is."""
        now = self.clock() + self.settings.lead_seconds
        offset = max(reached, entry.offset_at(now)) if entry.start <= now else reached
        if offset >= entry.duration - 1.0:
            return await self._open(self._next_entry(), 0.0)
        return await self._open(entry, offset)

    async def _resync(self, nxt: Segment) -> Segment:
        """If the pipeline fell far behind the schedule, jump to what is on now."""
        now = self.clock()
        if nxt.entry.end >= now:
            return nxt
        log.warning("Channel %d: fell behind the schedule; jumping to what is on now", self.number)
        await nxt.process.stop(timeout=1.0)
        self._reset_entries(now)
        entry = self._next_entry()
        return await self._open(entry, entry.offset_at(now))

    # -- output -------------------------------------------------------------------

    def _publish(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            self.buffer.append(piece)

    def status(self) -> dict[str, object]:
        """The pipeline's state for the API and health."""
        seg = self.current
        return {
            "state": self.state,
            "title": seg.plan.title if seg else None,
            "kind": seg.kind if seg else None,
            "pid": seg.process.pid if seg else None,
            "encoder": self.planner.preset.name,
            "failures": self.failures,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "bytes": self.buffer.total_bytes,
            "started_at": self.started_at,
        }
