"""Encoders: golden argv per preset, a real software encode, auto detection, hardware fallback."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from exstreamtv_plugins.encoders import auto
from exstreamtv_plugins.encoders.hardware import (
    nvenc_preset,
    qsv_preset,
    vaapi_preset,
    videotoolbox_preset,
)
from exstreamtv_plugins.encoders.software import software_preset

from exstreamtv.ffmpeg.audio_picker import DOWNMIX
from exstreamtv.ffmpeg.command import (
    GeneratedInput,
    MediaInput,
    OutputProfile,
    ServiceInfo,
    build_command,
)
from exstreamtv.ffmpeg.presets import EncoderPreset, listed_encoders, trial_encode
from tests.helpers import decode_errors
from tests.media_files import ffprobe_streams

GOLDEN = Path(__file__).parent / "golden"
PROFILE = OutputProfile(width=1280, height=720, fps=30, video_bitrate_kbps=3000,
                        keyframe_seconds=2.0, audio_bitrate_kbps=160)
SERVICE = ServiceInfo(7, "Movies")
MEDIA = MediaInput("/media/Movie (2001).mkv", offset=12.5, duration=100.0, video_stream=0,
                   audio_stream=1, audio_filter=DOWNMIX[("5.1", 2)])
SCREEN = GeneratedInput(("-f", "lavfi", "-i", "color=c=0x101830:s=1280x720:r=30"),
                        ("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"), 5.0)

PRESETS = {
    "software": software_preset({}),
    "nvenc": nvenc_preset({}),
    "vaapi": vaapi_preset({}),
    "qsv": qsv_preset({}),
    "videotoolbox": videotoolbox_preset({}),
    "vaapi-decode": vaapi_preset({"device": "/dev/dri/renderD129", "hwaccel_decode": True,
                                  "preset": "ignored: an x264 option"}),
}


def golden_text(preset: EncoderPreset) -> str:
    media = build_command("ffmpeg", MEDIA, PROFILE, preset, SERVICE)
    screen = build_command("ffmpeg", SCREEN, PROFILE, preset, SERVICE)
    return "# media item\n" + "\n".join(media) + "\n# error screen\n" + "\n".join(screen) + "\n"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_golden_argv(name):
    path = GOLDEN / f"encoder_{name}.txt"
    text = golden_text(PRESETS[name])
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"argv changed; UPDATE_GOLDEN=1 rewrites {path}"


def test_radio_golden_argv():
    """A radio channel: sound only whatever the input and the encoder (no device, no -vf)."""
    radio = dataclasses.replace(PROFILE, audio_only=True)
    parts = {
        "media item": dataclasses.replace(MEDIA, audio_gain_db=-3.5),
        "item without sound": dataclasses.replace(MEDIA, audio_stream=None),
        "error screen": dataclasses.replace(SCREEN, video_args=()),
    }
    text = "".join(f"# {name}\n" + "\n".join(build_command("ffmpeg", source, radio,
                                                            PRESETS["vaapi"], SERVICE)) + "\n"
                   for name, source in parts.items())
    path = GOLDEN / "encoder_radio.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"argv changed; UPDATE_GOLDEN=1 rewrites {path}"


def test_hardware_presets_say_so():
    assert not PRESETS["software"].hardware
    assert all(PRESETS[n].hardware for n in ("nvenc", "vaapi", "qsv", "videotoolbox"))


def test_software_encoder_runs_for_real(tmp_path):
    small = OutputProfile(width=320, height=180, fps=25, video_bitrate_kbps=300,
                          keyframe_seconds=1.0, audio_bitrate_kbps=64)
    source = GeneratedInput(("-f", "lavfi", "-i", "testsrc2=s=640x360:r=30"),
                            ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"), 2.0)
    argv = build_command("ffmpeg", source, small, software_preset({}),
                         SERVICE)
    proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / "sw.ts"
    out.write_bytes(proc.stdout)
    video, audio = ffprobe_streams(out)
    assert (video["codec_name"], video["profile"], video["width"], video["r_frame_rate"]) == \
        ("h264", "High", 320, "25/1")
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 2)
    code, errors = decode_errors(str(out), 5)
    assert code == 0 and errors == ""


def test_listed_encoders_and_trial_encode():
    listed = listed_encoders("ffmpeg")
    assert "libx264" in listed and "aac" in listed
    assert trial_encode("ffmpeg", software_preset({})) is None
    error = trial_encode("ffmpeg", vaapi_preset({"device": "/dev/dri/does-not-exist"}))
    assert error is not None and "[error]" in error


def test_auto_picks_a_working_encoder_and_caches_it(monkeypatch):
    auto._chosen.clear()
    calls: list[str] = []
    inits: list[tuple[str, ...]] = []
    real = auto.trial_encode

    def counting(ffmpeg: str, preset: EncoderPreset) -> str | None:
        calls.append(preset.name)
        inits.append(preset.init_args + preset.options)
        return real(ffmpeg, preset)

    monkeypatch.setattr(auto, "trial_encode", counting)
    chosen = auto.detect("ffmpeg")
    listed = listed_encoders("ffmpeg")
    # every listed hardware encoder was tried, in order, until one worked
    tried = [n for n, (codec, _f) in auto.HARDWARE.items() if codec in listed]
    assert calls == tried[: len(calls)]
    if chosen == "software":
        assert calls == tried
    else:
        assert trial_encode("ffmpeg", auto.HARDWARE[chosen][1]({})) is None
    tools = type("T", (), {"ffmpeg": "ffmpeg"})()
    assert auto.detect("ffmpeg") == chosen
    assert auto.detect("ffmpeg", {}) == chosen
    first = len(calls)
    assert calls == tried[:first], "detection ran twice for the same options"
    # The channel's device is the one tried (a second GPU, another render node).
    options = {"device": "/dev/dri/renderD199", "preset": "ultrafast"}
    preset = auto.auto_preset(options, tools)
    assert preset.name == auto.detect("ffmpeg", options)
    again = calls[first:]
    assert again == tried[: len(again)]
    for name, init in zip(again, inits[first:], strict=True):
        if name in ("vaapi", "qsv"):
            assert "vaapi=va:/dev/dri/renderD199" in init
        if name == "nvenc":
            assert ("-gpu", "/dev/dri/renderD199") in init
    auto.auto_preset(options, tools)
    assert len(calls) == first + len(again), "cached per options"


def test_copy_mode_argv():
    source = MediaInput("/media/a.mp4", duration=30.0, video_stream=0, audio_stream=2, copy=True)
    argv = build_command("ffmpeg", source, PROFILE, PRESETS["vaapi"], SERVICE)
    assert "-init_hw_device" not in argv
    assert argv[argv.index("-i"):] == [
        "-i", "/media/a.mp4", "-filter_complex",
        "[0:2]aresample=48000:async=1:first_pts=0,"
        "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[aout]",
        "-map", "0:0", "-map", "[aout]", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb",
        "-c:a", "aac", "-b:a", "160k", "-ac", "2", "-ar", "48000", "-t", "30.000", "-f", "mpegts",
        "-pes_payload_size", "0",
        "-mpegts_service_id", "7", "-metadata", "service_provider=ExStreamTV",
        "-metadata", "service_name=Movies", "pipe:1"]


def test_copy_only_when_the_source_matches(tmp_path):
    import asyncio

    from exstreamtv.ffmpeg.locate import find_ffmpeg
    from exstreamtv.media.models import MediaItem
    from exstreamtv.media.probe import probe
    from exstreamtv.scheduling.base import ScheduledItem
    from exstreamtv.server import load_everything
    from exstreamtv.streaming.planner import ItemPlanner
    from tests.helpers import base_config, clips_folder, write_config
    from tests.media_files import multitrack

    clips = clips_folder("basic", 3, 4.0)

    def plan(path: str, offset: float = 0.0, work_level: int = 0,
             **ffmpeg: object) -> list[str]:
        config = base_config(tmp_path, clips)
        config["ffmpeg"] = {**config["ffmpeg"], "copy": True, **ffmpeg}
        cfg, _host, registry = load_everything(write_config(tmp_path / "c.yaml", config))
        info = asyncio.run(probe(path, "ffprobe"))
        item = MediaItem("i", "clips", "t", path, info.duration, info)
        entry = ScheduledItem(item=item, start=0.0, duration=info.duration)
        planner = ItemPlanner(cfg.channels[0], registry, find_ffmpeg())
        planner.work_level = work_level
        return planner.media(entry, offset).argv

    clip = str(clips / "clip-01.mp4")
    assert "copy" in plan(clip)
    # A starved host (half size at work level 2) keeps copying: lighter than any encode.
    assert "copy" in plan(clip, work_level=2)
    assert "copy" not in plan(clip, offset=1.0)  # not from its start
    assert "copy" not in plan(clip, video={"width": 640, "height": 360})  # other size
    assert "copy" not in plan(clip, video={"fps": 30})  # other frame rate
    burn = {"subtitles": {"mode": "burn", "languages": ["eng"]}}
    assert "copy" in plan(str(multitrack()))  # 320x180 25 fps, subtitles not burned
    assert "copy" not in plan(str(multitrack()), **burn)  # subtitles to burn in
