"""The cluster's errors: each says what to change."""

from __future__ import annotations

from exstreamtv.errors import ExStreamTVError


class ClusterError(ExStreamTVError):
    """This node cannot join (or act in) the cluster; the message says why and what to do."""
