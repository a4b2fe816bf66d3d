"""A channel with pre-, mid- and post-roll and a fallback, played by a real server."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MEDIA_CACHE, Server, decode_errors, make_clip
from tests.stream_tools import ffmpeg_children

#: With pad_to_minutes 1 the 70-second programme holds the channel for 120 seconds:
#: programme 0-60, mid-roll 60-64, programme (from 60 s into the file) 64-74,
#: post-roll 74-78, fallback cut to 78-116, next programme's pre-roll 116-120.
CYCLE = 120.0


def _media() -> dict[str, Path]:
    root = MEDIA_CACHE / "breaks"
    make_clip(root / "show" / "feature.mp4", 70, pattern="testsrc2", tone=440)
    for i, pattern in enumerate(["smptebars", "rgbtestsrc", "yuvtestsrc"]):
        make_clip(root / "bumpers" / f"bumper-{i + 1}.mp4", 4, pattern=pattern, tone=660 + 110 * i)
    make_clip(root / "loop" / "loop.mp4", 40, pattern="testsrc", tone=220)
    return {name: root / name for name in ("show", "bumpers", "loop")}


def _config(tmp_path: Path, make_config: Any, epoch: float) -> dict[str, Any]:
    media = _media()
    config: dict[str, Any] = make_config(
        sources=[{"id": name, "type": "local", "path": str(path)} for name, path in media.items()],
        channels=[{"number": 1, "name": "Breaks", "schedule": {
            "type": "ordered", "collection": "show", "epoch": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            "pad_to_minutes": 1, "mid_roll_every_minutes": 1, "clip_cooldown_minutes": 0,
            "fillers": [
                {"collection": "bumpers", "roles": ["pre_roll", "mid_roll", "post_roll"]},
                {"collection": "loop", "roles": ["fallback"]},
            ]}}],
    )
    return config


def _position(epoch: float) -> float:
    return (time.time() - epoch) % CYCLE


@pytest.mark.slow
def test_breaks_decode_across_the_programme_and_its_breaks(
        tmp_path: Path, config_for: Any, make_server: Any) -> None:
    # The channel's epoch puts it a little before the mid-roll window once the server is
    # up, so the test does not wait up to a whole cycle for that window.
    epoch = float(int(time.time()) - 44)
    server: Server = make_server(_config(tmp_path, config_for, epoch))
    assert server.proc is not None
    # The guide is "offline" until the three sources are scanned (a loaded machine takes
    # a while); then start watching a few seconds before the mid-roll.
    server.wait_for(lambda: (server.get("/api/channels/1").json().get("now") or {}).get("kind")
                    not in (None, "offline"), timeout=60, interval=0.5)
    server.wait_for(lambda: 48 <= _position(epoch) <= 54, timeout=2 * CYCLE, interval=0.2)
    seen: list[tuple[str, str]] = []
    argvs: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            now = server.get("/api/channels/1").json().get("now") or {}
            step = (str(now.get("kind")), str(now.get("title")))
            if not seen or seen[-1] != step:
                seen.append(step)
            for pid in ffmpeg_children(server.proc.pid):  # type: ignore[union-attr]
                with contextlib.suppress(OSError):
                    argvs.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 36, timeout=240)
    finally:
        done.set()
        watcher.join(10)
    assert code == 0, errors
    assert "error" not in errors.lower(), errors
    kinds = [kind for kind, _ in seen]
    # programme -> mid-roll -> the rest of the programme -> post-roll -> fallback
    assert kinds[:5] == ["program", "filler", "program", "filler", "filler"], seen
    assert seen[0][1] == seen[2][1], seen
    resumed = [a for a in argvs if "feature.mp4" in a and re.search(r" -ss (6\d|7[0-4])\.", a)]
    assert resumed, "the programme did not resume 60 seconds into its file:\n" + "\n".join(
        sorted(set(argvs)))
