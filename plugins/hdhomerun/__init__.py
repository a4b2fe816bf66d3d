"""HDHomeRun discovery: Plex, Jellyfin and Emby find the server without its address.

A built-in plugin using only the public API. It owns the ``hdhomerun`` config section,
opens a :class:`DiscoveryResponder` on UDP ``discovery_port`` in ``startup`` (on
``server.host``, where HTTP listens), rebinds when a hot reload changes that section,
and closes the socket in ``shutdown``. The socket is bound exclusively: when another
server or tuner emulator on the host holds the port, discovery logs one warning, shows
``degraded`` in ``/api/health`` (``hdhomerun_discovery``) and retries every
``RETRY_SECONDS`` until the port is free, instead of taking it over. Replies carry the same DeviceID, TunerCount and
URLs as ``/discover.json``. The HTTP side stays in the core (``/discover.json`` and the
rest). Set-up: docs/tuners.md.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from exstreamtv import ConfigEvent, Event, Hub, hdhomerun_discover, hookimpl

from .responder import DiscoveryResponder, Listener, open_responder, plan_listener, url_host

log = logging.getLogger(__name__)

SECTION = "hdhomerun"
DEFAULT_PORT = 65001
#: How often a discovery port held by another program is tried again.
RETRY_SECONDS = 30.0


def _port(value: Any) -> int:
    """a UDP port, 1 to 65535"""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise vol.Invalid(f"expected a UDP port (1 to 65535), got {value!r}")
    return value


SCHEMA = {
    vol.Optional("discovery", default=True): bool,
    vol.Optional("discovery_port", default=DEFAULT_PORT): _port,
}


@hookimpl
def register_config_sections(register: Any) -> None:
    register(SECTION, SCHEMA)


def settings(hub: Hub) -> Mapping[str, Any]:
    """The ``hdhomerun`` section, with defaults when a config was built without it."""
    section = hub.config.extra.get(SECTION)
    return section if section is not None else vol.Schema(SCHEMA)({})


class DiscoveryPlugin:
    """The discovery socket of one hub, replaced when where it should listen changes."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.responder: DiscoveryResponder | None = None
        self.wanted: Listener | None = None
        self.error: str | None = None
        self._retry: asyncio.Task[None] | None = None
        hub.components["hdhomerun_discovery"] = self.health

    def desired(self) -> Listener | None:
        section = settings(self.hub)
        if not section["discovery"]:
            return None
        return plan_listener(self.hub.config.server.host, int(section["discovery_port"]))

    def document(self, base: str) -> Mapping[str, object]:
        return hdhomerun_discover(self.hub.config, base)

    def base_url(self, local_address: str) -> str:
        server = self.hub.config.server
        if server.base_url:
            return server.base_url.rstrip("/")
        return f"http://{url_host(local_address)}:{server.port}"

    def health(self) -> dict[str, Any]:
        """The ``hdhomerun_discovery`` component of ``GET /api/health``."""
        if self.wanted is None:
            return {"status": "ok", "state": "disabled"}
        if self.responder is None:
            return {"status": "degraded", "state": "failed", "listen": self.wanted.label,
                    "message": self.error}
        return {"status": "ok", "state": "listening", "listen": self.wanted.label,
                "answered": self.responder.answered, "ignored": self.responder.ignored}

    async def start(self) -> None:
        self.wanted = self.desired()
        self.error = None
        if self.wanted is None:
            log.info("HDHomeRun discovery is off (hdhomerun.discovery: false)")
            return
        if await self._open():
            log.info("HDHomeRun discovery answering on %s", self.wanted.label)
        else:
            self._retry = asyncio.get_running_loop().create_task(self._retry_until_free())

    async def _open(self) -> bool:
        """Bind the socket; on failure record (and log once) why."""
        assert self.wanted is not None
        try:
            self.responder = await open_responder(self.wanted, self.document, self.base_url)
        except OSError as exc:
            reason = ("already in use by another program (another ExStreamTV, an HDHomeRun "
                      "app or a tuner emulator)"
                      if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc))
            if self.error is None:
                log.warning("HDHomeRun discovery cannot listen on %s (%s); the HTTP tuner "
                            "still works when its address is entered. Free the port, set "
                            "hdhomerun.discovery_port, or set hdhomerun.discovery: false; "
                            "retrying every %.0fs", self.wanted.label, reason, RETRY_SECONDS)
            self.error = f"cannot listen on {self.wanted.label}: {reason}"
            return False
        return True

    async def _retry_until_free(self) -> None:
        while self.responder is None:
            await asyncio.sleep(RETRY_SECONDS)
            if await self._open():
                self.error = None
                log.info("HDHomeRun discovery answering on %s (the port is free again)",
                         self.wanted.label if self.wanted else "")

    def stop(self) -> None:
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()
        responder, self.responder = self.responder, None
        if responder is not None and responder.transport is not None:
            responder.transport.close()

    async def on_event(self, event: Event) -> None:
        if not (isinstance(event, ConfigEvent) and event.action == "reloaded"):
            return
        if not {"server", "extra"} & set(event.changed):
            return
        if self.desired() != self.wanted:
            log.info("HDHomeRun discovery settings changed; reopening")
            self.stop()
            await self.start()


_plugins: dict[int, DiscoveryPlugin] = {}


@hookimpl
async def startup(hub: Hub) -> None:
    plugin = DiscoveryPlugin(hub)
    _plugins[id(hub)] = plugin
    await plugin.start()


@hookimpl
def shutdown(hub: Hub) -> None:
    plugin = _plugins.pop(id(hub), None)
    if plugin is not None:
        plugin.stop()


@hookimpl
async def on_event(event: Event, hub: Hub) -> None:
    plugin = _plugins.get(id(hub))
    if plugin is not None:
        await plugin.on_event(event)
