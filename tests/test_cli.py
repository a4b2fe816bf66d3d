"""The command line: probe, exit codes, version."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, check=False)


def test_probe_prints_streams_as_json(clips):
    result = run("probe", str(clips / "clip-01.mp4"))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert 3.5 < info["duration"] < 4.5
    kinds = [s["type"] for s in info["streams"]]
    assert kinds == ["video", "audio"]
    audio = info["streams"][1]
    assert audio["language"] == "eng" and audio["channels"] == 2 and audio["codec"] == "aac"
    assert {"default", "forced", "hearing_impaired", "comment"} <= set(audio)


def test_probe_of_missing_or_corrupt_file_is_exit_1(tmp_path):
    result = run("probe", str(tmp_path / "nope.mkv"))
    assert result.returncode == 1 and "no such file" in result.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    result = run("probe", str(junk))
    assert result.returncode == 1 and "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 2  # argparse's usage error
    assert "invalid choice" in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("exstreamtv ")


def test_probe_uses_the_configs_ffprobe(clips, tmp_path):
    marker = tmp_path / "called"
    wrapper = tmp_path / "my-ffprobe"
    wrapper.write_text(f"#!/bin/sh\necho \"$@\" > {marker}\nexec ffprobe \"$@\"\n")
    wrapper.chmod(0o755)
    config = tmp_path / "exstreamtv.yaml"
    config.write_text(f"ffmpeg: {{ffprobe_path: {wrapper}}}\n")
    result = run("probe", "--config", str(config), str(clips / "clip-01.mp4"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["streams"]
    assert "clip-01.mp4" in marker.read_text()

    config.write_text("ffmpeg: {ffprobe_path: /nowhere/ffprobe}\n")
    result = run("probe", "--config", str(config), str(clips / "clip-01.mp4"))
    assert result.returncode == 1 and "ffprobe_path '/nowhere/ffprobe' is not an executable" \
        in result.stderr, result.stderr
