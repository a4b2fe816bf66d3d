"""Tune latency: a cold channel and a running one, against raw ffmpeg in the same run.

Cold: GET /stream/channels/1.ts on a stopped channel -> first byte and first keyframe
(TS random-access indicator). Baselines, measured now on the same clip: raw
``ffmpeg -re -i clip -c copy -f mpegts -`` and raw transcoding to the same profile.
Warm: a second viewer joining a running channel -> first keyframe (target < 50 ms).
Run: python bench/bench_tune.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time

from _common import first_keyframe_offset, http_stream, start_server, table
from common import result

from tests.helpers import TEST_FFMPEG, clips_folder


def raw_ffmpeg(extra: list[str]) -> tuple[float, float]:
    """(first byte, first keyframe) seconds for raw ffmpeg writing MPEG-TS to a pipe."""
    clip = sorted(clips_folder("basic", 3, 4.0).glob("*.mp4"))[0]
    start = time.monotonic()
    proc = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i",
                             str(clip), *extra, "-f", "mpegts", "-"],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    data = b""
    first_byte = None
    while True:
        chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
        if not chunk:
            break
        if first_byte is None:
            first_byte = time.monotonic() - start
        data += chunk
        if first_keyframe_offset(data) is not None:
            break
    keyframe = time.monotonic() - start
    proc.kill()
    proc.wait()
    return first_byte or keyframe, keyframe


async def tune(port: int) -> tuple[float, float]:
    """(first byte, first keyframe) seconds for one GET of channel 1."""
    start = time.monotonic()
    reader, writer = await http_stream("127.0.0.1", port, "/stream/channels/1.ts")
    data = b""
    first_byte = None
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("stream ended")
            if first_byte is None:
                first_byte = time.monotonic() - start
            data += chunk
            if first_keyframe_offset(_dechunk(data)) is not None:
                return first_byte, time.monotonic() - start
    finally:
        writer.close()


def _dechunk(data: bytes) -> bytes:
    """Strip HTTP chunked-encoding framing (enough to find TS packets)."""
    out, i = bytearray(), 0
    while True:
        end = data.find(b"\r\n", i)
        if end < 0:
            return bytes(out)
        size = int(data[i:end] or b"0", 16)
        if size == 0 or end + 2 + size > len(data):
            out += data[end + 2 : end + 2 + size]
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        i = end + 2 + size + 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    v = TEST_FFMPEG["video"]
    transcode = ["-c:v", "libx264", "-preset", "ultrafast", "-s", f"{v['width']}x{v['height']}",
                 "-r", str(v["fps"]), "-b:v", f"{v['bitrate_kbps']}k", "-g", "25",
                 "-c:a", "aac", "-b:a", "64k"]
    copy_runs = [raw_ffmpeg(["-c", "copy"]) for _ in range(args.rounds)]
    trans_runs = [raw_ffmpeg(transcode) for _ in range(args.rounds)]
    server = start_server(streaming={"idle_stop_seconds": 0.5})
    try:
        cold_runs = []
        for _ in range(args.rounds):
            server.wait_for(lambda: server.get("/api/health").json()
                            ["components"]["channels"]["running"] == {}, timeout=20)
            cold_runs.append(asyncio.run(tune(server.port)))
        warm_runs = asyncio.run(_warm(server.port, args.rounds * 5))
    finally:
        server.stop()
    med = statistics.median
    copy_k, trans_k = med(k for _, k in copy_runs), med(k for _, k in trans_runs)
    cold_b, cold_k = med(b for b, _ in cold_runs), med(k for _, k in cold_runs)
    warm_k = med(k for _, k in warm_runs)
    print("bench_tune (medians)")
    table([
        ("raw ffmpeg -c copy: first byte / keyframe",
         f"{med(b for b, _ in copy_runs) * 1000:.0f} / {copy_k * 1000:.0f} ms"),
        ("raw ffmpeg transcode: first byte / keyframe",
         f"{med(b for b, _ in trans_runs) * 1000:.0f} / {trans_k * 1000:.0f} ms"),
        ("cold channel: first byte / keyframe", f"{cold_b * 1000:.0f} / {cold_k * 1000:.0f} ms"),
        ("running channel: first keyframe", f"{warm_k * 1000:.1f} ms (target < 50 ms)"),
    ])
    result("cold channel: first keyframe", f"{cold_k * 1000:.0f} ms",
           f"raw ffmpeg transcode {trans_k * 1000:.0f} ms", cold_k / trans_k,
           f"raw ffmpeg -c copy {copy_k * 1000:.0f} ms ({cold_k / copy_k:.2f}x)")
    result("running channel: first keyframe", f"{warm_k * 1000:.1f} ms",
           f"cold channel {cold_k * 1000:.0f} ms", warm_k / cold_k, "target < 50 ms")


async def _warm(port: int, rounds: int) -> list[tuple[float, float]]:
    """Joins of a running channel while one viewer keeps it on air."""
    holder = await http_stream("127.0.0.1", port, "/stream/channels/1.ts")
    keep = asyncio.get_running_loop().create_task(_drain(holder[0]))
    try:
        await asyncio.sleep(2.0)
        runs = []
        for _ in range(rounds):
            runs.append(await tune(port))
            await asyncio.sleep(0.1)
        return runs
    finally:
        keep.cancel()
        holder[1].close()


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


if __name__ == "__main__":
    main()
