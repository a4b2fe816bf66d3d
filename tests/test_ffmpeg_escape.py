"""Every string that reaches ffmpeg is passed safely: file names in filters, drawn text, inputs.

Real ffmpeg on a small generated clip: for each awkward file name, a sidecar ``.en.srt``
is burned in, ffmpeg must exit 0, the output must decode, and the picture must differ
from the same clip without subtitles (the subtitle file was really read).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from exstreamtv.config.model import ErrorScreenConfig, SubtitleConfig
from exstreamtv.ffmpeg.command import (
    GeneratedInput,
    MediaInput,
    OutputProfile,
    ServiceInfo,
    build_command,
)
from exstreamtv.ffmpeg.escape import (
    drawtext_filter,
    escape_graph,
    filter_spec,
    input_location,
    option_value,
)
from exstreamtv.ffmpeg.presets import EncoderPreset
from exstreamtv.ffmpeg.subtitle_picker import pick_subtitle_stream
from exstreamtv.media.probe import probe
from exstreamtv.streaming.error_screens import ErrorScreenRequest, drawtext_problem
from plugins.error_screens.visual import text as text_screen
from tests.helpers import MEDIA_CACHE, ffmpeg_bin, make_clip
from tests.media_files import ffprobe_streams, frame_hashes

FFPROBE = shutil.which("ffprobe")
PROFILE = OutputProfile(width=320, height=180, fps=25, video_bitrate_kbps=300,
                        keyframe_seconds=1.0, audio_bitrate_kbps=64)
FAST = EncoderPreset(name="software", codec="libx264", options=(("-preset", "ultrafast"),))
SRT = "1\n00:00:00,000 --> 00:00:05,000\nL'été: [1,2;3] \\ a=b 100%\n"

#: File names (stems) that broke or could break a filtergraph or an argv.
NAMES = [
    "L'Été à Noël – Café",
    "it's",
    "colon: here",
    "comma, here",
    "semi; colon",
    "[brackets]",
    "back\\slash",
    "key=value",
    "100% sure",
    "new\nline",
    "-leading dash",
    "  spaces  ",
    os.fsdecode(b"bytes \xff\xfe not utf-8"),
    "all ' : , ; [ ] \\ = % of them",
]


@pytest.fixture(scope="module")
def clip() -> Path:
    return make_clip(MEDIA_CACHE / "escape-base-2s.mp4", 2.0)


def render(location: str, out: Path, *, subtitles: bool, cwd: Path | None = None) -> Path:
    info = asyncio.run(probe(location if cwd is None else str(cwd / location), FFPROBE))
    video_filters: tuple[str, ...] = ()
    if subtitles:
        choice = pick_subtitle_stream(info, SubtitleConfig(mode="burn", languages=("eng",)))
        assert choice.stream is not None and choice.stream.external_path, choice.reason
        video_filters = choice.video_filters
    source = MediaInput(location, 0.0, 1.2, info.video_streams[0].index,
                        info.audio_streams[0].index, None, video_filters)
    argv = build_command(ffmpeg_bin(), source, PROFILE, FAST, ServiceInfo(1, "Escapes"))
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False, cwd=cwd)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out.write_bytes(proc.stdout)
    streams = ffprobe_streams(out)
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    return out


@pytest.fixture(scope="module")
def plain(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = render(str(clip), tmp_path_factory.mktemp("plain") / "plain.ts", subtitles=False)
    return frame_hashes(out, 0.2, 3)


@pytest.mark.parametrize("stem", NAMES, ids=lambda s: repr(s)[1:-1][:24])
def test_sidecar_burned_in_for_any_file_name(tmp_path, clip, plain, stem):
    media = tmp_path / f"{stem}.mp4"
    media.symlink_to(clip)
    (tmp_path / f"{stem}.en.srt").write_text(SRT, encoding="utf-8")
    out = render(str(media), tmp_path / "out.ts", subtitles=True)
    assert frame_hashes(out, 0.2, 3) != plain  # the subtitle file was read and drawn


def test_relative_input_with_a_leading_dash(tmp_path, clip, plain):
    (tmp_path / "-x.mp4").symlink_to(clip)
    (tmp_path / "-x.en.srt").write_text(SRT, encoding="utf-8")
    assert input_location("-x.mp4") == "file:-x.mp4"
    out = render("-x.mp4", tmp_path / "out.ts", subtitles=False, cwd=tmp_path)
    assert frame_hashes(out, 0.2, 3) == plain


def test_escaping_rules():
    assert option_value("plain-name_1.srt") == "plain-name_1.srt"
    assert option_value("it's") == "'it'\\''s'"
    assert escape_graph("a'b[c],d;e\\f") == "a\\'b\\[c\\]\\,d\\;e\\\\f"
    assert filter_spec("subtitles", ("filename", "/m/L'É:t.srt"), ("si", 2)) == (
        "subtitles=filename=\\'/m/L\\'\\\\\\'\\'É:t.srt\\':si=2")
    assert input_location("/abs/-x.mkv") == "/abs/-x.mkv"
    assert input_location("http://h/x?a=b") == "http://h/x?a=b"
    assert input_location("a:b.mkv") == "file:a:b.mkv"
    # undecodable bytes cannot be drawn: they become U+FFFD, the rest is drawn as written
    assert "\ufffd" in drawtext_filter(os.fsdecode(b"x\xff"))


def _screen(tmp_path: Path, message: str, name: str) -> list[str]:
    request = ErrorScreenRequest("unused", "Chan: 'A' [1]", 1, PROFILE,
                                 ErrorScreenConfig(message=message), ffmpeg_bin())
    visual = text_screen(request)
    assert visual.filter is not None and "drawtext" in visual.filter
    source = GeneratedInput(visual.args, ("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"),
                            0.5, visual.filter)
    argv = build_command(ffmpeg_bin(), source, PROFILE, FAST, ServiceInfo(1, "Escapes"))
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / name
    out.write_bytes(proc.stdout)
    return frame_hashes(out, 0.1, 2)


def test_error_screen_draws_any_text(tmp_path):
    assert drawtext_problem(ffmpeg_bin()) is None, "the test machine needs fonts for drawtext"
    awkward = "It's 100% off: [a,b;c] \\ x=y %{pts} " + os.fsdecode(b"\xff")
    with_quote = _screen(tmp_path, awkward, "a.ts")
    without = _screen(tmp_path, awkward.replace("'", " "), "b.ts")
    assert with_quote != without  # the apostrophe is drawn, not dropped or mangled
