"""Helpers for benchmarks: a server process, TS keyframe detection, scheduling builders,
result rows. Run benchmarks from the repository root or via bench/run.py."""

from __future__ import annotations

import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exstreamtv.config.model import ChannelConfig, FFmpegConfig, ScheduleConfig  # noqa: E402
from exstreamtv.events import EventBus  # noqa: E402
from exstreamtv.media.library import Library  # noqa: E402
from exstreamtv.media.models import MediaItem  # noqa: E402
from exstreamtv.plugins import PluginHost  # noqa: E402
from exstreamtv.registry import Registry, collect_registry  # noqa: E402
from exstreamtv.scheduling.base import Scheduler, SchedulerContext  # noqa: E402
from exstreamtv.streaming.ts import TSSplicer  # noqa: E402


def result(name: str, ours: str, baseline: str, ratio: float, note: str = "") -> None:
    """Print one row for bench/run.py."""
    print(f"RESULT {name} | {ours} | {baseline} | {ratio:.2f}x | {note}", flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KeyframeWatch:
    """Feed received TS bytes; remembers when the first byte and first keyframe arrived."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.splicer = TSSplicer()
        self.first_byte: float | None = None
        self.first_keyframe: float | None = None

    def feed(self, data: bytes) -> bool:
        now = time.perf_counter()
        if self.first_byte is None and data:
            self.first_byte = now - self.started
        if self.first_keyframe is None:
            for piece in self.splicer.feed(data):
                if piece.keyframe:
                    self.first_keyframe = now - self.started
                    break
        return self.first_keyframe is not None


def time_process(argv: list[str]) -> tuple[float, float]:
    """Start ``argv`` writing TS to stdout; seconds to first byte and first keyframe."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watch = KeyframeWatch(started)
    assert proc.stdout is not None
    while True:
        data = proc.stdout.read1(65536)  # type: ignore[attr-defined]
        if not data or watch.feed(data):
            break
    proc.kill()
    proc.wait()
    return watch.first_byte or float("nan"), watch.first_keyframe or float("nan")

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
