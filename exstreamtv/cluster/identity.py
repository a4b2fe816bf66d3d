"""Who a node is: its stable id, the URL other nodes reach it at, its config fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exstreamtv.cluster.errors import ClusterError
from exstreamtv.config.model import Config

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
NODE_ID_FILE = "node_id"


def node_id_for(config: Config, given: str | None = None) -> str:
    """``--node-id``, else ``cluster.node_id``, else the id kept in the data directory
    (created on the first start, so a node keeps its id across restarts)."""
    chosen = given or config.cluster.node_id
    if chosen:
        if not NODE_ID.match(chosen):
            raise ClusterError(f"node id {chosen!r}: use letters, digits, '.', '_' or '-' "
                              "(at most 63 characters)")
        return chosen
    path = Path(config.server.data_directory) / NODE_ID_FILE
    if path.exists():
        kept = path.read_text().strip()
        if NODE_ID.match(kept):
            return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    created = f"node-{uuid.uuid4().hex[:12]}"
    path.write_text(created + "\n")
    return created


def advertise_url_for(config: Config, given: str | None = None) -> str:
    """``--advertise-url``, else ``cluster.advertise_url``, else ``http://host:port``
    (a wildcard host is replaced by 127.0.0.1: set the URL when nodes are on other hosts)."""
    url = given or config.cluster.advertise_url
    if url:
        return url.rstrip("/")
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}"


def config_fingerprint(config: Config) -> str:
    """A short hash of what must be equal on every node: sources, channels, ffmpeg and
    profiles (not the per-node parts: server, cluster, paths of the node's own data)."""
    parts = (config.sources, config.channels, config.ffmpeg, config.profiles, config.streaming)
    text = json.dumps(_canonical(parts), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _canonical(value: Any) -> Any:
    """``value`` as JSON-ready data that does not depend on the process (sets sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(json.dumps(_canonical(v), sort_keys=True) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)
