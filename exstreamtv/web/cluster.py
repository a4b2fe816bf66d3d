"""``GET /api/cluster``: the nodes, their load and the channel leases (behind the token)."""

from __future__ import annotations

from quart import Blueprint, Response

from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

bp = Blueprint("cluster", __name__, url_prefix="/api")


@bp.route("/cluster")
@require_token
async def cluster() -> tuple[Response, int]:
    """Every node (URL, capacity, load, config version, alive), live leases, this node."""
    node = hub().cluster
    if node is None:
        return json_response({"enabled": False, "nodes": [], "leases": []})
    try:
        data = await node.overview()
    except Exception as exc:
        return error(503, f"the cluster database is unreachable ({type(exc).__name__}); "
                          "see GET /api/health")
    return json_response({"enabled": True, **data})
