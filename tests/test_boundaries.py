"""No hole at item boundaries, whatever the containers' start times.

A recorded mix of .mkv items (video start_time 0.021 s, audio 0, as ffmpeg's Matroska
muxer writes them) and .mp4 items (both at 0), each a few seconds long, is played
through a real server; ffprobe reads the channel across several boundaries and every
stream's DTS must advance by one frame at a time: no gap, no step back.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import Server, make_clip, probe_packets


def start_times(path: Path) -> dict[str, float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_type,start_time", "-of", "json", str(path)],
                         capture_output=True, check=True, timeout=60).stdout
    return {s["codec_type"]: float(s["start_time"]) for s in json.loads(out)["streams"]}


#: The largest step, in frames, each stream may take: video frame after frame; audio may
#: lose up to half a frame where an item's first audio frame overlapped the last one.
MAX_STEP = {"video": 1.2, "audio": 1.55}


def dts_gaps(packets: list[dict[str, Any]]) -> list[str]:
    """Per stream: steps back, and steps over ``MAX_STEP`` of the stream's usual frame."""
    by_stream: dict[str, list[float]] = {}
    for p in packets:
        if p.get("dts_time") is not None and p["codec_type"] in ("video", "audio"):
            by_stream.setdefault(p["codec_type"], []).append(float(p["dts_time"]))
    problems = []
    for kind, times in by_stream.items():
        steps = [b - a for a, b in itertools.pairwise(times)]
        usual = statistics.median(steps)
        for at, step in zip(times[1:], steps, strict=True):
            if step <= 0 or step > usual * MAX_STEP[kind]:
                problems.append(f"{kind}: step of {step * 1000:.1f} ms at {at:.3f}s "
                                f"(frame {usual * 1000:.1f} ms)")
    return problems


def test_mkv_and_mp4_mix_has_no_dts_gap_at_boundaries(
        tmp_path: Path, make_server: Callable[..., Server],
        config_for: Callable[..., dict[str, Any]]) -> None:
    media = tmp_path / "media"
    for n, ext in enumerate(("mkv", "mp4", "mkv", "mp4")):
        make_clip(media / f"{n} item.{ext}", 3.0, tone=300 + 100 * n)
    mkv = start_times(media / "0 item.mkv")
    assert mkv["video"] > 0.01 and mkv["audio"] == 0.0, mkv  # the awkward case is there
    config = config_for()
    config["sources"][0]["path"] = str(media)
    server = make_server(config)
    packets = probe_packets(f"{server.url}/stream/channels/1.ts", 16, timeout=120)
    video = [float(p["dts_time"]) for p in packets if p["codec_type"] == "video"]
    assert video[-1] - video[0] >= 14.0, "less than 14 s of video was read"
    assert server.log.count("' from ") >= 5, "fewer than four boundaries were crossed"
    problems = dts_gaps(packets)
    assert problems == [], "\n".join(problems)
