"""Probing 200 files: ExStreamTV's parallel probe_many vs serial ffprobe calls, same run.

Generates three tiny clips (320x180, 1 s; MP4, MKV with two audio tracks and a
subtitle, MPEG-TS) and 200 symlinks to them in a temporary folder, then times

* baseline: one ``ffprobe -show_format -show_streams -of json`` per file, one after
  the other (what a naive library scan does), and
* ours: ``probe_many`` (bounded parallel probing parsed into MediaInfo, sidecar lookup
  included), with both engines: ``ffprobe`` (parallel subprocesses, the default when
  ffprobe is installed) and ``pyav`` (in-process, threads; ``probe_engine: pyav``).

Prints the times and the speed-up ratios against the serial baseline. ``python bench/probe.py [--files N]
[--concurrency C]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import result

from exstreamtv.media.probe import probe_many


def make_clips(folder: Path) -> list[Path]:
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "64k"]
    srt = folder / "sub.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    clips = [folder / "a.mp4", folder / "b.mkv", folder / "c.ts"]
    subprocess.run([*base, str(clips[0])], check=True)
    subprocess.run([*base[:13], "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000",
                    "-i", str(srt), *base[13:], "-map", "0:v", "-map", "1:a", "-map", "2:a",
                    "-map", "3:s", "-c:s", "srt", str(clips[1])], check=True)
    subprocess.run([*base, str(clips[2])], check=True)
    return clips


def serial_ffprobe(ffprobe: str, files: list[str]) -> float:
    start = time.perf_counter()
    for path in files:
        subprocess.run([ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json",
                        path], capture_output=True, check=True)
    return time.perf_counter() - start


def parallel_probe(ffprobe: str, files: list[str], concurrency: int, engine: str) -> float:
    start = time.perf_counter()
    results = asyncio.run(probe_many(files, ffprobe, concurrency, engine))
    elapsed = time.perf_counter() - start
    failed = [p for p, r in results.items() if isinstance(r, Exception)]
    if failed:
        raise SystemExit(f"{len(failed)} files failed to probe, e.g. {failed[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=max(4, 2 * (os.cpu_count() or 2)))
    args = parser.parse_args()
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise SystemExit("ffprobe is needed for the baseline")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = make_clips(folder)
        files = []
        for i in range(args.files):
            clip = clips[i % len(clips)]
            link = folder / "library" / f"file-{i:03d}{clip.suffix}"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(clip)
            files.append(str(link))
        serial_ffprobe(ffprobe, files[:5])  # warm the page cache and the binary
        serial = serial_ffprobe(ffprobe, files)
        sub = parallel_probe(ffprobe, files, args.concurrency, "ffprobe")
        inproc = parallel_probe(ffprobe, files, args.concurrency, "pyav")
    load = os.getloadavg()[0]
    print(f"probe {args.files} files (cores {os.cpu_count()}, load {load:.1f}): "
          f"serial ffprobe {serial:.2f}s; probe_many concurrency {args.concurrency}: "
          f"ffprobe engine {sub:.2f}s (ratio {serial / sub:.2f}x), "
          f"pyav engine {inproc:.2f}s (ratio {serial / inproc:.2f}x)")
    note = f"{args.files} files, concurrency {args.concurrency}, load {load:.1f}"
    result("probe_many, ffprobe engine", f"{sub:.2f} s", f"serial ffprobe {serial:.2f} s",
           sub / serial, f"{serial / sub:.1f}x faster; {note}")
    result("probe_many, PyAV engine", f"{inproc:.2f} s", f"serial ffprobe {serial:.2f} s",
           inproc / serial, f"{serial / inproc:.1f}x faster; {note}")

if __name__ == "__main__":
    main()
