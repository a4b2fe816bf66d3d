"""The OpenAPI description of the HTTP API, served at ``/api/openapi.json``.

One table (:data:`ROUTES`) lists every route with its method, summary, parameters and
whether it needs the token; the document is generated from it. A test fails when an
``/api`` route of the app is missing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from quart import Blueprint, Response, jsonify

from exstreamtv import __version__

bp = Blueprint("openapi", __name__)


class Answer(NamedTuple):
    """A documented status besides 200 and 4XX; ``error``: its body is an ``Error``."""

    status: str
    description: str
    error: bool = True


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    token: bool = False
    content: str = "application/json"
    params: tuple[tuple[str, str], ...] = ()  # (name, type) path parameters
    query: tuple[tuple[str, str], ...] = ()  # (name, type) optional query parameters
    #: Answers other than 200 and the 4XX family: (status, description).
    statuses: tuple[Answer, ...] = ()
    body: str = ""  # what the JSON request body holds, when the route needs one
    if_match: bool = False  # needs the config version in If-Match (409/428 otherwise)


UNAVAILABLE = Answer("503", "The database is not available")


ROUTES: tuple[Route, ...] = (
    Route("get", "/api/health", "Health of the server and its components"),
    Route("get", "/api/channels", "Channels with what is on now and next"),
    Route("get", "/api/channels/{number}", "One channel with now and next",
          params=(("number", "integer"),)),
    Route("get", "/api/channels/{number}/playout", "The channel's entries from now (breaks "
          "included) and its cooldowns", params=(("number", "integer"),),
          query=(("hours", "number"),)),
    Route("get", "/api/channels.m3u", "M3U playlist", content="audio/x-mpegurl"),
    Route("get", "/api/xmltv.xml", "XMLTV guide", content="application/xml"),
    Route("get", "/artwork/items/{item_id}/{kind}", "An item's artwork (thumb, poster, "
          "fanart), resized (?w=)", content="image/jpeg",
          params=(("item_id", "string"), ("kind", "string")), query=(("w", "integer"),)),
    Route("get", "/artwork/channels/{number}", "A channel's logo given as a path, resized (?w=)",
          content="image/jpeg", params=(("number", "integer"),), query=(("w", "integer"),)),
    Route("get", "/api/sessions", "Active viewer sessions (in a cluster every node's; "
          "scope=node: this node's)", token=True, query=(("scope", "string"),)),
    Route("get", "/api/plugins", "Loaded and broken plugins", token=True),
    Route("get", "/api/config/status", "Config version, last reload and last error", token=True),
    Route("get", "/api/cluster", "Cluster nodes, their load and the channel leases",
          token=True),
    Route("post", "/api/config/reload", "Reload the config file now", token=True,
          statuses=(Answer("422", "The file is invalid; the running config stays (the "
                           "status says why)", error=False),)),
    Route("get", "/api/config/channels", "The config file's channels in the YAML's shape "
          "(${ENV} as written) and the file version (also the ETag)", token=True),
    Route("get", "/api/config/changes", "Changes made through the API since the start, newest "
          "first: who, when, what (action, section, item) and the diff", token=True),
    Route("get", "/api/config/forms", "Form descriptions for the channel and each scheduler "
          "type, generated from the validating schemas", token=True),
    Route("post", "/api/config/channels", "Add a channel to the config file", token=True,
          body="the channel in the YAML's shape", if_match=True),
    Route("put", "/api/config/channels/order", "Reorder the channels in the config file",
          token=True, body='{"order": [every channel number, in the new order]}',
          if_match=True),
    Route("put", "/api/config/channels/{number}", "Replace a channel in the config file "
          "(only the lines that change are rewritten)", token=True,
          params=(("number", "integer"),), body="the channel in the YAML's shape",
          if_match=True),
    Route("delete", "/api/config/channels/{number}", "Remove a channel from the config file",
          token=True, params=(("number", "integer"),), if_match=True),
    Route("get", "/api/config/sources", "The config file's sources in the YAML's shape and "
          "the file version", token=True),
    Route("post", "/api/config/sources", "Add a source to the config file", token=True,
          body="the source in the YAML's shape", if_match=True),
    Route("put", "/api/config/sources/{source_id}", "Replace a source in the config file",
          token=True, params=(("source_id", "string"),), body="the source in the YAML's shape",
          if_match=True),
    Route("delete", "/api/config/sources/{source_id}", "Remove a source from the config file",
          token=True, params=(("source_id", "string"),), if_match=True),
    Route("get", "/api/config/sections/{name}", "A settings section as written (server, mqtt, "
          "database_backup, ai_auto_heal); literal secrets as '***'",
          token=True, params=(("name", "string"),)),
    Route("get", "/api/config/collections", "Playlists and smart collections of the config "
          "file, with its version", token=True),
    Route("post", "/api/config/collections", "Add a playlist or smart collection to the "
          "config file", token=True, body="the collection in the YAML's shape", if_match=True),
    Route("put", "/api/config/collections/{name}", "Replace a collection in the config file",
          token=True, params=(("name", "string"),), body="the collection in the YAML's shape",
          if_match=True),
    Route("delete", "/api/config/collections/{name}", "Remove a collection from the config "
          "file", token=True, params=(("name", "string"),), if_match=True),
    Route("put", "/api/config/sections/{name}", "Replace a settings section in the config file",
          token=True, params=(("name", "string"),), body="the section in the YAML's shape",
          if_match=True),
    Route("get", "/api/database", "Database pool, schema version and latency", token=True,
          statuses=(UNAVAILABLE,)),
    Route("get", "/api/backups", "Backups, newest first", token=True),
    Route("post", "/api/backups", "Create a backup now", token=True,
          statuses=(Answer("201", "The backup was created", error=False),
                    Answer("503", "The database is not available or the backup failed"),
                    Answer("507", "The disk is full"))),
    Route("post", "/api/backups/{name}/restore", "Restore a backup (a pre-restore backup is "
          "taken first)", token=True, params=(("name", "string"),), statuses=(UNAVAILABLE,)),
    Route("get", "/api/sources", "Media sources with their scan status", token=True),
    Route("get", "/api/library/sources", "Sources to browse, with item counts and the "
          "collection each plays", token=True),
    Route("get", "/api/library/sources/{source_id}/groups", "Shows and folders of a source, "
          "a page of them", token=True, params=(("source_id", "string"),),
          query=(("q", "string"), ("offset", "integer"), ("limit", "integer"))),
    Route("get", "/api/library/items", "Items of a source or of one of its groups, a page "
          "of them", token=True, query=(("source", "string"), ("group", "string"),
                                         ("q", "string"), ("offset", "integer"),
                                         ("limit", "integer"))),
    Route("post", "/api/sources/{source_id}/scan", "Scan a source now", token=True,
          params=(("source_id", "string"),)),
    Route("get", "/api/healing/events", "Self-healing detections, fixes and rollbacks (in a "
          "cluster every node's; scope=node: this node's)",
          token=True, query=(("kind", "string"), ("action", "string"), ("channel", "integer"),
                             ("limit", "integer"), ("scope", "string"))),
    Route("get", "/api/healing/pending", "Fixes waiting for approval", token=True),
    Route("post", "/api/healing/pending/{fix_id}/approve", "Approve a pending fix", token=True,
          params=(("fix_id", "string"),)),
    Route("post", "/api/healing/pending/{fix_id}/reject", "Reject a pending fix", token=True,
          params=(("fix_id", "string"),)),
    Route("get", "/api/healing/status", "Self-healing engine state and channel health",
          token=True),
    Route("get", "/api/healing/outcomes", "Recorded fix outcomes and learned confidence",
          token=True),
    Route("get", "/api/events/stream", "Live events (server-sent events)", token=True,
          content="text/event-stream"),
    Route("get", "/api/healing/logs/stream", "Collected log events, live (server-sent "
          "events; while ai_auto_heal.realtime_streaming is on)", token=True,
          content="text/event-stream"),
    Route("get", "/api/openapi.json", "This document"),
)


ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _operation(route: Route) -> dict[str, Any]:
    """One operation: its parameters and every status it answers with, errors as ``Error``."""
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {route.content: {}}},
        "4XX": {"description": "Bad request, not found, not allowed or rate-limited",
                "content": ERROR},
    }
    for answer in route.statuses:
        content = ERROR if answer.error else {route.content: {}}
        responses[answer.status] = {"description": answer.description, "content": content}
    op: dict[str, Any] = {"summary": route.summary, "responses": responses}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in route.params
    ] + [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        for name, kind in route.query
    ]
    if parameters:
        op["parameters"] = parameters
    if route.body:
        op["requestBody"] = {"required": True, "description": route.body,
                             "content": {"application/json": {"schema": {"type": "object"}}}}
    if route.if_match:
        op.setdefault("parameters", []).append(
            {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "The config version the edit is based on (GET's ETag)"})
        responses["409"] = {
            "description": "The file changed since that version: the current version, a diff "
                           "and the rejected edit; nothing was written (also a read-only "
                           "config file)", "content": ERROR}
        responses["422"] = {"description": "The edit does not validate: problems with their "
                                           "key paths", "content": ERROR}
        responses["428"] = {"description": "If-Match is missing", "content": ERROR}
        responses["507"] = {"description": "No space left for the config file",
                            "content": ERROR}
    if route.token:
        op["security"] = [{"bearer": []}]
        responses["401"] = {"description": "The API token is missing or wrong", "content": ERROR}
    return op


def document(extra: tuple[Route, ...] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every route."""
    paths: dict[str, dict[str, Any]] = {}
    for route in (*ROUTES, *extra):
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ExStreamTV", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
    }


@bp.route("/api/openapi.json")
async def openapi_json() -> Response:
    return jsonify(document())
