"""ChannelManager: one pipeline per channel, shared by all its viewers.

A pipeline starts with a channel's first viewer and stops ``idle_stop_seconds`` after
its last one leaves. HDHomeRun's TunerCount (``server.tuner_count``) caps how many
channels run at once. On a config reload, a changed channel's pipeline is hot-swapped
at the current schedule position (its viewers stay connected), a removed channel's
pipeline is stopped, and other channels are not touched.

The manager sends running pipelines commands (``Reconfigure`` on a reload,
``LightenEncoding`` while the host is starved of CPU; see :mod:`.host_load`).
Components that act on channels (self-healing) get a :class:`~.control.ChannelControl`
per channel through :meth:`control`.

Each item a pipeline starts may start cooldowns (the scheduler says which); they go into
the channel's cooldown book, which the database keeps, and every scheduler built later
plans with it (:mod:`exstreamtv.scheduling.cooldowns`).

When a pipeline gives up on an item (:class:`~exstreamtv.events.ItemFailed`), the item
is recorded in ``hub.database.failed_items`` and every channel's playout is rebuilt
without it (it airs as offline, saying why), so the guide, the API, MQTT and the
stream all follow the same schedule; running pipelines get the rebuilt scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from exstreamtv.config.model import ChannelConfig, Config
from exstreamtv.database.playout_state import StoredPlayout, schedule_key
from exstreamtv.errors import ChannelNotFound, StreamUnavailable
from exstreamtv.events import ChannelEvent, Event, HealthEvent, ItemFailed, SessionEvent
from exstreamtv.scheduling.base import Scheduler, SchedulerContext
from exstreamtv.scheduling.breaks import with_breaks
from exstreamtv.scheduling.cooldowns import Cooldown, CooldownBook
from exstreamtv.scheduling.mirror import MirrorScheduler
from exstreamtv.scheduling.on_demand import ON_DEMAND, OnDemandClock, OnDemandScheduler
from exstreamtv.scheduling.options import DEFAULT_EPOCH, parse_epoch
from exstreamtv.scheduling.sequences import PlayoutMemory
from exstreamtv.streaming.control import ChannelControl, LightenEncoding, Reconfigure
from exstreamtv.streaming.hls import HLSPackager
from exstreamtv.streaming.host_load import HostLoad
from exstreamtv.streaming.item_health import ItemHealth
from exstreamtv.streaming.pipeline import ChannelPipeline
from exstreamtv.streaming.planner import ItemPlanner

if TYPE_CHECKING:
    from datetime import tzinfo

    from exstreamtv.database.failed_items import FailedItems
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

#: How often the host load is looked at while channels run.
HOST_CHECK_SECONDS = 2.0


def timezone_of(config: Config) -> tzinfo:
    """The configured timezone, or the system's local one."""
    if config.server.timezone:
        return ZoneInfo(config.server.timezone)
    from datetime import datetime

    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


