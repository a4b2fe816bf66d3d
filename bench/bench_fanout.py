"""Fan-out at the profile people watch: 50, 200 and 500 viewers of one 720p channel.

The channel plays a generated 1280x720, 30 fps, 3000 kbit/s H.264 + 160 kbit/s AAC clip
(testsrc2 + sine, the example config's profile) passed through (``copy: true``) so the
machine's cores go to the fan-out, not to an encoder. For each viewer count a small C
client (``bench/c/viewers.c``) opens the connections, every viewer reads as fast as data
comes, and over a measuring window it is reported:

* the channel's own production: bytes it produced / its play-speed rate (the rate comes
  from the stream's own clock, PCR, measured on a sample of the stream), and its output
  clock over the wall clock each second (``delivered_speed``, the last 5 s; it reads about
  1% low, the time since the last chunk counting as silence);
* what the viewers got: bytes each received / the play-speed rate (mean and slowest), and
  the same against what the channel produced in the window (the picture makes its byte
  rate vary by a few percent between windows, so this is the fairer share);
* server CPU (share of one core) and RSS growth per viewer, from /proc.

The same viewers, in the same run, against two baselines streaming the same bytes at the
same rate: a bare Quart/Hypercorn app (one paced generator per connection) and a minimal
C server (``bench/c/ceiling.c``: one thread, a 10 ms tick), the practical ceiling of the
machine. The machine may be shared: the load average is printed; compare ratios.

Run: python bench/bench_fanout.py [--quick] [--counts 50,200,500] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import cpu_seconds, rss_bytes, table
from common import result

from tests.helpers import MEDIA_CACHE, Server, base_config, ffmpeg_bin, free_port, write_config

HERE = Path(__file__).resolve().parent
SAMPLE_SECONDS = 10.0
PROFILE = {
    "copy": True,
    "video": {"width": 1280, "height": 720, "fps": 30, "bitrate_kbps": 3000,
              "keyframe_seconds": 2.0},
    "audio": {"bitrate_kbps": 160, "channels": 2},
}

QUART_APP = textwrap.dedent('''
    import asyncio, sys
    from quart import Quart, Response
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    app = Quart(__name__)
    DATA = open(sys.argv[2], "rb").read()
    RATE = float(sys.argv[3])
    TICK = 0.05

    @app.route("/stream")
    async def stream():
        async def body():
            loop = asyncio.get_running_loop()
            start, sent = loop.time(), 0
            while True:
                due = int((loop.time() - start) * RATE)
                if due > sent:
                    off = sent % len(DATA)
                    piece = DATA[off:off + (due - sent)]
                    sent += len(piece)
                    yield piece
                await asyncio.sleep(TICK)
        r = Response(body(), mimetype="video/mp2t")
        r.timeout = None
        return r

    c = Config(); c.bind = [f"127.0.0.1:{sys.argv[1]}"]; c.accesslog = None; c.backlog = 1024
    asyncio.run(serve(app, c))
''')


@dataclass
class Run:
    """One viewer count against one server."""

    label: str
    count: int
    shares: list[float]  # per viewer: bytes in the window / play-speed bytes
    refused: int
    cpu: float  # share of one core over the window
    rss_per_viewer: float
    production: float | None = None  # the channel's own, share of play speed
    clock: list[float] = field(default_factory=list)  # its output clock / wall, each second

    def line(self) -> str:
        mean = statistics.mean(self.shares) if self.shares else 0.0
        low = min(self.shares) if self.shares else 0.0
        text = f"viewers mean {mean:.1%} min {low:.1%}"
        if self.production is not None:
            text = f"channel {self.production:.1%}, " + text
        if self.clock:
            text = (f"channel clock mean {statistics.mean(self.clock):.1%} "
                    f"min {min(self.clock):.1%}, " + text)
        if self.production and self.count > 1:
            # Against what the channel made in the same window (its bytes vary with the
            # picture, so the play-speed byte rate of the sample is only an estimate).
            text += (f" (of the channel's output: mean {mean / self.production:.1%} "
                     f"min {low / self.production:.1%})")
        if self.refused:
            text += f", {self.refused} refused"
        if self.count == 1:
            return text + " (the reference sample, before the fan-out)"
        return (text + f", CPU {self.cpu:.0%} ({self.cpu / self.count * 1000:.2f} ms/s "
                f"per viewer), RSS {self.rss_per_viewer / 1024:+.0f} KiB/viewer")


def build_tools(tmp: Path) -> tuple[Path, Path]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_fanout needs a C compiler (apt-get install gcc) for its viewers")
    out = []
    for name in ("viewers", "ceiling"):
        binary = tmp / name
        subprocess.run([cc, "-O2", "-o", str(binary), str(HERE / "c" / f"{name}.c")], check=True)
        out.append(binary)
    return out[0], out[1]


def make_media() -> Path:
    """A 10-second clip at the example profile (cached)."""
    folder = MEDIA_CACHE / "fanout-720p-10s"
    clip = folder / "testsrc2-720p-10s.mp4"
    if not clip.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = clip.with_name(f".{os.getpid()}.mp4")
        subprocess.run([
            ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "10",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60",
            "-b:v", "3000k", "-minrate", "3000k", "-maxrate", "3000k", "-bufsize", "3000k",
            "-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "160k", "-ac", "2",
            "-metadata:s:a:0", "language=eng", str(tmp)], check=True)
        tmp.replace(clip)
    return folder


async def sample_stream(port: int, seconds: float) -> bytes:
    """``seconds`` of the channel's bytes (HTTP/1.0: no chunked framing in between)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream/channels/1.ts HTTP/1.0\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    data = bytearray()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            piece = await reader.read(65536)
            if not piece:
                break
            data += piece
    finally:
        writer.close()
    return bytes(data)


