"""What a channel does after a segment ended early: the one recovery policy.

The pipeline asks :class:`RecoveryPolicy` what follows a failed segment and carries the
answer out; nobody else decides it. Self-healing configures the policy
(:class:`RecoverySettings`, e.g. an error-screen hold) instead of reaching into the
pipeline. The rules, in order:

* the encoder's device failed to tone-map an HDR item (``tonemap``): HDR on the CPU from
  now on, the hardware encoder kept, the same item again (never twice: the device is
  not asked again);
* a hardware encoder that died before its first second: software from now on, the same
  item again (``hardware_fallback``);
* the ``failures_before_fill``-th failure of one item, or less than a second of it left:
  the rest of its slot is filled (the schedule's filler, else the error screen with the
  reason) and the next item starts at its guide time;
* otherwise the item goes on where viewers left it (never behind the schedule), at once
  on a first failure, after the error screen for a growing back-off (1, 2, 4 ... up to
  ``max_backoff_seconds``) on repeated ones, and never shorter than ``error_screen_hold``.

After every step the channel is back on the schedule: what it airs next is what the
guide says for that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from exstreamtv.events import EventBus, FixEvent, HealthEvent, ItemFailed
from exstreamtv.healing.ffmpeg_monitor import DeviceFailure, decisive_error
from exstreamtv.healing.vocabulary import FixAction, IssueType
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem

log = logging.getLogger(__name__)

#: Less than this left of an item: do not start an ffmpeg for it.
MIN_LEFT_SECONDS = 1.0


@dataclass
class RecoverySettings:
    """The knobs of the recovery policy (self-healing sets some of them)."""

    #: Seconds without output from a running ffmpeg that make a stall.
    stall_seconds: float = 6.0
    failures_before_fill: int = 3
    max_backoff_seconds: float = 30.0
    #: Show the error screen at least this long after every failure (None: resume at once
    #: on a first failure).
    error_screen_hold: float | None = None
    hardware_fallback: bool = True
    #: Drift from the guide accepted at an item boundary before the next item is moved.
    schedule_tolerance: float = 1.0


@dataclass(frozen=True)
class Resume:
    """Go on with ``entry`` from the later of ``reached`` and the schedule position."""

    entry: ScheduledItem
    reached: float


@dataclass(frozen=True)
class Hold:
    """The error screen with ``reason`` for ``seconds``, then ``then``."""

    seconds: float
    reason: str
    then: Resume | None


@dataclass(frozen=True)
class Fill:
    """The rest of ``entry``'s slot is filler or the error screen with ``reason``."""

    entry: ScheduledItem
    reason: str
    #: ffmpeg runs of the item that failed, when the channel gives up on it (0: it did not).
    gave_up_after: int = 0


@dataclass(frozen=True)
class SoftwareFallback:
    """The hardware encoder failed (``cause``): software from now on, then ``then``."""

    cause: str
    then: Resume


@dataclass(frozen=True)
class CpuTonemapFallback:
    """The device could not tone-map (``cause``): HDR on the CPU from now on, the encoder
    kept, then ``then``."""

    cause: str
    then: Resume


@dataclass(frozen=True)
class AtSchedule:
    """Play what the schedule (or a fill) has on air at the output's air time."""


Step = Resume | Hold | Fill | SoftwareFallback | CpuTonemapFallback


def _key(entry: ScheduledItem) -> tuple[float, str | None]:
    return (round(entry.start, 3), entry.item.id if entry.item is not None else None)


