"""Shared builders for the scheduling benchmarks (run from the repository root)."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exstreamtv.config.model import ChannelConfig, FFmpegConfig, ScheduleConfig
from exstreamtv.events import EventBus
from exstreamtv.media.library import Library
from exstreamtv.media.models import MediaItem
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry, collect_registry
from exstreamtv.scheduling.base import Scheduler, SchedulerContext


def registry() -> Registry:
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    return collect_registry(host)


def make_library(collections: Mapping[str, int], seed: int = 1) -> Library:
    """Collections of items 5 to 120 minutes long, with guide metadata."""
    rng = random.Random(seed)
    lib = Library(EventBus())
    for name, count in collections.items():
        lib.items[name] = [
            MediaItem(id=f"{name}-{i}", source_id=name, title=f"{name} episode {i}",
                      location=f"/media/{name}/{i}.mkv", duration=float(rng.randint(300, 7200)),
                      metadata={"show": name.title(), "season": 1 + i // 20,
                                "episode": 1 + i % 20, "description": f"Episode {i} of {name}.",
                                "genres": ["Drama"]},
                      collections=(name,))
            for i in range(count)
        ]
    return lib


def make_scheduler(reg: Registry, options: Mapping[str, Any], lib: Library, number: int = 1,
                   tz: tzinfo = UTC) -> Scheduler:
    component = reg.get("scheduler", options["type"])
    validated = component.schema({k: v for k, v in options.items() if k != "type"})
    channel = ChannelConfig(number, f"Channel {number}",
                            ScheduleConfig(options["type"], validated), FFmpegConfig())
    scheduler: Scheduler = component.factory(validated, SchedulerContext(channel, lib, tz))
    return scheduler


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best CPU time of ``repeat`` runs, and the last result.

    CPU time (``time.process_time``) rather than wall time: the work is single-threaded
    and the machines these run on are shared, so wall time mostly measures the others.
    """
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result
