"""Editing sources and the settings sections of the config file, like channels.

``/api/config/sources`` (list, add; ``/{id}`` replace, remove), ``/api/config/collections``
(playlists and smart collections: list, add; ``/{name}`` replace, remove) and
``/api/config/sections/{name}`` (read, replace) for :data:`EDITABLE_SECTIONS`. They share
the save pipeline of :mod:`exstreamtv.web.config_edit`: ``If-Match`` with the file
version, the loader's validation, an atomic write that changes only the edited lines,
the reload, the log line and the ``config_edit`` event. Secrets written literally in the
file are sent as ``***`` and kept when that comes back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint, Response, request

from exstreamtv.config.files import read_text
from exstreamtv.config.roundtrip import ChannelEdit, EditKind, channels_of, redact, section_of
from exstreamtv.errors import ConfigError
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response
from exstreamtv.web.config_edit import _config_path, _invalid, _save, _state

bp = Blueprint("config_sections", __name__, url_prefix="/api/config")

#: Mapping sections the API (and the editor page) may replace.
EDITABLE_SECTIONS = ("server", "mqtt", "database_backup", "ai_auto_heal")


async def _read() -> tuple[str, str] | tuple[Response, int]:
    """(the file's text, its version), or the error answer."""
    path = _config_path(hub())
    if path is None:
        return error(409, "this server was not started from a config file")
    try:
        text = await asyncio.to_thread(read_text, path)
    except ConfigError as exc:
        return _invalid(exc, 409)
    return text, _state().remember(text)


def _answer(data: dict[str, Any], version: str) -> tuple[Response, int]:
    response, status = json_response({"version": version, **data})
    response.headers["ETag"] = f'"{version}"'
    return response, status


async def _body(example: str) -> dict[str, Any] | tuple[Response, int]:
    body = await request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return error(400, f"send a JSON object in the YAML's shape, e.g. {example}")
    return body


SOURCE_EXAMPLE = '{"id": "movies", "type": "local", "path": "/media/movies"}'


@bp.route("/sources")
@require_token
async def list_sources() -> tuple[Response, int]:
    text, version = read = await _read()
    if not isinstance(text, str):
        return read  # type: ignore[return-value]
    return _answer({"sources": redact(channels_of(text, "sources"))}, str(version))


@bp.route("/sources", methods=["POST"])
@require_token
async def create_source() -> tuple[Response, int]:
    body = await _body(SOURCE_EXAMPLE)
    if not isinstance(body, dict):
        return body
    source_id = body.get("id") if isinstance(body.get("id"), str) else None
    return await _save(ChannelEdit(EditKind.CREATE, source_id, body, section="sources"), body)


@bp.route("/sources/<source_id>", methods=["PUT"])
@require_token
async def replace_source(source_id: str) -> tuple[Response, int]:
    body = await _body(SOURCE_EXAMPLE)
    if not isinstance(body, dict):
        return body
    return await _save(ChannelEdit(EditKind.REPLACE, source_id, body, section="sources"), body)


@bp.route("/sources/<source_id>", methods=["DELETE"])
@require_token
async def delete_source(source_id: str) -> tuple[Response, int]:
    return await _save(ChannelEdit(EditKind.DELETE, source_id, section="sources"), None)


COLLECTION_EXAMPLE = ('{"name": "evening", "items": [{"source": "films", '
                      '"path": "*/Alien (1979)/*"}]}')


@bp.route("/collections")
@require_token
async def list_collections() -> tuple[Response, int]:
    text, version = read = await _read()
    if not isinstance(text, str):
        return read  # type: ignore[return-value]
    return _answer({"collections": channels_of(text, "collections")}, str(version))


@bp.route("/collections", methods=["POST"])
@require_token
async def create_collection() -> tuple[Response, int]:
    body = await _body(COLLECTION_EXAMPLE)
    if not isinstance(body, dict):
        return body
    name = body.get("name") if isinstance(body.get("name"), str) else None
    return await _save(ChannelEdit(EditKind.CREATE, name, body, section="collections"), body)


@bp.route("/collections/<name>", methods=["PUT"])
@require_token
async def replace_collection(name: str) -> tuple[Response, int]:
    body = await _body(COLLECTION_EXAMPLE)
    if not isinstance(body, dict):
        return body
    return await _save(ChannelEdit(EditKind.REPLACE, name, body, section="collections"), body)


@bp.route("/collections/<name>", methods=["DELETE"])
@require_token
async def delete_collection(name: str) -> tuple[Response, int]:
    return await _save(ChannelEdit(EditKind.DELETE, name, section="collections"), None)


def _editable(name: str) -> tuple[Response, int] | None:
    if name not in EDITABLE_SECTIONS:
        return error(404, f"section '{name}' is not editable here (editable: "
                          f"{', '.join(EDITABLE_SECTIONS)}); edit the file for the others")
    return None


@bp.route("/sections/<name>")
@require_token
async def get_section(name: str) -> tuple[Response, int]:
    refused = _editable(name)
    if refused:
        return refused
    text, version = read = await _read()
    if not isinstance(text, str):
        return read  # type: ignore[return-value]
    return _answer({"section": redact(section_of(text, name))}, str(version))


@bp.route("/sections/<name>", methods=["PUT"])
@require_token
async def replace_section(name: str) -> tuple[Response, int]:
    refused = _editable(name)
    if refused:
        return refused
    body = await _body('{"enabled": true, "host": "127.0.0.1"}')
    if not isinstance(body, dict):
        return body
    return await _save(ChannelEdit(EditKind.SECTION, data=body, section=name), body)
