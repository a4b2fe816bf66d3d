"""Builders for scheduler tests: a real Library filled with items, and scheduler factories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from exstreamtv.config.loader import validate_config
from exstreamtv.config.model import ChannelConfig, FFmpegConfig, ScheduleConfig
from exstreamtv.events import EventBus
from exstreamtv.media.library import Library
from exstreamtv.media.models import MediaItem
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry
from exstreamtv.scheduling.base import Scheduler, SchedulerContext
from exstreamtv.scheduling.sequences import PlayoutMemory

_REGISTRY = None


def registry() -> Any:
    """The registry of the built-in plugins (loaded once)."""
    global _REGISTRY
    if _REGISTRY is None:
        host = PluginHost()
        host.load_plugins()
        _REGISTRY = collect_registry(host)
    return _REGISTRY


def items(name: str, durations: Sequence[float], **metadata: Any) -> list[MediaItem]:
    """Items ``<name>-1``... of the given durations in collection ``name``."""
    return [
        MediaItem(id=f"{name}-{i + 1}", source_id=name, title=f"{name.title()} {i + 1}",
                  location=f"/media/{name}/{i + 1:03d}.mkv", duration=float(d),
                  metadata=dict(metadata), collections=(name,))
        for i, d in enumerate(durations)
    ]


def library(collections: Mapping[str, Sequence[MediaItem]]) -> Library:
    lib = Library(EventBus())
    for name, found in collections.items():
        lib.items[name] = list(found)
    return lib


def scheduler(options: Mapping[str, Any], lib: Library, tz: tzinfo = UTC,
              memory: PlayoutMemory | None = None) -> Scheduler:
    """A scheduler of ``options['type']`` validated by its plugin's schema."""
    component = registry().get("scheduler", options["type"])
    validated = component.schema({k: v for k, v in options.items() if k != "type"})
    channel = ChannelConfig(1, "Test", ScheduleConfig(options["type"], validated), FFmpegConfig())
    result: Scheduler = component.factory(validated, SchedulerContext(channel, lib, tz, memory))
    return result


def at(tz: tzinfo, *args: int) -> float:
    """POSIX seconds of a local wall-clock time."""
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def config_problems(schedule: Mapping[str, Any], sources: Sequence[str] = ("news", "movies")
                    ) -> list[str]:
    """Problems ``config check`` reports for one channel with ``schedule``."""
    from exstreamtv.errors import ConfigError

    data = {
        "sources": [{"id": s, "type": "local", "path": f"/tmp/{s}"} for s in sources],
        "channels": [{"number": 1, "name": "One", "schedule": dict(schedule)}],
    }
    try:
        validate_config(data, registry())
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []
