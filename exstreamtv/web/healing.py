"""Self-healing over HTTP: events, pending approvals, status (all behind the API token)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from exstreamtv.healing.auto_resolver import ApprovalError
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

bp = Blueprint("healing", __name__, url_prefix="/api/healing")


@bp.route("/events")
@require_token
async def events() -> tuple[Response, int]:
    """Detections, predictions, fixes, rollbacks and escalations, oldest first.

    Query: ``kind`` (fix or health), ``action``, ``channel``, ``limit`` (default 200).
    """
    items = list(hub().healing.events)
    kind = request.args.get("kind")
    action = request.args.get("action")
    channel = request.args.get("channel")
    try:
        limit = int(request.args.get("limit", "200"))
        wanted_channel = int(channel) if channel is not None else None
    except ValueError:
        return error(400, "limit and channel must be whole numbers")
    items = [e for e in items
             if (kind is None or e.get("kind") == kind)
             and (action is None or e.get("action") == action)
             and (wanted_channel is None or e.get("channel") == wanted_channel)]
    return json_response(items[-limit:] if limit > 0 else [])


@bp.route("/pending")
@require_token
async def pending() -> tuple[Response, int]:
    return json_response(hub().healing.pending())


@bp.route("/pending/<fix_id>/approve", methods=["POST"])
@require_token
async def approve(fix_id: str) -> tuple[Response, int]:
    try:
        return json_response(hub().healing.approve(fix_id).to_dict())
    except ApprovalError as exc:
        return error(exc.status, str(exc))


@bp.route("/pending/<fix_id>/reject", methods=["POST"])
@require_token
async def reject(fix_id: str) -> tuple[Response, int]:
    try:
        return json_response(hub().healing.reject(fix_id).to_dict())
    except ApprovalError as exc:
        return error(exc.status, str(exc))


@bp.route("/status")
@require_token
async def status() -> tuple[Response, int]:
    """Health scores per channel, learned confidences, recent errors, fixes this hour."""
    return json_response(hub().healing.status())


@bp.route("/outcomes")
@require_token
async def outcomes() -> tuple[Response, int]:
    """Every recorded fix outcome (the outcome store)."""
    return json_response(hub().healing.outcomes())
