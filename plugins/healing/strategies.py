"""The built-in healing strategies (spec 6.4): RESTART, REFRESH, EXPAND, FALLBACK, REDUCE,
ESCALATE, and CPU_TONEMAP (a device that cannot tone-map HDR, the encoder kept). Each is an ordinary :class:`exstreamtv.HealingStrategy`; a third-party plugin
registers its own the same way (a name already taken is refused by the registry).

They act on channels only by sending commands through ``context.channel(n)`` (a
``ChannelControl``) and reading its status; the pipeline applies them in its own loop.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from exstreamtv import (
    DetectedIssue,
    FixContext,
    HealingStrategy,
    HealthEvent,
    IssueType,
    PlayFromLocation,
    SkipItem,
    UseCpuTonemap,
    UsePreset,
    UseProfile,
    hookimpl,
)

log = logging.getLogger(__name__)


class Restart(HealingStrategy):
    """A fresh ffmpeg at the schedule position; the error screen covers the gap."""

    name = "RESTART"
    risk = "MEDIUM"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        # A crash the pipeline already recovered from (it resumed the programme after the
        # issue) needs no second fresh ffmpeg: the pipeline says so and changes nothing.
        since = issue.at if issue.type == IssueType.FFMPEG_CRASH else None
        message = await context.restart(issue.channel, f"{issue.type}: {issue.message}"[:200],
                                        since=since, severity=issue.severity)
        log.info("Channel %s: %s", issue.channel, message)


class Refresh(HealingStrategy):
    """Ask the item's source for a fresh location (expired URL or token), then restart."""

    name = "REFRESH"
    risk = "SAFE"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        control = context.channel(issue.channel)
        item = control.status().item
        if item is None:
            raise LookupError(f"channel {issue.channel} is playing no media item")
        source = context.library.sources.get(item.source_id)
        if source is None:
            raise LookupError(f"source '{item.source_id}' is gone")
        location = await source.refresh_location(item)
        await control.send(PlayFromLocation(item.id, location))
        await context.restart(issue.channel, f"fresh location for '{item.title}'",
                              severity=issue.severity)
        return item.id

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        await context.channel(issue.channel).send(PlayFromLocation(state, None))


class Expand(HealingStrategy):
    """Grow the database connection pool by half; rolling back shrinks it again."""

    name = "EXPAND"
    risk = "LOW"
    interrupts = False

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        return await context.database.expand_pool()

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        await context.database.restore_pool(state)


class Fallback(HealingStrategy):
    """Hardware encoder -> software; otherwise move on from an unplayable item."""

    name = "FALLBACK"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        control = context.channel(issue.channel)
        previous = control.status().preset
        if previous.hardware:
            await control.send(UsePreset("software"))
            log.warning("Channel %s: encoder '%s' failed; falling back to software",
                        issue.channel, previous.name)
            await context.restart(issue.channel, "software encoder fallback",
                                  severity=issue.severity)
            return previous
        if issue.type == IssueType.HARDWARE_FAILED:
            # The pipeline switched to software itself when the encoder died at start;
            # another restart would only cost viewers a second of picture.
            log.info("Channel %s: already encoding in software", issue.channel)
            return None
        result = await control.send(SkipItem(f"was skipped ({issue.type})"))
        if not result.applied:
            raise RuntimeError(result.message)
        return None

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        if state is not None:
            await context.channel(issue.channel).send(UsePreset(state))


class CpuTonemap(HealingStrategy):
    """HDR on the CPU when the device cannot tone-map; the hardware encoder stays."""

    name = "CPU_TONEMAP"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        control = context.channel(issue.channel)
        result = await control.send(UseCpuTonemap(issue.message[:200]))
        if not result.applied:
            # The pipeline switched itself when the item failed at start: nothing to redo.
            log.info("Channel %s: %s", issue.channel, result.message)
            return None
        await context.restart(issue.channel, "HDR tone mapping on the CPU",
                              severity=issue.severity)
        return None


class Skip(HealingStrategy):
    """Move on to the next item: the one on air cannot be played (retrying cannot help)."""

    name = "SKIP"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        control = context.channel(issue.channel)
        log.warning("Channel %s: skipping '%s' (%s)", issue.channel,
                    control.status().title or "?", issue.message)
        result = await control.send(SkipItem(f"cannot be played ({issue.type})"))
        if not result.applied:
            raise RuntimeError(result.message)


class Reduce(HealingStrategy):
    """Lower the load: stop idle channels, lighter bitrate on the running ones."""

    name = "REDUCE"
    risk = "MEDIUM"
    interrupts = False  # the lighter profile applies from the next segments

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        stopped = await context.stop_idle_channels()
        lighter: dict[int, Any] = {}
        for control in context.running_channels():
            profile = control.status().profile
            lighter[control.number] = profile
            await control.send(UseProfile(dataclasses.replace(
                profile, video_bitrate_kbps=max(200, int(profile.video_bitrate_kbps * 0.6)))))
        log.warning("Reducing load: stopped idle channels %s; lighter bitrate on %s",
                    stopped or "none", sorted(lighter) or "none")
        return lighter

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        for number, profile in state.items():
            try:
                await context.channel(number).send(UseProfile(profile))
            except LookupError:
                continue


class Escalate(HealingStrategy):
    """Nothing automatic helped: tell the operator (log, health event, MQTT)."""

    name = "ESCALATE"
    risk = "SAFE"
    interrupts = False

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        message = f"{issue.type} on channel {issue.channel} needs an operator: {issue.message}"
        log.error("Self-healing: %s", message)
        context.bus.publish(HealthEvent(component="healing", status="error",
                                            message=message, channel=issue.channel))


STRATEGIES: tuple[type[HealingStrategy], ...] = (Restart, Refresh, Expand, Fallback,
                                                 CpuTonemap, Skip, Reduce, Escalate)


@hookimpl
def register_healing_strategies(register: Any) -> None:
    for strategy in STRATEGIES:
        register(strategy.name, strategy, None, (strategy.__doc__ or "").split("\n")[0])
