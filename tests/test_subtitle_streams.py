"""Subtitles as a stream (``subtitles.mode: stream``): DVB subtitles in the channel's MPEG-TS.

Real ffmpeg encodes generated media; ffprobe lists what a viewer receives and ffmpeg
decodes the DVB subtitles by drawing them over the picture (a DVD subtitle box that must
appear where the source puts it, and vanish again).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.streaming.planner import ItemPlanner
from exstreamtv.streaming.webvtt import parse_webvtt
from tests.helpers import base_config, clips_folder, ffmpeg_bin, make_clip
from tests.media_files import ffprobe_streams, image_subtitled, multitrack
from tests.test_picture import load, plan, plan_and_run, registry

STREAM = {"subtitles": {"mode": "stream"}}
#: Where tests/media_files.dvd_spu draws its box (x 60..259, y 140..159), and a spot outside.
INSIDE, OUTSIDE = (100, 150), (100, 100)


def luma_with_subtitles(path: Path, at: float, spots: list[tuple[int, int]]) -> list[int]:
    """The luma at ``spots`` of the frame at ``at`` seconds, DVB subtitles drawn over it."""
    proc = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-filter_complex",
         "[0:v][0:s]overlay=eof_action=pass[v]", "-map", "[v]", "-ss", f"{at:.2f}",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60)
    return [proc.stdout[y * 320 + x] for x, y in spots]


def run(argv: list[str], out: Path) -> Path:
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr
    # Warnings and errors would count against the item (self-healing reads them).
    assert "[error]" not in stderr and "[warning]" not in stderr, stderr
    out.write_bytes(proc.stdout)
    return out


def test_image_subtitles_are_sent_as_a_dvb_subtitle_stream(tmp_path):
    out = plan_and_run(tmp_path, image_subtitled(), STREAM, seconds=3.0)
    video, audio, subs = ffprobe_streams(out)
    assert (video["codec_type"], audio["codec_type"]) == ("video", "audio")
    assert subs["codec_name"] == "dvb_subtitle" and subs["tags"]["language"] == "eng"
    assert [rects for _, rects in decoded_subtitles(out)] == [1, 0]  # shown, then cleared
    inside, outside = luma_with_subtitles(out, 1.0, [INSIDE, OUTSIDE])
    assert inside < 60 and outside > 100, (inside, outside)
    # Not burned in: the picture alone keeps its grey there.
    bare = subprocess.run([ffmpeg_bin(), "-v", "error", "-ss", "1", "-i", str(out), "-frames:v",
                           "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True, check=True, timeout=60).stdout
    assert bare[INSIDE[1] * 320 + INSIDE[0]] > 100


@pytest.mark.parametrize("case", ["plain", "text-only", "error-screen"])
def test_every_command_carries_the_same_subtitle_stream(tmp_path, case):
    """Items without image subtitles and error screens send an empty DVB subtitle stream,
    so the spliced stream's program map never changes."""
    if case == "error-screen":
        cfg = load(tmp_path, ffmpeg=STREAM)
        argv = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg()).error_screen("x", 1.0).argv
    else:
        source = clips_folder("basic", 3, 4.0) / "clip-01.mp4" if case == "plain" else multitrack()
        argv = plan(tmp_path, source, STREAM, seconds=2.0)
    out = run(argv, tmp_path / "out.ts")
    streams = ffprobe_streams(out)
    assert [s["codec_type"] for s in streams] == ["video", "audio", "subtitle"]
    assert streams[2]["codec_name"] == "dvb_subtitle" and streams[2]["tags"]["language"] == "eng"
    assert [rects for _, rects in decoded_subtitles(out)] == [0]  # one empty display set


def test_stream_mode_is_in_the_argv_not_the_filters(tmp_path):
    argv = plan(tmp_path, image_subtitled(), STREAM)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "overlay" not in graph and argv[argv.index("-c:s") + 1] == "dvbsub"
    assert "-shortest" not in argv


