"""Fault injection through ``ffmpeg.ffmpeg_path``: a wrapper prints real ffmpeg messages.

The wrapper script stands in for ffmpeg. Depending on its mode file it prints lines
ffmpeg really prints (tests/data/ffmpeg_stderr/) to stderr and then either runs the real
ffmpeg with the same arguments or exits the way ffmpeg does when the fault is real:

- a GPU warning naming h264_vaapi, then a working encode: the channel keeps its encoder;
- a VA-API device that cannot be initialised, exit 1 without output: software fallback;
- a 403 from the source after a few seconds of a programme: REFRESH, not a crash loop,
  also when the run's last line arrives after REFRESH replaced the run;
- a codec this ffmpeg lacks, for one item: that item is skipped, never restarted;
- a flood of binary garbage and unknown lines in other languages: nothing is "fixed";
- an ffmpeg reading its input at half speed: the degradation pattern fires.

The "GPU" is a test encoder plugin marked hardware that really encodes with libx264
(this machine has no GPU), so the wrapper can tell its commands apart.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Server, base_config, clips_folder, ffmpeg_bin, make_clip
from tests.test_healing_faults import Viewer, events

GPU_PLUGIN = '''
from exstreamtv import EncoderPreset, hookimpl


def fake_vaapi(options, tools=None):
    return EncoderPreset(name="fake_vaapi", codec="libx264", hardware=True,
                         options=(("-preset", "ultrafast"),
                                  ("-metadata:s:v:0", "comment=fakegpu")))


@hookimpl
def register_encoders(register):
    register("fake_vaapi", fake_vaapi, None, "libx264 posing as a GPU encoder (tests)")
'''

WRAPPER = r'''#!/bin/sh
# Stands in for ffmpeg: prints real ffmpeg messages, then runs or stops the real one.
REAL="@REAL@"
DIR="@DIR@"
MODE=$(cat "$DIR/mode" 2>/dev/null)
case " $* " in *fakegpu*) GPU=1 ;; *) GPU=0 ;; esac
case " $* " in *clip-*) PROGRAMME=1 ;; *) PROGRAMME=0 ;; esac
case "$MODE" in
gpu-warn)
  if [ $GPU = 1 ]; then
    echo "[h264_vaapi @ 0x5581e3a0c2c0] [warning] Driver does not support some wanted packed headers (wanted 0xd, found 0x1)." >&2
    echo "[h264_vaapi @ 0x5581e3a0c2c0] [warning] Driver does not support packed sequence headers, but a global header is requested." >&2
  fi
  exec "$REAL" "$@" ;;
gpu-fail)
  if [ $GPU = 1 ]; then
    echo "[AVHWDeviceContext @ 0x55c2d419aa00] [error] No VA display found for device /dev/dri/renderD128." >&2
    echo "[error] Device creation failed: -22." >&2
    echo "[error] Failed to set value '/dev/dri/renderD128' for option 'vaapi_device': Invalid argument" >&2
    echo "[fatal] Error parsing global options: Invalid argument" >&2
    exit 1
  fi
  exec "$REAL" "$@" ;;
gpu-403)
  if [ $GPU = 1 ] && [ $PROGRAMME = 1 ] && mkdir "$DIR/403-sent" 2>/dev/null; then
    echo "[http @ 0x562aeecd00c0] [warning] HTTP error 403 Forbidden" >&2
    echo "[error] http://127.0.0.1:18765/video.mp4?token=abc: Server returned 403 Forbidden (access denied)" >&2
    exit 1
  fi
  exec "$REAL" "$@" ;;
http403)
  if [ $PROGRAMME = 1 ] && mkdir "$DIR/403-sent" 2>/dev/null; then
    "$REAL" "$@" &
    PID=$!
    sleep 3
    kill -9 $PID
    echo "[http @ 0x562aeecd00c0] [warning] HTTP error 403 Forbidden" >&2
    echo "[error] http://127.0.0.1:18765/video.mp4?token=abc: Server returned 403 Forbidden (access denied)" >&2
    exit 1
  fi
  exec "$REAL" "$@" ;;
http403-late)
  # As http403, but the run's last 403 line reaches the server only after the fix has
  # replaced the run (a child in its own session holds stderr open): a late line of the
  # old run, not the issue coming back.
  if [ $PROGRAMME = 1 ] && mkdir "$DIR/403-sent" 2>/dev/null; then
    "$REAL" "$@" &
    PID=$!
    sleep 3
    kill -9 $PID
    echo "[http @ 0x562aeecd00c0] [warning] HTTP error 403 Forbidden" >&2
    setsid sh -c 'sleep 2; echo "[error] http://127.0.0.1:18765/video.mp4?token=abc: Server returned 403 Forbidden (access denied)" >&2' &
    exit 1
  fi
  exec "$REAL" "$@" ;;
flood)
  if [ $PROGRAMME = 1 ]; then
    head -c 300000 /dev/urandom >&2
    i=0
    while [ $i -lt 3000 ]; do
      echo "[mpegts @ 0x1] unbekanntes Paket $i im Strom, Zeitstempel ungueltig" >&2
      echo "[h264_vaapi @ 0x2] エンコーダーの警告 $i" >&2
      i=$((i + 1))
    done
  fi
  exec "$REAL" "$@" ;;
slow)
  if [ $PROGRAMME = 1 ]; then
    first=1
    for a in "$@"; do
      shift
      if [ "$a" = "-i" ] && [ $first = 1 ]; then set -- "$@" -readrate 0.5; first=0; fi
      set -- "$@" "$a"
    done
  fi
  exec "$REAL" "$@" ;;
codec)
  case " $* " in
  *bad-codec*)
    echo "[error] Decoder (codec hevc) not found for input stream #0:0" >&2
    exit 1 ;;
  esac
  exec "$REAL" "$@" ;;
esac
exec "$REAL" "$@"
'''


def wrapper(tmp: Path, mode: str) -> Path:
    """The wrapper script in ``tmp``/fake-ffmpeg, set to ``mode``."""
    folder = tmp / "fake-ffmpeg"
    folder.mkdir(exist_ok=True)
    script = folder / "ffmpeg"
    script.write_text(WRAPPER.replace("@REAL@", ffmpeg_bin()).replace("@DIR@", str(folder)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    (folder / "mode").write_text(mode)
    return script


def injected_config(tmp: Path, media: Path, mode: str, *, gpu: bool = False,
                    **heal: Any) -> dict[str, Any]:
    config = base_config(tmp, media, ai_auto_heal=heal) if heal else base_config(tmp, media)
    ffmpeg = {**config["ffmpeg"], "ffmpeg_path": str(wrapper(tmp, mode)),
              "ffprobe_path": shutil.which("ffprobe"),
              "error_screen": {"visual": "slate", "audio": "silent"}}
    if gpu:
        plugins = tmp / "gpu-plugin"
        plugins.mkdir(exist_ok=True)
        (plugins / "fake_gpu.py").write_text(GPU_PLUGIN)
        config["plugins"] = {"directories": [str(plugins)]}
        ffmpeg["encoder"] = "fake_vaapi"
    config["ffmpeg"] = ffmpeg
    return config


@pytest.fixture(scope="module")
def long_clips() -> Path:
    return clips_folder("heal", 2, 20.0)


def fixes(server: Server, issue: str) -> list[tuple[str, str]]:
    return [(e["strategy"], e["action"]) for e in events(server, kind="fix")
            if e["issue"] == issue]


def test_gpu_warning_keeps_the_hardware_encoder(make_server, long_clips, tmp_path):
    server = make_server(injected_config(tmp_path, long_clips, "gpu-warn", gpu=True))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    # The warnings were printed by every ffmpeg of the channel; by the time this much
    # was delivered, a warning taken for a failure would have moved it to software.
    server.wait_for(lambda: len(viewer.data) > 250_000, 40)
    status = server.get("/api/healing/status").json()
    viewer.finish()
    pipeline = server.get("/api/channels/1").json()["pipeline"]
    assert pipeline["encoder"] == "fake_vaapi", "a warning moved the channel off its GPU"
    assert not fixes(server, "HARDWARE_FAILED")
    assert not [e for e in events(server) if "HARDWARE" in str(e.get("issue"))]
    assert "packed headers" in server.log or status["log_buffer"]["events"] > 0
    assert not viewer.ended and viewer.error is None


def test_gpu_device_failure_falls_back_to_software(make_server, long_clips, tmp_path):
    server = make_server(injected_config(tmp_path, long_clips, "gpu-fail", gpu=True))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    detected = server.wait_for(lambda: [e for e in events(server, action="detected")
                                        if e["issue"] == "HARDWARE_FAILED"], 30)
    analysis = detected[0]["analysis"]
    assert analysis["error"]["device"] in ("driver_init", "device_open")
    assert "No VA display found" in "\n".join(analysis["stderr_tail"])
    assert "driver" in analysis["probable_cause"] or "device" in analysis["probable_cause"]
    server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"]["encoder"]
                    == "software", 20)
    server.wait_for(lambda: len(viewer.data) > 100_000, 30)
    viewer.finish()
    assert not viewer.ended and viewer.error is None


def test_source_error_at_start_keeps_the_hardware_encoder(make_server, long_clips, tmp_path):
    """A GPU channel's ffmpeg that exits at once on a 403 failed on its source, not its
    device: the item is retried on the GPU, never moved to software."""
    server = make_server(injected_config(tmp_path, long_clips, "gpu-403", gpu=True))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: (tmp_path / "fake-ffmpeg" / "403-sent").exists(), 30)
    server.wait_for(lambda: len(viewer.data) > 250_000, 60)
    viewer.finish()
    pipeline = server.get("/api/channels/1").json()["pipeline"]
    assert pipeline["encoder"] == "fake_vaapi", "a source error moved the channel off its GPU"
    assert not fixes(server, "HARDWARE_FAILED")
    assert "HARDWARE_ERROR" not in server.log
    assert not viewer.ended and viewer.error is None


@pytest.mark.parametrize("mode", ["http403", "http403-late"])
def test_403_mid_stream_is_refreshed(make_server, long_clips, tmp_path, mode):
    server = make_server(injected_config(tmp_path, long_clips, mode))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    verified = server.wait_for(lambda: [e for e in events(server, action="verified")
                                        if e["issue"] == "URL_EXPIRED"], 60)
    assert verified[0]["strategy"] == "REFRESH"
    analysis = verified[0]["analysis"]
    assert analysis["outcome"] == "verified"
    assert analysis["chosen"]["strategy"] == "REFRESH"
    assert any("403" in line["message"] for line in analysis["evidence"])
    assert "play speed" in verified[0]["message"]
    assert ("RESTART", "applied") not in fixes(server, "FFMPEG_CRASH"), \
        "the killed ffmpeg was also healed as a crash"
    size = len(viewer.data)
    server.wait_for(lambda: len(viewer.data) > size + 30_000, 15)
    viewer.finish()
    assert not viewer.ended and viewer.error is None


def test_codec_error_skips_the_item_instead_of_restarting(make_server, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    clip = make_clip(tmp_path / "src" / "clip.mp4", 8.0)
    for name in ("clip-a.mp4", "clip-b-bad-codec.mp4", "clip-c.mp4"):
        shutil.copy(clip, folder / name)
    server = make_server(injected_config(tmp_path, folder, "codec"))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    verified = server.wait_for(lambda: [e for e in events(server, action="verified")
                                        if e["issue"] == "CODEC_ERROR"], 60)
    assert verified[0]["strategy"] == "SKIP"
    analysis = verified[0]["analysis"]
    assert analysis["recoverable"] is False and analysis["severity"] == "CRITICAL"
    assert "RESTART" not in [analysis["chosen"]["strategy"],
                             *[a["strategy"] for a in analysis["alternatives"]]]
    assert ("RESTART", "applied") not in fixes(server, "CODEC_ERROR")
    size = len(viewer.data)
    server.wait_for(lambda: len(viewer.data) > size + 30_000, 15)
    viewer.finish()
    assert not viewer.ended and viewer.error is None


def test_flood_of_garbage_on_stderr_changes_nothing(make_server, long_clips, tmp_path):
    server = make_server(injected_config(tmp_path, long_clips, "flood"))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 250_000, 60)
    status = server.get("/api/healing/status").json()
    viewer.finish()
    assert 6000 <= status["log_buffer"]["events"] <= status["log_buffer"]["capacity"], \
        "the flood did not reach the collector"
    assert not [e for e in events(server, kind="fix") if e["action"] in ("detected", "applied")]
    assert server.get("/api/healing/events").status_code == 200
    assert not viewer.ended and viewer.error is None


def test_programme_at_half_speed_fires_the_degradation_pattern(make_server, long_clips,
                                                               tmp_path):
    server = make_server(injected_config(tmp_path, long_clips, "slow"))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    try:
        found = server.wait_for(lambda: [e for e in events(server, action="pattern")
                                         if e["issue"] == "FFMPEG_HANG"], 60)
    finally:
        viewer.finish()
    assert found[0]["message"].startswith("ffmpeg_degradation: ")
    assert "play speed" in found[0]["message"] and found[0]["risk"] == "MEDIUM"
    # Whether it is also raised as an issue depends on the host: on a starved one (load
    # above the cores and every channel slow) slow is not stuck and nothing restarts.
    detected = [e for e in events(server, action="detected") if e["issue"] == "FFMPEG_HANG"
                and e["analysis"]["detector"] == "pattern_detector"]
    for event in detected:  # the issue carries the pattern's risk to the approval gate
        assert event["risk"] == "MEDIUM"
        assert any("play speed" in line["message"] for line in event["analysis"]["evidence"])
