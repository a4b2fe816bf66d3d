"""The built-in healing strategies (spec 6.4): RESTART, REFRESH, EXPAND, FALLBACK, REDUCE,
ESCALATE. Each is an ordinary :class:`exstreamtv.HealingStrategy`; a third-party plugin
registers its own the same way (a name already taken is refused by the registry).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from exstreamtv import DetectedIssue, FixContext, HealingStrategy, HealthEvent, hookimpl

log = logging.getLogger(__name__)


class Restart(HealingStrategy):
    """A fresh ffmpeg at the schedule position; the error screen covers the gap."""

    name = "RESTART"
    risk = "MEDIUM"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        pipeline = context.pipeline(issue.channel)
        current = pipeline.current
        if (issue.type == "FFMPEG_CRASH" and pipeline.resumed_at is not None
                and pipeline.resumed_at >= issue.at and current is not None
                and current.kind == "program" and current.process.returncode is None):
            # The pipeline already resumed the programme where the crashed ffmpeg stopped;
            # a second fresh ffmpeg would replay seconds viewers have seen.
            log.info("Channel %s: ffmpeg was already restarted by the pipeline", issue.channel)
            return None
        await context.restart(issue.channel, f"{issue.type}: {issue.message}"[:200])


class Refresh(HealingStrategy):
    """Ask the item's source for a fresh location (expired URL or token), then restart."""

    name = "REFRESH"
    risk = "SAFE"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        pipeline = context.pipeline(issue.channel)
        segment = pipeline.current
        entry = segment.entry if segment is not None else None
        if entry is None or entry.item is None:
            raise LookupError(f"channel {issue.channel} is playing no media item")
        item = entry.item
        source = context.hub.library.sources.get(item.source_id)
        if source is None:
            raise LookupError(f"source '{item.source_id}' is gone")
        previous = pipeline.locations.get(item.id)
        pipeline.locations[item.id] = await source.refresh_location(item)
        await context.restart(issue.channel, f"fresh location for '{item.title}'")
        return (item.id, previous)

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        item_id, previous = state
        pipeline = context.pipeline(issue.channel)
        if previous is None:
            pipeline.locations.pop(item_id, None)
        else:
            pipeline.locations[item_id] = previous


class Expand(HealingStrategy):
    """Grow the database connection pool by half; rolling back shrinks it again."""

    name = "EXPAND"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        return await context.hub.database.expand_pool()

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        await context.hub.database.restore_pool(state)


class Fallback(HealingStrategy):
    """Hardware encoder -> software; otherwise move on from an unplayable item."""

    name = "FALLBACK"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        pipeline = context.pipeline(issue.channel)
        previous = pipeline.planner.preset
        if previous.hardware:
            pipeline.planner.use_software()
            log.warning("Channel %s: encoder '%s' failed; falling back to software",
                        issue.channel, previous.name)
            await context.restart(issue.channel, "software encoder fallback")
            return ("preset", previous)
        if issue.type == "HARDWARE_FAILED":
            # The pipeline switched to software itself when the encoder died at start;
            # another restart would only cost viewers a second of picture.
            log.info("Channel %s: already encoding in software", issue.channel)
            return ("none", None)
        pipeline.request_skip()
        return ("skip", None)

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        what, previous = state
        if what == "preset":
            context.pipeline(issue.channel).planner.preset = previous


class Skip(HealingStrategy):
    """Move on to the next item: the one on air cannot be played (retrying cannot help)."""

    name = "SKIP"
    risk = "LOW"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        pipeline = context.pipeline(issue.channel)
        log.warning("Channel %s: skipping '%s' (%s)", issue.channel,
                    pipeline.current.plan.title if pipeline.current else "?", issue.message)
        pipeline.request_skip()


class Reduce(HealingStrategy):
    """Lower the load: stop idle channels, lighter bitrate on the running ones."""

    name = "REDUCE"
    risk = "MEDIUM"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        channels = context.hub.channels
        stopped = []
        for number, pipeline in list(channels.pipelines.items()):
            if channels.viewer_count(number) == 0:
                channels.pipelines.pop(number, None)
                await pipeline.stop()
                stopped.append(number)
        lighter: dict[int, Any] = {}
        for number, pipeline in channels.pipelines.items():
            profile = pipeline.planner.profile
            lighter[number] = profile
            pipeline.planner.profile = dataclasses.replace(
                profile, video_bitrate_kbps=max(200, int(profile.video_bitrate_kbps * 0.6)))
        log.warning("Reducing load: stopped idle channels %s; lighter bitrate on %s",
                    stopped or "none", sorted(lighter) or "none")
        return lighter

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        for number, profile in state.items():
            pipeline = context.hub.channels.pipelines.get(number)
            if pipeline is not None:
                pipeline.planner.profile = profile


class Escalate(HealingStrategy):
    """Nothing automatic helped: tell the operator (log, health event, MQTT)."""

    name = "ESCALATE"
    risk = "SAFE"

    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        message = f"{issue.type} on channel {issue.channel} needs an operator: {issue.message}"
        log.error("Self-healing: %s", message)
        context.hub.bus.publish(HealthEvent(component="healing", status="error",
                                            message=message, channel=issue.channel))


STRATEGIES: tuple[type[HealingStrategy], ...] = (Restart, Refresh, Expand, Fallback, Skip,
                                                 Reduce, Escalate)


@hookimpl
def register_healing_strategies(register: Any) -> None:
    for strategy in STRATEGIES:
        register(strategy.name, strategy, None, (strategy.__doc__ or "").split("\n")[0])
