"""Error screens (spec 2.1): every visual and audio mode renders in the channel's exact profile."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.server import load_everything
from exstreamtv.streaming.planner import ItemPlanner
from tests.helpers import base_config, clips_folder, write_config
from tests.media_files import decode_audio, dominant_frequency, ffprobe_streams, frame_hashes, peak

PROFILE = {"codec_v": "h264", "width": 320, "height": 180, "fps": "25/1",
           "codec_a": "aac", "sample_rate": "48000", "channels": 2, "layout": "stereo"}


def planner(tmp_path: Path, **error_screen: Any) -> ItemPlanner:
    config = base_config(tmp_path, clips_folder("basic", 3, 4.0))
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": error_screen}
    path = write_config(tmp_path / "exstreamtv.yaml", config)
    cfg, _host, registry = load_everything(path)
    return ItemPlanner(cfg.channels[0], registry, find_ffmpeg())


def render(tmp_path: Path, name: str, **error_screen: Any) -> Path:
    plan = planner(tmp_path, **error_screen).error_screen("Clips: technical difficulties", 1.5)
    proc = subprocess.run(plan.argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / f"{name}.ts"
    out.write_bytes(proc.stdout)
    return out


def profile_of(path: Path) -> dict[str, Any]:
    video, audio = ffprobe_streams(path)
    return {"codec_v": video["codec_name"], "width": video["width"], "height": video["height"],
            "fps": video["r_frame_rate"], "codec_a": audio["codec_name"],
            "sample_rate": audio["sample_rate"], "channels": audio["channels"],
            "layout": audio["channel_layout"]}


def decodes(path: Path) -> None:
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("img") / "offline.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "mandelbrot=s=200x150",
                    "-frames:v", "1", str(out)], check=True)
    return out


@pytest.mark.parametrize("visual", ["text", "image", "test_pattern", "slate"])
def test_visual_modes_match_the_profile(tmp_path, picture, visual):
    out = render(tmp_path, visual, visual=visual, image=str(picture))
    assert profile_of(out) == PROFILE
    decodes(out)


def test_visual_modes_differ(tmp_path, picture):
    hashes = {v: frame_hashes(render(tmp_path, v, visual=v, image=str(picture)), 0.2, 1)[0]
              for v in ("text", "image", "test_pattern", "slate")}
    assert len(set(hashes.values())) == 4


@pytest.mark.parametrize(("audio", "check"), [
    ("silent", lambda s: peak(s) == 0),
    ("sine", lambda s: abs(dominant_frequency(s) - 440) < 15),
    ("white_noise", lambda s: peak(s) > 1000 and dominant_frequency(s) > 3000),
    ("beep", lambda s: peak(s[:4800]) > 1000 and peak(s[24000:]) == 0),
])
def test_audio_modes_match_the_profile_and_sound_right(tmp_path, audio, check):
    out = render(tmp_path, audio, visual="slate", audio=audio)
    assert profile_of(out) == PROFILE
    decodes(out)
    samples = decode_audio(out, start=0.0, seconds=1.0)
    assert check(samples), f"{audio}: peak {peak(samples)}, freq {dominant_frequency(samples)}"


def test_text_without_fonts_falls_back_to_slate(tmp_path, monkeypatch, caplog):
    fonts = tmp_path / "fonts.conf"
    fonts.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
                     "<fontconfig></fontconfig>\n")
    monkeypatch.setenv("FONTCONFIG_FILE", str(fonts))
    with caplog.at_level(logging.WARNING):
        plan = planner(tmp_path, visual="text").error_screen("no fonts here", 1.0)
    assert not any("drawtext" in arg for arg in plan.argv)
    assert "showing the slate instead" in caplog.text
    assert "Cannot find a valid font" in caplog.text
    proc = subprocess.run(plan.argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")


def test_missing_image_falls_back_to_slate(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        plan = planner(tmp_path, visual="image", image=str(tmp_path / "nope.png")).error_screen(
            "x", 1.0)
    assert "is not a file" in caplog.text
    assert any(arg.startswith("color=c=0x101830") for arg in plan.argv)
