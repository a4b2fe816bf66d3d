"""The MQTT bridge: one paho client, its connection state, and what it publishes.

paho runs its network loop in its own thread (``loop_start``); its callbacks only note
the connection state and hand everything else to the asyncio loop with
``call_soon_threadsafe`` / ``run_coroutine_threadsafe``. The first connection is made
asynchronously, so a broker that is down never blocks or fails the server; paho
reconnects with back-off, and every (re)connection re-sends availability, discovery
and state. Events raised while the broker is out of reach (the server's own start-up
included) wait in a bounded backlog and go out, oldest first, once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from exstreamtv import (
    ChannelEvent,
    Event,
    FixEvent,
    HealthEvent,
    Hub,
    ItemFailed,
    MqttConfig,
    SessionEvent,
    mask_secrets,
)

from .commands import BadCommand, Command, execute, parse
from .entities import NO_FIX, Discovery, Topics, sanitize_id
from .state import (
    FixCounter,
    channel_state,
    device_id,
    event_payload,
    pending_fixes,
    server_state,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
DEBOUNCE_SECONDS = 0.3
MIN_RECONNECT_DELAY = 1
MAX_RECONNECT_DELAY = 4  # a local broker that comes back is found within seconds
OFFLINE_TIMEOUT = 3.0
SWEEP_SECONDS = 5.0
#: Events kept while the broker is unreachable; beyond this the oldest are dropped.
EVENT_BACKLOG = 200
#: An event kept longer than this is dropped, not sent: after a long outage a burst of
#: stale events would set off Home Assistant automations long after the fact.
EVENT_MAX_AGE = 600.0


def _json(data: Any) -> str:
    """A payload as compact JSON, secrets masked: every payload the bridge publishes is built here."""
    return json.dumps(mask_secrets(data), separators=(",", ":"), default=str, ensure_ascii=False)


#: An event message waiting for a connection: (monotonic time raised, topic, payload).
Backlogged = tuple[float, str, str]


def new_backlog() -> deque[Backlogged]:
    """Event messages waiting for a connection; beyond ``EVENT_BACKLOG`` the oldest go."""
    return deque(maxlen=EVENT_BACKLOG)


def drop_stale(backlog: deque[Backlogged], now: float, max_age: float = EVENT_MAX_AGE) -> int:
    """Drop the events of ``backlog`` raised over ``max_age`` seconds before ``now``
    (oldest first, as they are kept); how many were dropped."""
    dropped = 0
    while backlog and now - backlog[0][0] > max_age:
        backlog.popleft()
        dropped += 1
    return dropped


class MqttBridge:
    """Connects to the broker in ``config`` and mirrors the hub to Home Assistant."""

    def __init__(self, hub: Hub, config: MqttConfig, loop: asyncio.AbstractEventLoop,
                 fixes: FixCounter, backlog: deque[Backlogged] | None = None) -> None:
        """``backlog``: events not yet sent, shared with the bridge this one replaces (a
        reload that changes the broker settings keeps them)."""
        self.hub = hub
        self.config = config
        self.loop = loop
        self.fixes = fixes
        self.topics = Topics.of(config.base_topic, config.discovery_prefix)
        self.device_id = device_id(hub)
        self.status = "connecting"
        self.last_error: str | None = None
        self.connected_at: float | None = None
        self.connections = 0
        self.selected_fix = NO_FIX
        self._retained: dict[str, str] = {}
        self._announced: dict[int | None, list[str]] = {}
        #: The cluster device as last announced by this node: (cluster id, channels).
        self._cluster_announced: tuple[str, list[int]] | None = None
        self._pending_ids: list[str] = []
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stopping = False
        self._sweeping = False
        #: Event messages raised while not connected, oldest first (see ``Backlogged``).
        self._backlog = backlog if backlog is not None else new_backlog()
        self._stale = re.compile(rf"^exstreamtv_{re.escape(sanitize_id(self.device_id))}_ch(\d+)_")
        self.client = self._make_client()

    # -- set-up ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        config = self.config
        client_id = config.client_id or f"exstreamtv-{sanitize_id(self.device_id)}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if config.username:
            client.username_pw_set(config.username, config.password)
        tls = dict(config.tls)
        if tls.get("enabled"):
            client.tls_set(ca_certs=tls.get("ca_certs"), certfile=tls.get("certfile"),
                           keyfile=tls.get("keyfile"), cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(bool(tls.get("insecure")))
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(MIN_RECONNECT_DELAY, MAX_RECONNECT_DELAY)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    @property
    def discovery(self) -> Discovery:
        server = self.hub.config.server
        return Discovery(self.topics, self.device_id, server.name, server.base_url)

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        log.info("MQTT: connecting to %s:%d (base topic %s)", self.config.host,
                 self.config.port, self.topics.base)
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive)
        self.client.loop_start()
        self._ticker = self.loop.create_task(self._tick(), name="mqtt-refresh")

    async def stop(self) -> None:
        """Publish ``offline``, wait until it is sent, then disconnect."""
        self._stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.client.is_connected():
            info = self.client.publish(self.topics.status, "offline", qos=1, retain=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, OFFLINE_TIMEOUT)
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)
        self.status = "stopped"

    def health(self) -> dict[str, Any]:
        """The ``mqtt`` component of ``GET /api/health``."""
        return {
            "status": "ok" if self.status == "connected" else "degraded",
            "state": self.status,
            "broker": f"{self.config.host}:{self.config.port}",
            "base_topic": self.topics.base,
            "device_id": self.device_id,
            "connected_since": self.connected_at,
            "connections": self.connections,
            "last_error": self.last_error,
        }

    # -- paho's network thread -----------------------------------------------------

    def _set_status(self, status: str, error: str | None = None) -> None:
        """Log state changes only (not every retry)."""
        if error is not None:
            self.last_error = error
        if status == self.status:
            return
        previous, self.status = self.status, status
        broker = f"{self.config.host}:{self.config.port}"
        if status == "connected":
            log.info("MQTT: connected to %s", broker)
        elif status == "refused":
            log.error("MQTT: broker %s refused the connection: %s; check mqtt.username and "
                      "mqtt.password. Retrying with back-off.", broker, error)
        elif not self._stopping and previous in ("connected", "connecting"):
            log.warning("MQTT: broker %s unavailable (%s); reconnecting with back-off",
                        broker, error)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            self._set_status("refused", str(reason_code))
            return
        self.connections += 1
        self.connected_at = time.time()
        self._set_status("connected")
        self.last_error = None
        client.subscribe([(topic, 1) for topic in self.topics.subscriptions])
        client.publish(self.topics.status, "online", qos=1, retain=True)
        self._to_loop(self._announce_all)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._set_status("unreachable", "cannot reach the broker")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        if self.status == "refused":
            return
        self._set_status("disconnected", str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic, payload = message.topic, bytes(message.payload)
        self._to_loop(lambda: self._on_loop_message(topic, payload))

    def _to_loop(self, callback: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self.loop.call_soon_threadsafe(callback)

    # -- the asyncio side ------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("MQTT: background work failed", exc_info=task.exception())

    def _publish(self, topic: str, payload: str, *, retain: bool = False, qos: int = 0) -> None:
        if self.client.is_connected():
            self.client.publish(topic, payload, qos=qos, retain=retain)

    def _publish_event(self, topic: str, payload: str) -> None:
        """An event: sent now, or kept for the next connection (not while stopping)."""
        if self.client.is_connected() and not self._backlog:
            self.client.publish(topic, payload, qos=0)
        elif not self._stopping:
            self._backlog.append((time.monotonic(), topic, payload))
            self._send_backlog()

    def _publish_retained(self, topic: str, payload: str) -> None:
        """A retained state message, sent only when it changed since the last connection."""
        if self._retained.get(topic) == payload or not self.client.is_connected():
            return
        self._retained[topic] = payload
        self.client.publish(topic, payload, qos=1, retain=True)

    def _announce_all(self) -> None:
        self._retained.clear()
        self._announced.clear()
        self._cluster_announced = None
        self._spawn(self.announce())
        self._start_sweep()
        stale = drop_stale(self._backlog, time.monotonic())
        if stale:
            log.info("MQTT: dropped %d event(s) raised over %.0f minutes ago, while the broker "
                     "was unreachable", stale, EVENT_MAX_AGE / 60)
        if self._backlog:
            log.info("MQTT: sending %d event(s) raised while the broker was unreachable",
                     len(self._backlog))
        self._send_backlog()

    def _send_backlog(self) -> None:
        """Send the events raised while the broker was out of reach, oldest first."""
        while self._backlog and self.client.is_connected():
            _, topic, payload = self._backlog.popleft()
            self.client.publish(topic, payload, qos=1)

    # -- entities of channels removed while the server was down ------------------------

    def _start_sweep(self) -> None:
        """Read the retained discovery configs for a while to find our stale channels."""
        if self._sweeping:
            return
        self._sweeping = True
        self.client.subscribe(self.topics.discovery("+", "+"), qos=1)
        self.loop.call_later(SWEEP_SECONDS, self._end_sweep)

    def _end_sweep(self) -> None:
        self._sweeping = False
        with contextlib.suppress(Exception):
            self.client.unsubscribe(self.topics.discovery("+", "+"))

    def _sweep(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        match = self._stale.match(parts[-2]) if len(parts) >= 4 and payload else None
        if match is None or int(match.group(1)) in self._announced:
            return
        number = int(match.group(1))
        channel = self.hub.config.channel(number)
        if channel is not None and channel.enabled:
            return
        log.info("MQTT: removing a stale Home Assistant entity of channel %d", number)
        self._publish(topic, "", retain=True, qos=1)
        self._publish(self.topics.channel_state(number), "", retain=True, qos=1)

    async def announce(self) -> None:
        """Publish every discovery config, then every state."""
        pending = await pending_fixes(self.hub)
        self._pending_ids = [p["id"] for p in pending]
        self._announce(None, self.discovery.server(self._pending_ids))
        for channel in self.hub.config.channels:
            if channel.enabled:
                self._announce(channel.number, self.discovery.channel(channel))
        await self.refresh()

    def _announce(self, owner: int | None, announcements: list[Any]) -> None:
        for item in announcements:
            self._publish(item.topic, _json(item.payload), retain=True, qos=1)
        self._announced[owner] = [a.topic for a in announcements]

    def sync_channels(self) -> None:
        """After a reload: remove entities of channels that are gone, announce new ones."""
        if not self.client.is_connected():
            return
        wanted = {c.number: c for c in self.hub.config.channels if c.enabled}
        for owner in [o for o in self._announced if o is not None and o not in wanted]:
            for topic in self._announced.pop(owner):
                self._publish(topic, "", retain=True, qos=1)
            for topic in (self.topics.channel_state(owner),):
                self._retained.pop(topic, None)
                self._publish(topic, "", retain=True, qos=1)
            log.info("MQTT: channel %d removed from Home Assistant", owner)
        self._announce(None, self.discovery.server(self._pending_ids))
        for number, channel in wanted.items():
            self._announce(number, self.discovery.channel(channel))
        self.request_refresh()

    async def refresh(self) -> None:
        """Publish server and channel state (retained; only what changed)."""
        if not self.client.is_connected():
            return
        pending = await pending_fixes(self.hub)
        ids = [p["id"] for p in pending]
        if ids != self._pending_ids:
            self._pending_ids = ids
            self._announce(None, self.discovery.server(ids))
        if self.selected_fix not in ids:
            self.selected_fix = NO_FIX
        self._publish_retained(self.topics.server_state, _json(
            server_state(self.hub, self.fixes, pending, self.selected_fix)))
        for channel in self.hub.config.channels:
            if not channel.enabled:
                continue
            try:
                state = channel_state(self.hub, channel.number)
            except Exception as exc:
                log.debug("MQTT: no state for channel %d: %s", channel.number, exc)
                continue
            self._publish_retained(self.topics.channel_state(channel.number), _json(state))
        await self._refresh_cluster()

    async def _refresh_cluster(self) -> None:
        """In a cluster, the coordinator node publishes the cluster's device and state."""
        node = self.hub.cluster
        if node is None:
            return
        try:
            summary = await node.summary()
        except Exception as exc:  # the cluster database is unreachable: nothing new to say
            log.debug("MQTT: no cluster state: %s", exc)
            return
        if summary["coordinator"] != node.node_id:
            return
        channels = [c.number for c in self.hub.config.channels if c.enabled]
        wanted = (summary["cluster_id"], channels)
        if self._cluster_announced != wanted:
            if self._cluster_announced is not None:  # channels removed by a reload
                kept = {a.topic for a in self.discovery.cluster(*wanted)}
                for item in self.discovery.cluster(*self._cluster_announced):
                    if item.topic not in kept:
                        self._publish(item.topic, "", retain=True, qos=1)
            for item in self.discovery.cluster(*wanted):
                self._publish(item.topic, _json(item.payload), retain=True, qos=1)
            self._cluster_announced = wanted
            log.info("MQTT: node %s publishes the cluster's Home Assistant device", node.node_id)
        self._publish_retained(self.topics.cluster_state, _json(summary))

    def request_refresh(self) -> None:
        """Refresh soon; many events in a burst cause one refresh."""
        if self._refresh_handle is None and not self._stopping:
            self._refresh_handle = self.loop.call_later(DEBOUNCE_SECONDS, self._refresh_now)

    def _refresh_now(self) -> None:
        self._refresh_handle = None
        self._spawn(self.refresh())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            with contextlib.suppress(Exception):
                await self.refresh()

    def on_event(self, event: Event) -> None:
        """Mirror a bus event: ``events/<kind>``, the channel's fix event, fresh state."""
        self._publish_event(self.topics.event(event.kind), _json(event_payload(event)))
        if isinstance(event, FixEvent) and event.channel is not None:
            data = event_payload(event)
            data["event_type"] = event.action
            self._publish_event(self.topics.channel_fix(event.channel), _json(data))
        if isinstance(event, ChannelEvent | SessionEvent | HealthEvent | FixEvent | ItemFailed):
            self.request_refresh()

    # -- commands --------------------------------------------------------------------

    def _on_loop_message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(self.topics.discovery_prefix + "/") and topic.endswith("/config"):
            if self._sweeping:
                self._sweep(topic, payload)
            return
        if topic == self.topics.ha_status:
            if payload.strip() == b"online":
                log.info("MQTT: Home Assistant came online; publishing discovery again")
                self._announce_all()
            return
        try:
            command = parse(self.topics, topic, payload)
        except BadCommand as exc:
            if not topic.endswith("/command/result"):
                log.warning("MQTT: ignored a message on %s: %s", topic, exc)
            return
        self._spawn(self._run(command))

    async def _run(self, command: Command) -> None:
        if command.name == "fix/select":
            self.selected_fix = command.payload if command.payload in self._pending_ids else NO_FIX
            self._retained.pop(self.topics.server_state, None)
            await self.refresh()
            return
        result = await execute(self.hub, command, self.selected_fix)
        result["timestamp"] = time.time()
        level = logging.INFO if result["ok"] else logging.WARNING
        log.log(level, "MQTT command %s%s: %s", command.name,
                f" (channel {command.channel})" if command.channel is not None else "",
                result["message"])
        self._publish(self.topics.result, _json(result), qos=1)
        self.request_refresh()
