"""Bad input on a real channel: files that probe fine but do not play as they claim.

The channel mixes good clips with an item shorter than a second, a Matroska file
corrupted in the middle (plays, with damaged pictures), one whose container claims
three times the duration it holds, and one deleted after the scan. Read through a real
server with ffprobe: the output has no hole in the picture and no timestamp step back
anywhere; health names the lying and the vanished file (they fail every loop) and not
the damaged one (it plays to its end); the guide tiles exactly.
"""

from __future__ import annotations

import itertools
import random
import re
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, make_clip, probe_packets
from tests.stream_tools import Reader
from tests.test_boundaries import dts_gaps


def corrupt_in_the_middle(path: Path) -> Path:
    data = bytearray(make_clip(path.with_suffix(".tmp.mkv"), 3.0, tone=500).read_bytes())
    rng = random.Random(1)
    middle = len(data) * 2 // 5
    data[middle:middle + 4000] = bytes(rng.randrange(256) for _ in range(4000))
    path.write_bytes(data)
    path.with_suffix(".tmp.mkv").unlink()
    return path


def lying_duration(path: Path, factor: float = 3.0) -> Path:
    """A 2-second Matroska file whose Segment Info says ``factor`` times longer."""
    data = bytearray(make_clip(path.with_suffix(".tmp.mkv"), 2.0, tone=600).read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration, an 8-byte float (in TimecodeScale units)
    assert at > 0, "no Duration element"
    (old,) = struct.unpack(">d", data[at + 3:at + 11])
    data[at + 3:at + 11] = struct.pack(">d", old * factor)
    path.write_bytes(data)
    path.with_suffix(".tmp.mkv").unlink()
    return path


def container_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, check=True,
                         timeout=60, text=True).stdout
    return float(out)


@pytest.mark.slow
def test_bad_files_leave_no_hole_and_the_liar_is_named(
        tmp_path: Path, make_server: Callable[..., Server],
        config_for: Callable[..., dict[str, Any]]) -> None:
    media = tmp_path / "media"
    make_clip(media / "a good.mp4", 3.0, tone=300)
    make_clip(media / "b short.mp4", 0.4, tone=400)
    corrupt_in_the_middle(media / "c corrupt.mkv")
    lying_duration(media / "d lies.mkv")
    make_clip(media / "e good.mp4", 3.0, tone=700)
    vanishing = make_clip(media / "f vanishes.mp4", 2.0, tone=800)
    assert container_duration(media / "d lies.mkv") > 5.5  # it probes fine, and lies
    config = config_for()
    config["sources"][0]["path"] = str(media)
    server = make_server(config)
    server.wait_for(lambda: server.get("/api/channels/1").json()["now"]["item_id"], timeout=30)
    vanishing.unlink()  # scanned, then gone before it plays
    # A second viewer keeps the channel on air until the failing items are named (the
    # probe below leaves after 24 s of video, and a channel without viewers stops).
    watcher = Reader(f"{server.url}/stream/channels/1.ts", 240)
    watcher.start()
    packets = probe_packets(f"{server.url}/stream/channels/1.ts", 24, timeout=150)
    video = [float(p["dts_time"]) for p in packets if p["codec_type"] == "video"]
    assert video[-1] - video[0] >= 22.0, "less than 22 s of video was read"
    # The liar makes ffmpeg end early and self-healing swap it: an ffmpeg cut short may
    # have written its audio a little short of its picture, so at those joins the audio
    # may pause briefly (58-312 ms seen on a loaded machine: a known limit, the pipeline
    # does not yet pad the audio of a cut-short ffmpeg); the picture never pauses, and
    # nothing ever steps back.
    problems = [p for p in dts_gaps(packets) if not p.startswith("audio: step of")
                or float(p.split()[3]) > 500 or "-" in p.split()[3]]
    assert problems == [], "\n".join(problems) + "\n" + server.log
    for title in ("b short", "c corrupt", "d lies", "f vanishes"):
        assert f"'{title}' from " in server.log, f"{title} never played"

    def liar_named() -> Any:
        health = server.get("/api/channels/1").json()["health"]
        named = {i["title"] for i in health["failing_items"]}
        return health if {"d lies", "f vanishes"} <= named else None

    health = server.wait_for(liar_named, timeout=120, interval=0.5)
    assert health["status"] == "degraded" and "'d lies' failed" in health["reason"]
    # the damaged file plays to its end: it is not a failing item
    assert "c corrupt" not in {i["title"] for i in health["failing_items"]}, health

    guide = server.get("/api/xmltv.xml").text
    times = re.findall(r'<programme start="([^"]+)" stop="([^"]+)" channel="1.exstreamtv"',
                       guide)
    assert len(times) > 10
    assert all(a[1] == b[0] for a, b in itertools.pairwise(times)), "the guide has a gap"
