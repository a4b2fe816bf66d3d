"""Chaos and soak scenarios against a real server; each returns a summary of what it
tried and what was lost. Used by tests/chaos/test_chaos.py (short) and bench/chaos.py (long).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import Server, channel, write_config


@dataclass
class Viewer:
    """A viewer in a thread, reading a channel until told to stop."""

    url: str
    bytes: int = 0
    ended: str | None = None  # why the stream ended before stop() (a disconnect)
    ended_at: float | None = None  # wall-clock time of the disconnect
    last_data: float = field(default_factory=time.monotonic)
    longest_silence: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Viewer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=30) as response:
                if response.status_code != 200:
                    self.ended = f"HTTP {response.status_code}"
                    return
                for chunk in response.iter_raw():
                    now = time.monotonic()
                    if self.bytes:  # silences between chunks, not the wait for the first
                        self.longest_silence = max(self.longest_silence, now - self.last_data)
                    self.last_data = now
                    self.bytes += len(chunk)
                    if self._stop.is_set():
                        return
            self.ended = "stream ended"
        except Exception as exc:
            if not self._stop.is_set():
                self.ended = f"{type(exc).__name__}: {exc}"
        if self.ended:
            self.ended_at = time.time()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


def ffmpeg_children(server: Server) -> list[int]:
    """ffmpeg processes started by the server (direct children)."""
    assert server.proc is not None
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1: stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == server.proc.pid and comm == "ffmpeg":
            out.append(int(entry.name))
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def kill_storm(server: Server, channels: list[int], viewers_per_channel: list[int],
               seconds: float, kill_every: float, seed: int = 1,
               kills_wanted: int | None = None) -> dict[str, Any]:
    """Viewers on several channels while random channel ffmpegs are killed with SIGKILL.

    Runs for ``seconds``, or, with ``kills_wanted``, until that many kills landed (with
    ``seconds`` as a cap)."""
    rng = random.Random(seed)
    viewers = [Viewer(f"{server.url}/stream/channels/{n}.ts").start()
               for n, count in zip(channels, viewers_per_channel, strict=True) for _ in range(count)]
    deadline = time.monotonic() + seconds
    kills, healed = 0, 0
    time.sleep(min(3.0, seconds / 4))
    while time.monotonic() < deadline - kill_every and (kills_wanted is None
                                                         or kills < kills_wanted):
        killed_at = time.monotonic()
        number = rng.choice(channels)
        pid = server.get(f"/api/channels/{number}").json()["pipeline"].get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
            else:
                before = server.get(f"/api/channels/{number}").json()["pipeline"]["bytes"]
                end = time.monotonic() + max(kill_every, 10.0)  # slow machines restart slowly
                while time.monotonic() < end:
                    info = server.get(f"/api/channels/{number}").json()["pipeline"]
                    if info.get("pid") not in (None, pid) and info["bytes"] > before:
                        healed += 1
                        break
                    time.sleep(0.2)
        time.sleep(max(0.0, killed_at + kill_every - time.monotonic()))
    for v in viewers:
        v.stop()
    return {
        "scenario": "ffmpeg kills under viewers",
        "viewers": len(viewers),
        "kills": kills,
        "healed": healed,
        "disconnects": sum(1 for v in viewers if v.ended),
        "disconnect_reasons": sorted({v.ended for v in viewers if v.ended}),
        "disconnects_at": sorted(f"{v.url.rsplit('/', 1)[-1]} "
                                 f"{time.strftime('%H:%M:%S', time.localtime(v.ended_at))}"
                                 for v in viewers if v.ended_at),
        "min_bytes_per_viewer": min(v.bytes for v in viewers),
        "longest_silence_s": round(max(v.longest_silence for v in viewers), 2),
    }


def config_churn(server: Server, config: dict[str, Any], seconds: float,
                 every: float) -> dict[str, Any]:
    """Valid and invalid edits alternating; the running config must be the last valid one."""
    viewer = Viewer(f"{server.url}/stream/channels/1.ts").start()
    time.sleep(2)
    pid_before = server.get("/api/channels/1").json()["pipeline"]["restarts"]
    edits = valid = 0
    wrong_state: list[str] = []
    deadline = time.monotonic() + seconds
    name = "Two"
    while time.monotonic() < deadline:
        edits += 1
        if edits % 2:
            valid += 1
            name = f"Two v{valid}"
            config["channels"][1]["name"] = name
            write_config(server.config_path, config)
        else:
            server.config_path.write_text(f"channels: [{{number: {edits}, name: broken")
        time.sleep(every)
        m3u = server.get("/api/channels.m3u").text
        if f"tvg-name=\"{name}\"" not in m3u:
            wrong_state.append(f"edit {edits}: running config is not the last valid one")
    restarts = server.get("/api/channels/1").json()["pipeline"]["restarts"] - pid_before
    write_config(server.config_path, config)
    viewer.stop()
    return {
        "scenario": "config churn",
        "edits": edits,
        "valid_edits": valid,
        "wrong_states": wrong_state,
        "unchanged_channel_restarts": restarts,
        "viewer_disconnected": viewer.ended,
    }


def connection_abuse(server: Server, idle_readers: int, storm: int) -> dict[str, Any]:
    """Viewers that never read, then a connect/disconnect storm; then back to baseline?"""
    assert server.proc is not None
    time.sleep(1)
    base_rss = rss_kib(server.proc.pid)
    host, port = "127.0.0.1", server.port
    sockets = []
    for _ in range(idle_readers):
        s = socket.create_connection((host, port))
        s.sendall(b"GET /stream/channels/1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(s)  # and never read
    time.sleep(5)
    peak_rss = rss_kib(server.proc.pid)
    for s in sockets:
        s.close()
    for i in range(storm):
        s = socket.create_connection((host, port))
        s.sendall(b"GET /stream/channels/1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        if i % 2:
            s.recv(1024)
        s.close()
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        sessions = server.get("/api/sessions").json()
        if not sessions and not ffmpeg_children(server):
            break
        time.sleep(0.5)
    end_rss = rss_kib(server.proc.pid)
    return {
        "scenario": "never-reading viewers and connect storms",
        "idle_readers": idle_readers,
        "storm_connections": storm,
        "sessions_left": len(server.get("/api/sessions").json()),
        "ffmpeg_left": len(ffmpeg_children(server)),
        "rss_base_mib": round(base_rss / 1024, 1),
        "rss_peak_mib": round(peak_rss / 1024, 1),
        "rss_end_mib": round(end_rss / 1024, 1),
    }


def three_channels(config: dict[str, Any]) -> dict[str, Any]:
    config["channels"] = [channel(1, "One", "clips"), channel(2, "Two", "clips"),
                          channel(3, "Three", "clips")]
    return config


def broker_outage(server: Server, broker: Any, down_seconds: float) -> dict[str, Any]:
    """Stop the MQTT broker under a viewer, start it again: streaming must not notice,
    and the server must be back online (birth + discovery) soon after the broker returns."""
    from tests.mqtt_support import Watcher

    viewer = Viewer(f"{server.url}/stream/channels/1.ts").start()
    time.sleep(2)
    broker.stop()
    bytes_at_stop = viewer.bytes
    time.sleep(down_seconds)
    bytes_during = viewer.bytes - bytes_at_stop
    broker.start()
    returned = time.monotonic()
    watcher = Watcher(broker)
    try:
        watcher.wait_message("exstreamtv/status", "online", timeout=60)
        online_after = time.monotonic() - returned
        watcher.wait_message("exstreamtv/state", timeout=30)
        republished_after = time.monotonic() - returned
    finally:
        watcher.close()
    viewer.stop()
    return {
        "scenario": "MQTT broker outage",
        "down_seconds": down_seconds,
        "bytes_streamed_while_down": bytes_during,
        "viewer_disconnected": viewer.ended,
        "online_after_return_s": round(online_after, 2),
        "state_republished_after_s": round(republished_after, 2),
    }


def growing_source(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Add a local source ``grow`` over ``folder`` (empty at first) for library writes."""
    folder.mkdir(parents=True, exist_ok=True)
    config["sources"] = [*config["sources"], {"id": "grow", "type": "local", "path": str(folder)}]
    return config


