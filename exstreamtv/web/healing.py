"""Self-healing over HTTP: events (with each issue's analysis), pending approvals, status,
and the live stream of collected log events (all behind the API token)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from exstreamtv.cluster.peers import ask_peers
from exstreamtv.healing.auto_resolver import ApprovalError
from exstreamtv.healing.log_collector import LEVELS, LogEvent
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

if TYPE_CHECKING:
    from exstreamtv.hub import Hub

#: How often an open log stream looks at ``realtime_streaming`` (and sends a keepalive).
STREAM_CHECK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0

bp = Blueprint("healing", __name__, url_prefix="/api/healing")


@bp.route("/events")
@require_token
async def events() -> tuple[Response, int]:
    """Detections, predictions, fixes, rollbacks and escalations, oldest first.

    Each fix event carries its issue's ``analysis``: evidence (correlated log lines and
    ffmpeg's stderr tail), probable cause, the strategy chosen and why, the
    alternatives, the attempts and the outcome.

    Query: ``kind`` (fix or health), ``action``, ``channel``, ``limit`` (default 200);
    in a lineup every node's (``scope=node``: this node's only).
    """
    h = hub()
    kind = request.args.get("kind")
    action = request.args.get("action")
    channel = request.args.get("channel")
    try:
        limit = int(request.args.get("limit", "200"))
        wanted_channel = int(channel) if channel is not None else None
    except ValueError:
        return error(400, "limit and channel must be whole numbers")

    def wanted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in items
                if (kind is None or e.get("kind") == kind)
                and (action is None or e.get("action") == action)
                and (wanted_channel is None or e.get("channel") == wanted_channel)]

    items = wanted(list(h.healing.events))
    headers: dict[str, str] = {}
    if h.cluster is not None and request.args.get("scope") != "node":
        # Every node's last ``limit`` that match, merged oldest first, then the last
        # ``limit`` of all (which are among them).
        gathered = await ask_peers(h.cluster, "/api/healing/events",
                                   {k: v for k, v in request.args.items() if k != "scope"})
        items += wanted([e for answer in gathered.answers.values() if isinstance(answer, list)
                         for e in answer if isinstance(e, dict)])
        items.sort(key=lambda e: float(e.get("timestamp") or 0))
        headers = gathered.headers()
    return json_response(items[-limit:] if limit > 0 else [], headers=headers)


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


def _streaming_on(server: Hub) -> bool:
    cfg = server.config.ai_auto_heal
    return bool(cfg.enabled and cfg.realtime_streaming)


@bp.route("/logs/stream")
@require_token
async def logs_stream() -> Response | tuple[Response, int]:
    """The collector's events as they arrive (SSE, one JSON ``data:`` line each).

    Only while ``ai_auto_heal.realtime_streaming`` is on: otherwise 409, and an open
    stream ends when a reload turns it off. Query: ``channel``, ``level`` (the lowest
    level sent, default ``info``; ``debug`` includes system samples).
    """
    server = hub()  # the body runs outside the request context: keep the hub
    if not _streaming_on(server):
        return error(409, "the live log is off (ai_auto_heal.realtime_streaming is false)")
    level = request.args.get("level", "info")
    channel = request.args.get("channel")
    if level not in LEVELS:
        return error(400, f"level must be one of {', '.join(LEVELS)}")
    try:
        wanted = int(channel) if channel is not None else None
    except ValueError:
        return error(400, "channel must be a whole number")
    lowest = LEVELS.index(level)
    collector = server.healing.collector
    queue = collector.subscribe()

    def send(event: LogEvent) -> bool:
        return (LEVELS.index(event.level) >= lowest if event.level in LEVELS else True) and (
            wanted is None or event.channel in (wanted, None))

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            quiet = 0.0
            while _streaming_on(server):
                try:
                    event = await asyncio.wait_for(queue.get(), STREAM_CHECK_SECONDS)
                except TimeoutError:
                    quiet += STREAM_CHECK_SECONDS
                    if quiet >= KEEPALIVE_SECONDS:
                        quiet = 0.0
                        yield b": keepalive\n\n"
                    continue
                if send(event):
                    yield f"data: {json.dumps(event.to_dict(), default=str)}\n\n".encode()
            yield b"event: end\ndata: ai_auto_heal.realtime_streaming was turned off\n\n"
        finally:
            collector.unsubscribe(queue)

    response = Response(body(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.timeout = None
    return response
