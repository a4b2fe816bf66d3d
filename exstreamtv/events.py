"""Typed events and the in-process event bus.

Components publish events (health changes, fixes, config reloads, channel and session
changes); subscribers receive them in process. Plugins subscribe through the
``on_event`` hook; the MQTT plugin is just such a subscriber.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; ``kind`` names the topic suffix (``events/<kind>``)."""

    kind: ClassVar[str] = "event"
    timestamp: float = field(default_factory=time.time)
    #: In a cluster, the node that produced the event (set by the bus; see EventBus.node_id).
    node_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready mapping, with its kind (``node_id`` only in a cluster)."""
        data = asdict(self)
        data["kind"] = self.kind
        if data["node_id"] is None:
            del data["node_id"]
        return data


@dataclass(frozen=True, kw_only=True)
class HealthEvent(Event):
    """A component's health changed (ok, degraded, error)."""

    kind: ClassVar[str] = "health"
    component: str
    status: str
    message: str = ""
    channel: int | None = None


@dataclass(frozen=True, kw_only=True)
class FixEvent(Event):
    """Self-healing detected, proposed, applied, verified or rolled back a fix."""

    kind: ClassVar[str] = "fix"
    issue: str
    strategy: str
    action: str
    channel: int | None = None
    risk: str = ""
    confidence: float | None = None
    message: str = ""
    fix_id: str | None = None
    #: The issue's AIAnalysis (evidence, probable cause, plan, outcome) as a mapping.
    analysis: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ConfigEvent(Event):
    """The configuration was loaded, reloaded, or an edit was rejected."""

    kind: ClassVar[str] = "config"
    action: str
    version: int
    error: str | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ConfigEditEvent(Event):
    """The config file was changed through the API: who, what (the diff), which version."""

    kind: ClassVar[str] = "config_edit"
    action: str
    who: str
    channel: int | None  # for channel edits
    section: str = "channels"
    item: str | None = None  # the channel number or source id, as text
    version: str
    based_on: str
    diff: str


@dataclass(frozen=True, kw_only=True)
class ChannelEvent(Event):
    """A channel started, stopped, changed item, failed or was added/removed."""

    kind: ClassVar[str] = "channel"
    channel: int
    action: str
    title: str = ""
    message: str = ""
    #: For ``item``: what started (the item, its source, program or filler) and when.
    item_id: str | None = None
    source_id: str | None = None
    entry_kind: str | None = None
    started_at: float | None = None
    duration: float | None = None


@dataclass(frozen=True, kw_only=True)
class ItemFailed(Event):
    """A channel gave up on an item: ffmpeg could not play it, even after retrying.

    The pipeline publishes it once per item it gives up on (``attempts`` ffmpeg runs
    failed); the channel manager records the item as unplayable (in the database) and
    rebuilds the channel's playout without it until its file changes.
    """

    kind: ClassVar[str] = "item_failed"
    channel: int
    source_id: str
    item_id: str
    title: str
    location: str
    reason: str
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class SessionEvent(Event):
    """A viewer session was created, changed state or ended."""

    kind: ClassVar[str] = "session"
    session_id: str
    channel: int
    action: str
    state: str = ""
    message: str = ""


Subscriber = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Publishes events to in-process subscribers; one failing subscriber harms no other."""

    def __init__(self, history: int = 500) -> None:
        self._subscribers: list[Subscriber] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.recent: deque[Event] = deque(maxlen=history)
        #: This server's cluster node id: stamped on every event published without one.
        self.node_id: str | None = None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it again."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; coroutines run as tasks."""
        if self.node_id is not None and event.node_id is None:
            event = replace(event, node_id=self.node_id)
        self.recent.append(event)
        for callback in list(self._subscribers):
            try:
                result = callback(event)
            except Exception:
                log.exception("Event subscriber %r failed on a %s event", callback, event.kind)
                continue
            if inspect.isawaitable(result):
                self._spawn(result)

    def _spawn(self, awaitable: Awaitable[None]) -> None:
        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("Asynchronous event subscriber failed")

        try:
            task = asyncio.get_running_loop().create_task(runner())
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for subscriber tasks already started (used at shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
