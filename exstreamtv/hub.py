"""The Hub: the running server's parts, wired together, with start, stop and reload.

The hub holds references (config, plugins, registry, bus, library, channels,
sessions) and does the lifecycle; each part's behaviour lives in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exstreamtv import secrets
from exstreamtv.config.model import Config
from exstreamtv.config.references import collection_references
from exstreamtv.config.reload import ConfigWatcher, load_replacement
from exstreamtv.database.service import Database
from exstreamtv.errors import ConfigError
from exstreamtv.events import ConfigEvent, Event, EventBus
from exstreamtv.ffmpeg.locate import FFmpegTools, find_ffmpeg
from exstreamtv.ffmpeg.process import SegmentLineListener
from exstreamtv.healing.engine import HealingEngine
from exstreamtv.media.library import Library
from exstreamtv.media.loudness import LoudnessCache
from exstreamtv.media.models import MediaItem
from exstreamtv.media.relay import MediaRelay
from exstreamtv.media.source import MediaSource, SourceContext
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry, collect_registry
from exstreamtv.streaming.channel_manager import ChannelManager
from exstreamtv.streaming.planner import ItemPlanner
from exstreamtv.streaming.session_manager import SessionManager

if TYPE_CHECKING:
    from exstreamtv.cluster.node import ClusterNode

log = logging.getLogger(__name__)


@dataclass
class ConfigStatus:
    """What ``GET /api/config/status`` shows."""

    path: str | None
    version: int = 1
    loaded_at: float = field(default_factory=time.time)
    last_reload: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version": self.version,
            "loaded_at": self.loaded_at,
            "last_reload": self.last_reload,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "problems": self.problems,
        }


class Hub:
    """Everything a running server has; plugins receive it in ``startup``."""

    def __init__(self, config: Config, host: PluginHost, registry: Registry | None = None) -> None:
        secrets.register_config(config)
        self.config = config
        self.host = host
        self.registry = registry or collect_registry(host)
        self.bus = EventBus()
        self.library = Library(self.bus)
        self.library.set_collections(config.collections)
        self.relay = MediaRelay(self.library)
        self.channels = ChannelManager(self)
        self.sessions = SessionManager(config.session_manager, self.bus)
        self.database = Database(self)
        self.loudness = LoudnessCache(self)
        self.database.failed_items.listeners.append(self.channels.playout_changed)
        self.config_status = ConfigStatus(str(config.path) if config.path else None)
        self.pipeline_listeners: list[Callable[[Any], SegmentLineListener]] = []
        self.components: dict[str, Callable[[], dict[str, Any]]] = {
            "sessions": self.sessions.health, "host": self.channels.host_health}
        self.healing = HealingEngine(self)
        #: This server as a node of a cluster (``cluster.enabled``), else None.
        self.cluster: ClusterNode | None = None
        self._tools: FFmpegTools | None = None
        self._watcher: ConfigWatcher | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reload_lock = asyncio.Lock()
        #: Where HTTP listens (the config's, or ``serve --host/--port``); fixed until restart.
        self.listening = (config.server.host, config.server.port)
        self._file_listen = self.listening
        self.bus.subscribe(self._forward_to_plugins)

    @property
    def tools(self) -> FFmpegTools:
        if self._tools is None:
            self._tools = find_ffmpeg(self.config.ffmpeg.ffmpeg_path, self.config.ffmpeg.ffprobe_path)
        return self._tools

    @property
    def data_dir(self) -> Path:
        return Path(self.config.server.data_directory)

    def _forward_to_plugins(self, event: Event) -> Any:
        return self.host.acall("on_event", event=event, hub=self)

    def spawn(self, coro: Any, name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, watch: bool = True) -> None:
        """Start sources, sessions, the config watcher and every plugin's startup hook."""
        log.info("Using %s", self.tools.describe())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for source_config in self.config.sources:
            self._add_source(source_config)
        await self.relay.start()
        await self.database.start()
        if self.config.cluster.enabled:
            from exstreamtv.cluster.join import join

            self.cluster = await join(self)
        self.library.scan_listeners.append(self._measure_loudness)
        self.sessions.start()
        await self.healing.start()
        await self.host.acall("startup", hub=self)
        for source_id in list(self.library.sources):
            self._start_scans(source_id)
        if watch and self.config.path is not None:
            self._watcher = ConfigWatcher(self.config.path, self.reload)
            self._watcher.start()
        self.bus.publish(ConfigEvent(action="loaded", version=self.config_status.version))

    async def stop(self) -> None:
        """Stop everything started by :meth:`start`, ffmpeg children included."""
        if self._watcher is not None:
            await self._watcher.stop()
        await self.channels.stop_all()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.relay.stop()
        await self.loudness.stop()
        await self.healing.stop()
        await self.sessions.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.host.acall("shutdown", hub=self)
        await self.database.stop()
        for source in list(self.library.sources.values()):
            with contextlib.suppress(Exception):
                await source.close()
        await self.bus.drain()

    def _add_source(self, source_config: Any) -> MediaSource | None:
        try:
            component = self.registry.get("source", source_config.type)
            context = SourceContext(self.tools, self.data_dir, self.bus)
            source: MediaSource = component.factory(source_config, context)
        except Exception as exc:
            log.error("Source %s could not be set up: %s", source_config.id, exc)
            return None
        self.library.add_source(source)
        return source

    async def _measure_loudness(self, source: MediaSource, items: list[MediaItem]) -> None:
        """After a scan: queue loudness measurements for the scanned items that channels
        with ``audio.loudness_lufs`` play (so most are measured before they air)."""
        await self.loudness.load()  # earlier runs' measurements first (once, when connected)
        for channel in self.config.channels:
            if channel.ffmpeg.audio.loudness_lufs is None or not channel.enabled:
                continue
            planner = ItemPlanner(channel, self.registry, self.tools)
            refs = collection_references(dict(channel.schedule.options), [])
            wanted = []
            for _path, name in refs:
                for item in self.library.collection(name):
                    if item.source_id != source.id or item.info is None:
                        continue
                    audio, _video, stream = planner.streams(item.info)
                    if isinstance(stream, int):
                        wanted.append((item, stream, audio.filter if audio else None))
            self.loudness.prepare(wanted)

    def _start_scans(self, source_id: str) -> None:
        """The first scan of a source now, then every ``scan_interval_minutes`` (if > 0)."""
        self.spawn(self.library.scan(source_id), name=f"scan-{source_id}")
        source = self.library.sources[source_id]
        minutes = source.config.options.get("scan_interval_minutes") or 0
        if minutes > 0:
            self.spawn(self.library.rescan_periodically(source_id, float(minutes)),
                       name=f"rescan-{source_id}")

    # -- reload ------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the config file again; apply it if valid, else keep the running one."""
        assert self.config.path is not None
        status = self.config_status
        async with self._reload_lock:  # the watcher and POST /api/config/reload, one at a time
            try:
                new = await load_replacement(self.config, self.registry)
            except ConfigError as exc:
                status.last_error = str(exc)
                status.last_error_at = time.time()
                status.problems = [str(p) for p in exc.problems]
                log.error("Config edit rejected; still running version %d. %s",
                          status.version, exc)
                self.bus.publish(ConfigEvent(action="rejected", version=status.version,
                                             error=str(exc)))
                return False
            await self.apply_config(new)
            return True

    def _keep_listen_address(self, new: Config) -> Config:
        """``new`` with the running ``server.host``/``port``: the HTTP socket cannot move live.

        This also keeps ``serve --host/--port`` in force across reloads. A file value that
        differs is warned about once, when it first appears.
        """
        wanted = (new.server.host, new.server.port)
        if wanted != self.listening and wanted != self._file_listen:
            log.warning("server.host/port %s:%d in the config take effect after a restart; "
                        "still listening on %s:%d", *wanted, *self.listening)
        self._file_listen = wanted
        host, port = self.listening
        return replace(new, server=replace(new.server, host=host, port=port))

    async def apply_config(self, new: Config) -> None:
        """Switch to ``new``: sources and channels that changed are updated live."""
        new = self._keep_listen_address(new)
        secrets.register_config(new)
        old = self.config
        changed = tuple(
            name for name in (
                "server", "database", "ffmpeg", "sources", "channels", "collections", "mqtt",
                "session_manager",
                "stream_throttler", "database_backup", "ai_auto_heal", "streaming", "guide", "cluster",
                "plugins",
                "extra",
            ) if getattr(old, name) != getattr(new, name)
        )
        self.config = new
        self.sessions.config = new.session_manager
        if old.plugins != new.plugins:
            log.warning("plugins.* changed; restart the server to load or unload plugins")
        if "ffmpeg" in changed and (
            old.ffmpeg.ffmpeg_path != new.ffmpeg.ffmpeg_path
            or old.ffmpeg.ffprobe_path != new.ffmpeg.ffprobe_path
        ):
            self._tools = None
        old_sources = {s.id: s for s in old.sources}
        new_sources = {s.id: s for s in new.sources}
        for source_id in old_sources.keys() - new_sources.keys():
            await self.library.remove_source(source_id)
        for source_id, source_config in new_sources.items():
            previous_config = old_sources.get(source_id)
            if previous_config != source_config:
                # Same id and type (e.g. a new token): the new source takes over the known
                # items until its first scan succeeds; a failed scan wipes nothing.
                previous = self.library.sources.get(source_id)
                if previous_config is not None and previous_config.type != source_config.type:
                    await self.library.remove_source(source_id)
                    previous = None
                if self._add_source(source_config) is not None:
                    if previous is not None:
                        await previous.close()
                    self._start_scans(source_id)
                elif previous is not None:
                    await self.library.remove_source(source_id)
        self.library.set_collections(new.collections)
        touched = await self.channels.apply_config(old, new)
        await self.database.apply_config(old, new)
        status = self.config_status
        status.version += 1
        status.last_reload = time.time()
        status.last_error = None
        status.problems = []
        log.info("Config version %d applied (changed: %s; channels restarted: %s)",
                 status.version, ", ".join(changed) or "nothing",
                 ", ".join(map(str, touched)) or "none")
        self.bus.publish(ConfigEvent(action="reloaded", version=status.version, changed=changed))
