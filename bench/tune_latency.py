"""Tune latency: from the HTTP request to the first TS byte and the first video keyframe.

Compared in the same run with
  * raw remux:      ffmpeg -re -i clip -c copy -f mpegts -
  * raw transcode:  ffmpeg transcoding the clip to the channel's profile (our argv, no server)
and, for a channel that is already running, the latency for a second viewer to join.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from common import ROOT, KeyframeWatch, free_port, median, result, time_process

sys.path.insert(0, str(ROOT))
from exstreamtv.ffmpeg.command import MediaInput, OutputProfile, ServiceInfo, build_command
from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.ffmpeg.presets import SOFTWARE
from tests.helpers import clips_folder

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def tune(url: str) -> tuple[float, float]:
    started = time.perf_counter()
    watch = KeyframeWatch(started)
    with httpx.stream("GET", url, timeout=30) as response:
        for data in response.iter_raw():
            if watch.feed(data):
                break
    return watch.first_byte or float("nan"), watch.first_keyframe or float("nan")


def main() -> None:
    clips = clips_folder("bench", 3, 30.0)
    clip = clips / "clip-01.mp4"
    ffmpeg = find_ffmpeg().ffmpeg
    profile = OutputProfile(width=640, height=360, fps=25, video_bitrate_kbps=1200)
    raw_copy = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy",
                "-f", "mpegts", "-"]
    raw_transcode = build_command(ffmpeg, MediaInput(str(clip), 0.0, 30.0, 0, 1), profile,
                                  SOFTWARE, ServiceInfo(1, "bench"))

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = {
            "server": {"port": port, "data_directory": f"{tmp}/data"},
            "ffmpeg": {"video": {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 1200}},
            "sources": [{"id": "clips", "type": "local", "path": str(clips)}],
            "channels": [{"number": 1, "name": "Bench",
                          "schedule": {"type": "ordered", "collection": "clips"}}],
            "streaming": {"idle_stop_seconds": 0.5},
        }
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        server = subprocess.Popen([sys.executable, "-m", "exstreamtv", "serve", "--config",
                                   str(path)], cwd=tmp, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    health = httpx.get(f"{base}/api/health", timeout=1).json()
                    if health["components"]["library"]["sources"]["clips"]["state"] == "ok":
                        break
                except (httpx.HTTPError, KeyError):
                    pass
                time.sleep(0.1)
            url = f"{base}/stream/channels/1.ts"
            cold, copy, trans, warm = [], [], [], []
            for _ in range(RUNS):
                copy.append(time_process(raw_copy))
                trans.append(time_process(raw_transcode))
                cold.append(tune(url))
                time.sleep(1.5)  # let the channel stop again: every ours-run is a cold tune
            with httpx.stream("GET", url, timeout=30) as first:
                chunks = first.iter_raw()
                next(chunks)
                for _ in range(RUNS):
                    for _ in range(3):
                        next(chunks)
                    warm.append(tune(url))
        finally:
            server.terminate()
            server.wait(15)

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return median([r[i] for r in rows])

    print(f"runs: {RUNS}  (medians, milliseconds)")
    print(f"{'':28}{'first byte':>12}{'first keyframe':>16}")
    for name, rows in (("raw ffmpeg -re -c copy", copy), ("raw ffmpeg transcode", trans),
                       ("ExStreamTV cold channel", cold), ("ExStreamTV running channel", warm)):
        print(f"{name:28}{med(rows, 0) * 1000:12.1f}{med(rows, 1) * 1000:16.1f}")
    result("tune cold, first keyframe vs raw copy", f"{med(cold, 1) * 1000:.0f} ms",
           f"{med(copy, 1) * 1000:.0f} ms", med(cold, 1) / med(copy, 1))
    result("tune cold, first keyframe vs raw transcode", f"{med(cold, 1) * 1000:.0f} ms",
           f"{med(trans, 1) * 1000:.0f} ms", med(cold, 1) / med(trans, 1))
    result("tune running channel, first keyframe vs raw copy", f"{med(warm, 1) * 1000:.1f} ms",
           f"{med(copy, 1) * 1000:.0f} ms", med(warm, 1) / med(copy, 1), "target < 50 ms")


if __name__ == "__main__":
    main()
