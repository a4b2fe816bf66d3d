"""Sources in the API: their scan status, and a manual rescan.

``GET /api/sources`` lists every source with its type and last scan;
``POST /api/sources/{id}/scan`` scans one now and answers with the outcome (404 for an
unknown id). Neither shows a source's options, which may hold tokens.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from exstreamtv.hub import Hub
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

bp = Blueprint("sources", __name__, url_prefix="/api/sources")


def _describe(h: Hub, source_id: str) -> dict[str, Any]:
    source = h.library.sources[source_id]
    status = h.library.status.get(source_id)
    return {"id": source_id, "type": source.config.type,
            **(status.to_dict() if status else {"state": "pending"})}


@bp.route("")
@require_token
async def sources() -> tuple[Response, int]:
    h = hub()
    return json_response([_describe(h, sid) for sid in h.library.sources])


@bp.route("/<source_id>/scan", methods=["POST"])
@require_token
async def scan(source_id: str) -> tuple[Response, int]:
    h = hub()
    if source_id not in h.library.sources:
        known = ", ".join(sorted(h.library.sources)) or "none"
        return error(404, f"no source '{source_id}' (known: {known})")
    await h.library.scan(source_id)
    return json_response(_describe(h, source_id))
