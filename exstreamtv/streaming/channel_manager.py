"""ChannelManager: one pipeline per channel, shared by all its viewers.

A pipeline starts with a channel's first viewer and stops ``idle_stop_seconds`` after
its last one leaves. HDHomeRun's TunerCount (``server.tuner_count``) caps how many
channels run at once. On a config reload, a changed channel's pipeline is hot-swapped
at the current schedule position (its viewers stay connected), a removed channel's
pipeline is stopped, and other channels are not touched.

The manager never changes a running pipeline itself: it sends it commands
(``Reconfigure`` on a reload, ``LightenEncoding`` while the host is starved of CPU; see
:mod:`.host_load`). Components that act on channels (self-healing) get a
:class:`~.control.ChannelControl` per channel through :meth:`control`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from exstreamtv.config.model import ChannelConfig, Config
from exstreamtv.errors import ChannelNotFound, StreamUnavailable
from exstreamtv.events import Event, HealthEvent, SessionEvent
from exstreamtv.scheduling.base import Scheduler, SchedulerContext
from exstreamtv.scheduling.sequences import PlayoutMemory
from exstreamtv.streaming.control import ChannelControl, LightenEncoding, Reconfigure
from exstreamtv.streaming.hls import HLSPackager
from exstreamtv.streaming.host_load import HostLoad
from exstreamtv.streaming.pipeline import ChannelPipeline
from exstreamtv.streaming.planner import ItemPlanner

if TYPE_CHECKING:
    from datetime import tzinfo

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
        self._schedulers: dict[int, tuple[ChannelConfig, int, Scheduler]] = {}
        self._memories: dict[int, PlayoutMemory] = {}
        self._idle_tasks: dict[int, asyncio.Task[None]] = {}
        self._packagers: dict[int, HLSPackager] = {}
        self._lock = asyncio.Lock()
        self.host = HostLoad()
        self._host_task: asyncio.Task[None] | None = None
        hub.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionEvent) and event.action == "disconnected":
            self.release(event.channel)

    def channel(self, number: int) -> ChannelConfig:
        channel = self.hub.config.channel(number)
        if channel is None or not channel.enabled:
            raise ChannelNotFound(f"there is no channel {number}")
        return channel

    def scheduler(self, number: int) -> Scheduler:
        """The channel's scheduler, rebuilt when its config or the library changed."""
        channel = self.channel(number)
        cached = self._schedulers.get(number)
        version = self.hub.library.version
        if cached is not None and cached[0] == channel and cached[1] == version:
            return cached[2]
        component = self.hub.registry.get("scheduler", channel.schedule.type)
        if cached is None or cached[0] != channel:
            self._memories[number] = PlayoutMemory()
        context = SchedulerContext(channel, self.hub.library, timezone_of(self.hub.config),
                                   self._memories[number])
        scheduler: Scheduler = component.factory(dict(channel.schedule.options), context)
        self._schedulers[number] = (channel, version, scheduler)
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
            packager = HLSPackager(pipeline.buffer)
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

    def _build(self, channel: ChannelConfig) -> ChannelPipeline:
        planner = ItemPlanner(channel, self.hub.registry, self.hub.tools, self.hub.relay.playable)
        planner.work_level = self.host.level
        pipeline = ChannelPipeline(channel, self.scheduler(channel.number), planner,
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
                                          self.hub.relay.playable)
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
        for pipeline in list(self.pipelines.values()):
            with contextlib.suppress(Exception):
                await pipeline.stop()
        self.pipelines.clear()
