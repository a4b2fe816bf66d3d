"""The OpenAPI description of the HTTP API, served at ``/api/openapi.json``.

One table (:data:`ROUTES`) lists every route with its method, summary, parameters and
whether it needs the token; the document is generated from it. A test fails when an
``/api`` route of the app is missing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, jsonify

from exstreamtv import __version__

bp = Blueprint("openapi", __name__)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    token: bool = False
    content: str = "application/json"
    params: tuple[tuple[str, str], ...] = ()  # (name, type) path parameters


ROUTES: tuple[Route, ...] = (
    Route("get", "/api/health", "Health of the server and its components"),
    Route("get", "/api/channels", "Channels with what is on now and next"),
    Route("get", "/api/channels/{number}", "One channel with now and next",
          params=(("number", "integer"),)),
    Route("get", "/api/channels.m3u", "M3U playlist", content="audio/x-mpegurl"),
    Route("get", "/api/xmltv.xml", "XMLTV guide", content="application/xml"),
    Route("get", "/artwork/items/{item_id}/{kind}", "An item's artwork (thumb, poster, "
          "fanart), resized (?w=)", content="image/jpeg",
          params=(("item_id", "string"), ("kind", "string"))),
    Route("get", "/artwork/channels/{number}", "A channel's logo given as a path, resized (?w=)",
          content="image/jpeg", params=(("number", "integer"),)),
    Route("get", "/api/sessions", "Active viewer sessions", token=True),
    Route("get", "/api/plugins", "Loaded and broken plugins", token=True),
    Route("get", "/api/config/status", "Config version, last reload and last error", token=True),
    Route("get", "/api/cluster", "Cluster nodes, their load and the channel leases",
          token=True),
    Route("post", "/api/config/reload", "Reload the config file now", token=True),
    Route("get", "/api/database", "Database pool, schema version and latency", token=True),
    Route("get", "/api/backups", "Backups, newest first", token=True),
    Route("post", "/api/backups", "Create a backup now", token=True),
    Route("post", "/api/backups/{name}/restore", "Restore a backup (a pre-restore backup is "
          "taken first)", token=True, params=(("name", "string"),)),
    Route("get", "/api/sources", "Media sources with their scan status", token=True),
    Route("post", "/api/sources/{source_id}/scan", "Scan a source now", token=True,
          params=(("source_id", "string"),)),
    Route("get", "/api/healing/events", "Self-healing detections, fixes and rollbacks",
          token=True),
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
    Route("get", "/api/openapi.json", "This document"),
)


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "responses": {
            "200": {"description": "OK", "content": {route.content: {}}},
            "4XX": {"description": "Bad request, not found or not allowed",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if route.params:
        op["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
            for name, kind in route.params
        ]
    if route.token:
        op["security"] = [{"bearer": []}]
        op["responses"]["401"] = {"description": "The API token is missing or wrong"}
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
