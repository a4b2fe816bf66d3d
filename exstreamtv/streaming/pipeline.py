"""One channel's pipeline: schedule entries -> ffmpeg segments -> spliced, paced output.

A pipeline runs while its channel has viewers. It plays the entry on air now (seeking
into it), starts the next entry's ffmpeg a few seconds before the boundary so there is
no gap, and splices every segment into one MPEG-TS stream (:mod:`.ts`), paced to play
speed (:mod:`.pacer`) into a shared :class:`ChannelBuffer` that every viewer reads.

The pipeline is the only owner of its state: others send typed commands (:mod:`.control`),
applied in its own loop; what follows a failed segment is the :class:`~.recovery.RecoveryPolicy`'s
answer. Each segment starts at the guide position of its *air time* (when its first frame
is due), so a failure, skip, stall or swap never moves the rest of the day.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from exstreamtv.config.model import ChannelConfig, StreamingConfig
from exstreamtv.events import ChannelEvent, EventBus
from exstreamtv.ffmpeg.presets import first_error
from exstreamtv.ffmpeg.process import FFmpegProcess, LineListener, SegmentLineListener
from exstreamtv.scheduling.base import ScheduledItem, Scheduler
from exstreamtv.streaming import host_load
from exstreamtv.streaming.buffer import ChannelBuffer
from exstreamtv.streaming.channel_subtitles import ChannelSubtitles
from exstreamtv.streaming.control import (
    ChannelControl,
    ChannelStatus,
    Command,
    CommandResult,
    EndReason,
    SegmentEnded,
)
from exstreamtv.streaming.orders import Orders, SegmentEnd, Swap
from exstreamtv.streaming.pacer import Pacer
from exstreamtv.streaming.planner import ItemPlanner, Plan
from exstreamtv.streaming.recovery import (
    MIN_LEFT_SECONDS,
    AtSchedule,
    CpuTonemapFallback,
    Fill,
    Hold,
    RecoveryPolicy,
    RecoverySettings,
    Resume,
    SoftwareFallback,
    Step,
    announce_cpu_tonemap,
    announce_item_failed,
    announce_software_fallback,
    device_fault,
)
from exstreamtv.streaming.segment import ChannelHealth, DeliveryMeter, Segment
from exstreamtv.streaming.ts import Piece, TSSplicer

log = logging.getLogger(__name__)

READ_SIZE = 188 * 40  # small reads keep the output smooth at low bitrates
ERROR_READ_SIZE = 188 * 16
SCREEN_PAD = 0.12  # error screens end a frame short; what follows joins at its offset
GAP_SECONDS = 0.2  # after a failure, an early start beyond this is filled
JOIN_SLACK = 0.1  # drift from the guide a prestarted segment may have and still be used
STARVED_PATIENCE = 4  # stall windows a runnable ffmpeg on a starved host is given


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
        recovery: RecoverySettings | None = None,
        host: host_load.HostLoad | None = None,
    ) -> None:
        self.channel = channel
        self.scheduler = scheduler
        self.planner = planner
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.host = host
        self.buffer = ChannelBuffer(settings.buffer_seconds)
        self.splicer = TSSplicer()
        #: Text subtitles for HLS viewers and drawn as DVB subtitles (``mode: stream``).
        self.subtitles = ChannelSubtitles(planner.tools.ffmpeg, self.splicer) \
            if channel.ffmpeg.subtitles.mode == "stream" else None
        self.pacer = Pacer(f"Channel {channel.number}")
        self.recovery = RecoveryPolicy(recovery)
        self.orders = Orders(self)
        self.control = ChannelControl(self)
        self.delivery = DeliveryMeter()
        self.health = ChannelHealth()
        self.state = "stopped"
        self.current: Segment | None = None
        self.line_listeners: list[SegmentLineListener] = []
        self.restarts = 0
        self.last_error: str | None = None
        self.last_recovery: float | None = None
        self.started_at: float | None = None
        self.locations: dict[str, str] = {}  # item id -> location (PlayFromLocation)
        self._task: asyncio.Task[None] | None = None
        self._prepared: Segment | None = None
        self._after_hold: Resume | None = None
        self._fill: deque[ScheduledItem] = deque()
        self._first_air = 0.0  # the wall time the first segment's position was taken for

    @property
    def number(self) -> int:
        return self.channel.number

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    failures = property(lambda self: self.recovery.failures, doc="Failures in a row.")

    # -- control ----------------------------------------------------------------

    def start(self) -> None:
        """Start playing the entry on air now."""
        if self.running:
            return
        self.state = "starting"
        self.started_at = time.time()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"channel-{self.number}")

    def configure_recovery(self, settings: RecoverySettings) -> None:
        """Self-healing's settings for the recovery policy."""
        self.recovery.settings = settings

    def send(self, command: Command) -> asyncio.Future[CommandResult]:
        """Queue ``command`` for the pipeline's loop; the future gets its result."""
        return self.orders.send(command)

    async def stop(self) -> None:
        """Stop ffmpeg and end every viewer's stream."""
        task, self._task = self._task, None
        # asyncio.wait_for (Python 3.11) can swallow a cancellation that lands as its
        # read completes; cancel again until the task has really ended.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        segments = [s for s in (self.current, self._prepared) if s is not None]
        segments += await self.orders.close(f"channel {self.number} stopped")
        for seg in segments:
            await seg.cancel_read()
        stops = [asyncio.ensure_future(seg.process.stop()) for seg in segments]
        if stops:
            _done, hung = await asyncio.wait(stops, timeout=5.0)
            for pending in hung:
                log.error("Channel %d: an ffmpeg did not stop in time", self.number)
                pending.cancel()
        self._prepared = None
        self.state = "stopped"
        if self.subtitles is not None:
            self.subtitles.stop()
        self.buffer.close()
        self.bus.publish(ChannelEvent(channel=self.number, action="stopped"))

    # -- schedule -----------------------------------------------------------------

    def air_time(self) -> float:
        """The wall time at which the output written so far ends (when it is due)."""
        return self.clock() + self.pacer.ahead(self.splicer.end_seconds)

    def entry_at(self, t: float) -> ScheduledItem:
        """What airs at ``t``: a fill standing in for a failed item, else the schedule."""
        while self._fill and self._fill[0].end <= t:
            self._fill.popleft()
        if self._fill and self._fill[0].start <= t:
            return self._fill[0]
        return self.scheduler.item_at(t)

    def following(self, entry: ScheduledItem) -> ScheduledItem:
        return self.entry_at(entry.end + 0.001)

    def reached(self, entry: ScheduledItem) -> float | None:
        """How far into ``entry`` the output has gone (playing, or to resume after a hold)."""
        if self._after_hold is not None and self._after_hold.entry == entry:
            return self._after_hold.reached
        seg = self.current
        if (seg is not None and seg.kind == "program" and seg.entry == entry
                and seg.start_out is not None and self.splicer.end_seconds is not None):
            return seg.offset + max(0.0, self.splicer.end_seconds - seg.start_out)
        return None

    def position(self, air: float, *, viewers: bool = True) -> tuple[ScheduledItem, float]:
        """(entry, offset) at ``air``: the schedule's, or where viewers are when later."""
        entry = self.entry_at(air)
        offset = entry.offset_at(air)
        reached = self.reached(entry) if viewers else None
        if reached is not None and offset < reached:
            offset = reached
        if entry.duration - offset < MIN_LEFT_SECONDS:
            entry, offset = self.following(entry), 0.0
        return entry, offset

    # -- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            entry, offset = self.position(self.clock(), viewers=False)
            self._first_air = entry.start + offset  # may be a moment ahead: the pacer waits
            segment = await self._open(entry, offset)
            self.state = "running"
            self.bus.publish(ChannelEvent(channel=self.number, action="started"))
            while True:
                end = await self._play(segment)
                segment = await self._after(segment, end)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and not task.cancelling():
                # Nobody cancelled this task (stop(), a cluster fence): the cancellation
                # of something it awaited leaked out of it.
                self._fail("the pipeline's loop was cancelled")
            raise
        except Exception as exc:
            self._fail(str(exc))

    def _fail(self, error: str) -> None:
        """The loop died: say so and end the viewers' streams (their players reconnect,
        which starts the channel again) rather than leave them waiting on a dead channel."""
        self.state = "error"
        self.last_error = error
        log.exception("Channel %d: pipeline failed", self.number)
        self.bus.publish(ChannelEvent(channel=self.number, action="error", message=error))
        self.buffer.close()

    async def _open(self, entry: ScheduledItem, offset: float) -> Segment:
        """Start the ffmpeg for ``entry`` from ``offset``; an error screen if no item."""
        duration = max(entry.duration - offset, 0.1)
        if entry.item is None:
            reason = entry.slot if entry.kind == "offline" and entry.slot else "off air"
            plan = self.planner.error_screen(f"{self.channel.name}: {reason}",
                                             duration + SCREEN_PAD)
        else:
            plan = self.planner.media(entry, offset, self.locations.get(entry.item.id),
                                      self.following(entry).title)
        return await self.spawn(entry, offset, duration, plan)

    async def spawn(self, entry: ScheduledItem, offset: float, duration: float,
                    plan: Plan) -> Segment:
        proc = FFmpegProcess(plan.argv, f"channel {self.number}: {plan.title}")
        seg = Segment(entry, offset, duration, plan, proc)
        if self.subtitles is not None:
            profile = self.planner.profile
            seg.cues = self.subtitles.read(plan, (profile.width, profile.height))
        proc.listeners.append(self._listener(seg))
        try:
            await proc.start()
        except OSError as exc:
            self.last_error = f"cannot start ffmpeg: {exc}"
            log.error("Channel %d: %s", self.number, self.last_error)
            raise
        return seg

    def _listener(self, seg: Segment) -> LineListener:
        """stderr of ``seg`` to the listeners; progress only while it is on air (not prestarted)."""

        def listen(line: str) -> None:
            if seg is not self.current and line.startswith(("frame=", "size=")):
                return
            for listener in self.line_listeners:
                try:
                    listener(line, seg.process.started)
                except Exception:
                    log.exception("Channel %d: an ffmpeg line listener failed", self.number)

        return listen

    async def _play(self, seg: Segment) -> SegmentEnd:
        self.current = seg
        self.bus.publish(seg.started_event(self.number))
        seg.start_out = self.splicer.end_seconds  # None: the channel's first output
        self.splicer.start_segment()
        if seg.head:
            seg.bytes_out += len(seg.head)
            self._publish(self.splicer.feed(seg.head))
            seg.head = b""
        reason, then = EndReason.COMPLETE, None
        prestart_at = seg.duration - self.settings.prestart_seconds
        patience = 0
        # An error screen compresses to almost nothing: read it in small pieces so pacing
        # (and a command ending it) stays fine-grained.
        size = READ_SIZE if seg.kind == "program" else ERROR_READ_SIZE
        while True:
            if self.orders.waiting:
                then = await self.orders.apply(seg)
                if then is not None:
                    reason = EndReason.REPLACED
                    break
            data = await seg.read(size, self.orders, self.recovery.settings.stall_seconds)
            if data is None:  # commands arrived: apply them first
                continue
            if isinstance(data, TimeoutError):
                if (self.host is not None and patience < STARVED_PATIENCE
                        and self.host.excuses(seg.process.pid, self.number)):
                    patience += 1
                    continue
                reason = EndReason.STALLED
                log.warning("Channel %d: ffmpeg produced nothing for %.0fs; it is stuck",
                            self.number, self.recovery.settings.stall_seconds)
                break
            patience = 0
            if not data:
                break
            seg.bytes_out += len(data)
            self._publish(self.splicer.feed(data))
            if seg.start_out is None and self.splicer.start_seconds is not None:
                seg.start_out = self.splicer.start_seconds
                self.pacer.align(seg.start_out, self.clock() - self._first_air)
            if seg.cues is not None and seg.start_out is not None and self.subtitles is not None:
                profile = self.planner.profile
                self.subtitles.place(seg.cues, seg.plan, seg.start_out, seg.duration,
                                     (profile.width, profile.height))
                seg.cues = None
            clock = self.splicer.clock_seconds
            self.delivery.note(self.splicer.end_seconds)
            if (self._prepared is None and seg.kind != "error" and clock is not None
                    and clock - (seg.start_out or clock) >= prestart_at):
                await self._prepare_next(seg)
            if seg.process.returncode in (None, 0):
                await self.pacer.pace(clock, self.settings.lead_seconds)
            # else: ffmpeg died; take its remaining output at once so the replacement starts
            # now, while viewers still play what was buffered.
        self._publish(self.splicer.flush_hold())
        if self.subtitles is not None:
            self.subtitles.cut()
        await seg.cancel_read()
        if reason is not EndReason.COMPLETE:
            # Left before EOF: this ffmpeg must end, or waiting for it would block on its pipe.
            await seg.process.stop(timeout=1.0)
        code = await seg.process.wait()
        produced = max(0.0, (self.splicer.end_seconds or 0.0) - (seg.start_out or 0.0))
        seg.produced = produced
        if reason is EndReason.COMPLETE and seg.kind == "program" \
                and produced < seg.duration - 1.0:
            reason = EndReason.EXITED
        return SegmentEnd(reason, produced, code, then)

    async def _prepare_next(self, seg: Segment) -> None:
        """Prestart the next entry from where the guide will be when ``seg`` ends."""
        nxt, offset = self.following(seg.entry), 0.0
        if seg.start_out is not None:
            late = self.clock() + self.pacer.ahead(seg.start_out + seg.duration) - nxt.start
            if JOIN_SLACK < late < nxt.duration - MIN_LEFT_SECONDS:
                offset = late
        try:
            self._prepared = await self._open(nxt, offset)
        except OSError:
            self._prepared = None

    async def discard_prepared(self) -> None:
        if self._prepared is not None:
            await self._prepared.process.stop(timeout=1.0)
            self._prepared = None

    # -- what comes next ------------------------------------------------------------

    async def _after(self, seg: Segment, end: SegmentEnd) -> Segment:
        """Publish how ``seg`` ended; choose and start the next segment."""
        failed = seg.kind == "program" and end.reason in (EndReason.EXITED, EndReason.STALLED)
        cause = ""
        if failed:
            cause = first_error("\n".join(seg.process.stderr_tail)) or "no output"
            self.last_error = (f"ffmpeg {end.reason} (exit {end.returncode}) after "
                               f"{end.produced:.1f}s of '{seg.plan.title}'")
        self.bus.publish(SegmentEnded(
            channel=self.number, reason=end.reason, title=seg.plan.title, segment=seg.kind,
            produced=round(end.produced, 3), exit_code=end.returncode, failed=failed,
            message=(self.last_error or "") if failed else "", started=seg.process.started))
        if end.then is not None:
            if isinstance(end.then, Swap):
                await self.discard_prepared()
                self.restarts += 1
                return end.then.segment
            return await self._step(end.then, seg)
        if seg.kind == "error":
            resume, self._after_hold = self._after_hold, None
            return await self._step(resume or AtSchedule(), seg)
        if not failed:
            damage = seg.damage()
            if damage:
                log.warning("Channel %d: '%s' has damaged data; played what could be decoded "
                            "(ffmpeg: %s)", self.number, seg.plan.title, damage)
            if self.recovery.succeeded():
                log.info("Channel %d: playing normally again", self.number)
            return await self._boundary(seg)
        await self.discard_prepared()
        hardware, tonemap = device_fault(seg.process.stderr_tail, self.planner.preset.hardware,
                                         self.planner.device_tonemap)
        if not ((hardware or tonemap) and end.produced < 1.0):
            self.health.failed(self.last_error or "ffmpeg failed")
            log.warning("Channel %d: %s\n    %s", self.number, self.last_error,
                        seg.process.failure_report())
            self.bus.publish(ChannelEvent(channel=self.number, action="failure",
                                          title=seg.plan.title, message=self.last_error or ""))
        step = self.recovery.after_failure(
            seg.entry, seg.offset + end.produced, self.air_time(), hardware=hardware,
            produced=end.produced, early_exit=end.reason is EndReason.EXITED, cause=cause,
            tonemap=tonemap)
        return await self._step(step, seg)

    async def _boundary(self, seg: Segment) -> Segment:
        """After a complete segment: the next entry, on the guide's time."""
        air = self.air_time()
        tolerance = self.recovery.settings.schedule_tolerance
        entry = self.entry_at(air)
        offset = entry.offset_at(air)
        if entry == seg.entry:  # ended early: the next entry is not on air yet
            if entry.end - air > tolerance:
                self._fill.extendleft(reversed(self.scheduler.fill(
                    air, entry.end, f"'{entry.title}' ended early")))
                return await self._at_schedule(air)
            entry, offset = self.following(entry), 0.0
        elif offset > tolerance:
            log.info("Channel %d: %.1fs behind the guide; '%s' joins at %.1fs", self.number,
                     offset, entry.title, offset)
        prepared, self._prepared = self._prepared, None
        if (prepared is not None and prepared.entry == entry
                and abs(prepared.offset - offset) <= JOIN_SLACK):
            return prepared
        if prepared is not None:
            await prepared.process.stop(timeout=1.0)
        if entry.duration - offset < MIN_LEFT_SECONDS:
            entry, offset = self.following(entry), 0.0
        return await self._open(entry, offset)

    async def _step(self, step: Step | AtSchedule, seg: Segment) -> Segment:
        """Carry out a recovery step (or a command's) at the output's air time."""
        await self.discard_prepared()
        air = self.air_time()
        if isinstance(step, SoftwareFallback):
            announce_software_fallback(self.bus, self.number, self.planner.preset.name,
                                       step.cause)
            self.planner.use_software()
            step = step.then
        if isinstance(step, CpuTonemapFallback):
            announce_cpu_tonemap(self.bus, self.number, self.planner.preset.name, step.cause)
            self.planner.use_cpu_tonemap()
            step = step.then
        if isinstance(step, Hold):
            self._after_hold = step.then
            entry = step.then.entry if step.then is not None else seg.entry
            plan = self.planner.error_screen(f"{self.channel.name}: {step.reason}",
                                             step.seconds + SCREEN_PAD)
            return await self.spawn(entry, entry.offset_at(air), step.seconds, plan)
        if isinstance(step, Fill):
            log.error("Channel %d: %s; filler or the error screen until its slot ends",
                      self.number, step.reason)
            self._after_hold = None
            if step.gave_up_after and step.entry.item is not None:  # the playout drops it
                announce_item_failed(self.bus, self.number, step.entry.item,
                                     step.gave_up_after, self.last_error or step.reason)
            if step.entry.end - air >= 0.1:
                self._fill = deque(self.scheduler.fill(air, step.entry.end, step.reason))
            return await self._at_schedule(air)
        if isinstance(step, Resume):
            entry = step.entry
            offset = max(step.reached, entry.offset_at(air))
            if air < entry.end - MIN_LEFT_SECONDS and offset < entry.duration - MIN_LEFT_SECONDS:
                self.last_recovery = time.time()
                return await self._open(entry, offset)
        return await self._at_schedule(air)

    async def _at_schedule(self, air: float) -> Segment:
        """What the guide has at ``air``; a moment early (the item on air has under a second
        left), the gap is filled so the next item still starts at its guide time."""
        entry, offset = self.position(air, viewers=False)
        if entry.start - air > GAP_SECONDS:
            self._fill.extendleft(reversed(self.scheduler.fill(air, entry.start,
                                                               "back on the guide's time")))
            entry, offset = self.entry_at(air), 0.0
        return await self._open(entry, offset)

    # -- output -------------------------------------------------------------------

    def _publish(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            self.buffer.append(piece)
        if self.subtitles is not None:
            for piece in self.subtitles.pieces():
                self.buffer.append(piece)

    def channel_status(self) -> ChannelStatus:
        """The pipeline's state, typed (what :class:`ChannelControl` hands out)."""
        seg = self.current
        speed = self.delivery.speed()
        degraded, why = self.health.update(speed) if self.running else (False, "")
        return ChannelStatus(
            number=self.number, running=self.running, state=self.state,
            segment=seg.kind if seg else None, title=seg.plan.title if seg else None,
            item=seg.entry.item if seg else None, pid=seg.process.pid if seg else None,
            preset=self.planner.base_preset, profile=self.planner.base_profile,
            work_level=self.planner.work_level, failures=self.failures,
            restarts=self.restarts, last_error=self.last_error,
            last_recovery=self.last_recovery, health="degraded" if degraded else "ok",
            health_reason=why, delivered_speed=round(speed, 3) if speed is not None else None)

    def status(self) -> dict[str, object]:
        """The pipeline's state for the API and health."""
        return {**self.channel_status().to_api(self.planner.preset.name),
                "bytes": self.buffer.total_bytes, "started_at": self.started_at}
