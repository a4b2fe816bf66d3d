"""The channel editing API: the config file's channels as JSON, changed in place.

``GET /api/config/channels`` answers the channels in the YAML's own shape (``${ENV}``
references as written, nothing resolved) and the file's version (:func:`revision`, also
the ``ETag``). Every change sends that version back in ``If-Match``; the server then,
one change at a time:

1. reads the file again; a different version (a hand edit, a ``git pull``, another
   browser) is refused with 409, the current version, a diff from the version the edit
   was based on (when the server still knows that text) and the rejected edit echoed
   back, so nothing is lost;
2. applies the edit with :func:`exstreamtv.config.roundtrip.edit_channels` (only the
   changed lines are rewritten);
3. validates the result exactly as the loader and the hot reload do: a problem is 422
   with ``problems: [{path, message}]`` and the file is not touched;
4. replaces the file atomically (:mod:`exstreamtv.config.atomic`; a read-only file or a
   full disk is a clear 409/507 and the running config stays) and applies it with the
   same reload as an edit on disk, then records who changed what (log line and a
   ``config_edit`` event with the diff, which SSE and MQTT carry).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict, deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from quart import Blueprint, Response, current_app, request

from exstreamtv.config.atomic import ConfigWriteError, write_atomic
from exstreamtv.config.files import parse_yaml, read_text
from exstreamtv.config.loader import validate_config
from exstreamtv.config.reload import replacement_problems
from exstreamtv.config.roundtrip import (
    ITEM_KEYS,
    SECRET_KEPT,
    ChannelEdit,
    EditKind,
    channels_of,
    diff,
    edit_channels,
    redact,
    restore,
    revision,
    section_of,
)
from exstreamtv.errors import ConfigError
from exstreamtv.events import ConfigEditEvent
from exstreamtv.hub import Hub
from exstreamtv.web.auth import current_identity, require_token
from exstreamtv.web.common import error, hub, json_response
from exstreamtv.web.forms import forms

bp = Blueprint("config_edit", __name__, url_prefix="/api/config")
log = logging.getLogger(__name__)

#: How many past file texts are kept to show what changed under a stale edit.
HISTORY = 32
#: How many change records ``GET /api/config/changes`` keeps (since the server started).
CHANGES = 200


class EditorState:
    """One per app: the lock that serialises saves and the recent texts by version."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.texts: OrderedDict[str, str] = OrderedDict()
        self.changes: deque[ConfigEditEvent] = deque(maxlen=CHANGES)

    def remember(self, text: str) -> str:
        version = revision(text)
        self.texts[version] = text
        self.texts.move_to_end(version)
        while len(self.texts) > HISTORY:
            self.texts.popitem(last=False)
        return version


def _state() -> EditorState:
    state = current_app.extensions.get("exstreamtv_editor")
    if state is None:
        state = current_app.extensions["exstreamtv_editor"] = EditorState()
    assert isinstance(state, EditorState)
    return state


def _config_path(h: Hub) -> Path | None:
    return Path(h.config.path) if h.config.path is not None else None


def _problems(exc: ConfigError) -> list[dict[str, str]]:
    return [{"path": p.path, "message": p.message} for p in exc.problems]


def _invalid(exc: ConfigError, status: int = 422) -> tuple[Response, int]:
    return json_response({"error": "; ".join(str(p) for p in exc.problems),
                          "problems": _problems(exc)}, status)


def _if_match() -> str | None:
    value = request.headers.get("If-Match", "").strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


@bp.route("/channels")
@require_token
async def list_channels() -> tuple[Response, int]:
    path = _config_path(hub())
    if path is None:
        return error(409, "this server was not started from a config file")
    try:
        text = await asyncio.to_thread(read_text, path)
        channels = channels_of(text)
    except ConfigError as exc:
        return _invalid(exc, 409)
    version = _state().remember(text)
    response, status = json_response({"version": version, "channels": redact(channels)})
    response.headers["ETag"] = f'"{version}"'
    return response, status


async def _body_channel() -> dict[str, Any] | tuple[Response, int]:
    body = await request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return error(400, "send the channel as a JSON object in the YAML's shape, e.g. "
                          '{"number": 5, "name": "News", "schedule": {"type": "ordered", '
                          '"collection": "news"}}')
    return body


_NOUNS = {"channels": "channel", "sources": "source", "collections": "collection"}


def _with_secrets(text: str, edit: ChannelEdit) -> ChannelEdit:
    """``edit`` with every :data:`SECRET_KEPT` replaced by the file's value (KeyError when
    there is none): secrets written in the file are never sent to the page."""
    if edit.data is None:
        return edit
    if edit.kind is EditKind.SECTION:
        old: Any = section_of(text, edit.section)
    else:
        items = channels_of(text, edit.section)
        old = next((i for i in items if i.get(edit.key) == edit.number), {})
    return replace(edit, data=restore(dict(edit.data), old))


def _who() -> str:
    identity = current_identity()
    return identity.name if identity else "unknown"


