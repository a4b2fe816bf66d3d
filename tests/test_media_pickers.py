"""Audio and subtitle pickers (spec 4.1, 4.2): choices, downmix, and what ffmpeg really outputs."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from exstreamtv.config.model import AudioConfig, SubtitleConfig
from exstreamtv.ffmpeg.audio_picker import DOWNMIX, downmix_filter, pick_audio_stream
from exstreamtv.ffmpeg.command import MediaInput, OutputProfile, ServiceInfo, build_command
from exstreamtv.ffmpeg.presets import EncoderPreset
from exstreamtv.ffmpeg.subtitle_picker import pick_subtitle_stream
from exstreamtv.media.models import MediaInfo, StreamInfo
from exstreamtv.media.probe import probe
from tests.media_files import (
    TONES,
    decode_audio,
    dominant_frequency,
    ffprobe_streams,
    frame_hashes,
    image_subtitled,
    multitrack,
    peak,
)

FFPROBE = shutil.which("ffprobe")
PROFILE = OutputProfile(width=320, height=180, fps=25, video_bitrate_kbps=300,
                        keyframe_seconds=1.0, audio_bitrate_kbps=96)
FAST = EncoderPreset(name="software", codec="libx264", options=(("-preset", "ultrafast"),))


@pytest.fixture(scope="module")
def info() -> MediaInfo:
    return asyncio.run(probe(str(multitrack()), FFPROBE))


def audio(*languages: str, channels: int = 2) -> AudioConfig:
    return AudioConfig(languages=tuple(languages), channels=channels)


def subs(*languages: str, **kw: object) -> SubtitleConfig:
    return SubtitleConfig(mode="burn", languages=tuple(languages), **kw)  # type: ignore[arg-type]


# -- choices ---------------------------------------------------------------------------

def test_audio_language_order_with_any_alias(info):
    assert pick_audio_stream(info, audio("fr", "eng")).stream.index == 2
    assert pick_audio_stream(info, audio("ger", "fre")).stream.index == 2
    assert pick_audio_stream(info, audio("en")).stream.index == 1


def test_audio_avoids_commentary_and_falls_back_to_default_then_first(info):
    # English matches the 5.1 track and the commentary: the commentary is never chosen.
    assert pick_audio_stream(info, audio("eng")).stream.index == 1
    # No language matches: the default stream.
    assert pick_audio_stream(info, audio("jpn")).stream.index == 1
    no_default = replace(info, streams=tuple(replace(s, default=False) for s in info.streams))
    assert pick_audio_stream(no_default, audio("jpn")).stream.index == 1
    french_first = replace(info, streams=(info.streams[0], info.streams[2], info.streams[1],
                                          info.streams[3]))
    french_first = replace(french_first, streams=tuple(
        replace(s, default=False) for s in french_first.streams))
    assert pick_audio_stream(french_first, audio("jpn")).stream.index == 2


def test_audio_commentary_only_when_nothing_else(info):
    only = replace(info, streams=(info.streams[0], info.streams[3]))
    choice = pick_audio_stream(only, audio("fra"))
    assert choice.stream.index == 3
    assert "only extras" in choice.reason


def test_no_audio_stream_means_silence(info):
    choice = pick_audio_stream(replace(info, streams=(info.streams[0],)), audio("eng"))
    assert choice.stream is None and "silence" in choice.reason


def test_downmix_table():
    s51 = StreamInfo(1, "audio", "ac3", channels=6, channel_layout="5.1")
    side = StreamInfo(1, "audio", "ac3", channels=6, channel_layout="5.1(side)")
    s71 = StreamInfo(1, "audio", "truehd", channels=8, channel_layout="7.1")
    st = StreamInfo(1, "audio", "aac", channels=2, channel_layout="stereo")
    assert downmix_filter(s51, 2) == "pan=stereo|FL<FL+0.707*FC+0.707*BL|FR<FR+0.707*FC+0.707*BR"
    assert downmix_filter(side, 2) == "pan=stereo|FL<FL+0.707*FC+0.707*SL|FR<FR+0.707*FC+0.707*SR"
    assert downmix_filter(s71, 6) == \
        "pan=5.1|FL=FL|FR=FR|FC=FC|LFE=LFE|BL<0.707*BL+0.707*SL|BR<0.707*BR+0.707*SR"
    assert downmix_filter(st, 1) == "pan=mono|c0=0.5*FL+0.5*FR"
    assert downmix_filter(st, 2) is None
    assert downmix_filter(replace(s51, channel_layout=None), 2) == DOWNMIX[("5.1", 2)]


def _gain(filter_: str, layout: str, source_channel: str, out_channel: int) -> float:
    """Peak of ``out_channel`` when only ``source_channel`` carries a full-scale-ish tone."""
    graph = (f"sine=frequency=500:sample_rate=48000:duration=1,volume=0.5,"
             f"pan={layout}|{source_channel}=c0,{filter_}")
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", graph, "-af", f"pan=mono|c0=c{out_channel}",
         "-f", "s16le", "-"], capture_output=True, check=True)
    import array

    samples = array.array("h")
    samples.frombytes(out.stdout)
    return peak(samples) / (32768 / 8 * 0.5)  # sine is 1/8 of full scale, then halved


@pytest.mark.parametrize(("key", "layout", "src", "out", "gain"), [
    (("5.1", 2), "5.1", "FL", 0, 1 / 2.414),
    (("5.1", 2), "5.1", "FC", 0, 0.707 / 2.414),
    (("5.1", 2), "5.1", "BL", 0, 0.707 / 2.414),
    (("5.1", 2), "5.1", "BL", 1, 0.0),
    (("5.1", 2), "5.1", "LFE", 0, 0.0),
    (("7.1", 6), "7.1", "SL", 4, 0.5),
    (("7.1", 6), "7.1", "FC", 2, 1.0),
    (("stereo", 1), "stereo", "FR", 0, 0.5),
])
def test_downmix_coefficients_measured(key, layout, src, out, gain):
    assert _gain(DOWNMIX[key], layout, src, out) == pytest.approx(gain, abs=0.02)


def test_subtitle_priority_steps(info):
    # 1. exact language + preferred type (SDH avoided by default: the forced track)
    assert pick_subtitle_stream(info, subs("eng")).stream.index == 4
    # SDH wanted
    assert pick_subtitle_stream(info, subs("eng", sdh="prefer")).stream.index == 5
    assert pick_subtitle_stream(info, subs("fre", "eng")).stream.index == 6
    # 2. exact language + any type: image preferred but only text exists
    choice = pick_subtitle_stream(info, subs("fra", prefer="image"))
    assert choice.stream.index == 6 and "no image" in choice.reason
    # 3. the default stream
    with_default = replace(info, streams=tuple(
        replace(s, default=s.index == 6) for s in info.streams))
    assert pick_subtitle_stream(with_default, subs("jpn")).stream.index == 6
    # 4. the first stream (SDH ordered last when avoided)
    assert pick_subtitle_stream(info, subs("jpn")).stream.index == 4
    assert pick_subtitle_stream(info, subs("jpn", sdh="prefer")).stream.index == 5


def test_subtitle_forced_only_and_none(info):
    assert pick_subtitle_stream(info, subs("fra", forced_only=True)).stream.index == 4
    no_forced = replace(info, streams=tuple(replace(s, forced=False) for s in info.streams))
    choice = pick_subtitle_stream(no_forced, subs("eng", forced_only=True))
    assert choice.stream is None and "forced" in choice.reason


def test_subtitle_sdh_from_title(info):
    titled = replace(info, streams=tuple(
        replace(s, hearing_impaired=False, title="English (hearing impaired)")
        if s.index == 5 else s for s in info.streams))
    assert pick_subtitle_stream(titled, subs("eng", sdh="prefer")).stream.index == 5


def test_text_burn_in_args(info):
    choice = pick_subtitle_stream(info, subs("fra"))
    assert choice.video_filters == (f"subtitles=filename={info.path}:si=2",)
    assert choice.overlay_stream is None


# -- real output -----------------------------------------------------------------------

def render(tmp: Path, info: MediaInfo, prefs: AudioConfig, sub: SubtitleConfig | None = None,
           offset: float = 0.0, seconds: float = 1.8, name: str = "out.ts",
           profile: OutputProfile = PROFILE) -> Path:
    a = pick_audio_stream(info, prefs)
    s = pick_subtitle_stream(info, sub) if sub else None
    source = MediaInput(
        info.path, offset, seconds, info.video_streams[0].index,
        a.stream.index if a.stream else None, a.filter,
        s.video_filters if s else (), s.overlay_stream if s else None,
        s.overlay_input if s else None)
    argv = build_command("ffmpeg", source, profile, FAST, ServiceInfo(1, "Test"))
    proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp / name
    out.write_bytes(proc.stdout)
    return out


@pytest.mark.parametrize(("languages", "tone"), [
    (("eng",), TONES["eng"]), (("fr",), TONES["fre"]), (("jpn",), TONES["eng"])])
def test_the_chosen_track_is_heard(tmp_path, info, languages, tone):
    out = render(tmp_path, info, audio(*languages))
    streams = ffprobe_streams(out)
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    assert streams[1]["channels"] == 2 and streams[1]["channel_layout"] == "stereo"
    for channel in (0, 1):
        assert dominant_frequency(decode_audio(out, channel=channel)) == \
            pytest.approx(tone, rel=0.03)


def test_5_1_downmixed_to_stereo_and_mono(tmp_path, info):
    out = render(tmp_path, info, audio("eng", channels=1), profile=replace(PROFILE, audio_channels=1))
    (a,) = [s for s in ffprobe_streams(out) if s["codec_type"] == "audio"]
    assert a["channels"] == 1
    assert dominant_frequency(decode_audio(out)) == pytest.approx(TONES["eng"], rel=0.03)


def test_5_1_kept_for_a_5_1_channel(tmp_path, info):
    out = render(tmp_path, info, audio("eng", channels=6), profile=replace(PROFILE, audio_channels=6))
    (a,) = [s for s in ffprobe_streams(out) if s["codec_type"] == "audio"]
    assert (a["channels"], a["channel_layout"]) == (6, "5.1")


def test_burned_text_subtitles_change_the_picture(tmp_path, info):
    plain = frame_hashes(render(tmp_path, info, audio("eng"), None, 1.5, name="plain.ts"), 0.8, 3)
    burned = render(tmp_path, info, audio("eng"), subs("fra"), 1.5, name="fr.ts")
    assert frame_hashes(burned, 0.8, 3) != plain
    # before the cue (2.0 s in the file) the picture is untouched: timing follows the seek
    assert frame_hashes(burned, 0.0, 2) == frame_hashes(tmp_path / "plain.ts", 0.0, 2)
    other = render(tmp_path, info, audio("eng"), subs("eng"), 1.5, name="en.ts")
    assert frame_hashes(other, 0.8, 3) not in (plain, frame_hashes(burned, 0.8, 3))


def test_image_subtitles_burn_through_overlay(tmp_path):
    image_info = asyncio.run(probe(str(image_subtitled()), FFPROBE))
    plain = render(tmp_path, image_info, audio("eng"), None, name="plain.ts")
    burned = render(tmp_path, image_info, audio("eng"), subs("eng", prefer="image"), name="img.ts")
    assert frame_hashes(burned) != frame_hashes(plain)
    # text requested, only an image exists: still burned in (and said in the reason)
    choice = pick_subtitle_stream(image_info, subs("eng", prefer="text"))
    assert choice.overlay_stream == 2 and "no text" in choice.reason
    streams = ffprobe_streams(burned)
    assert [(s["codec_name"], s.get("width")) for s in streams] == [("h264", 320), ("aac", None)]
