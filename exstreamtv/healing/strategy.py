"""The interface healing strategy plugins implement (RESTART, REFRESH, ... are plugins).

A plugin registers a strategy class (or any factory returning a :class:`HealingStrategy`)
under its upper-case name in ``register_healing_strategies``. The resolver calls
``apply(issue, context)``; whatever ``apply`` returns is handed back to ``rollback`` if
verification finds the issue still there. Raising from ``apply`` marks the fix failed;
it never harms the resolver or other strategies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from exstreamtv.healing.auto_resolver import DetectedIssue
    from exstreamtv.hub import Hub
    from exstreamtv.streaming.pipeline import ChannelPipeline


@dataclass
class FixContext:
    """What a strategy may act on: the hub, and the self-healing switches."""

    hub: Hub
    error_screen: bool = True
    hot_swap: bool = True

    def pipeline(self, channel: int | None) -> ChannelPipeline:
        """The running pipeline of ``channel``; LookupError when there is none."""
        pipeline = self.hub.channels.pipelines.get(channel) if channel is not None else None
        if pipeline is None or not pipeline.running:
            raise LookupError(f"channel {channel} has no running pipeline")
        return pipeline

    async def restart(self, channel: int | None, reason: str) -> None:
        """Replace the channel's ffmpeg at the schedule position (hot swap if enabled)."""
        pipeline = self.pipeline(channel)
        if not self.hot_swap:
            pipeline.request_restart(reason)
            return
        if not await pipeline.hot_swap(reason, error_screen=self.error_screen):
            raise RuntimeError("the fresh ffmpeg produced no output")


class HealingStrategy(ABC):
    """One way of fixing issues; ``name`` is its row in the strategy table."""

    name: ClassVar[str] = ""
    #: Risk when the strategy is used outside the spec table's primary row.
    risk: ClassVar[str] = "MEDIUM"

    @abstractmethod
    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        """Apply the fix; return what ``rollback`` needs to undo it."""

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        """Undo :meth:`apply` (default: nothing to undo)."""
        return None
