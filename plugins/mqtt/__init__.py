"""MQTT and Home Assistant: availability, events, discovery and commands.

A built-in plugin using only the public API: it starts an :class:`MqttBridge` in
``startup`` when ``mqtt.enabled`` is true, mirrors every bus event in ``on_event``,
reconnects when a hot reload changes the ``mqtt`` section, and publishes ``offline``
in ``shutdown``. Entities and topics: docs/home_assistant.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from exstreamtv import ConfigEvent, Event, Hub, hookimpl

from .bridge import MqttBridge, new_backlog
from .state import FixCounter

log = logging.getLogger(__name__)


class MqttPlugin:
    """The bridge of one hub, replaced when its ``mqtt`` section changes."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.bridge: MqttBridge | None = None
        self.error: str | None = None
        self.fixes = FixCounter()
        for event in hub.bus.recent:
            self.fixes.note(event)
        #: Events raised while no broker connection: kept across reconnects and reloads.
        self.backlog = new_backlog()
        hub.components["mqtt"] = self.health

    def health(self) -> dict[str, Any]:
        if self.error is not None:
            return {"status": "error", "state": "failed", "message": self.error}
        if self.bridge is None:
            return {"status": "ok", "state": "disabled"}
        return self.bridge.health()

    def start(self) -> None:
        config = self.hub.config.mqtt
        self.error = None
        if not config.enabled:
            self.backlog.clear()  # MQTT turned off: nobody waits for these
            return
        try:
            self.bridge = MqttBridge(self.hub, config, asyncio.get_running_loop(), self.fixes,
                                     self.backlog)
            self.bridge.start()
        except Exception as exc:  # a bad TLS file or the like must not stop the server
            self.error = f"cannot start: {exc}"
            log.error("MQTT could not start: %s; fix the mqtt section and save the config", exc)
            self.bridge = None

    async def stop(self) -> None:
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await bridge.stop()

    async def on_event(self, event: Event) -> None:
        self.fixes.note(event)
        if isinstance(event, ConfigEvent) and event.action == "reloaded":
            bridge = self.bridge
            running = bridge.config if bridge is not None else None
            if "mqtt" in event.changed and running != self.hub.config.mqtt:
                log.info("MQTT settings changed; reconnecting")
                await self.stop()
                self.start()
                return
            if bridge is not None and ("channels" in event.changed or "server" in event.changed):
                bridge.sync_channels()
        if self.bridge is not None:
            self.bridge.on_event(event)


_plugins: dict[int, MqttPlugin] = {}


@hookimpl
def startup(hub: Hub) -> None:
    plugin = MqttPlugin(hub)
    _plugins[id(hub)] = plugin
    plugin.start()


@hookimpl
async def shutdown(hub: Hub) -> None:
    plugin = _plugins.pop(id(hub), None)
    if plugin is not None:
        await plugin.stop()


@hookimpl
async def on_event(event: Event, hub: Hub) -> None:
    plugin = _plugins.get(id(hub))
    if plugin is not None:
        await plugin.on_event(event)