class ChannelManager:
    """Starts, shares, swaps and stops channel pipelines."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pipelines: dict[int, ChannelPipeline] = {}
        self._schedulers: dict[int, tuple[ChannelConfig, tuple[int, int], Scheduler]] = {}
        self._memories: dict[int, PlayoutMemory] = {}
        #: What each channel aired that still rests, and the copy its schedulers plan with.
        self._books: dict[int, CooldownBook] = {}
        self._planned_books: dict[int, CooldownBook] = {}
        #: The own clocks of on-demand channels (schedule.clock: on_demand).
        self._clocks: dict[int, OnDemandClock] = {}
        self._guide_schedulers: dict[int, tuple[Scheduler, Scheduler]] = {}
        self._idle_tasks: dict[int, asyncio.Task[None]] = {}
        self._packagers: dict[int, HLSPackager] = {}
        self._lock = asyncio.Lock()
        self.host = HostLoad()
        self._host_task: asyncio.Task[None] | None = None
        #: Builds each pipeline (the cluster swaps in its own, see exstreamtv.cluster).
        self.pipeline_factory: Callable[..., ChannelPipeline] = ChannelPipeline
        self.item_health = ItemHealth(hub.bus)
        hub.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> Any:
        if isinstance(event, SessionEvent) and event.action == "disconnected":
            self.release(event.channel)
        if isinstance(event, ItemFailed):
            return self._item_failed(event)
        if isinstance(event, ChannelEvent) and event.action == "item":
            return self._aired(event)
        return None

    def _aired(self, event: ChannelEvent) -> Any:
        """A pipeline started an item: the cooldowns its airing starts go into the book
        (and, when they changed it, into the database)."""
        if event.started_at is None or not event.item_id:
            return None
        try:
            scheduler = self.scheduler(event.channel)
        except ChannelNotFound:
            return None
        entry = scheduler.item_at(event.started_at)
        if entry.item is None or entry.item.id != event.item_id:
            return None
        book = self._books.setdefault(event.channel, CooldownBook())
        changed = book.add(scheduler.cooldowns(entry))
        database = getattr(self.hub, "database", None)
        if not changed or database is None or not database.ready:
            return None
        return database.playout.save_cooldowns(event.channel, changed)

    @property
    def failed_items(self) -> FailedItems:
        """The unplayable items (owned by the database part of the hub)."""
        failed: FailedItems = self.hub.database.failed_items
        return failed

    async def _item_failed(self, event: ItemFailed) -> None:
        item = next((i for i in self.hub.library.items.get(event.source_id, [])
                     if i.id == event.item_id), None)
        await self.failed_items.record(event, item)

    def playout_changed(self) -> None:
        """Failed items changed: running pipelines continue on the rebuilt playout."""
        for number, pipeline in self.pipelines.items():
            with contextlib.suppress(ChannelNotFound):
                pipeline.scheduler = self.scheduler(number)

    def channel(self, number: int) -> ChannelConfig:
        channel = self.hub.config.channel(number)
        if channel is None or not channel.enabled:
            raise ChannelNotFound(f"there is no channel {number}")
        return channel

    def scheduler(self, number: int) -> Scheduler:
        """The channel's scheduler, rebuilt when its config or the library changed."""
        channel = self.channel(number)
        if channel.mirror_of is not None:  # the source's playout, later (validated acyclic)
            return MirrorScheduler(self.scheduler(channel.mirror_of),
                                   channel.offset_minutes * 60.0)
        cached = self._schedulers.get(number)
        failed = self.failed_items
        version = (self.hub.library.version, failed.version)
        if cached is not None and cached[0] == channel and cached[1] == version:
            return cached[2]
        component = self.hub.registry.get("scheduler", channel.schedule.type)
        if number not in self._memories or (cached is not None and cached[0] != channel):
            self._memories[number] = PlayoutMemory()
        book = self._books.setdefault(number, CooldownBook())
        book.prune(time.time())
        self._planned_books[number] = book.copy()
        context = SchedulerContext(channel, self.hub.library, timezone_of(self.hub.config),
                                   self._memories[number], failed.reason,
                                   self._planned_books[number])
        scheduler: Scheduler = self._on_demand(channel, with_breaks(
            component.factory(dict(channel.schedule.options), context), context))
        self._schedulers[number] = (channel, version, scheduler)
        self._save_playout(channel)
        return scheduler

    def _on_demand(self, channel: ChannelConfig, scheduler: Scheduler) -> Scheduler:
        """``scheduler`` on the channel's own clock when it is ``clock: on_demand``."""
        if channel.schedule.options.get("clock") != ON_DEMAND:
            self._clocks.pop(channel.number, None)
            return scheduler
        clock = self._clocks.get(channel.number)
        if clock is None:
            epoch = channel.schedule.options.get("epoch", DEFAULT_EPOCH.isoformat())
            clock = OnDemandClock(parse_epoch(epoch).timestamp())
            self._clocks[channel.number] = clock
        return OnDemandScheduler(scheduler, clock)

    def _save_playout(self, channel: ChannelConfig) -> None:
        """Store the channel's playout memory (in the background, only when it changed)."""
        database = getattr(self.hub, "database", None)
        if database is None or not database.ready:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        memory = self._memories.get(channel.number)
        if memory is None:
            return
        copy = PlayoutMemory({k: list(v) for k, v in memory.collections.items()},
                             dict(memory.missing))
        clock = self._clocks.get(channel.number)
        position = clock.now(time.time()) if clock is not None else None
        self.hub.spawn(database.playout.save(channel, copy, clock=position),
                       name=f"playout-save-{channel.number}")

    def restore_playout(self, stored: Mapping[int, StoredPlayout]) -> None:
        """Memories of an earlier run (or a restored backup), for channels whose schedule
        is still the one they were saved for: removed items keep their place, and an
        on-demand channel resumes at its stored position."""
        for channel in self.hub.config.channels:
            found = stored.get(channel.number)
            if found is None or found.key != schedule_key(channel):
                continue
            self._memories[channel.number] = found.memory
            if found.clock is not None and channel.number not in self.pipelines:
                self._clocks[channel.number] = OnDemandClock(found.clock)
            self._schedulers.pop(channel.number, None)
            self._guide_schedulers.pop(channel.number, None)
            log.info("Channel %d: continues its playout from the database", channel.number)
        self.playout_changed()

    def cooldowns(self, number: int) -> list[Cooldown]:
        """What channel ``number`` aired that still rests, soonest free first."""
        book = self._books.get(number)
        now = time.time()
        return sorted((c for c in book or () if c.until > now), key=lambda c: c.until)

    def restore_cooldowns(self, books: Mapping[int, CooldownBook]) -> None:
        """Cooldown books of an earlier run (or a restored backup): the channels' playouts
        are planned again holding back what aired within its cooldown."""
        for number, book in books.items():
            self._books.setdefault(number, CooldownBook()).add(book)
            self._schedulers.pop(number, None)
            self._guide_schedulers.pop(number, None)
        if books:
            log.info("Cooldowns of %d channel(s) restored from the database", len(books))
        self.playout_changed()

    def guide_scheduler(self, number: int) -> Scheduler:
        """A scheduler for the guide, separate from the one that plays the channel.

        It plans the same playout (built from a copy of the channel's playout memory) but
        shares no state with the playing scheduler, so the guide may be built from it in
        a worker thread while the channel plays on the event loop. It is rebuilt whenever
        the playing scheduler is. Call it on the loop.
        """
        mirrored = self.channel(number).mirror_of
        if mirrored is not None:
            return MirrorScheduler(self.guide_scheduler(mirrored),
                                   self.channel(number).offset_minutes * 60.0)
        playing = self.scheduler(number)
        cached = self._guide_schedulers.get(number)
        if cached is not None and cached[0] is playing:
            return cached[1]
        channel = self.channel(number)
        memory = self._memories[number]
        copy = PlayoutMemory({k: list(v) for k, v in memory.collections.items()},
                             dict(memory.missing))
        component = self.hub.registry.get("scheduler", channel.schedule.type)
        context = SchedulerContext(channel, self.hub.library, timezone_of(self.hub.config), copy,
                                   self.failed_items.reason, self._planned_books.get(number))
        scheduler: Scheduler = self._on_demand(channel, with_breaks(
            component.factory(dict(channel.schedule.options), context), context))
        self._guide_schedulers[number] = (playing, scheduler)
        return scheduler

    async def acquire(self, number: int) -> ChannelPipeline:
        """The running pipeline of ``number`` (started if needed) with one more viewer."""
        channel = self.channel(number)
        async with self._lock:
            idle = self._idle_tasks.pop(number, None)
            if idle is not None:
                idle.cancel()
            pipeline = self.pipelines.get(number)
            if pipeline is None or not pipeline.running:
                running = [n for n, p in self.pipelines.items() if p.running]
                if len(running) >= self.hub.config.server.tuner_count:
                    raise StreamUnavailable(
                        f"all {self.hub.config.server.tuner_count} tuners are busy "
                        f"(channels {', '.join(map(str, running))}); raise server.tuner_count"
                    )
                collection = channel.schedule.collection
                if collection:
                    await self.hub.library.wait_ready(collection, timeout=30)
                pipeline = self._build(channel)
                clock = self._clocks.get(number)
                if clock is not None:
                    clock.resume(time.time())
                self.pipelines[number] = pipeline
                pipeline.start()
                if self._host_task is None or self._host_task.done():
                    self._host_task = asyncio.get_running_loop().create_task(
                        self._watch_host(), name="host-load")
            return pipeline

    def control(self, number: int | None) -> ChannelControl:
        """The control of ``number``'s running pipeline; LookupError when it is not running."""
        pipeline = self.pipelines.get(number) if number is not None else None
        if pipeline is None or not pipeline.running:
            raise LookupError(f"channel {number} has no running pipeline")
        return pipeline.control

    def controls(self) -> list[ChannelControl]:
        """The controls of every running pipeline."""
        return [p.control for p in self.pipelines.values() if p.running]

    async def stop_idle(self) -> list[int]:
        """Stop, now, the pipelines that have no viewer (in their idle grace period)."""
        stopped = []
        async with self._lock:
            for number in list(self.pipelines):
                if self.viewer_count(number) == 0:
                    idle = self._idle_tasks.pop(number, None)
                    if idle is not None:
                        idle.cancel()
                    pipeline = self.pipelines.pop(number)
                    self._packagers.pop(number, None)
                    await pipeline.stop()
                    stopped.append(number)
        return stopped

    async def _watch_host(self) -> None:
        """Tell a starved host from a stuck ffmpeg; lighten encoding while it lasts."""
        while any(p.running for p in self.pipelines.values()):
            await asyncio.sleep(HOST_CHECK_SECONDS)
            running = [p for p in self.pipelines.values() if p.running]
            level = self.host.observe([p.delivery.speed() for p in running])
            if level is None:
                continue
            message = self.host.describe()
            (log.warning if self.host.starved else log.info)("Host: %s", message)
            self.hub.bus.publish(HealthEvent(component="host", message=message,
                                             status="degraded" if self.host.starved else "ok"))
            for pipeline in running:
                pipeline.control.post(LightenEncoding(level, message))

    def host_health(self) -> dict[str, object]:
        """The ``host`` entry of GET /api/health."""
        reading = self.host.last
        return {"status": "degraded" if self.host.starved else "ok",
                "starved": self.host.starved, "work_level": self.host.level,
                "load": reading.load if reading else None, "cores": self.host.cores}

    def packager(self, pipeline: ChannelPipeline) -> HLSPackager:
        """The HLS packager reading ``pipeline``'s buffer (started on first use)."""
        packager = self._packagers.get(pipeline.number)
        if packager is None or packager.buffer is not pipeline.buffer or not packager.running:
            cues = pipeline.subtitles.webvtt if pipeline.subtitles is not None else None
            packager = HLSPackager(pipeline.buffer, cues=cues)
            packager.start()
            self._packagers[pipeline.number] = packager
        return packager

    def viewer_count(self, number: int) -> int:
        return len(self.hub.sessions.for_channel(number))

    def release(self, number: int) -> None:
        """A viewer of ``number`` left; stop the pipeline after the idle grace period."""
        if (
            self.viewer_count(number) == 0
            and number in self.pipelines
            and number not in self._idle_tasks
        ):
            self._idle_tasks[number] = asyncio.get_running_loop().create_task(
                self._stop_when_idle(number)
            )

    async def _stop_when_idle(self, number: int) -> None:
        await asyncio.sleep(self.hub.config.streaming.idle_stop_seconds)
        async with self._lock:
            self._idle_tasks.pop(number, None)
            if self.viewer_count(number) == 0:
                pipeline = self.pipelines.pop(number, None)
                self._packagers.pop(number, None)
                if pipeline is not None:
                    log.info("Channel %d: no viewers for %.0fs; stopping", number,
                             self.hub.config.streaming.idle_stop_seconds)
                    await pipeline.stop()
                    self._pause_clock(number)

    def _pause_clock(self, number: int) -> None:
        """An on-demand channel lost its last viewer: its clock stops and is stored."""
        clock = self._clocks.get(number)
        if clock is None:
            return
        clock.pause(time.time())
        with contextlib.suppress(ChannelNotFound):
            self._save_playout(self.channel(number))

    def _build(self, channel: ChannelConfig) -> ChannelPipeline:
        planner = ItemPlanner(channel, self.hub.registry, self.hub.tools, self.hub.relay.playable,
                              self.hub.config.path)
        planner.work_level = self.host.level
        planner.loudness = self.hub.loudness
        pipeline = self.pipeline_factory(channel, self.scheduler(channel.number), planner,
                                         self.hub.config.streaming, self.hub.bus, host=self.host)
        for factory in self.hub.pipeline_listeners:
            pipeline.line_listeners.append(factory(pipeline.control))
        return pipeline

    async def apply_config(self, old: Config, new: Config) -> list[int]:
        """Bring running pipelines in line with ``new``; returns the channels touched."""
        touched: list[int] = []
        async with self._lock:
            for number, pipeline in list(self.pipelines.items()):
                channel = new.channel(number)
                if channel is None or not channel.enabled:
                    log.info("Channel %d was removed; ending its streams", number)
                    self.pipelines.pop(number)
                    self._packagers.pop(number, None)
                    await pipeline.stop()  # closes the buffer: TS viewers' bodies end
                    for session in self.hub.sessions.for_channel(number):
                        if session.output == "hls":
                            self.hub.sessions.disconnect(session, "the channel was removed")
                    touched.append(number)
                elif channel != old.channel(number):
                    planner = ItemPlanner(channel, self.hub.registry, self.hub.tools,
                                          self.hub.relay.playable, new.path)
                    pipeline.control.post(Reconfigure(channel, self.scheduler(number), planner))
                    touched.append(number)
        return touched

    async def stop_all(self) -> None:
        if self._host_task is not None:
            self._host_task.cancel()
        for task in self._idle_tasks.values():
            task.cancel()
        self._idle_tasks.clear()
        for packager in self._packagers.values():
            await packager.stop()
        self._packagers.clear()
        for number, pipeline in list(self.pipelines.items()):
            with contextlib.suppress(Exception):
                await pipeline.stop()
            clock = self._clocks.get(number)
            if clock is not None:
                clock.pause(time.time())
        self.pipelines.clear()
        # Every memory stored now, not left to the background saves (the hub cancels
        # those on its way out): a restart finds each item where it was.
        for number, memory in list(self._memories.items()):
            clock = self._clocks.get(number)
            with contextlib.suppress(Exception):
                await self.hub.database.playout.save(
                    self.channel(number), memory,
                    clock=clock.position if clock is not None else None)
