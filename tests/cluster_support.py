"""Cluster nodes for tests: a node's config and server, the cluster API, a TS viewer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import Server, base_config, channel, write_config

TOKEN = "cluster-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def node_server(folder: Path, clips: Path, pg_url: str, name: str, *, channels: int = 2,
                max_channels: int = 2, lease: float = 3.0, **extra: Any) -> Server:
    """Node ``name`` (not started): its own folder, port and data directory, the shared
    database; ``extra`` sections replace the config's."""
    folder.mkdir(parents=True, exist_ok=True)
    config = base_config(folder, clips, database={"url": pg_url},
                         channels=[channel(n, f"Clips {n}", "clips")
                                   for n in range(1, channels + 1)],
                         cluster={"enabled": True, "max_channels": max_channels,
                                  "lease_seconds": lease})
    config["server"]["api_token"] = TOKEN
    config["streaming"]["idle_stop_seconds"] = 30
    for key, value in extra.items():
        config[key] = value
    path = write_config(folder / "exstreamtv.yaml", config)
    return Server(path, args=["--node-id", name])


def cluster(server: Server) -> dict[str, Any]:
    response = server.get("/api/cluster", headers=AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def lease_owners(server: Server) -> dict[int, str]:
    return {lease["channel"]: lease["owner"] for lease in cluster(server)["leases"]}


def pipeline(server: Server, number: int) -> dict[str, Any]:
    data: dict[str, Any] = server.get(f"/api/channels/{number}").json()["pipeline"]
    return data


class Viewer:
    """A TS viewer in a thread: counts the bytes it read and notes when its stream ended."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bytes = 0
        self.ended: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=httpx.Timeout(10, read=60)) as response:
                if response.status_code != 200:
                    self.ended = f"HTTP {response.status_code}: {response.read()[:200]!r}"
                    return
                for data in response.iter_raw(188 * 64):
                    self.bytes += len(data)
                    if self._stop.is_set():
                        return
            self.ended = "the stream ended"
        except Exception as exc:
            self.ended = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