async def warm_until_copy(server: Server, timeout: float = 120.0) -> None:
    """Keep one viewer on the channel until an item plays passed through (copy)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /stream/channels/1.ts HTTP/1.0\r\n\r\n")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            await reader.read(65536)
            lines = [ln for ln in server.log.splitlines() if "planner" in ln]
            if lines and "(copy:" in lines[-1]:
                return
        print("warning: the channel never played a passed-through item; it transcodes")
    finally:
        writer.close()


def play_rate(data: bytes) -> float:
    """Bytes per second of play, from the stream's own clock (PCR)."""
    marks: list[tuple[int, float]] = []
    for i in range(data.find(b"\x47"), len(data) - 187, 188):
        p = data[i:i + 12]
        if p[0] == 0x47 and p[3] & 0x20 and p[4] >= 7 and p[5] & 0x10:
            base = (p[6] << 25) | (p[7] << 17) | (p[8] << 9) | (p[9] << 1) | (p[10] >> 7)
            marks.append((i, base / 90000.0))
    (b0, c0), (b1, c1) = marks[len(marks) // 10], marks[-1]
    return (b1 - b0) / (c1 - c0)


def run_viewers(viewers: Path, port: int, path: str, count: int, warmup: float,
                window: float, pid: int, rate: float, label: str,
                produced: object = None, clock: object = None) -> Run:
    """Start ``count`` viewers; sample the server at the window's edges (and, with
    ``clock``, the channel's own play speed each second in between)."""
    base_rss = rss_bytes(pid)
    proc = subprocess.Popen([str(viewers), "127.0.0.1", str(port), path, str(count),
                             str(warmup), str(window)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    made0 = cpu0 = t0 = 0.0
    made1 = cpu1 = t1 = 0.0
    rss = base_rss
    lines = []
    speeds: list[float] = []
    measuring = threading.Event()

    def sample_clock() -> None:
        while measuring.wait(1.0) and callable(clock):
            speed = clock()
            if speed is not None and measuring.is_set():
                speeds.append(speed)
            time.sleep(1.0)

    for line in proc.stdout:
        line = line.strip()
        if line == "START":
            t0, cpu0 = time.monotonic(), cpu_seconds(pid)
            made0 = produced() if callable(produced) else 0
            measuring.set()
            threading.Thread(target=sample_clock, daemon=True).start()
        elif line == "END":
            measuring.clear()
            t1, cpu1, rss = time.monotonic(), cpu_seconds(pid), rss_bytes(pid)
            made1 = produced() if callable(produced) else 0
        elif line:
            lines.append(line.split())
    proc.wait()
    good = [int(b) for b, status in lines if status == "200"]
    refused = sum(1 for _, status in lines if status != "200")
    elapsed = max(t1 - t0, 1e-6)
    run = Run(label, count, [b / (rate * window) for b in good], refused,
              (cpu1 - cpu0) / elapsed, (rss - base_rss) / count)
    if callable(produced):
        run.production = (made1 - made0) / (rate * elapsed)
    run.clock = speeds
    time.sleep(2.0)  # let the server drop the closed connections
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="50,200,500")
    parser.add_argument("--quick", action="store_true", help="20 and 50 viewers, short windows")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window")
    parser.add_argument("--only", default="exstreamtv,quart,ceiling",
                        help="which servers to measure (comma list)")
    args = parser.parse_args()
    counts = [20, 50] if args.quick else [int(c) for c in args.counts.split(",")]
    window = 6.0 if args.quick else args.seconds
    warmup = 3.0
    only = set(args.only.split(","))
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="exstreamtv-fanout-"))
    viewers, ceiling = build_tools(tmp)
    config = base_config(tmp, make_media(), ffmpeg=PROFILE,
                         session_manager={"max_sessions_per_channel": 2000},
                         streaming={"idle_stop_seconds": 60})
    server = Server(write_config(tmp / "exstreamtv.yaml", config)).start()
    runs: list[Run] = []
    try:
        # The channel starts mid-item, transcoding until the next item; measure once the
        # source is passed through, so the cores go to the fan-out.
        asyncio.run(warm_until_copy(server))
        assert server.proc is not None

        def produced() -> int:
            return int(server.get("/api/channels/1", timeout=30).json()["pipeline"]["bytes"])

        def clock() -> float | None:
            """The channel's output clock over the wall clock (its last 5 s)."""
            speed = server.get("/api/channels/1", timeout=30).json()["pipeline"][
                "delivered_speed"]
            return None if speed is None else float(speed)

        made0, t0 = produced(), time.monotonic()
        alone_clock: list[float] = []
        sampling = threading.Event()

        def sample_alone() -> None:
            while not sampling.wait(1.0):
                if (speed := clock()) is not None:
                    alone_clock.append(speed)

        sampler = threading.Thread(target=sample_alone, daemon=True)
        sampler.start()
        sample = asyncio.run(sample_stream(server.port, SAMPLE_SECONDS))
        sampling.set()
        sampler.join()
        made1, t1 = produced(), time.monotonic()
        rate = play_rate(sample)
        (tmp / "sample.ts").write_bytes(sample)
        # The channel with one viewer: what the host allows it before any fan-out.
        alone = Run("exstreamtv", 1, [len(sample) / (rate * SAMPLE_SECONDS)], 0, 0.0, 0.0,
                    (made1 - made0) / (rate * (t1 - t0)), alone_clock)
        runs.append(alone)

        if "exstreamtv" in only:
            for count in counts:
                runs.append(run_viewers(viewers, server.port, "/stream/channels/1.ts", count,
                                        warmup, window, server.proc.pid, rate, "exstreamtv",
                                        produced, clock))
    finally:
        server.stop(timeout=60)
    baselines = {
        "bare Quart": [sys.executable, "-c", QUART_APP],
        "C ceiling": [str(ceiling)],
    }
    for label, argv in baselines.items():
        if label.split()[-1].lower() not in only:
            continue
        port = free_port()
        proc = subprocess.Popen([*argv, str(port), str(tmp / "sample.ts"), str(rate)])
        try:
            time.sleep(2.0)
            for count in counts:
                runs.append(run_viewers(viewers, port, "/stream", count, warmup, window,
                                        proc.pid, rate, label))
        finally:
            proc.kill()  # a graceful stop would wait on its endless responses
            proc.wait()
    load_end = os.getloadavg()[0]
    counts = [1, *counts]
    print(f"bench_fanout: channel {rate * 8 / 1000:.0f} kbit/s at play speed; "
          f"{os.cpu_count()} cores, load average {load_start:.1f} at start, "
          f"{load_end:.1f} at the end")
    table([(f"{r.label} {r.count:>3} viewers", r.line()) for r in runs])
    ours = {r.count: r for r in runs if r.label == "exstreamtv"}
    for label in ("C ceiling", "bare Quart"):
        base = {r.count: r for r in runs if r.label == label}
        for count in counts:
            if count == 1 or count not in ours or count not in base:
                continue
            o, b = ours[count], base[count]
            o_min = min(o.shares, default=0.0)
            b_min = min(b.shares, default=0.0)
            result(f"fan-out {count} viewers 720p, slowest viewer's share of play speed",
                   f"{o_min:.1%}", f"{label} {b_min:.1%}", o_min / max(b_min, 1e-9),
                   f"mean {statistics.mean(o.shares or [0]):.1%}; channel "
                   f"{(o.production or 0):.1%} (its clock min "
                   f"{min(o.clock, default=0.0):.1%}); slowest viewer "
                   f"{o_min / (o.production or 1):.1%} of the channel's output; "
                   f"load {load_end:.1f}")
            result(f"fan-out {count} viewers 720p, server CPU per viewer",
                   f"{o.cpu / count * 1000:.2f} ms/s", f"{label} {b.cpu / count * 1000:.2f} ms/s",
                   o.cpu / max(b.cpu, 1e-9),
                   f"RSS {o.rss_per_viewer / 1024:+.0f} KiB/viewer (baseline "
                   f"{b.rss_per_viewer / 1024:+.0f})")


if __name__ == "__main__":
    main()
