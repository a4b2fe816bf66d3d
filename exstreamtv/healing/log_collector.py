"""UnifiedLogCollector (spec 6.1): every log source as structured, correlated events.

Sources: application logs (:class:`CollectorHandler`, a ``logging.Handler``), each
channel's ffmpeg stderr (:meth:`UnifiedLogCollector.ffmpeg_listener`), source and channel
events from the bus, and system signals (memory, CPU load, disk) sampled from ``/proc``
and ``shutil``. Each line becomes a :class:`LogEvent` tagged with its channel (and
session when known) and a level; events live in a ring buffer bounded both by age
(``log_buffer_minutes``) and by count, so a flood of lines keeps memory bounded.
Outputs: real-time async subscribers, context windows around a time, recent errors and
correlation of events by channel and time window.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from exstreamtv.secrets import mask

#: Hard cap on buffered events whatever the age window (a flood stays bounded).
MAX_EVENTS = 20_000
#: Per-subscriber queue size; a slow subscriber loses its oldest events, never blocks.
SUBSCRIBER_QUEUE = 1000
#: Longest line kept; anything longer is cut.
MAX_LINE = 2000

LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}

_ERROR_WORDS = re.compile(
    r"error|failed|failure|invalid|could not|cannot|unable|refused|reset|timed out|timeout|"
    r"denied|forbidden|unauthori[sz]ed|not found|out of memory|exhausted|corrupt|fatal",
    re.IGNORECASE,
)
_WARN_WORDS = re.compile(r"warn|drop|dup|underrun|past duration|discontinuit|deprecated",
                         re.IGNORECASE)
_PROGRESS = re.compile(r"^\s*frame=\s*\d+|^\s*size=\s*\S+\s+time=")


@dataclass(frozen=True)
class LogEvent:
    """One structured log line from any source."""

    source: str  # app | ffmpeg | source | channel | system
    level: str
    message: str
    channel: int | None = None
    session: str | None = None
    logger: str = ""
    timestamp: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return _LEVEL_RANK.get(self.level, 0) >= _LEVEL_RANK["error"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify_level(line: str) -> str:
    """A level for an unlevelled line (ffmpeg stderr): progress is debug."""
    if _PROGRESS.search(line):
        return "debug"
    if _ERROR_WORDS.search(line):
        return "error"
    if _WARN_WORDS.search(line):
        return "warning"
    return "info"


@dataclass(frozen=True)
class SystemSample:
    """Memory, CPU and disk at one moment (Linux ``/proc``; fields None elsewhere)."""

    memory_used_fraction: float | None
    swap_used_fraction: float | None
    load_per_cpu: float | None
    disk_used_fraction: float | None
    timestamp: float = field(default_factory=time.time)


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[key] = int(parts[0])
    except OSError:
        pass
    return values


def sample_system(disk_path: str = ".") -> SystemSample:
    """Read memory and swap from ``/proc/meminfo``, load from ``os.getloadavg``, disk usage.

    No psutil: three files and two stdlib calls give everything the detectors use.
    """
    mem = _meminfo()
    used = swap = load = disk = None
    if mem.get("MemTotal"):
        used = 1.0 - mem.get("MemAvailable", mem.get("MemFree", 0)) / mem["MemTotal"]
    if mem.get("SwapTotal"):
        swap = 1.0 - mem.get("SwapFree", 0) / mem["SwapTotal"]
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        load = None
    try:
        usage = shutil.disk_usage(disk_path)
        disk = usage.used / usage.total if usage.total else None
    except OSError:
        disk = None
    return SystemSample(used, swap, load, disk)


Subscriber = Callable[[LogEvent], Any]


class UnifiedLogCollector:
    """The ring buffer of :class:`LogEvent` with subscribers, windows and correlation."""

    def __init__(self, buffer_minutes: float = 30, max_events: int = MAX_EVENTS,
                 clock: Callable[[], float] = time.time) -> None:
        self.buffer_seconds = buffer_minutes * 60.0
        self.clock = clock
        self.events: deque[LogEvent] = deque(maxlen=max_events)
        self.dropped = 0
        self._queues: list[asyncio.Queue[LogEvent]] = []
        self._callbacks: list[Subscriber] = []
        self.last_system: SystemSample | None = None

    # -- input ----------------------------------------------------------------

    def add(self, event: LogEvent) -> LogEvent:
        """Buffer ``event``, expire old ones and hand it to every subscriber.

        Registered secrets (source tokens in a URL ffmpeg quotes) are masked first: what
        is collected reaches the API, the live log and MQTT."""
        message = mask(event.message)
        if len(message) > MAX_LINE:
            message = message[:MAX_LINE] + "..."
        if message != event.message:
            event = LogEvent(event.source, event.level, message, event.channel, event.session,
                             event.logger, event.timestamp, event.data)
        if len(self.events) == self.events.maxlen:
            self.dropped += 1
        self.events.append(event)
        self._expire()
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                logging.getLogger(__name__).debug("log subscriber failed", exc_info=True)
        return event

    def record(self, source: str, message: str, *, level: str | None = None,
               channel: int | None = None, session: str | None = None, logger: str = "",
               data: dict[str, Any] | None = None) -> LogEvent:
        """Parse and add one line; the level is guessed from the text when not given."""
        return self.add(LogEvent(source, level or classify_level(message), message, channel,
                                 session, logger, self.clock(), dict(data or {})))

    def ffmpeg_listener(self, channel: int) -> Callable[[str], None]:
        """A stderr line listener for one channel's ffmpeg processes."""

        def listen(line: str) -> None:
            level = classify_level(line)
            if level == "debug":
                return  # progress lines go to the monitor, not the log buffer
            self.record("ffmpeg", line, level=level, channel=channel)

        return listen

    def record_system(self, sample: SystemSample) -> None:
        """Add a system sample as an event (warning when memory or disk run short)."""
        self.last_system = sample
        mem = sample.memory_used_fraction or 0.0
        disk = sample.disk_used_fraction or 0.0
        level = "warning" if mem > 0.9 or disk > 0.95 else "debug"
        parts = [f"{name} {value:.0%}" if value is not None else f"{name} n/a" for name, value in (
            ("memory", sample.memory_used_fraction), ("swap", sample.swap_used_fraction),
            ("disk", sample.disk_used_fraction))]
        load = f"load/cpu {sample.load_per_cpu:.2f}" if sample.load_per_cpu is not None else ""
        self.record("system", ", ".join([*parts, load]).strip(", "), level=level,
                    data=asdict(sample))

    def _expire(self) -> None:
        horizon = self.clock() - self.buffer_seconds
        while self.events and self.events[0].timestamp < horizon:
            self.events.popleft()

    # -- output ---------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[LogEvent]:
        """A queue that receives every new event (bounded; oldest dropped when full)."""
        queue: asyncio.Queue[LogEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LogEvent]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def on_event(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` synchronously for each new event; returns an unsubscriber."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def window(self, start: float, end: float, channel: int | None = None,
               sources: Iterable[str] | None = None) -> list[LogEvent]:
        """Events between ``start`` and ``end``, optionally of one channel and some sources."""
        wanted = set(sources) if sources is not None else None
        return [e for e in self.events
                if start <= e.timestamp <= end
                and (channel is None or e.channel in (channel, None))
                and (wanted is None or e.source in wanted)]

    def context(self, t: float, before: float = 10.0, after: float = 5.0,
                channel: int | None = None) -> list[LogEvent]:
        """What happened around ``t``: the context window of a failure."""
        return self.window(t - before, t + after, channel)

    def recent(self, seconds: float, channel: int | None = None) -> list[LogEvent]:
        now = self.clock()
        return self.window(now - seconds, now, channel)

    def recent_errors(self, limit: int = 50, channel: int | None = None) -> list[LogEvent]:
        """The latest error-level events, newest last."""
        out = [e for e in self.events if e.is_error and (channel is None or e.channel == channel)]
        return out[-limit:]

    def correlate(self, t: float, window: float = 5.0) -> dict[int | None, list[LogEvent]]:
        """Events within ``window`` seconds of ``t`` grouped by channel (None: global)."""
        groups: dict[int | None, list[LogEvent]] = {}
        for event in self.window(t - window, t + window):
            groups.setdefault(event.channel, []).append(event)
        return groups

    def stats(self) -> dict[str, Any]:
        return {"events": len(self.events), "capacity": self.events.maxlen,
                "dropped": self.dropped, "subscribers": len(self._queues) + len(self._callbacks)}


#: Loggers whose records are collected: the server's (``exstreamtv.*``), the built-in
#: plugins' (``exstreamtv_plugins.*``, or ``plugins.*`` from a clone) and drop-in plugins'
#: (``exstreamtv_dropin_*``). Everything else (the HTTP server, libraries) is left out.
COLLECTED_LOGGERS = ("exstreamtv", "plugins.")


class CollectorHandler(logging.Handler):
    """Feeds application and plugin log records into a collector, tagging channel numbers.

    Attach it to the root logger: records of :data:`COLLECTED_LOGGERS` (and of any extra
    ``prefixes``, such as entry-point plugins' modules) are collected, others ignored.
    """

    _CHANNEL = re.compile(r"^Channel (\d+):")

    def __init__(self, collector: UnifiedLogCollector, level: int = logging.INFO,
                 prefixes: Iterable[str] = COLLECTED_LOGGERS) -> None:
        super().__init__(level)
        self.collector = collector
        self.prefixes = tuple(prefixes)

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(self.prefixes) or record.name.startswith(
                "exstreamtv.healing.log_collector"):
            return
        try:
            message = record.getMessage().split("\n", 1)[0]
            match = self._CHANNEL.match(message)
            channel = getattr(record, "channel", None) or (int(match.group(1)) if match else None)
            level = record.levelname.lower()
            self.collector.add(LogEvent("app", level if level in _LEVEL_RANK else "info", message,
                                        channel, getattr(record, "session", None), record.name,
                                        record.created))
        except Exception:
            self.handleError(record)
