"""Helpers shared by the HTTP blueprints: the hub, JSON errors, base URLs.

Every JSON answer goes through :func:`json_response` or :func:`error`, which mask
secrets (tokens, API keys, passwords) on the way out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import current_app, jsonify, request
from quart.wrappers import Response

from exstreamtv.secrets import mask, mask_data

if TYPE_CHECKING:
    from exstreamtv.hub import Hub


def hub() -> Hub:
    """The hub of the running app."""
    value: Hub = current_app.extensions["exstreamtv"]
    return value


def error(status: int, reason: str) -> tuple[Response, int]:
    """A JSON error response: ``{"error": reason}`` (secrets masked)."""
    return jsonify({"error": mask(reason)}), status


def base_url() -> str:
    """The external URL for links: ``server.base_url`` or the request's own host."""
    configured = hub().config.server.base_url
    if configured:
        return configured.rstrip("/")
    return request.host_url.rstrip("/")


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> tuple[Response, int]:
    """``data`` as JSON with every secret masked (:func:`exstreamtv.secrets.mask_data`)."""
    response = jsonify(mask_data(data))
    response.headers.update(headers or {})
    return response, status
