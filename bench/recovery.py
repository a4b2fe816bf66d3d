"""Recovery after kill -9 of a channel's ffmpeg: self-healing against a plain restart.

Runs a real server twice on the same small clips: once with self-healing (error screen
spliced at once, fresh ffmpeg hot-swapped in at the schedule position) and once with
``ai_auto_heal.enabled: false`` (the pipeline's own restart; note that its back-off
grows with repeated failures of one item, which is the behaviour being replaced).
For each kill it measures, with one connected viewer:

* kill -> error screen: the pipeline starts playing the error screen (polled at 20 Hz);
* kill -> programme: a fresh programme ffmpeg is playing again;
* bytes lost: the viewer's shortfall against its steady byte rate over kill..restore+1s.

The killed ffmpeg's output already in the pipe is still played, so "kill -> error screen"
includes that drain time. Usage: python bench/recovery.py [--kills N] (default 10 per
mode, 20 kills in all).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from common import result

from tests.helpers import Server, base_config, clips_folder, write_config


class Viewer(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.total = 0
        self.arrivals: list[tuple[float, int]] = []
        self.stop = False

    def run(self) -> None:
        with httpx.stream("GET", self.url, timeout=30) as response:
            for chunk in response.iter_bytes():
                self.total += len(chunk)
                self.arrivals.append((time.monotonic(), self.total))
                if self.stop:
                    return

    def bytes_between(self, a: float, b: float) -> int:
        first = next((n for t, n in self.arrivals if t >= a), self.total)
        last = next((n for t, n in reversed(self.arrivals) if t <= b), first)
        return max(0, last - first)


def status(server: Server) -> dict[str, Any]:
    try:
        result: dict[str, Any] = server.get("/api/channels/1", timeout=30).json()["pipeline"]
    except httpx.HTTPError:
        return {}
    return result


def one_kill(server: Server, viewer: Viewer) -> dict[str, float] | None:
    pipe = status(server)
    pid = pipe.get("pid")
    if pipe.get("kind") != "program" or not pid:
        return None
    try:
        os.kill(int(pid), signal.SIGKILL)
    except ProcessLookupError:
        return None
    t0 = time.monotonic()
    error_at = restored_at = None
    while time.monotonic() - t0 < 15:
        pipe = status(server)
        now = time.monotonic()
        if pipe.get("kind") == "error" and error_at is None:
            error_at = now
        if pipe.get("kind") == "program" and pipe.get("pid") not in (pid, None):
            restored_at = now
            break
        time.sleep(0.05)
    if restored_at is None:
        return None
    return {"t0": t0, "error": (error_at or restored_at) - t0, "restore": restored_at - t0,
            "saw_error": 1.0 if error_at else 0.0}


def run_mode(media: Path, tmp: Path, heal: bool, kills: int) -> dict[str, Any]:
    config = base_config(tmp, media, ai_auto_heal={"enabled": heal})
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": {"visual": "slate", "audio": "silent"}}
    server = Server(write_config(tmp / f"bench-{heal}.yaml", config)).start()
    try:
        viewer = Viewer(f"{server.url}/stream/channels/1.ts")
        viewer.start()
        while viewer.total < 100_000:
            time.sleep(0.1)
        t = time.monotonic()
        start_bytes = viewer.total
        time.sleep(3)
        rate = (viewer.total - start_bytes) / (time.monotonic() - t)
        results = []
        while len(results) < kills:
            result = one_kill(server, viewer)
            if result is None:
                time.sleep(0.3)
                continue
            time.sleep(1.0)
            window = result["restore"] + 1.0
            got = viewer.bytes_between(result["t0"], result["t0"] + window)
            result["lost"] = max(0.0, rate * window - got)
            results.append(result)
            time.sleep(2.5)  # past the fix's verification window
        viewer.stop = True
        return {"rate": rate, "results": results}
    finally:
        server.stop(30)


def summary(name: str, data: dict[str, Any]) -> dict[str, float]:
    res = data["results"]
    restore = [r["restore"] for r in res]
    error = [r["error"] for r in res if r["saw_error"]]
    lost = [r["lost"] for r in res]
    out = {
        "restore_median": statistics.median(restore), "restore_worst": max(restore),
        "error_median": statistics.median(error) if error else float("nan"),
        "error_worst": max(error) if error else float("nan"),
        "error_shown": len(error), "lost_mean": statistics.mean(lost),
    }
    print(f"{name}: kill->error screen median {out['error_median']:.2f}s worst "
          f"{out['error_worst']:.2f}s (shown {len(error)}/{len(res)}); kill->programme median "
          f"{out['restore_median']:.2f}s worst {out['restore_worst']:.2f}s; "
          f"bytes lost/kill {out['lost_mean'] / 1024:.0f} KiB (steady {data['rate'] / 1024:.0f} KiB/s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per mode")
    args = parser.parse_args()
    media = clips_folder("heal", 2, 20.0)
    with tempfile.TemporaryDirectory() as tmp:
        healed = summary("healing", run_mode(media, Path(tmp), True, args.kills))
        plain = summary("baseline", run_mode(media, Path(tmp), False, args.kills))
    print(f"ratio (healing / baseline): kill->programme median "
          f"{healed['restore_median'] / plain['restore_median']:.2f}, worst "
          f"{healed['restore_worst'] / plain['restore_worst']:.2f}; bytes lost "
          f"{healed['lost_mean'] / max(plain['lost_mean'], 1.0):.2f}")
    result("ffmpeg kill -> programme again, median", f"{healed['restore_median']:.2f} s",
           f"no self-healing {plain['restore_median']:.2f} s",
           healed["restore_median"] / plain["restore_median"],
           f"{args.kills} kills per mode; worst {healed['restore_worst']:.2f} s vs "
           f"{plain['restore_worst']:.2f} s; error screen after a median "
           f"{healed['error_median']:.2f} s")


if __name__ == "__main__":
    main()
