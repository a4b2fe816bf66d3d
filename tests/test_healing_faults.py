"""Self-healing by fault injection: real ffmpeg, a real server, real viewers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, base_config, clips_folder, ffmpeg_bin

#: Decode errors a SIGKILL may leave: the killed ffmpeg's last frame is cut short, and
#: the decoder conceals it. Anything else is a real problem.
CUT_FRAME = ("[h264 @",)


class Viewer(threading.Thread):
    """Reads a channel stream into memory until told to stop; notes if the stream ended."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.data = bytearray()
        self.ended = False
        self.error: str | None = None
        self.stop_at = time.monotonic() + 3600
        self.arrivals: list[tuple[float, int]] = []

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=20) as response:
                for chunk in response.iter_bytes():
                    self.data += chunk
                    self.arrivals.append((time.monotonic(), len(self.data)))
                    if time.monotonic() >= self.stop_at:
                        return
            self.ended = True
        except Exception as exc:
            self.error = repr(exc)

    def finish(self) -> None:
        self.stop_at = time.monotonic()
        self.join(20)


def slate_frames(ts: bytes, tmp: Path) -> tuple[list[bool], str]:
    """Decode ``ts``: per frame, whether it is the slate; plus ffmpeg's error output."""
    path = tmp / f"viewer-{time.monotonic_ns()}.ts"
    path.write_bytes(ts)
    proc = subprocess.run(
        [ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", str(path), "-vf",
         "scale=4:4,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, timeout=60, check=False)
    raw = proc.stdout
    frames = [raw[i:i + 16] for i in range(0, len(raw) - 15, 16)]
    # The "slate" error screen is one flat dark colour; the test clips never are.
    slate = [max(f) - min(f) <= 3 and max(f) < 40 for f in frames]
    errors = [ln for ln in proc.stderr.decode(errors="replace").splitlines()
              if ln.strip() and not any(c in ln for c in CUT_FRAME)]
    assert proc.returncode == 0, proc.stderr
    return slate, "\n".join(errors)


def events(server: Server, **query: Any) -> list[dict[str, Any]]:
    return server.get("/api/healing/events", params=query).json()


def kill_ffmpeg(server: Server, sig: int = signal.SIGKILL, detect: str = "FFMPEG_CRASH") -> int:
    """Send ``sig`` to the channel's programme ffmpeg until a failure is detected.

    An ffmpeg that already wrote its whole item (it runs ahead of the paced output) may
    be gone or a zombie; then the signal has no effect and the next one is tried.
    """
    for _ in range(80):
        before = len(events(server, action="detected"))
        pid = pid_of(server)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            time.sleep(0.3)
            continue
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            found = [e for e in events(server, action="detected")[before:] if e["issue"] == detect]
            if found:
                return pid
            time.sleep(0.2)
        if sig == signal.SIGSTOP:
            os.kill(pid, signal.SIGCONT)
    raise AssertionError("no signal to ffmpeg was detected")


def pid_of(server: Server) -> int:
    def current() -> int | None:
        answer = server.get("/api/channels/1")
        assert answer.status_code < 500, answer.text
        pipe = answer.json().get("pipeline") or {}  # a 4xx while the channel is reloaded
        return pipe.get("pid") if pipe.get("kind") == "program" else None
    return int(server.wait_for(current, 20))


@pytest.fixture(scope="session")
def long_clips() -> Path:
    """Two 20-second clips: ffmpeg is still running mid-item when a test kills it."""
    return clips_folder("heal", 2, 20.0)


def healing_config(tmp: Path, media: Path, **heal: Any) -> dict[str, Any]:
    config = base_config(tmp, media, ai_auto_heal=heal) if heal else base_config(tmp, media)
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": {"visual": "slate", "audio": "silent"}}
    return config


def test_kill_under_three_viewers_splices_error_screen_and_restores(
        make_server, long_clips, tmp_path):
    server = make_server(healing_config(tmp_path, long_clips))
    url = f"{server.url}/stream/channels/1.ts"
    viewers = [Viewer(url) for _ in range(3)]
    for v in viewers:
        v.start()
    server.wait_for(lambda: all(len(v.data) > 50_000 for v in viewers), 20)
    pid = kill_ffmpeg(server)
    server.wait_for(lambda: events(server, action="verified"), 20)
    after = len(viewers[0].data)
    server.wait_for(lambda: len(viewers[0].data) > after + 30_000, 10)
    assert pid_of(server) != pid
    for v in viewers:
        v.finish()
    for v in viewers:
        assert not v.ended, "a viewer saw its stream end"
        assert v.error is None, v.error
        slate, errors = slate_frames(bytes(v.data), tmp_path)
        assert errors.strip() == "", errors
        first = slate.index(True) if True in slate else -1
        assert first > 0, "the error screen never showed"
        assert not all(slate[first:]), "the programme never came back after the error screen"
    fixes = events(server, kind="fix", channel=1)
    actions = [(e["issue"], e["strategy"], e["action"]) for e in fixes]
    assert ("FFMPEG_CRASH", "", "detected") in actions
    assert ("FFMPEG_CRASH", "RESTART", "applied") in actions
    assert ("FFMPEG_CRASH", "RESTART", "verified") in actions


def test_sigstop_stall_is_detected_and_fixed(make_server, long_clips, tmp_path):
    server = make_server(healing_config(tmp_path, long_clips))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 50_000, 20)
    pid = kill_ffmpeg(server, signal.SIGSTOP, detect="FFMPEG_HANG")
    try:
        server.wait_for(lambda: [e for e in events(server, action="verified")
                                 if e["issue"] == "FFMPEG_HANG"] and pid_of(server) != pid, 30)
        size = len(viewer.data)
        server.wait_for(lambda: len(viewer.data) > size + 30_000, 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        viewer.finish()
    assert not viewer.ended and viewer.error is None


def test_failing_hardware_encoder_falls_back_to_software(make_server, long_clips, tmp_path):
    config = healing_config(tmp_path, long_clips)
    config["ffmpeg"] = {**config["ffmpeg"], "encoder": "bogus_vaapi"}
    config["plugins"] = {"directories": [str(Path(__file__).parent / "plugins")]}
    server = make_server(config)
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: [e for e in events(server, action="verified")
                             if e["issue"] == "HARDWARE_FAILED"], 30)
    pipeline = server.get("/api/channels/1").json()["pipeline"]
    assert pipeline["encoder"] == "software"
    assert pipeline["restarts"] <= 1, "the pipeline and self-healing both restarted it"
    server.wait_for(lambda: len(viewer.data) > 100_000, 15)
    viewer.finish()
    _, errors = slate_frames(bytes(viewer.data), tmp_path)
    assert errors.strip() == "", errors
    assert not viewer.ended


def test_approval_flow_over_http(make_server, long_clips, tmp_path):
    server = make_server(healing_config(tmp_path, long_clips, require_approval_above_risk="LOW"))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 50_000, 20)
    kill_ffmpeg(server)
    pending = server.wait_for(lambda: [p for p in server.get("/api/healing/pending").json()
                                       if p["issue"] == "FFMPEG_CRASH"], 10)
    fix_id = pending[0]["id"]
    assert pending[0]["strategy"] == "RESTART" and pending[0]["risk"] == "MEDIUM"
    assert server.post("/api/healing/pending/nope/approve").status_code == 404
    response = server.post(f"/api/healing/pending/{fix_id}/approve")
    assert response.status_code == 200, response.text
    server.wait_for(lambda: [e for e in events(server, action="verified")
                             if e["fix_id"] == fix_id], 15)
    again = server.post(f"/api/healing/pending/{fix_id}/approve")
    assert again.status_code == 409 and "no longer pending" in again.json()["error"]
    viewer.finish()
    assert not viewer.ended


@pytest.mark.slow
def test_unplayable_file_is_skipped_after_restart_fails(make_server, tmp_path):
    from tests.helpers import make_clip

    folder = tmp_path / "media"
    good = make_clip(tmp_path / "src" / "good.mkv", 20.0)
    folder.mkdir()
    data = good.read_bytes()
    (folder / "a-truncated.mkv").write_bytes(data[: len(data) * 3 // 10])  # dies at ~6 s
    (folder / "b-good.mkv").write_bytes(data)
    server = make_server(healing_config(tmp_path, folder))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    fixed = server.wait_for(lambda: [e for e in events(server, action="verified")
                                     if e["issue"] == "FFMPEG_CRASH"], 60)
    assert fixed[0]["strategy"] in ("RESTART", "FALLBACK")
    chain = [(e["strategy"], e["action"]) for e in events(server, kind="fix")]
    if fixed[0]["strategy"] == "FALLBACK":  # the restart hit the broken file again
        assert ("RESTART", "failed") in chain or ("RESTART", "rolled_back") in chain
    size = len(viewer.data)
    server.wait_for(lambda: len(viewer.data) > size + 30_000, 15)
    viewer.finish()
    assert not viewer.ended and viewer.error is None
