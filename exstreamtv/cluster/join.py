"""Wiring a server into the cluster: the hub calls :func:`join` when ``cluster.enabled``."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from exstreamtv.cluster.backups import ScheduledBackupGate
from exstreamtv.cluster.node import ClusterNode
from exstreamtv.cluster.pipeline import ClusterPipeline

if TYPE_CHECKING:
    from exstreamtv.hub import Hub


async def join(hub: Hub) -> ClusterNode:
    """Start this node, make the channel manager build cluster pipelines, stamp the
    node id on sessions and events, and let one node at a time take scheduled backups."""
    node = ClusterNode(hub)
    await node.start()
    hub.channels.pipeline_factory = partial(ClusterPipeline, node=node)
    hub.components["cluster"] = node.health
    hub.bus.node_id = hub.sessions.node_id = node.node_id
    hub.database.backups.gate = ScheduledBackupGate(node)
    hub.database.start_schedule()
    return node
