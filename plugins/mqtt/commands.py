"""Commands from Home Assistant: parse a message, run it on the hub, describe the result.

Command topics (``<base>`` is ``mqtt.base_topic``):

- ``<base>/command/reload``: reload the config file (``PRESS``);
- ``<base>/command/backup``: create a database backup (``PRESS``);
- ``<base>/command/fix/select``: choose the pending fix the approve/reject buttons act on
  (payload: a fix id or ``none``);
- ``<base>/command/fix/approve``, ``<base>/command/fix/reject``: approve or reject a
  pending fix (payload: a fix id, or ``PRESS`` for the selected one);
- ``<base>/channel/<number>/command/restart``, ``.../skip``: restart a channel's pipeline
  at its schedule position, or skip to the next item (``PRESS``).

Every executed command publishes a result on ``<base>/command/result``. A message that
cannot be parsed (unknown command, junk payload, bad channel number) is logged and
ignored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from exstreamtv import Hub, Restart, RestartFrom, SkipItem

from .entities import CHANNEL_COMMANDS, NO_FIX, SERVER_COMMANDS, Topics
from .state import maybe_await

log = logging.getLogger(__name__)

PRESS = "PRESS"
_FIX_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class BadCommand(ValueError):
    """A message on a command topic that is not a valid command."""


@dataclass(frozen=True)
class Command:
    """A parsed command: its name, channel number (channel commands) and text payload."""

    name: str
    channel: int | None
    payload: str

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {"command": self.name}
        if self.channel is not None:
            data["channel"] = self.channel
        return data


def parse(topics: Topics, topic: str, raw: bytes) -> Command:
    """The command carried by ``raw`` on ``topic``; raises :class:`BadCommand`."""
    try:
        payload = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadCommand("the payload is not UTF-8 text") from None
    if len(payload) > 256 or any(ord(c) < 32 for c in payload):
        raise BadCommand("the payload is not a short line of text")
    server_prefix = f"{topics.base}/command/"
    channel_prefix = f"{topics.base}/channel/"
    if topic.startswith(server_prefix):
        name = topic[len(server_prefix):]
        if name == "result":
            raise BadCommand("result messages are not commands")
        if name not in SERVER_COMMANDS:
            raise BadCommand(f"unknown command {name!r} (known: {', '.join(sorted(SERVER_COMMANDS))})")
        command = Command(name, None, payload)
    elif topic.startswith(channel_prefix):
        parts = topic[len(channel_prefix):].split("/")
        if len(parts) != 3 or parts[1] != "command" or not parts[0].isdigit():
            raise BadCommand("expected <base>/channel/<number>/command/<name>")
        if parts[2] not in CHANNEL_COMMANDS:
            raise BadCommand(f"unknown channel command {parts[2]!r} "
                             f"(known: {', '.join(sorted(CHANNEL_COMMANDS))})")
        command = Command(parts[2], int(parts[0]), payload)
    else:
        raise BadCommand("not a command topic")
    if command.name in ("fix/select", "fix/approve", "fix/reject"):
        if payload != PRESS and payload != NO_FIX and not _FIX_ID.match(payload):
            raise BadCommand("a fix command needs a fix id or PRESS")
    elif payload not in (PRESS, ""):
        raise BadCommand(f"expected the payload {PRESS!r}")
    return command


async def execute(hub: Hub, command: Command, selected_fix: str) -> dict[str, Any]:
    """Run ``command``; returns the result ``{"command", "ok", "message", ...}``."""
    result = command.describe()
    try:
        ok, message = await _run(hub, command, selected_fix, result)
    except Exception as exc:  # a failing subsystem must not take the bridge down
        log.exception("MQTT command %s failed", command.name)
        ok, message = False, f"failed: {exc}"
    result.update(ok=ok, message=message)
    return result


async def _run(hub: Hub, command: Command, selected_fix: str,
               result: dict[str, Any]) -> tuple[bool, str]:
    if command.channel is not None:
        return _channel_command(hub, command.channel, command.name)
    if command.name == "reload":
        if hub.config.path is None:
            return False, "this server was not started from a config file"
        ok = await hub.reload()
        version = hub.config_status.version
        return ok, (f"config version {version} applied" if ok else
                    f"config edit rejected; still running version {version}")
    if command.name == "backup":
        return await _backup(hub)
    if command.name in ("fix/approve", "fix/reject"):
        fix_id = selected_fix if command.payload in (PRESS, "") else command.payload
        result["fix_id"] = fix_id
        return await _decide(hub, fix_id, approve=command.name == "fix/approve")
    raise BadCommand(f"unhandled command {command.name}")


def _channel_command(hub: Hub, number: int, name: str) -> tuple[bool, str]:
    channel = hub.config.channel(number)
    if channel is None or not channel.enabled:
        return False, f"there is no channel {number}"
    pipeline = hub.channels.pipelines.get(number)
    if pipeline is None or not pipeline.running:
        return False, f"channel {number} is not streaming (no viewers); nothing to {name}"
    if name == "restart":
        # Viewers see the error screen while the fresh ffmpeg starts.
        pipeline.control.post(Restart(RestartFrom.SCHEDULE, "requested from Home Assistant",
                                      error_screen=True))
        return True, f"channel {number} is restarting"
    pipeline.control.post(SkipItem("was skipped from Home Assistant"))
    return True, f"channel {number} skipped to its next item"


async def _backup(hub: Hub) -> tuple[bool, str]:
    database = hub.database
    if not database.ready:
        return False, f"the database is not available: {database.error or database.state}"
    made = await database.backups.create_backup("manual")
    return True, f"backup {made.name} created"


async def _decide(hub: Hub, fix_id: str, *, approve: bool) -> tuple[bool, str]:
    verb = "approve" if approve else "reject"
    if not fix_id or fix_id == NO_FIX:
        return False, f"no fix selected to {verb}"
    healing = getattr(hub, "healing", None)
    action = getattr(healing, verb, None)
    if not callable(action):
        return False, "self-healing approvals are not available on this server"
    try:
        outcome = await maybe_await(action(fix_id))
    except LookupError:
        return False, f"there is no pending fix {fix_id}"
    except Exception as exc:  # e.g. the fix expired or was already decided
        return False, f"fix {fix_id} could not be {verb}d: {exc}"
    if outcome is False:
        return False, f"fix {fix_id} could not be {verb}d"
    return True, f"fix {fix_id} {verb}d"
