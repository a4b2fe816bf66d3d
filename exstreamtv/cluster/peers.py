"""Lineup-wide views: what the other live nodes report, asked over HTTP.

``GET /api/sessions`` and ``GET /api/healing/events`` on any node of a lineup list every
node's (each entry carries its ``node_id``). The node asked reads the live nodes from the
database and asks each of the others, in parallel, for its own part (``scope=node``),
with the cluster secret in a header (never in the URL); a peer request is a read-only
identity. A node that does not answer within :data:`PEER_TIMEOUT` seconds is named in the
``X-ExStreamTV-Unreachable-Nodes`` response header and the rest is answered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from exstreamtv.cluster.wire import PEER_HEADER, UNREACHABLE_HEADER

if TYPE_CHECKING:
    from exstreamtv.cluster.node import ClusterNode

log = logging.getLogger(__name__)

PEER_TIMEOUT = 3.0
__all__ = ["PEER_HEADER", "PEER_TIMEOUT", "Gathered", "ask_peers"]


@dataclass
class Gathered:
    """The other nodes' answers (node id -> JSON) and the nodes that gave none (why)."""

    answers: dict[str, Any] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        if not self.unreachable:
            return {}
        return {UNREACHABLE_HEADER: ", ".join(sorted(self.unreachable))}


async def ask_peers(node: ClusterNode, path: str, params: dict[str, str]) -> Gathered:
    """``GET path?params&scope=node`` on every other live node of the lineup."""
    gathered = Gathered()
    try:
        peers = await node.peers()
    except Exception as exc:
        gathered.unreachable["database"] = type(exc).__name__
        return gathered
    if not peers:
        return gathered
    query = {**params, "scope": "node"}

    async def one(client: httpx.AsyncClient, node_id: str, url: str) -> None:
        try:
            answer = await client.get(f"{url.rstrip('/')}{path}", params=query)
            answer.raise_for_status()
            gathered.answers[node_id] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            reason = (f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError)
                      else type(exc).__name__)
            gathered.unreachable[node_id] = reason
            log.info("Node %s did not give its part of %s (%s)", node_id, path, reason)

    async with httpx.AsyncClient(timeout=PEER_TIMEOUT, headers=node.peer_headers(),
                                 follow_redirects=False) as client:
        await asyncio.gather(*(one(client, node_id, url) for node_id, url in peers.items()))
    return gathered