def test_a_viewer_receives_dvb_subtitles_continuous_across_items(make_server, tmp_path):
    """End to end: image-subtitled and plain items alternate; a viewer's recording has one
    DVB subtitle stream whose cues come once per cycle on the spliced clock, shown over
    the subtitled item and cleared when it ends."""
    media = tmp_path / "media"
    media.mkdir()
    os.link(image_subtitled(2.0), media / "a-subtitled.mkv")
    make_clip(media / "b-plain.mp4", 2.0, pattern="smptebars")
    config = base_config(tmp_path, media)
    config["channels"][0]["ffmpeg"] = STREAM
    recording = record_channel(make_server(config), tmp_path / "viewer.ts", 11)
    cues = decoded_subtitles(recording)
    times = [t for t, _ in cues]
    assert times == sorted(times), cues
    shows = [t for t, rects in cues if rects]
    assert len(shows) >= 2, cues
    gaps = [b - a for a, b in itertools.pairwise(shows)]
    assert all(abs(g - 4.0) < 0.3 for g in gaps), (cues, gaps)
    for show in shows[:-1]:  # cleared when its 2 s item ends, before the next one shows
        clears = [t for t, rects in cues if not rects and show < t < show + 4.0]
        assert clears and abs(clears[0] - show - 2.0) < 0.3, (cues, show)


def record_channel(server: Any, path: Path, seconds: int) -> Path:
    """``seconds`` of channel 1 as a viewer records it (ffmpeg, stream copy), checked to
    hold video, audio and one DVB subtitle stream."""
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i",
                    f"{server.url}/stream/channels/1.ts", "-t", str(seconds), "-map", "0", "-c",
                    "copy", "-f", "mpegts", str(path)], check=True, timeout=180)
    kinds = [s["codec_name"] for s in ffprobe_streams(path)]
    assert kinds == ["h264", "aac", "dvb_subtitle"], kinds
    return path


