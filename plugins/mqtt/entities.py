"""The Home Assistant entities and MQTT topics: one table drives discovery and commands.

Every entity is a row of :data:`SERVER_ENTITIES` or :data:`CHANNEL_ENTITIES`. The same
rows give the discovery payloads (``<discovery_prefix>/<component>/<object_id>/config``)
and the command topics the bridge subscribes to, so the two sides cannot drift apart.
Channels are keyed by their number (unique, topic-safe, stable across renames); names
only ever appear inside JSON payloads, where any character is fine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exstreamtv import ChannelConfig, FixAction, __version__

ORIGIN = {
    "name": "ExStreamTV",
    "sw_version": __version__,
    "support_url": "https://github.com/exstreamtv/exstreamtv",
}

#: Fix actions the per-channel ``event`` entity reports: every FixEvent action there is
#: (Home Assistant drops an event whose type is not listed), from the one table of them.
FIX_EVENT_TYPES: tuple[str, ...] = tuple(action.value for action in FixAction)

#: The option the pending-fix select shows when nothing waits for approval.
NO_FIX = "none"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sanitize_id(text: str) -> str:
    """``text`` as an id safe in topics and unique_ids: ASCII letters, digits, ``_``, ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_text).strip("_")
    return cleaned or "x"


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity: its component, key, display name and discovery options.

    ``state`` names the JSON field of the owner's state topic shown as the entity's state;
    ``command`` names the command a button or select sends (see :class:`Topics`).
    """

    component: str
    key: str
    name: str
    state: str | None = None
    command: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


SERVER_ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "channels_on_air", "Channels on air", state="channels_on_air",
           options={"icon": "mdi:television-classic", "state_class": "measurement"}),
    Entity("sensor", "viewers", "Total viewers", state="viewers",
           options={"icon": "mdi:account-multiple", "state_class": "measurement"}),
    Entity("sensor", "health", "Health status", state="health",
           options={"device_class": "enum", "options": ["ok", "degraded", "error"],
                    "icon": "mdi:heart-pulse"}),
    Entity("sensor", "fixes_last_hour", "Fixes in the last hour", state="fixes_last_hour",
           options={"icon": "mdi:wrench-clock", "state_class": "measurement"}),
    Entity("sensor", "fixes_pending", "Fixes pending approval", state="fixes_pending",
           options={"icon": "mdi:wrench-check", "json_attributes_template":
                    "{{ {'pending': value_json.pending} | tojson }}"}),
    Entity("binary_sensor", "problem", "Problem", state="problem",
           options={"device_class": "problem"}),
    Entity("button", "reload_config", "Reload config", command="reload",
           options={"icon": "mdi:file-refresh", "entity_category": "config"}),
    Entity("button", "create_backup", "Create backup", command="backup",
           options={"icon": "mdi:database-export", "entity_category": "config"}),
    Entity("select", "pending_fix", "Pending fix", state="selected_fix", command="fix/select",
           options={"icon": "mdi:wrench"}),
    Entity("button", "approve_fix", "Approve selected fix", command="fix/approve",
           options={"icon": "mdi:check-circle"}),
    Entity("button", "reject_fix", "Reject selected fix", command="fix/reject",
           options={"icon": "mdi:close-circle"}),
)

CHANNEL_ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "now_playing", "Now playing", state="title",
           options={"icon": "mdi:filmstrip", "json_attributes_template":
                    "{{ {'now': value_json.now, 'next': value_json.next, "
                    "'number': value_json.number, 'name': value_json.name} | tojson }}"}),
    Entity("sensor", "viewers", "Viewers", state="viewers",
           options={"icon": "mdi:account-multiple", "state_class": "measurement"}),
    Entity("sensor", "health_score", "Health score", state="health_score",
           options={"unit_of_measurement": "%", "state_class": "measurement",
                    "icon": "mdi:heart-pulse"}),
    Entity("binary_sensor", "streaming", "Streaming", state="streaming",
           options={"device_class": "running"}),
    Entity("binary_sensor", "problem", "Problem", state="problem",
           options={"device_class": "problem", "json_attributes_template":
                    "{{ {'reason': value_json.health_reason, "
                    "'failing_items': value_json.failing_items} | tojson }}"}),
    Entity("button", "restart", "Restart channel", command="restart",
           options={"icon": "mdi:restart"}),
    Entity("button", "skip", "Skip to next item", command="skip",
           options={"icon": "mdi:skip-next"}),
    Entity("event", "fix", "Fix", options={"event_types": list(FIX_EVENT_TYPES),
                                           "icon": "mdi:auto-fix"}),
)

#: The cluster's device (``cluster.enabled``), published by the lineup's coordinator node.
CLUSTER_ENTITIES: tuple[Entity, ...] = (
    Entity("sensor", "nodes_online", "Nodes online", state="nodes_online",
           options={"icon": "mdi:server-network", "state_class": "measurement",
                    "json_attributes_template": "{{ {'nodes': value_json.nodes} | tojson }}"}),
    Entity("sensor", "channels_transcoded", "Channels transcoded", state="channels_transcoded",
           options={"icon": "mdi:television-classic", "state_class": "measurement",
                    "json_attributes_template": "{{ {'owners': value_json.owners} | tojson }}"}),
    Entity("sensor", "coordinator", "Coordinator node", state="coordinator",
           options={"icon": "mdi:crown", "entity_category": "diagnostic"}),
)

#: Server commands (``<base>/command/<name>``) and channel commands
#: (``<base>/channel/<number>/command/<name>``), derived from the tables.
SERVER_COMMANDS = frozenset(e.command for e in SERVER_ENTITIES if e.command)
CHANNEL_COMMANDS = frozenset(e.command for e in CHANNEL_ENTITIES if e.command)


@dataclass(frozen=True)
class Topics:
    """Every topic the bridge uses, from ``base_topic`` and ``discovery_prefix``."""

    base: str
    discovery_prefix: str

    @classmethod
    def of(cls, base_topic: str, discovery_prefix: str) -> Topics:
        return cls(base_topic.strip("/"), discovery_prefix.strip("/"))

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    @property
    def server_state(self) -> str:
        return f"{self.base}/state"

    @property
    def result(self) -> str:
        return f"{self.base}/command/result"

    def event(self, kind: str) -> str:
        return f"{self.base}/events/{sanitize_id(kind)}"

    def command(self, name: str) -> str:
        return f"{self.base}/command/{name}"

    @property
    def cluster_state(self) -> str:
        return f"{self.base}/cluster/state"

    def channel_state(self, number: int) -> str:
        return f"{self.base}/channel/{number}/state"

    def channel_fix(self, number: int) -> str:
        return f"{self.base}/channel/{number}/fix"

    def channel_command(self, number: int, name: str) -> str:
        return f"{self.base}/channel/{number}/command/{name}"

    @property
    def subscriptions(self) -> list[str]:
        """Topic filters for every command, plus Home Assistant's birth message."""
        return [f"{self.base}/command/#", f"{self.base}/channel/+/command/+", self.ha_status]

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"


