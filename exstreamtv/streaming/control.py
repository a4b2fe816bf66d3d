"""How others act on a channel's pipeline: typed commands in, typed events and status out.

The pipeline is the only owner of its state. Everything else (self-healing strategies,
the channel manager on a reload, an MQTT or API command, the host-load watch) sends it
one of the commands below through a :class:`ChannelControl`; the pipeline applies them
in its own loop, in order, and answers each with a :class:`CommandResult`. What the
pipeline does is observed through :meth:`ChannelControl.status` and the bus: every
segment's end is one :class:`SegmentEnded` event with its :class:`EndReason`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from exstreamtv.events import Event

if TYPE_CHECKING:
    from exstreamtv.config.model import ChannelConfig
    from exstreamtv.ffmpeg.command import OutputProfile
    from exstreamtv.ffmpeg.presets import EncoderPreset
    from exstreamtv.media.models import MediaItem
    from exstreamtv.scheduling.base import Scheduler
    from exstreamtv.streaming.planner import ItemPlanner
    from exstreamtv.streaming.recovery import RecoverySettings


class EndReason(StrEnum):
    """Why a segment (one ffmpeg run) ended."""

    COMPLETE = "complete"  # it played to the end of its part of the schedule
    EXITED = "exited"  # ffmpeg ended early: a crash, a kill, an unreadable file
    STALLED = "stalled"  # ffmpeg was alive but gave no output (stopped, hung input)
    REPLACED = "replaced"  # a command ended it (restart, skip, error screen, swap)


class RestartFrom(StrEnum):
    """Where a restarted channel goes on from."""

    VIEWERS = "viewers"  # where viewers are in the item (nothing they saw is replayed)
    SCHEDULE = "schedule"  # what the schedule says is on now


# -- commands ---------------------------------------------------------------------


@dataclass(frozen=True)
class Restart:
    """A fresh ffmpeg. ``hot``: the old output goes on until the new one has output (or,
    with ``error_screen``, the error screen covers the wait). ``unless_recovered_since``:
    nothing to do if the pipeline itself already replaced a failed ffmpeg after that time."""

    from_: RestartFrom = RestartFrom.VIEWERS
    reason: str = "restart requested"
    error_screen: bool = False
    hot: bool = True
    unless_recovered_since: float | None = None
    timeout: float = 6.0


@dataclass(frozen=True)
class SkipItem:
    """End the item on air; the rest of its slot is filler or the error screen."""

    reason: str = "skipped"


@dataclass(frozen=True)
class ShowErrorScreen:
    """The error screen with ``reason`` for ``seconds``, then back to the schedule."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class UsePreset:
    """Encode the next segments with ``preset`` (an encoder type name or a preset)."""

    preset: EncoderPreset | str


@dataclass(frozen=True)
class UseCpuTonemap:
    """Tone-map HDR items on the CPU from the next segments; the encoder stays (its device
    failed to tone-map, ``reason``). Refused (not applied) when that is already so."""

    reason: str = "the device failed to tone-map"


@dataclass(frozen=True)
class PlayFromLocation:
    """Play ``item_id`` from ``location`` from now on (None: from its own location)."""

    item_id: str
    location: str | None


@dataclass(frozen=True)
class UseProfile:
    """Encode the next segments to ``profile``."""

    profile: OutputProfile


@dataclass(frozen=True)
class LightenEncoding:
    """Encode with less CPU (1: a faster preset, 2: also a smaller size; 0: as configured)."""

    level: int
    reason: str = ""


@dataclass(frozen=True)
class Reconfigure:
    """The channel's config changed: use these, and restart at the schedule position."""

    channel: ChannelConfig
    scheduler: Scheduler
    planner: ItemPlanner


Command = (Restart | SkipItem | ShowErrorScreen | UsePreset | UseCpuTonemap | PlayFromLocation
           | UseProfile | LightenEncoding | Reconfigure)


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: applied or not, and why."""

    applied: bool
    message: str = ""


# -- what the pipeline tells ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SegmentEnded(Event):
    """One ffmpeg run of a channel ended; ``failed`` when viewers lost programme by it."""

    kind: ClassVar[str] = "segment"
    channel: int
    reason: str  # an EndReason
    title: str
    segment: str  # program | error
    produced: float
    exit_code: int | None = None
    failed: bool = False
    message: str = ""
    #: Wall time the ffmpeg started (tells a late report of a replaced run from a new one).
    started: float = 0.0


@dataclass(frozen=True)
class ChannelStatus:
    """A channel pipeline's state, as strategies and the API read it."""

    number: int
    running: bool
    state: str
    segment: str | None  # program | error | None
    title: str | None
    item: MediaItem | None
    pid: int | None
    preset: EncoderPreset  # as configured or commanded (before any lighter work level)
    profile: OutputProfile
    work_level: int
    failures: int
    restarts: int
    last_error: str | None
    #: Wall time the pipeline last replaced a failed ffmpeg by itself (None: never).
    last_recovery: float | None
    health: str  # ok | degraded
    health_reason: str
    delivered_speed: float | None

    def to_api(self, encoder: str) -> dict[str, object]:
        """The JSON fields of ``pipeline`` in the API (``encoder``: the one in use now)."""
        return {"state": self.state, "title": self.title, "kind": self.segment,
                "pid": self.pid, "encoder": encoder, "work_level": self.work_level,
                "failures": self.failures, "restarts": self.restarts,
                "last_error": self.last_error, "health": self.health,
                "health_reason": self.health_reason, "delivered_speed": self.delivered_speed}


class _Pipeline(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def running(self) -> bool: ...

    def send(self, command: Command) -> asyncio.Future[CommandResult]: ...

    def channel_status(self) -> ChannelStatus: ...

    def configure_recovery(self, settings: RecoverySettings) -> None: ...


class ChannelControl:
    """The narrow face of one channel's pipeline: send a command, read the status."""

    def __init__(self, pipeline: _Pipeline) -> None:
        self._pipeline = pipeline

    @property
    def number(self) -> int:
        return self._pipeline.number

    @property
    def running(self) -> bool:
        return self._pipeline.running

    async def send(self, command: Command, timeout: float = 30.0) -> CommandResult:
        """Send ``command`` and wait until the pipeline has applied it (or refused it)."""
        if not self._pipeline.running:
            return CommandResult(False, f"channel {self.number} is not running")
        future = self._pipeline.send(command)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return CommandResult(False, f"channel {self.number} did not apply "
                                        f"{type(command).__name__} within {timeout:.0f}s")

    def post(self, command: Command) -> None:
        """Send ``command`` without waiting for its result."""
        if self._pipeline.running:
            self._pipeline.send(command)

    def status(self) -> ChannelStatus:
        return self._pipeline.channel_status()

    def configure(self, settings: RecoverySettings) -> None:
        """Set the knobs of the channel's recovery policy (used from its next decision)."""
        self._pipeline.configure_recovery(settings)
