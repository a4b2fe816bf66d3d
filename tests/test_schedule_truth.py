"""The schedule is the truth: after a failure the channel airs what the guide says.

A channel of three clips with distinct tones, the middle one a truncated file that dies
a few seconds in. A real viewer records the stream for several loops while the guide
(``GET /api/channels/1``) is polled; the recorded audio says which clip is on at each
moment of the stream. Every time a good clip begins in the stream, it must begin at its
guide time: the offset between the stream and the guide stays the same, loop after
loop (a channel that skips ahead after a failure drifts by seconds per loop).
"""

from __future__ import annotations

import array
import itertools
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import base_config, ffmpeg_bin, make_clip, probe_packets, timing_problems
from tests.test_healing_faults import Viewer

TONES = {"a-first": 330, "b-broken": 550, "c-last": 880}
WINDOW = 0.25  # seconds of audio per classified window


def channel_media(tmp: Path) -> Path:
    folder = tmp / "media"
    folder.mkdir()
    make_clip(folder / "a-first.mp4", 6.0, tone=TONES["a-first"])
    make_clip(folder / "c-last.mp4", 6.0, pattern="smptebars", tone=TONES["c-last"])
    whole = make_clip(tmp / "src" / "b-broken.mkv", 12.0, pattern="rgbtestsrc",
                      tone=TONES["b-broken"])
    data = whole.read_bytes()
    (folder / "b-broken.mkv").write_bytes(data[: len(data) * 3 // 10])  # dies at ~3.6 s
    return folder


class GuidePoller(threading.Thread):
    """Polls /api/channels/1 and keeps every (title, start) the guide named."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.entries: set[tuple[str, float]] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        import httpx

        while not self.stop.wait(0.5):
            try:
                data = httpx.get(self.url, timeout=5).json()
            except Exception:
                continue
            for key in ("now", "next"):
                if data.get(key):
                    self.entries.add((data[key]["title"], float(data[key]["start"])))


def tone_timeline(ts: bytes, tmp: Path) -> list[str | None]:
    """Per WINDOW of the stream's audio: the clip whose tone it is (None: silence/other)."""
    path = tmp / "recorded.ts"
    path.write_bytes(ts)
    out = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-vn", "-af", "pan=mono|c0=c0",
         "-f", "s16le", "-ar", "8000", "-"], capture_output=True, timeout=120, check=False)
    samples = array.array("h")
    samples.frombytes(out.stdout[: len(out.stdout) // 2 * 2])
    step = int(8000 * WINDOW)
    timeline: list[str | None] = []
    for i in range(0, len(samples) - step + 1, step):
        window = samples[i:i + step]
        if max(abs(s) for s in window) < 300:
            timeline.append(None)
            continue
        crossings = sum(1 for a, b in itertools.pairwise(window) if (a < 0) != (b < 0))
        freq = crossings / 2 / WINDOW
        name = min(TONES, key=lambda n: abs(TONES[n] - freq))
        timeline.append(name if abs(TONES[name] - freq) < 0.15 * TONES[name] else None)
    return timeline


def starts_of_good_clips(timeline: list[str | None]) -> list[tuple[str, float]]:
    """(clip, stream time) where a good clip begins (after a stretch of something else)."""
    found = []
    for i in range(2, len(timeline)):
        clip = timeline[i]
        if clip in ("a-first", "c-last") and timeline[i - 1] != clip \
                and timeline[i - 2] != clip and all(t == clip for t in timeline[i:i + 4]):
            found.append((clip, i * WINDOW))
    return found


@pytest.mark.slow
def test_a_failing_item_does_not_move_the_rest_of_the_schedule(make_server, tmp_path):
    config = base_config(tmp_path, channel_media(tmp_path))
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": {"visual": "slate", "audio": "silent"}}
    server = make_server(config)
    guide = GuidePoller(f"{server.url}/api/channels/1")
    guide.start()
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: viewer.arrivals, 30)
    first_byte = viewer.arrivals[0][0] - time.monotonic() + time.time()  # as wall time
    # Three loops of the 24-second schedule, each with the broken item failing.
    server.wait_for(lambda: len(viewer.data) and time.time() - first_byte > 78, 120,
                    interval=1.0)
    viewer.finish()
    guide.stop.set()
    guide.join(10)
    assert not viewer.ended and viewer.error is None
    failures = [e for e in server.get("/api/healing/events").json()
                if e.get("issue") == "FFMPEG_CRASH" and e.get("action") == "detected"]
    assert failures, "the broken item never failed: the test proves nothing"
    recorded = tmp_path / "recorded.ts"
    recorded.write_bytes(bytes(viewer.data))
    # Across every failure, error screen and fill the timestamps only go forward.
    problems = timing_problems(probe_packets(str(recorded), 3600), max_gap=30)
    assert not problems, problems[:10]
    starts = starts_of_good_clips(tone_timeline(bytes(viewer.data), tmp_path))
    assert len(starts) >= 5, starts
    offsets: list[tuple[str, float, float]] = []
    for clip, at in starts:
        wall = first_byte + at
        guide_starts = [s for title, s in guide.entries if title == clip]
        assert guide_starts, (clip, guide.entries)
        nearest = min(guide_starts, key=lambda s: abs(s - wall))
        offsets.append((clip, round(at, 2), round(wall - nearest, 2)))
    drifts = [d for _, _, d in offsets]
    print(report := "\n".join(f"{c} at stream {a:.2f}s: {d:+.2f}s from the guide"
                               for c, a, d in offsets))
    # The stream runs a constant lead ahead of the wall clock; what matters is that the
    # offset does not grow across failures, loop after loop.
    assert max(drifts) - min(drifts) < 2.0, report
    assert all(abs(d) < 4.0 for d in drifts), report
