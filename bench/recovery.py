"""Recovery after kill -9 of a channel's ffmpeg, and on a starved host: self-healing
against the pipeline alone.

Runs a real server twice on the same small clips: once with self-healing (error screen
spliced at once, fresh ffmpeg hot-swapped in at the schedule position) and once with
``ai_auto_heal.enabled: false`` (the pipeline's own restart; note that its back-off
grows with repeated failures of one item, which is the behaviour being replaced).
For each kill it measures, with one connected viewer:

* kill -> error screen: the pipeline starts playing the error screen (polled at 20 Hz);
* kill -> programme: a fresh programme ffmpeg is playing again;
* bytes lost: the viewer's shortfall against its steady byte rate over kill..restore+1s.

The killed ffmpeg's output already in the pipe is still played, so "kill -> error screen"
includes that drain time.

The starved-host row runs a 1280x720 channel (the example config's video profile and
encoder options) with one busy loop per core, a TS viewer and an HLS viewer (both ffmpeg
clients copying what they receive to a file), again with and without self-healing:

* share of play speed: media seconds each viewer received over the wall seconds of the
  hog window (ffmpeg's ``-progress`` out_time), the slower viewer counts;
* timestamp errors: the clients' own complaints plus a decode of what they recorded
  ("non monotonically increasing dts", "Non-monotonous DTS", ...) plus packets whose DTS
  steps back (ffprobe);
* restarts: the pipeline's restart count over the window.

The lighter encoding of a starved host is the channel manager's and runs in both modes;
what differs is self-healing's reaction to the slow channel (predictions, the
degradation pattern, the error-screen hold), and that is what the row weighs.

Usage: python bench/recovery.py [--kills N] [--starved-seconds S] [--only kills|starved]
(defaults: 10 kills per mode, 30 s per starved mode; about four minutes in all).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml
from common import ROOT, result

from tests.helpers import (
    Server,
    base_config,
    clips_folder,
    ffmpeg_bin,
    probe_packets,
    timing_problems,
    write_config,
)

BAD_TIMESTAMPS = re.compile(r"monoton|invalid dts|out of order", re.IGNORECASE)


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


class Client(threading.Thread):
    """An ffmpeg viewer copying ``url`` to ``out``; notes its progress (media seconds)."""

    def __init__(self, url: str, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.err = out.with_suffix(".log")
        self.marks: list[tuple[float, float]] = []
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [ffmpeg_bin(), "-hide_banner", "-nostats", "-v", "warning", "-i", url,
                 "-c", "copy", "-f", "mpegts", "-y", str(out), "-progress", "pipe:1"],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                self.marks.append((time.monotonic(), int(value) / 1e6))

    def media_at(self, when: float) -> float:
        return max((m for t, m in self.marks if t <= when), default=0.0)

    def finish(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.join(10)

    def timestamp_errors(self) -> list[str]:
        """The client's complaints, a decode's complaints and DTS steps back in the file."""
        found = [f"client: {ln}" for ln in self.err.read_text(errors="replace").splitlines()
                 if BAD_TIMESTAMPS.search(ln)]
        if not self.out.exists() or self.out.stat().st_size == 0:
            return found
        decode = subprocess.run(
            [ffmpeg_bin(), "-hide_banner", "-v", "warning", "-i", str(self.out), "-f", "null",
             "-"], capture_output=True, timeout=300, check=False)
        found += [f"decode: {ln}" for ln in decode.stderr.decode(errors="replace").splitlines()
                  if BAD_TIMESTAMPS.search(ln)]
        found += [f"probe: {p}" for p in timing_problems(probe_packets(str(self.out), 3600, 300),
                                                         max_gap=3600) if "after" in p]
        return found


def example_video() -> dict[str, Any]:
    """The example config's ffmpeg profile (1280x720) and encoder options."""
    example = yaml.safe_load((ROOT / "config" / "exstreamtv.yaml").read_text())["ffmpeg"]
    return {"video": example["video"], "encoder_options": example["encoder_options"] or {}}


def run_starved(media: Path, tmp: Path, heal: bool, seconds: float) -> dict[str, float]:
    """One mode: a warm channel, then ``seconds`` with a busy loop on every core."""
    config = base_config(tmp, media, ai_auto_heal={"enabled": heal})
    config["ffmpeg"] = {**config["ffmpeg"], **example_video(),
                        "error_screen": {"visual": "slate", "audio": "silent"}}
    server = Server(write_config(tmp / f"starved-{heal}.yaml", config)).start()
    clients = [Client(f"{server.url}/stream/channels/1.{kind}", tmp / f"{kind}-{heal}.ts")
               for kind in ("ts", "m3u8")]
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(c.media_at(time.monotonic()) > 4
                                                      for c in clients):
            time.sleep(0.2)
        before = status(server).get("restarts", 0)
        hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                for _ in range(os.cpu_count() or 1)]
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
        end = status(server)
        restarts = end.get("restarts", before) - before
        work_level = end.get("work_level", 0)
    finally:
        for hog in hogs:
            hog.send_signal(signal.SIGKILL)
            hog.wait()
        for client in clients:
            client.finish()
        server.stop(30)
    shares = [(c.media_at(t1) - c.media_at(t0)) / (t1 - t0) for c in clients]
    errors = [f"{c.out.name} {line}" for c in clients for line in c.timestamp_errors()]
    for line in errors[:6]:
        print(f"  {'healing' if heal else 'baseline'}: {line[:160]}")
    return {"share": min(shares), "ts_share": shares[0], "hls_share": shares[1],
            "errors": len(errors), "restarts": restarts, "work_level": work_level}


def starved_row(media: Path, tmp: Path, seconds: float) -> None:
    runs = {heal: run_starved(media, tmp, heal, seconds) for heal in (True, False)}
    for heal, r in runs.items():
        print(f"{'healing' if heal else 'baseline'} on a starved host ({os.cpu_count()} hogs, "
              f"{seconds:.0f} s): play speed TS {r['ts_share']:.0%}, HLS {r['hls_share']:.0%}; "
              f"timestamp errors {r['errors']:.0f}; restarts {r['restarts']:.0f}; work level "
              f"at the end {r['work_level']:.0f}")
    healed, plain = runs[True], runs[False]
    print(f"ratio (healing / baseline): share of play speed "
          f"{healed['share'] / max(plain['share'], 1e-3):.2f}")
    result("starved host 1280x720, slower viewer's share of play speed",
           f"{healed['share']:.0%}", f"no self-healing {plain['share']:.0%}",
           healed["share"] / max(plain["share"], 1e-3),
           f"a busy loop per core, {seconds:.0f} s, TS + HLS viewers; timestamp errors "
           f"{healed['errors']:.0f} vs {plain['errors']:.0f}; restarts "
           f"{healed['restarts']:.0f} vs {plain['restarts']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per mode")
    parser.add_argument("--starved-seconds", type=float, default=30.0,
                        help="seconds with every core busy, per mode")
    parser.add_argument("--only", choices=("kills", "starved"), help="run one of the two")
    args = parser.parse_args()
    media = clips_folder("heal", 2, 20.0)
    if args.only != "kills":
        with tempfile.TemporaryDirectory() as tmp:
            starved_row(media, Path(tmp), args.starved_seconds)
    if args.only == "starved":
        return
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
