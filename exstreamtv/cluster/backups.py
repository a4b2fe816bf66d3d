"""The cluster's scheduled backup: one node takes it, the others skip it and say why.

Every node shares one PostgreSQL database, so one backup of it serves the lineup. A node
whose backup is due takes a session-level advisory lock on a connection of its own (it
ends with a dead node's session), waiting while another node takes its backup, and looks
at ``cluster_backups``: when another node finished one within ``interval_hours``, it skips
until that one's next due time; else it takes the backup and records it. A node that
waited :data:`BUSY_WAIT_SECONDS` in vain skips and looks again after as long.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from exstreamtv.cluster import store
from exstreamtv.database.backup import Skip

if TYPE_CHECKING:
    from exstreamtv.cluster.node import ClusterNode

log = logging.getLogger(__name__)

JOB = "scheduled"
#: How long a node waits for another node's backup to end (then skips, and looks again
#: after as long).
BUSY_WAIT_SECONDS = 600.0


class ScheduledBackupGate:
    """``DatabaseBackupManager.gate`` of a clustered server."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    async def __call__(self, take: Callable[[], Awaitable[object]],
                       interval: float) -> Skip | None:
        conn = await self.node.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not await store.backup_lock(conn, BUSY_WAIT_SECONDS):
                last = await store.last_backup(conn, JOB)
                who = f"node {last.node_id}" if last is not None else "another node"
                return Skip(f"{who} is still taking the cluster's scheduled backup after "
                            f"{BUSY_WAIT_SECONDS:.0f} s", time.time() + BUSY_WAIT_SECONDS)
            try:
                return await self._locked(conn, take, interval)
            finally:
                with contextlib.suppress(Exception):
                    await store.unlock_backup(conn)
        finally:
            await conn.close()

    async def _locked(self, conn: AsyncConnection, take: Callable[[], Awaitable[object]],
                      interval: float) -> Skip | None:
        last = await store.last_backup(conn, JOB)
        if last is not None and last.finished_ago is not None and last.finished_ago < interval:
            return Skip(f"node {last.node_id} took the cluster's scheduled backup "
                        f"{last.finished_ago:.0f} s ago",
                        time.time() - last.finished_ago + interval)
        node_id = self.node.node_id
        await store.backup_started(conn, JOB, node_id)
        log.info("Cluster: node %s takes the cluster's scheduled backup", node_id)
        await take()
        await store.backup_finished(conn, JOB, node_id)
        return None