class RecoveryPolicy:
    """Counts failures and answers "what now?" after each one."""

    def __init__(self, settings: RecoverySettings | None = None) -> None:
        self.settings = settings or RecoverySettings()
        self.failures = 0  # in a row, on the channel
        self._entry: tuple[float, str | None] | None = None
        self.entry_failures = 0  # of the item failing now

    def succeeded(self) -> bool:
        """A segment played to its end; True when this ends a run of failures."""
        was = self.failures > 0
        self.failures = 0
        self.entry_failures = 0
        self._entry = None
        return was

    def after_failure(self, entry: ScheduledItem, reached: float, air: float, *,
                      hardware: bool, produced: float, early_exit: bool,
                      cause: str, tonemap: bool = False) -> Step:
        """What follows ``entry`` failing after ``reached`` seconds, output being at ``air``
        (``hardware``: the encoder's device failed; ``tonemap``: its tone mapping did)."""
        s = self.settings
        if tonemap and early_exit:
            return CpuTonemapFallback(cause, Resume(entry, reached))
        if hardware and s.hardware_fallback and early_exit and produced < 1.0:
            return SoftwareFallback(cause, Resume(entry, reached))
        self.failures += 1
        key = _key(entry)
        if key != self._entry:
            self._entry, self.entry_failures = key, 0
        self.entry_failures += 1
        # The reason is shown on screen: the title only (ffmpeg's ``cause`` may name a
        # source URL with its token; it is in the log).
        title = entry.title
        if self.entry_failures >= s.failures_before_fill:
            return Fill(entry, f"'{title}' cannot be played", self.entry_failures)
        if entry.end - air < MIN_LEFT_SECONDS:
            return Fill(entry, f"'{title}' failed")
        backoff = 0.0 if self.failures == 1 else min(2.0 ** (self.failures - 2),
                                                     s.max_backoff_seconds)
        hold = max(backoff, s.error_screen_hold or 0.0)
        if hold <= 0:
            return Resume(entry, reached)
        hold = min(hold, max(entry.end - air, 0.1))
        return Hold(hold, "technical difficulties", Resume(entry, reached))


def device_fault(stderr_tail: Iterable[str], hardware: bool,
                 device_tonemap: bool) -> tuple[bool, bool]:
    """Whether a failed segment's ffmpeg (its last ``stderr_tail`` lines) failed on its
    hardware device, and whether on that device's tone mapping (when ``device_tonemap``):
    only a device failure (or a silent exit) leaves the GPU, a 403 is the item's, and a
    device that cannot tone-map only sends HDR to the CPU."""
    found = decisive_error(stderr_tail) if hardware else None
    tonemap = found is not None and found.device is DeviceFailure.TONEMAP
    on_device = hardware and not tonemap and (found is None or found.device is not None)
    return on_device, tonemap and device_tonemap


def announce_software_fallback(bus: EventBus, channel: int, encoder: str, cause: str) -> None:
    """Log and publish that ``encoder`` died at start and the channel goes software."""
    message = f"encoder {encoder} failed to start ({cause}); using software"
    log.error("Channel %d: HARDWARE_ERROR: %s", channel, message)
    bus.publish(HealthEvent(component="encoder", status="degraded", message=message,
                            channel=channel))
    bus.publish(FixEvent(issue=IssueType.HARDWARE_FAILED, strategy="software_fallback",
                         action=FixAction.APPLIED, channel=channel, message=message))


def announce_cpu_tonemap(bus: EventBus, channel: int, encoder: str, cause: str) -> None:
    """Log and publish that ``encoder``'s device cannot tone-map: HDR on the CPU, the
    encoder kept."""
    message = (f"the {encoder} device cannot tone-map HDR ({cause}); tone mapping on the "
               f"CPU, encoder {encoder} kept")
    log.error("Channel %d: HARDWARE_ERROR: %s", channel, message)
    bus.publish(HealthEvent(component="encoder", status="degraded", message=message,
                            channel=channel))
    bus.publish(FixEvent(issue=IssueType.TONEMAP_FAILED, strategy="cpu_tonemap",
                         action=FixAction.APPLIED, channel=channel, message=message))


def announce_item_failed(bus: EventBus, channel: int, item: MediaItem, attempts: int,
                         reason: str) -> None:
    """Publish that ``channel`` gave up on ``item`` (the channel manager records it)."""
    bus.publish(ItemFailed(channel=channel, source_id=item.source_id, item_id=item.id,
                           title=item.title, location=item.location, attempts=attempts,
                           reason=reason))