def decoded_subtitles(path: Path) -> list[tuple[float, int]]:
    """(pts seconds, rectangles shown) of every subtitle ffprobe decodes from ``path``."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "s", "-show_frames",
                          "-of", "json", str(path)], capture_output=True, text=True,
                         check=True, timeout=60)
    assert not out.stderr.strip(), out.stderr
    return [(float(f["pts_time"]), int(f["num_rects"])) for f in json.loads(out.stdout)["frames"]]


def test_hls_viewers_get_text_subtitles_as_a_webvtt_rendition(make_server, tmp_path):
    """A text-subtitled item (cue 2.0-3.8 s) and a plain one alternate: the master playlist
    names a WebVTT rendition whose files hold the cue once per 6 s cycle, timed 2.0 s after
    the item's first picture (marked in the TS by the item's empty DVB display set)."""
    media = tmp_path / "media"
    media.mkdir()
    os.link(multitrack(), media / "a-text.mkv")
    make_clip(media / "b-plain.mp4", 2.0, pattern="smptebars")
    config = base_config(tmp_path, media)
    config["channels"][0]["ffmpeg"] = STREAM
    server = make_server(config)
    master = server.get("/stream/channels/1.m3u8").text
    media_line = re.search(r'#EXT-X-MEDIA:TYPE=SUBTITLES,.*LANGUAGE="eng".*URI="([^"]+)"', master)
    assert media_line and 'SUBTITLES="subs"' in master, master
    base = f"{server.url}/stream/channels/{media_line.group(1).rsplit('/', 1)[0]}"
    vtt: dict[str, str] = {}
    ts: dict[str, bytes] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(vtt) < 8:
        subs = httpx.get(f"{base}/subs.m3u8", timeout=40).text
        video = httpx.get(f"{base}/index.m3u8", timeout=40).text
        assert re.findall(r"sub-(\d+)", subs) == re.findall(r"seg-(\d+)", video) or \
            subs.split("MEDIA-SEQUENCE:")[1] != video.split("MEDIA-SEQUENCE:")[1]  # moved on between
        for name in re.findall(r"^(sub-\d+\.vtt)$", subs, re.M):
            if name not in vtt:
                answer = httpx.get(f"{base}/{name}", timeout=10)
                assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/vtt")
                vtt[name] = answer.text
                seg = name.replace("sub-", "seg-").replace(".vtt", ".ts")
                ts[seg] = httpx.get(f"{base}/{seg}", timeout=10).content
        time.sleep(1.0)
    cues = []
    for text in vtt.values():
        assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"), text
        cues += parse_webvtt(text)
    assert cues and all(c.text == "FORCED ENGLISH" for c in cues), cues
    assert all(abs(c.end - c.start - 1.8) < 0.05 for c in cues), cues
    starts = sorted(c.start for c in cues)
    assert all(abs(b - a - 6.0) < 0.3 for a, b in itertools.pairwise(starts)), starts
    # Each cue 2.0 s after the start of its item, as the TS shows it.
    recording = tmp_path / "hls.ts"
    recording.write_bytes(b"".join(ts[k] for k in sorted(ts, key=lambda n: int(n[4:-3]))))
    item_starts = [t for t, rects in decoded_subtitles(recording) if rects == 0]
    # (the first item was joined mid-way: its cue comes earlier after its start)
    checked = [(start, max(t for t in item_starts if t <= start)) for start in starts
               if any(item_starts[0] < t <= start for t in item_starts)]
    assert checked, (starts, item_starts)
    for start, item_start in checked:
        assert abs(start - item_start - 2.0) < 0.15, (start, item_starts)


def bright_rows(path: Path, at: float, rows: range) -> int:
    """The brightest luma in ``rows`` of the frame at ``at`` s, DVB subtitles drawn over it."""
    proc = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-filter_complex",
         "[0:v][0:s]overlay=eof_action=pass[v]", "-map", "[v]", "-ss", f"{at:.2f}",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60)
    return max(proc.stdout[rows.start * 320:rows.stop * 320])


def test_text_subtitles_are_drawn_as_dvb_subtitles(make_server, tmp_path):
    """End to end: an item with a sidecar SRT (a name with quotes and accents, markup in
    its cues) and a plain item alternate on a black picture. A viewer's recording has
    one DVB subtitle stream in which each cue is shown at its time on the spliced clock,
    cleared when it ends, once per cycle; drawn over the picture it puts white letters
    near the bottom while it is shown, and nothing before."""
    media = tmp_path / "media"
    media.mkdir()
    make_clip(media / "a-l'été «1».mp4", 3.0, pattern="color")
    (media / "a-l'été «1».en.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nIt's <i>l'été</i> &amp; more\n\n"
        "2\n00:00:02,000 --> 00:00:02,800\nSecond cue\n", encoding="utf-8")
    make_clip(media / "b-plain.mp4", 2.0, pattern="color")
    config = base_config(tmp_path, media)
    config["channels"][0]["ffmpeg"] = STREAM
    recording = record_channel(make_server(config), tmp_path / "viewer.ts", 16)
    cues = decoded_subtitles(recording)
    shows = [t for t, rects in cues if rects]
    # The first cue starts with the item: it is shown a frame (0.04 s) after the item's
    # own blank display set, never at the same PTS (a parser would merge the two).
    firsts = [a for a, b in itertools.pairwise(shows) if abs(b - a - 1.96) < 0.1]
    assert len(firsts) >= 2, cues
    assert all(abs(b - a - 5.0) < 0.3 for a, b in itertools.pairwise(firsts)), (firsts, cues)
    for show in [t for t in shows if t >= firsts[0]]:  # (the first item was joined mid-way)
        # each cleared after its length (0.96 s or 0.8 s)
        clear = next((t for t, rects in cues if t > show + 0.01), None)
        assert clear is not None or show == shows[-1], cues
        if clear is not None:
            assert min(abs(clear - show - 0.96), abs(clear - show - 0.8)) < 0.1, (show, cues)
    times = [round(t, 3) for t, _ in cues]
    assert len(times) == len(set(times)), cues  # no two display sets at one PTS
    first = firsts[0]
    start = recording_start(recording)
    bottom = range(120, 180)
    assert bright_rows(recording, first - start + 0.5, bottom) > 180
    assert bright_rows(recording, first - start - 0.3, bottom) < 60  # the plain item before
    assert bright_rows(recording, first - start + 0.5, range(0, 100)) < 60  # near the bottom only


def recording_start(path: Path) -> float:
    """The recording's start time (the zero of ffmpeg's -ss on it)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=start_time",
                          "-of", "json", str(path)], capture_output=True, text=True,
                         check=True, timeout=60)
    return float(json.loads(out.stdout)["format"]["start_time"])
