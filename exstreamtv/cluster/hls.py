"""HLS sessions in a lineup: any node answers for a session another node created.

An HLS session (its media playlist and its segments) lives on the node that created it:
segments are cut by that node's packager, numbered its own way. So that a viewer may be
sent to any node (a load balancer without sticky sessions, a node's address given to a
second client), a session id made in a cluster starts with a tag of its node: 8 hex
digits of a hash of the node id, the rest random (ids keep their 32-hex-digit shape).
A node asked for a session it does not hold, whose tag names another live node, fetches
the answer from that node (with the cluster secret, never relayed twice) and passes it
on; when no live node has the tag (the node died), it opens the session itself, as for
a paused player coming back.
"""

from __future__ import annotations

import time
import uuid
import zlib
from typing import TYPE_CHECKING

import httpx

from exstreamtv.cluster.peers import PEER_TIMEOUT

if TYPE_CHECKING:
    from exstreamtv.cluster.node import ClusterNode

#: How long the live nodes read from the database are reused for routing.
NODES_TTL_SECONDS = 2.0


def node_tag(node_id: str) -> str:
    """The 8 hex digits that start the HLS session ids made by ``node_id``."""
    return f"{zlib.crc32(node_id.encode()):08x}"


def new_session_id(node: ClusterNode | None) -> str:
    """A fresh HLS session id: 32 hex digits, tagged with this node in a cluster."""
    raw = uuid.uuid4().hex
    return raw if node is None else node_tag(node.node_id) + raw[8:]


class SessionRouter:
    """Which live node holds an HLS session, and fetching its answer from there."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self._nodes: dict[str, str] = {}  # tag -> URL of the other live nodes
        self._read_at = float("-inf")
        self._client: httpx.AsyncClient | None = None

    async def holder(self, session_id: str) -> str | None:
        """The URL of the other live node that made ``session_id``, or None."""
        tag = session_id[:8]
        if tag == node_tag(self.node.node_id):
            return None
        if time.monotonic() - self._read_at > NODES_TTL_SECONDS:
            try:
                peers = await self.node.peers()
            except Exception:
                return None  # the database is away: serve it here
            self._nodes = {node_tag(node_id): url for node_id, url in peers.items()}
            self._read_at = time.monotonic()
        return self._nodes.get(tag)

    async def fetch(self, url: str, path: str) -> httpx.Response | None:
        """``GET path`` on the node at ``url``; None when it does not answer."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=PEER_TIMEOUT, follow_redirects=False)
        try:
            return await self._client.get(f"{url.rstrip('/')}{path}",
                                          headers=self.node.peer_headers())
        except httpx.HTTPError:
            self._read_at = float("-inf")  # read the live nodes again next time
            return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

