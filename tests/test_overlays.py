"""Overlays: now/next titles at an item's start, the watermark over error screens.

Real ffmpeg renders the commands the planner builds; pixels of the output are measured.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from exstreamtv.ffmpeg.command import Captions, OutputProfile, caption_options
from exstreamtv.ffmpeg.escape import drawtext_filter, filter_spec
from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.media.models import MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.planner import ItemPlanner
from tests.helpers import base_config, clips_folder, ffmpeg_bin, make_clip
from tests.test_picture import corner_color, load, make_image, registry

HOSTILE = [
    "Bob's Burgers: 100% \\ Pure [Live], {Again}; a=b",
    "%{pts} %{localtime} \\N '' : \\\\",
    "Line one\nline two; L'Été à Noël – Café",
]


def gray_frame(graph: str, at: float = 0.2) -> bytes:
    """One 320x180 grey frame of a black picture with ``graph`` applied."""
    proc = subprocess.run([ffmpeg_bin(), "-v", "error", "-f", "lavfi", "-i",
                           "color=c=black:s=320x180:r=25:d=2", "-filter_complex",
                           f"[0:v]{graph}[v]", "-map", "[v]", "-ss", str(at), "-frames:v", "1",
                           "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


@pytest.mark.parametrize("title", HOSTILE)
def test_caption_text_is_drawn_exactly_as_written(tmp_path, title):
    """The escaped text= draws the same pixels as drawtext reading the raw text from a file."""
    captions = Captions((title,), seconds=5.0)
    options = caption_options(captions, 0, OutputProfile(width=320, height=180))
    text = " ".join(title.splitlines())
    raw = tmp_path / "title.txt"
    raw.write_bytes(text.encode())
    ours = gray_frame(drawtext_filter(text, *options))
    reference = gray_frame(filter_spec("drawtext", ("expansion", "none"),
                                       ("textfile", str(raw)), *options))
    assert ours == reference
    assert ours != gray_frame("null")  # something was drawn


def caption_plan(tmp_path: Path, now_next: dict, offset: float = 0.0,
                 next_title: str | None = "Next: it's 100%") -> list[str]:
    cfg = load(tmp_path, ffmpeg={"now_next": now_next})
    clip = clips_folder("basic", 3, 4.0) / "clip-01.mp4"
    info = asyncio.run(probe(str(clip), "ffprobe"))
    item = MediaItem("i", "clips", "Bob's: 100% \\ [Live]", str(clip), info.duration, info)
    planner = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg())
    return planner.media(ScheduledItem(item=item, start=0.0, duration=3.0), offset,
                         next_title=next_title).argv


def region_luma(argv: list[str], tmp_path: Path, at: float) -> list[int]:
    """Luma of the top-left 160x40 region (where the titles go) at ``at`` seconds."""
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / "out.ts"
    out.write_bytes(proc.stdout)
    frame = subprocess.run([ffmpeg_bin(), "-v", "error", "-i", str(out), "-ss", str(at),
                            "-frames:v", "1", "-vf", "crop=160:40:0:0", "-f", "rawvideo",
                            "-pix_fmt", "gray", "-"], capture_output=True, timeout=60,
                           check=True).stdout
    return list(frame)


def test_now_next_titles_show_at_the_start_of_an_item_only(tmp_path):
    argv = caption_plan(tmp_path, {"enabled": True, "seconds": 1})
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.count("drawtext=") == 2 and "enable=" in graph
    plain = caption_plan(tmp_path, {"enabled": False})
    assert "drawtext" not in " ".join(plain)

    def diff(at: float) -> float:
        a, b = region_luma(argv, tmp_path, at), region_luma(plain, tmp_path, at)
        return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)

    assert diff(0.3) > 15  # the titles in their box
    assert diff(2.0) < 5  # gone after `seconds`
    # A programme resumed from the middle shows none.
    assert "drawtext" not in " ".join(caption_plan(tmp_path, {"enabled": True}, offset=1.5))


def test_watermark_over_error_screens_only_when_asked(tmp_path):
    logo = make_image(tmp_path / "logo.png", "200x100")
    spot = (320 - 10 - 70, 180 - 10 - 30, 60, 20)  # inside the bottom-right watermark
    for show, red in (("always", True), ("programmes", False)):
        cfg = load(tmp_path, ffmpeg={"watermark": {"image": str(logo), "size": 0.25,
                                                   "opacity": 1.0, "show": show},
                                     "error_screen": {"visual": "slate"}})
        plan = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg()).error_screen("x", 1.0)
        proc = subprocess.run(plan.argv, capture_output=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        out = tmp_path / f"screen-{show}.ts"
        out.write_bytes(proc.stdout)
        r, g, b = corner_color(out, *spot)
        assert (r > 180 and g < 80 and b < 80) == red, (show, r, g, b)


def test_a_running_channel_titles_each_item_with_what_follows(make_server, tmp_path):
    """Through the server: each item's command draws its own title and the next item's."""
    media = tmp_path / "media"
    media.mkdir()
    for name in ("a-first", "b-second"):
        make_clip(media / f"{name}.mp4", 2.0)
    config = base_config(tmp_path, media)
    config["channels"][0]["ffmpeg"] = {"now_next": {"enabled": True, "seconds": 1}}
    server = make_server(config)
    wanted = ["'Now: a-first' / 'Next: b-second'", "'Now: b-second' / 'Next: a-first'"]
    deadline = time.monotonic() + 90
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=60) as answer:
        for _ in answer.iter_bytes():  # a viewer keeps the channel playing
            if all(line in server.log for line in wanted) or time.monotonic() > deadline:
                break
    assert all(line in server.log for line in wanted), server.log[-3000:]
