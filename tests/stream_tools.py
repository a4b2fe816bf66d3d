"""Helpers for the streaming tests: ffmpeg children of a server, timed readers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx


def ffmpeg_children(pid: int) -> list[int]:
    """Pids of the ffmpeg processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == "ffmpeg":
            found.append(int(entry.name))
    return found


class Reader(threading.Thread):
    """Reads a URL for ``seconds``; keeps the bytes and (time, total) marks."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seconds = seconds
        self.data = bytearray()
        self.marks: list[tuple[float, int]] = []
        self.status: int | None = None
        self.error: Exception | None = None
        self.ended = False

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=20) as response:
                self.status = response.status_code
                start = time.monotonic()
                for part in response.iter_bytes():
                    self.data += part
                    now = time.monotonic()
                    self.marks.append((now, len(self.data)))
                    if now - start >= self.seconds:
                        return
                self.ended = True
        except Exception as exc:  # reported by the test
            self.error = exc

    def bytes_between(self, t0: float, t1: float) -> int:
        """Bytes received between two monotonic times."""
        before = max((n for t, n in self.marks if t <= t0), default=0)
        upto = max((n for t, n in self.marks if t <= t1), default=0)
        return upto - before
