"""Shared test helpers: generated media, configs, a real server process, stream probes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

if TYPE_CHECKING:
    from exstreamtv.hub import Hub

MEDIA_CACHE = Path(os.environ.get("EXSTREAMTV_TEST_MEDIA", "/tmp/exstreamtv-test-media"))
#: The small output profile tests use, cheap on 2 cores.
TEST_FFMPEG = {
    "video": {"width": 320, "height": 180, "fps": 25, "bitrate_kbps": 400, "keyframe_seconds": 1.0},
    "audio": {"bitrate_kbps": 64},
    "encoder_options": {"preset": "ultrafast"},
}


def ffmpeg_bin() -> str:
    from exstreamtv.ffmpeg.locate import find_ffmpeg

    return find_ffmpeg().ffmpeg


def make_clip(path: Path, seconds: float = 4.0, *, pattern: str = "testsrc2", tone: int = 440,
              size: str = "320x180", rate: int = 25, audio: bool = True,
              extra: list[str] | None = None) -> Path:
    """Render a small test clip (H.264 + AAC in MP4) with ffmpeg, if it is not there yet."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    argv = [ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}"]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000"]
    argv += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(rate),
             "-pix_fmt", "yuv420p"]
    if audio:
        argv += ["-c:a", "aac", "-ac", "2", "-b:a", "64k", "-metadata:s:a:0", "language=eng"]
    argv += [*(extra or []), "-f", path.suffix.lstrip(".").replace("mkv", "matroska"), str(tmp)]
    subprocess.run(argv, check=True)
    tmp.replace(path)
    return path


def clips_folder(name: str = "basic", count: int = 3, seconds: float = 4.0) -> Path:
    """A shared folder of ``count`` clips (cached across runs and xdist workers)."""
    folder = MEDIA_CACHE / f"{name}-{count}x{seconds:g}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(MEDIA_CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        patterns = ["testsrc2", "smptebars", "rgbtestsrc", "testsrc", "yuvtestsrc"]
        for i in range(count):
            make_clip(folder / f"clip-{i + 1:02d}.mp4", seconds,
                      pattern=patterns[i % len(patterns)], tone=330 + 110 * i)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def channel(number: int, name: str, collection: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "name": name,
            "schedule": {"type": "ordered", "collection": collection}, **extra}


def base_config(tmp: Path, media: Path, port: int | None = None, **sections: Any) -> dict[str, Any]:
    """A config with one local source and one channel, using the small test profile."""
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port or free_port(),
                   "data_directory": str(tmp / "data")},
        "database": {"url": f"sqlite+aiosqlite:///{tmp / 'data' / 'test.db'}"},
        "ffmpeg": TEST_FFMPEG,
        "sources": [{"id": "clips", "type": "local", "path": str(media)}],
        "channels": [channel(1, "Clips", "clips")],
        "streaming": {"idle_stop_seconds": 2},
    }
    config.update(sections)
    return config


async def until(predicate: Callable[[], Any], timeout: float = 30.0,
                what: str = "condition not met") -> Any:
    """Poll ``predicate`` (every 50 ms, on the running loop) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(what)


@contextlib.asynccontextmanager
async def running_hub(path: Path) -> AsyncIterator[Hub]:
    """The server's hub started in this process from the config at ``path`` (no file
    watcher), stopped on the way out."""
    from exstreamtv.hub import Hub
    from exstreamtv.server import load_everything

    config, host, registry = load_everything(path)
    hub = Hub(config, host, registry)
    await hub.start(watch=False)
    try:
        yield hub
    finally:
        await hub.stop()


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Server:
    """``exstreamtv serve`` as a real subprocess, on a free port."""

    def __init__(self, config_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.config_path = config_path
        self.args = list(args or [])
        self.cwd = cwd or config_path.parent
        data = yaml.safe_load(config_path.read_text())
        self.port = int(data["server"]["port"])
        host = str(data["server"].get("host") or "127.0.0.1")
        self.url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.port}"
        self.log_path = self.cwd / f"server-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 30.0) -> Server:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exstreamtv", "serve", "--config", str(self.config_path),
             *self.args],
            cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200:
                    return self
            time.sleep(0.1)
        # Where it is stuck: every thread's stack (SIGUSR2) and every task's (SIGUSR1).
        for sig in (signal.SIGUSR2, signal.SIGUSR1):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        time.sleep(1.0)
        raise RuntimeError(f"server did not answer within {wait}s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=kwargs.pop("timeout", 10), **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=kwargs.pop("timeout", 10), **kwargs)

    def wait_for(self, predicate: Any, timeout: float = 15.0, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s (last: {last!r})\n{self.log}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop within {timeout}s\n{self.log}") from None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def probe_packets(url: str, seconds: float, timeout: float = 90) -> list[dict[str, Any]]:
    """Read ``seconds`` of a live stream with ffprobe; every packet's timing."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-i", url, "-read_intervals", f"%+{seconds}",
         "-show_entries", "packet=stream_index,codec_type,pts_time,dts_time,duration_time,flags",
         "-of", "json"],
        capture_output=True, timeout=timeout, check=True,
    )
    packets: list[dict[str, Any]] = json.loads(out.stdout)["packets"]
    return packets


def decode_errors(url: str, seconds: float, timeout: float = 120) -> tuple[int, str]:
    """Decode ``seconds`` of ``url`` with ffmpeg; (exit code, everything it reported)."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-v", "error", "-i", url, "-t", str(seconds), "-f", "null", "-"],
        capture_output=True, timeout=timeout, check=False,
    )
    return proc.returncode, proc.stderr.decode(errors="replace")


def timing_problems(packets: list[dict[str, Any]], max_gap: float = 0.5) -> list[str]:
    """Non-monotonic DTS or gaps over ``max_gap`` seconds, per stream."""
    problems: list[str] = []
    last: dict[int, float] = {}
    for p in packets:
        if p.get("dts_time") is None:
            continue
        idx, dts = int(p["stream_index"]), float(p["dts_time"])
        if idx in last:
            if dts <= last[idx]:
                problems.append(f"stream {idx}: dts {dts} after {last[idx]}")
            elif dts - last[idx] > max_gap:
                problems.append(f"stream {idx}: gap of {dts - last[idx]:.3f}s at {dts}")
        last[idx] = dts
    return problems


def relay_commands(secret: str, parent: int | None = None) -> tuple[list[str], list[str]]:
    """(command lines of any process holding ``secret``, ffmpeg command lines reading the
    relay: only the children of ``parent`` when given, since servers of tests running in
    parallel have ffmpeg relays of their own)."""
    leaks, relayed = [], []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
            stat = (cmdline.parent / "stat").read_text()
        except OSError:
            continue  # the process ended meanwhile
        text = " ".join(a.decode(errors="replace") for a in argv)
        if secret in text:
            leaks.append(text)
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if "ffmpeg" in text and "/relay/" in text and parent in (None, ppid):
            relayed.append(text)
    return leaks, relayed
