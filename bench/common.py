"""Helpers for benchmarks: a server process, TS keyframe detection, result rows."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