async def _save(edit: ChannelEdit, rejected: Any) -> tuple[Response, int]:
    """Steps 1-4 of the module docstring for ``edit``."""
    h = hub()
    path = _config_path(h)
    if path is None:
        return error(409, "this server was not started from a config file")
    based_on = _if_match()
    if based_on is None:
        return error(428, "send the config version this edit is based on in If-Match "
                          "(the ETag or 'version' of GET /api/config/channels)")
    state = _state()
    async with state.lock:
        try:
            text = await asyncio.to_thread(read_text, path)
        except ConfigError as exc:
            return _invalid(exc, 409)
        current = state.remember(text)
        if based_on != current:
            base = state.texts.get(based_on)
            return json_response({
                "error": "the config file changed since this edit was read (a hand edit, "
                         "a git pull or another browser); nothing was written: look at "
                         "the diff, then apply your edit to the current version",
                "version": current, "based_on": based_on,
                "diff": diff(base, text) if base is not None else None,
                "rejected": rejected}, 409)
        try:
            edit = _with_secrets(text, edit)
            new_text = edit_channels(text, edit)
            config = await asyncio.to_thread(
                validate_config, parse_yaml(new_text, str(path)), h.registry, path=path)
            problems = replacement_problems(h.config, config)
            if problems:
                raise ConfigError(problems, str(path))
        except KeyError as exc:
            if edit.kind is EditKind.SECTION or exc.args[0] != edit.number:
                return error(422, f"{exc.args[0]}: a secret was sent as "
                                  f"'{SECRET_KEPT}' but the file has none to keep; type the "
                                  "secret or a ${ENV} reference")
            return error(404, f"no {_NOUNS[edit.section]} {edit.number} in the config file")
        except ConfigError as exc:
            return _invalid(exc)
        try:
            await asyncio.to_thread(write_atomic, path, new_text)
        except ConfigWriteError as exc:
            return error(exc.status, str(exc))
        version = state.remember(new_text)
        change = diff(text, new_text, "before", "after")
    who = _who()
    item = "" if edit.number is None else str(edit.number)
    what = edit.section if edit.kind is EditKind.SECTION else _NOUNS[edit.section]
    log.info("Config edited by %s: %s %s %s (file version %s -> %s)", who, edit.kind.value,
             what, item, current, version)
    number = edit.number if edit.section == "channels" and isinstance(edit.number, int) else None
    record = ConfigEditEvent(action=edit.kind.value, who=who, channel=number,
                             section=edit.section, item=item or None, version=version,
                             based_on=current, diff=change)
    state.changes.append(record)
    h.bus.publish(record)
    applied = await h.reload()
    answer: dict[str, Any] = {
        "version": version, "diff": change, "applied": applied,
        "config_version": h.config_status.version, "reload_error": h.config_status.last_error}
    if edit.section in ITEM_KEYS:
        answer[edit.section] = redact(channels_of(new_text, edit.section))
    else:
        answer["section"] = redact(section_of(new_text, edit.section))
    response, status = json_response(answer)
    response.headers["ETag"] = f'"{version}"'
    return response, status


def _number_of(body: dict[str, Any]) -> int | None:
    number = body.get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


@bp.route("/changes")
@require_token
async def changes() -> tuple[Response, int]:
    """The changes made through the API since the server started, newest first."""
    return json_response([c.to_dict() for c in reversed(_state().changes)])


@bp.route("/forms")
@require_token
async def channel_forms() -> tuple[Response, int]:
    """The channel form and a form per scheduler type, from the validating schemas."""
    from exstreamtv.web.config_sections import EDITABLE_SECTIONS

    return json_response(forms(hub().registry, EDITABLE_SECTIONS))


@bp.route("/channels", methods=["POST"])
@require_token
async def create_channel() -> tuple[Response, int]:
    body = await _body_channel()
    if not isinstance(body, dict):
        return body
    return await _save(ChannelEdit(EditKind.CREATE, _number_of(body), body), body)


def _channel_number(text: str) -> int | None:
    """A channel number from the path (ASCII digits only), or None."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


# The number is matched as text and checked after the token, so a request without the
# token is a 401 whatever its path says (an int converter would answer 404 first).
@bp.route("/channels/<number>", methods=["PUT"])
@require_token
async def replace_channel(number: str) -> tuple[Response, int]:
    channel = _channel_number(number)
    if channel is None:
        return error(404, f"there is no channel {number!r}")
    body = await _body_channel()
    if not isinstance(body, dict):
        return body
    return await _save(ChannelEdit(EditKind.REPLACE, channel, body), body)


@bp.route("/channels/<number>", methods=["DELETE"])
@require_token
async def delete_channel(number: str) -> tuple[Response, int]:
    channel = _channel_number(number)
    if channel is None:
        return error(404, f"there is no channel {number!r}")
    return await _save(ChannelEdit(EditKind.DELETE, channel), None)


@bp.route("/channels/order", methods=["PUT"])
@require_token
async def reorder_channels() -> tuple[Response, int]:
    body = await request.get_json(force=True, silent=True)
    order = body.get("order") if isinstance(body, dict) else None
    if not (isinstance(order, list) and all(isinstance(n, int) for n in order)):
        return error(400, 'send a JSON body {"order": [channel numbers in their new order]}')
    path = _config_path(hub())
    try:
        known = channels_of(await asyncio.to_thread(read_text, path)) if path else []
    except ConfigError as exc:
        return _invalid(exc, 409)
    numbers = [c.get("number") for c in known]
    if sorted(order) != sorted(n for n in numbers if isinstance(n, int)):
        return error(400, f"the order must list every channel number once (the file has "
                          f"{', '.join(map(str, numbers))})")
    return await _save(ChannelEdit(EditKind.REORDER, order=tuple(order)), body)
