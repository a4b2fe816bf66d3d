"""The interface healing strategy plugins implement (RESTART, REFRESH, ... are plugins).

A plugin registers a strategy class (or any factory returning a :class:`HealingStrategy`)
under its upper-case name in ``register_healing_strategies``. The resolver calls
``apply(issue, context)``; whatever ``apply`` returns is handed back to ``rollback`` if
verification finds the issue still there. Raising from ``apply`` marks the fix failed;
it never harms the resolver or other strategies.

A strategy acts on a channel only through its
:class:`~exstreamtv.streaming.control.ChannelControl` (``context.channel(n)``): it sends
typed commands (restart, skip, use a preset, a profile, a location) and reads the
channel's status. It never changes a pipeline's state itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from exstreamtv.healing.severity import rule_for
from exstreamtv.healing.vocabulary import Severity
from exstreamtv.streaming.control import ChannelControl, Restart, RestartFrom

if TYPE_CHECKING:
    from exstreamtv.events import EventBus
    from exstreamtv.healing.issue import DetectedIssue
    from exstreamtv.hub import Hub
    from exstreamtv.media.library import Library
    from exstreamtv.streaming.channel_manager import ChannelManager


@dataclass
class FixContext:
    """What a strategy may act on: channel controls, the library, the database pool, the
    bus, and the self-healing switches."""

    hub: Hub
    error_screen: bool = True
    hot_swap: bool = True
    channels: ChannelManager | None = None

    def _manager(self) -> ChannelManager:
        return self.channels if self.channels is not None else self.hub.channels

    def channel(self, number: int | None) -> ChannelControl:
        """The control of ``number``'s running pipeline; LookupError when there is none."""
        return self._manager().control(number)

    def running_channels(self) -> list[ChannelControl]:
        return self._manager().controls()

    async def stop_idle_channels(self) -> list[int]:
        """Stop the channels nobody watches (in their idle grace period); their numbers."""
        return await self._manager().stop_idle()

    @property
    def library(self) -> Library:
        return self.hub.library

    @property
    def database(self) -> Any:
        return self.hub.database

    @property
    def bus(self) -> EventBus:
        return self.hub.bus

    async def restart(self, channel: int | None, reason: str, *,
                      since: float | None = None, severity: str = Severity.CRITICAL) -> str:
        """A fresh ffmpeg where viewers are (hot swap if enabled); behind the error screen
        if enabled and the issue's ``severity`` asks for it at once (CRITICAL: viewers
        have no programme), else the old output plays on until the new one has output.
        Nothing when the pipeline already replaced the failed one after ``since``.
        Returns what the pipeline said; RuntimeError when it failed."""
        control = self.channel(channel)
        screen = self.error_screen and self.hot_swap and rule_for(severity).error_screen_at_once
        result = await control.send(Restart(
            RestartFrom.VIEWERS, reason, error_screen=screen, hot=self.hot_swap,
            unless_recovered_since=since))
        if not result.applied:
            raise RuntimeError(result.message)
        return result.message


class HealingStrategy(ABC):
    """One way of fixing issues; ``name`` is its row in the strategy table."""

    name: ClassVar[str] = ""
    #: Risk when the strategy is used outside the spec table's primary row.
    risk: ClassVar[str] = "MEDIUM"
    #: Whether it cuts the viewers' picture (a fresh ffmpeg, another item): an issue of
    #: severity WARNING never gets such a fix (see exstreamtv.healing.severity).
    interrupts: ClassVar[bool] = True

    @abstractmethod
    async def apply(self, issue: DetectedIssue, context: FixContext) -> Any:
        """Apply the fix; return what ``rollback`` needs to undo it."""

    async def rollback(self, issue: DetectedIssue, context: FixContext, state: Any) -> None:
        """Undo :meth:`apply` (default: nothing to undo)."""
        return None
