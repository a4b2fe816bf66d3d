"""This node in the cluster: registration, heartbeat, placement, renewal and fencing.

One :class:`ClusterNode` per server, built by the hub when ``cluster.enabled`` is true.
It holds the node-id lock (a session-level advisory lock on a connection of its own:
a second server with the same id is refused, and the lock ends with a dead node's
session), keeps the node row fresh, and renews the leases of the channels this node
transcodes every third of ``cluster.lease_seconds``. A lease that could not be renewed
(another node took it, or the database was unreachable for most of a lease period)
fences its pipeline: the local ffmpeg stops and the pipeline relays the new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from exstreamtv.cluster import store
from exstreamtv.cluster.errors import ClusterError
from exstreamtv.cluster.hls import SessionRouter
from exstreamtv.cluster.identity import advertise_url_for, config_fingerprint, node_id_for
from exstreamtv.cluster.store import NoPlace, Owned, Placement
from exstreamtv.cluster.wire import PEER_HEADER, RELAY_HEADER, SECRET_HEADER
from exstreamtv.database.connection import is_sqlite

if TYPE_CHECKING:
    from exstreamtv.cluster.pipeline import ClusterPipeline
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

#: Set while a stream request from another node is served: such a request must be
#: served by transcoding here, never by relaying again (that would be a relay chain).
serving_relay: ContextVar[str | None] = ContextVar("serving_relay", default=None)


class ClusterNode:
    """This server as one node of the lineup."""

    def __init__(self, hub: Hub, node_id: str | None = None,
                 advertise_url: str | None = None) -> None:
        self.hub = hub
        self.node_id = node_id_for(hub.config, node_id)
        self.url = advertise_url_for(hub.config, advertise_url)
        self.version = config_fingerprint(hub.config)
        #: Why this node refuses leases (a config that differs from the lineup's), or None.
        self.problem: str | None = None
        #: channel -> fencing token of the leases this node holds.
        self.owned: dict[int, int] = {}
        self.pipelines: dict[int, ClusterPipeline] = {}
        self.db_ok = True
        self._renewed_at = time.monotonic()
        self._engine: AsyncEngine | None = None
        self._lock_conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        #: Which node holds an HLS session this node was asked for (see cluster/hls.py).
        self.hls = SessionRouter(self)

    @property
    def lease_seconds(self) -> float:
        return self.hub.config.cluster.lease_seconds

    @property
    def secret(self) -> str | None:
        """What a relay request must carry: ``cluster.secret``, else ``server.api_token``."""
        return self.hub.config.cluster.secret or self.hub.config.server.api_token

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "the cluster node is not started"
        return self._engine

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Join: tables, node-id lock, node row, config check, heartbeat task."""
        url = self.hub.config.database.url
        if is_sqlite(url):
            raise ClusterError("cluster.enabled needs a PostgreSQL database.url shared by "
                               "every node (postgresql+asyncpg://...); SQLite is single-node")
        self._engine = create_async_engine(url, poolclass=NullPool)
        async with self.engine.begin() as conn:
            await store.create_schema(conn)
        await self._take_node_lock()
        hardware = (f"{os.cpu_count()} CPUs, encoder {self.hub.config.ffmpeg.encoder}")
        async with self.engine.begin() as conn:
            await store.register(conn, self.node_id, self.url,
                                 self.hub.config.cluster.max_channels, self.version, hardware)
            await self._check_version(conn)
        log.info("Cluster node %s at %s (config %s, up to %d channels)", self.node_id, self.url,
                 self.version, self.hub.config.cluster.max_channels)
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="cluster-heartbeat")

    async def _take_node_lock(self) -> None:
        conn = await self.engine.connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not await store.lock_node_id(conn, self.node_id):
            other = await store.node_url(conn, self.node_id)
            await conn.close()
            raise ClusterError(
                f"node id {self.node_id!r} is already running (at {other or 'an unknown URL'}); "
                "give this server its own --node-id or its own server.data_directory")
        self._lock_conn = conn

    async def _keep_node_lock(self) -> None:
        """The node-id lock lives in a database session: after a database restart (or a
        dropped connection) take it again, so a twin with this id is still refused."""
        conn = self._lock_conn
        if conn is not None:
            try:
                await conn.exec_driver_sql("SELECT 1")
                return
            except Exception:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                self._lock_conn = None
        await self._take_node_lock()
        log.info("Cluster: node %s holds its node id again", self.node_id)

    async def stop(self) -> None:
        """Leave: end the heartbeat, give every lease up, release the node id."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.hls.close()
        if self._engine is None:
            return
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                await store.leave(conn, self.node_id)
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()
        await self.engine.dispose()

    # -- placement ------------------------------------------------------------------

    async def place(self, channel: int, *, relay_allowed: bool = True) -> Placement:
        """Where ``channel`` is transcoded now (taking its lease when this node may)."""
        may_own = self.problem is None and self.db_ok
        try:
            async with self.engine.begin() as conn:
                placement = await store.place(
                    conn, self.node_id, channel, capacity=self.hub.config.cluster.max_channels,
                    may_own=may_own, lease_seconds=self.lease_seconds)
        except Exception as exc:
            self._database_down(exc)
            return NoPlace(f"the cluster database is unreachable ({type(exc).__name__})")
        if isinstance(placement, Owned):
            if self.owned.get(channel) != placement.token:
                log.info("Cluster: node %s now transcodes channel %d (lease token %d)",
                         self.node_id, channel, placement.token)
            self.owned[channel] = placement.token
        elif not relay_allowed:
            why = self.problem or "it is transcoded elsewhere or this node is full"
            return NoPlace(f"node {self.node_id} does not transcode channel {channel} ({why}); "
                           "a relayed stream is not relayed again")
        return placement

    async def admit_relay(self, number: int, headers: Any) -> tuple[int, str] | None:
        """Check a relay request from another node; (status, reason) when refused.

        On success this node holds the channel's lease (it was taken if nobody had it)."""
        refusal = relay_refusal(self, number, headers)
        if refusal is not None:
            return refusal
        pipeline = self.pipelines.get(number)
        if pipeline is not None and pipeline.running and pipeline.token is not None:
            return None
        placement = await self.place(number, relay_allowed=False)
        if isinstance(placement, NoPlace):
            return 409, placement.reason
        return None

    async def release(self, channel: int, token: int) -> None:
        """This node stopped transcoding ``channel``: the lease ends now."""
        if self.owned.get(channel) == token:
            del self.owned[channel]
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                await store.release(conn, self.node_id, channel, token)

    def relay_headers(self) -> dict[str, str]:
        """The headers of this node's relay connection to the owner of a channel."""
        return self._headers(RELAY_HEADER)

    def peer_headers(self) -> dict[str, str]:
        """The headers of this node asking another for its part of a lineup-wide view,
        or passing an HLS request on."""
        return self._headers(PEER_HEADER)

    def _headers(self, name: str) -> dict[str, str]:
        headers = {name: self.node_id}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        return headers

    async def peers(self) -> dict[str, str]:
        """The other live nodes of the lineup: node id -> URL (raises when the database
        cannot be read)."""
        async with self.engine.begin() as conn:
            nodes = await store.live_nodes(conn, self.lease_seconds)
        nodes.pop(self.node_id, None)
        return nodes

    # -- heartbeat ------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except ClusterError as exc:
                if self.problem != str(exc):
                    log.error("Cluster: node %s refuses leases: %s", self.node_id, exc)
                self.problem = str(exc)
            except Exception as exc:
                self._database_down(exc)
            self._fence_expired()

    async def _tick(self) -> None:
        self.version = config_fingerprint(self.hub.config)
        await self._keep_node_lock()
        async with self.engine.begin() as conn:
            await self._check_version(conn)
            await store.heartbeat(conn, self.node_id, self.hub.config.cluster.max_channels,
                                  self.version, self.problem)
            asked = dict(self.owned)
            renewed = await store.renew(conn, self.node_id, asked, self.lease_seconds)
        self._renewed_at = time.monotonic()
        if not self.db_ok:
            log.info("Cluster database reachable again; node %s takes leases again", self.node_id)
            self.db_ok = True
        for channel, token in asked.items():
            if renewed.get(channel) != token:
                self._fence(channel, "another node took its lease")

    async def _check_version(self, conn: AsyncConnection) -> None:
        lineup = await store.lineup_version(conn, self.lease_seconds)
        problem = None
        if lineup is not None and lineup[0] != self.node_id and lineup[1] != self.version:
            problem = (f"config version {self.version} differs from the lineup's {lineup[1]} "
                       f"(node {lineup[0]}); give every node the same sources, channels and "
                       "ffmpeg settings")
        if problem != self.problem:
            if problem:
                log.error("Cluster: node %s refuses leases: %s", self.node_id, problem)
            else:
                log.info("Cluster: node %s config matches the lineup again", self.node_id)
            self.problem = problem

    def _database_down(self, exc: BaseException) -> None:
        if self.db_ok:
            log.error("Cluster database unreachable (%s); node %s takes no new leases",
                      type(exc).__name__, self.node_id)
            self.db_ok = False

    def _fence_expired(self) -> None:
        """Leases not renewed for most of a lease period may be someone else's by now."""
        if self.owned and time.monotonic() - self._renewed_at > self.lease_seconds * 0.8:
            for channel in list(self.owned):
                self._fence(channel, "its lease could not be renewed")

    def _fence(self, channel: int, reason: str) -> None:
        self.owned.pop(channel, None)
        pipeline = self.pipelines.get(channel)
        if pipeline is not None:
            log.warning("Cluster: node %s stops transcoding channel %d: %s", self.node_id,
                        channel, reason)
            pipeline.fence()

    # -- API --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The ``cluster`` component of ``GET /api/health`` (no database round trip)."""
        problem = self.problem or (None if self.db_ok else "the cluster database is unreachable")
        return {"status": "degraded" if problem else "ok", "node_id": self.node_id,
                "url": self.url, "config_version": self.version, "problem": problem,
                "transcoding": sorted(self.owned),
                "relaying": sorted(n for n, p in self.pipelines.items()
                                   if p.running and p.role.value == "relay")}

    async def overview(self) -> dict[str, Any]:
        """``GET /api/cluster``: this node, every node with its load, the live leases."""
        async with self.engine.begin() as conn:
            data = await store.overview(conn, self.lease_seconds)
        data["this_node"] = {
            "node_id": self.node_id, "url": self.url, "config_version": self.version,
            "refuses_leases": self.problem, "database_ok": self.db_ok,
            "channels": {str(n): p.role.value for n, p in sorted(self.pipelines.items())
                         if p.running},
        }
        return data

    async def summary(self) -> dict[str, Any]:
        """The lineup at a glance, for Home Assistant: its id, the live nodes, which node
        transcodes which channel, and the coordinator (the longest-running live node,
        which publishes the cluster's device)."""
        async with self.engine.begin() as conn:
            data = await store.overview(conn, self.lease_seconds)
            lineup = await store.lineup_version(conn, self.lease_seconds)
            cluster_id = await store.cluster_id(conn)
        alive = {n["node_id"]: n["url"] for n in data["nodes"] if n["alive"]}
        return {"cluster_id": cluster_id, "coordinator": lineup[0] if lineup else None,
                "nodes_online": len(alive), "nodes": alive,
                "channels_transcoded": len(data["leases"]),
                "owners": {str(lease["channel"]): lease["owner"] for lease in data["leases"]}}


def relay_refusal(node: ClusterNode, number: int, headers: Any) -> tuple[int, str] | None:
    """Why a relay request (``RELAY_HEADER`` set) must be refused before placing, or None."""
    secret = node.secret
    if secret and not hmac.compare_digest(headers.get(SECRET_HEADER, "").encode(),
                                          secret.encode()):
        return 403, ("relay request without the right cluster secret: every node needs the "
                     "same cluster.secret (or server.api_token)")
    if headers.get(RELAY_HEADER) == node.node_id:
        return 409, f"relay loop: node {node.node_id} was asked to relay channel {number} from itself"
    pipeline = node.pipelines.get(number)
    if pipeline is not None and pipeline.running and pipeline.token is None:
        source = f" (it relays node {pipeline.upstream})" if pipeline.upstream else ""
        return 409, (f"node {node.node_id} does not transcode channel {number}{source}; "
                     "a relayed stream is not relayed again")
    return None
