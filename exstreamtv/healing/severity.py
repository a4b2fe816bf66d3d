"""Severity: how badly an issue hurts viewers now, and what that lets a fix do.

An issue's severity (:func:`assess`) comes from two things:

- what its detector saw (:func:`seen_as`): a forecast of the failure predictor is a
  WARNING; a log pattern is as severe as the worst line it matched (the degradation
  pattern's "output at 0.6x play speed" lines are warnings, a 403 is an error); an
  ffmpeg error line is what its classification says (CRITICAL for a codec this ffmpeg
  lacks or an exhausted memory, else ERROR); anything else is an ERROR;
- what viewers get at that moment (:class:`Delivery`, from the channel's status):
  programme at play speed, programme below it, or no programme at all (its ffmpeg
  failed, the error screen is on air, or nothing arrives).

No programme makes any issue CRITICAL; programme below play speed makes it at least an
ERROR; at play speed it stays as seen. :data:`SEVERITY_RULES` is the one table of what
each severity allows; the resolver and the strategies read it, nothing else decides:

=========  =====================  ===================  ==========================
severity   fixes that cut the     order of the chain   a restart shows
           picture (restart,
           skip, fallback)
=========  =====================  ===================  ==========================
WARNING    held back (recorded    learned              (none runs)
           as skipped)
ERROR      tried                  learned              the old output until the
                                                       new one has output
CRITICAL   tried                  the table's, primary the error screen at once
                                  first
=========  =====================  ===================  ==========================

The table's primary strategy of each issue type is the quickest way back to picture
for it (RESTART a crash, SKIP an unplayable item, FALLBACK a failed GPU, REFRESH an
expired URL), so an outage goes straight to it; a learned order, which may put a
slower but likelier strategy first, is kept for issues that leave viewers a picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from exstreamtv.healing.play_speed import MIN_SPEED
from exstreamtv.healing.vocabulary import Severity

if TYPE_CHECKING:
    from exstreamtv.streaming.control import ChannelStatus

#: Below this share of play speed the programme counts as not arriving at all.
NOTHING_SPEED = 0.1

#: Detectors whose issues are forecasts: viewers may not have noticed anything yet.
FORECASTS = frozenset({"prediction"})


class Delivery(StrEnum):
    """What a channel's viewers get now."""

    PLAYING = "playing"  # the programme, at play speed
    SLOW = "slow"  # the programme, below play speed
    NOTHING = "nothing"  # no programme (failed, the error screen, or no output)


@dataclass(frozen=True)
class SeverityRule:
    """What a fix for an issue of one severity may do."""

    #: Strategies that cut the picture (``HealingStrategy.interrupts``) may run.
    may_interrupt: bool
    #: Learning may reorder the chain (else the strategy table's order, primary first).
    learned_order: bool
    #: A restart covers the gap with the error screen from its first moment (else the
    #: old output plays on until the fresh ffmpeg has output).
    error_screen_at_once: bool


SEVERITY_RULES: Mapping[Severity, SeverityRule] = {
    Severity.WARNING: SeverityRule(may_interrupt=False, learned_order=True,
                                   error_screen_at_once=False),
    Severity.ERROR: SeverityRule(may_interrupt=True, learned_order=True,
                                 error_screen_at_once=False),
    Severity.CRITICAL: SeverityRule(may_interrupt=True, learned_order=False,
                                    error_screen_at_once=True),
}


def rule_for(severity: str) -> SeverityRule:
    """The row of :data:`SEVERITY_RULES` for ``severity`` (unknown: ERROR's)."""
    return SEVERITY_RULES[Severity.of(severity)]


def seen_as(detector: str, level: str | None = None) -> Severity:
    """The severity of what ``detector`` saw; ``level``: the worst log level it matched,
    or the ffmpeg error's classified severity."""
    if detector in FORECASTS:
        return Severity.WARNING
    return Severity.of(level) if level else Severity.ERROR


def delivery(status: ChannelStatus | None) -> Delivery | None:
    """What the channel's viewers get now (None: no running channel, or not measured)."""
    if status is None or not status.running:
        return None
    if status.segment != "program":
        return Delivery.NOTHING
    speed = status.delivered_speed
    if speed is None:
        return None
    if speed < NOTHING_SPEED:
        return Delivery.NOTHING
    return Delivery.SLOW if speed < MIN_SPEED else Delivery.PLAYING


def assess(seen: Severity, now: Delivery | None) -> Severity:
    """The issue's severity: what was seen, raised by what viewers get now."""
    if now is Delivery.NOTHING:
        return Severity.CRITICAL
    if now is Delivery.SLOW:
        return max(seen, Severity.ERROR, key=lambda s: s.rank)
    return seen