def backups_under_writes(server: Server, grow: Path, clip: Path, seconds: float,
                         every: float) -> dict[str, Any]:
    """Backups taken while the library is written (a file added and scanned in a loop),
    then each backup restored: every row committed before a backup began must be in it,
    and the pre-restore backup must hold everything committed before the restore."""
    viewer = Viewer(f"{server.url}/stream/channels/1.ts").start()
    lock = threading.Lock()
    committed = [0]  # items of ``grow`` the server has confirmed as scanned (and saved)
    errors: list[str] = []
    stop = threading.Event()

    def rows() -> int:
        return int(server.get("/api/database").json()["rows"]["items"])

    def others() -> int | None:  # items of the other sources, once all are scanned
        listed = [s for s in server.get("/api/sources").json() if s["id"] != "grow"]
        if any(s["state"] != "ok" for s in listed):
            return None
        return sum(int(s["items"]) for s in listed)

    base = server.wait_for(lambda: others() is not None and rows() == others() and rows())

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            shutil.copyfile(clip, grow / f"grow-{n:05d}{clip.suffix}")
            response = server.post("/api/sources/grow/scan", timeout=60)
            if response.status_code != 200:
                errors.append(f"scan: HTTP {response.status_code} {response.text[:200]}")
                return
            with lock:
                committed[0] = n

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    taken: list[tuple[str, int, int]] = []  # (backup, committed before, committed after)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not errors:
        time.sleep(every)
        with lock:
            before = committed[0]
        response = server.post("/api/backups", timeout=60)
        with lock:
            after = committed[0]
        if response.status_code != 201:
            errors.append(f"backup: HTTP {response.status_code} {response.text[:200]}")
            break
        taken.append((response.json()["name"], before, after))
    stop.set()
    thread.join(60)
    final = committed[0]
    lost: list[str] = []
    restores = 0
    for name, before, after in taken[-3:]:
        response = server.post(f"/api/backups/{name}/restore", timeout=120)
        if response.status_code != 200:
            errors.append(f"restore {name}: HTTP {response.status_code} {response.text[:200]}")
            continue
        restores += 1
        in_backup = rows() - base
        # A consistent snapshot holds every row committed before it began, and at most
        # one scan that was committing while it ran.
        if not before <= in_backup <= after + 1:
            lost.append(f"{name}: {in_backup} items, expected {before}..{after + 1}")
        pre = response.json()["pre_restore_backup"]["name"]
        response = server.post(f"/api/backups/{pre}/restore", timeout=120)
        if response.status_code != 200:
            errors.append(f"restore {pre}: HTTP {response.status_code} {response.text[:200]}")
            continue
        if rows() - base != final:
            lost.append(f"{pre}: {rows() - base} items, expected all {final} committed")
    viewer.stop()
    return {
        "scenario": "backups and restores while the library is written",
        "items_written": final,
        "backups": len(taken),
        "restores": restores * 2,
        "rows_lost": lost,
        "errors": errors,
        "viewer_disconnected": viewer.ended,
    }
