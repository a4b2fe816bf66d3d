"""Is the host starved of CPU? Telling a busy machine from a stuck ffmpeg.

On a small box running other work, every ffmpeg slows down together; restarting them
only adds load. The host counts as *starved* when the 1-minute load average is above
the number of cores and every running channel delivers below play speed. An ffmpeg
that gives no output is then still not a hang if the kernel says it is runnable
(state ``R``): it is waiting for a CPU, not stuck. A stopped (``T``) or sleeping one is.

While starved, the channels encode with less work (level 1: the fastest x264 preset;
level 2 after :data:`LEVEL_UP_SECONDS` more: also half the picture size), for their next
segments. When the load has been under the cores for :data:`RECOVER_SECONDS`, they go
back to the configured encoding. Each change is logged once and published as a
``host`` health event.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Starved this long before the first level of lighter encoding.
STARVED_AFTER = 8.0
#: Delivered speed under which a channel counts as slow (a boundary's dip is not).
SLOW_SPEED = 0.9
LEVEL_UP_SECONDS = 20.0
RECOVER_SECONDS = 30.0
MAX_LEVEL = 2


def load_average() -> float | None:
    """The 1-minute load average (None where the OS does not tell)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def process_state(pid: int | None) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, D, T, Z ...) or None."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def waiting_for_cpu(pid: int | None) -> bool:
    """True when ``pid`` is runnable or in uninterruptible I/O: busy, not stuck."""
    return process_state(pid) in ("R", "D")


@dataclass(frozen=True)
class LoadReading:
    """One look at the host."""

    load: float | None
    cores: int
    all_slow: bool

    @property
    def overloaded(self) -> bool:
        return self.load is not None and self.load > self.cores


class HostLoad:
    """Decides whether the host is starved and how much lighter channels should encode."""

    def __init__(self, cores: int | None = None,
                 load: Callable[[], float | None] = load_average,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cores = cores or os.cpu_count() or 1
        self._load = load
        self._clock = clock
        self.starved = False
        self.level = 0
        self.last: LoadReading | None = None
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._level_at = 0.0

    def observe(self, speeds: list[float | None]) -> int | None:
        """Take a reading with each running channel's delivered speed.

        Returns the new encoding level when it changed, else None.
        """
        measured = [s for s in speeds if s is not None]
        reading = LoadReading(self._load(), self.cores,
                              bool(measured) and all(s < SLOW_SPEED for s in measured))
        self.last = reading
        now = self._clock()
        if reading.overloaded and reading.all_slow:
            self._under_since = None
            self._over_since = self._over_since or now
            if not self.starved and now - self._over_since >= STARVED_AFTER:
                self.starved = True
                return self._set(1, now)
            if self.starved and self.level < MAX_LEVEL and now - self._level_at >= LEVEL_UP_SECONDS:
                return self._set(self.level + 1, now)
            return None
        self._over_since = None
        if reading.overloaded:
            return None  # busy, but our channels keep up: nothing to change
        self._under_since = self._under_since or now
        if self.starved and now - self._under_since >= RECOVER_SECONDS:
            self.starved = False
            return self._set(0, now)
        return None

    def _set(self, level: int, now: float) -> int:
        self.level, self._level_at = level, now
        return level

    def describe(self) -> str:
        """A sentence about the host for logs and health events."""
        r = self.last
        load = f"load {r.load:.1f} on {r.cores} cores" if r and r.load is not None else "load unknown"
        if not self.starved:
            return f"the host has CPU to spare again ({load}); encoding as configured"
        what = "the fastest preset" if self.level == 1 else "the fastest preset at half size"
        return (f"the host is starved of CPU ({load}, every channel below play speed); "
                f"not restarting ffmpeg, encoding with {what} until it recovers")