@dataclass(frozen=True)
class Announcement:
    """A discovery topic and its JSON payload."""

    topic: str
    payload: dict[str, Any]


class Discovery:
    """Builds the discovery payloads for the server device and each channel's device."""

    def __init__(self, topics: Topics, device_id: str, server_name: str,
                 configuration_url: str | None = None) -> None:
        self.topics = topics
        self.device_id = sanitize_id(device_id)
        self.server_name = server_name
        self.configuration_url = configuration_url

    @property
    def server_identifier(self) -> str:
        return f"exstreamtv_{self.device_id}"

    def channel_identifier(self, number: int) -> str:
        return f"{self.server_identifier}_ch{number}"

    def server_device(self) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [self.server_identifier],
            "name": self.server_name,
            "manufacturer": "ExStreamTV",
            "model": "ExStreamTV server",
            "sw_version": __version__,
            "serial_number": self.device_id,
        }
        if self.configuration_url:
            device["configuration_url"] = self.configuration_url
        return device

    def channel_device(self, channel: ChannelConfig) -> dict[str, Any]:
        return {
            "identifiers": [self.channel_identifier(channel.number)],
            "name": f"{channel.number} {channel.name}",
            "manufacturer": "ExStreamTV",
            "model": "Channel",
            "via_device": self.server_identifier,
        }

    def _payload(self, entity: Entity, unique_id: str, device: dict[str, Any],
                 state_topic: str, command: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": entity.name,
            "unique_id": unique_id,
            "device": device,
            "origin": ORIGIN,
            "availability_topic": self.topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": 1,
        }
        if entity.state is not None:
            payload["state_topic"] = state_topic
            if entity.component == "binary_sensor":
                payload["value_template"] = (
                    f"{{{{ 'ON' if value_json.{entity.state} else 'OFF' }}}}")
            else:
                payload["value_template"] = f"{{{{ value_json.{entity.state} }}}}"
            if "json_attributes_template" in entity.options:
                payload["json_attributes_topic"] = state_topic
        if command is not None:
            payload["command_topic"] = command
        payload.update(entity.options)
        return payload

    def server(self, pending_fixes: list[str]) -> list[Announcement]:
        """The server device's entities; the select lists ``pending_fixes``."""
        device = self.server_device()
        out = []
        for entity in SERVER_ENTITIES:
            unique_id = f"{self.server_identifier}_{entity.key}"
            command = self.topics.command(entity.command) if entity.command else None
            payload = self._payload(entity, unique_id, device, self.topics.server_state, command)
            if entity.component == "button":
                payload["payload_press"] = "PRESS"
            if entity.component == "select":
                payload["options"] = [NO_FIX, *pending_fixes]
            out.append(Announcement(self.topics.discovery(entity.component, unique_id), payload))
        return out

    def channel(self, channel: ChannelConfig) -> list[Announcement]:
        """One channel's entities, on its own device ``via_device`` the server."""
        device = self.channel_device(channel)
        number = channel.number
        out = []
        for entity in CHANNEL_ENTITIES:
            unique_id = f"{self.channel_identifier(number)}_{entity.key}"
            command = self.topics.channel_command(number, entity.command) if entity.command else None
            payload = self._payload(entity, unique_id, device, self.topics.channel_state(number),
                                    command)
            if entity.component == "button":
                payload["payload_press"] = "PRESS"
            if entity.component == "event":
                payload["state_topic"] = self.topics.channel_fix(number)
            out.append(Announcement(self.topics.discovery(entity.component, unique_id), payload))
        return out

    def cluster_device(self, cluster_id: str) -> dict[str, Any]:
        return {
            "identifiers": [f"exstreamtv_cluster_{sanitize_id(cluster_id)}"],
            "name": "ExStreamTV cluster",
            "manufacturer": "ExStreamTV",
            "model": "ExStreamTV cluster",
            "sw_version": __version__,
            "serial_number": cluster_id,
        }

    def cluster(self, cluster_id: str, channels: list[int]) -> list[Announcement]:
        """The cluster device's entities, plus one "Channel N node" sensor per channel
        (the node transcoding it, or ``none``); the state is on this node's topic."""
        device = self.cluster_device(cluster_id)
        prefix = device["identifiers"][0]
        state = self.topics.cluster_state
        out = []
        for entity in CLUSTER_ENTITIES:
            unique_id = f"{prefix}_{entity.key}"
            out.append(Announcement(self.topics.discovery(entity.component, unique_id),
                                    self._payload(entity, unique_id, device, state, None)))
        for number in channels:
            entity = Entity("sensor", f"ch{number}_node", f"Channel {number} node",
                            state="owners", options={"icon": "mdi:server", "value_template": (
                                f"{{{{ value_json.owners['{number}'] | default('none') }}}}")})
            unique_id = f"{prefix}_{entity.key}"
            out.append(Announcement(self.topics.discovery(entity.component, unique_id),
                                    self._payload(entity, unique_id, device, state, None)))
        return out
