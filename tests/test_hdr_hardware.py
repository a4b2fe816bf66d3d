"""HDR to SDR on the hardware encoders' own filters, and the fallback to the CPU.

This machine has no GPU, no VA-API render node and no OpenCL platform, so the device
chains cannot run here to the end. What can be proved with the real ffmpeg 5.1:

- the graph each hardware preset builds for an HDR item parses: every filter exists and
  takes its options (filters are created with their options when the graph is parsed;
  with the device set-up left out, the first error is hwupload's missing device, which
  comes after parsing);
- the real argv fails here on the device set-up, and the stderr is classified as the
  tone mapping's failure (OpenCL, nvenc) or the encoder's own device (VA-API, vaapi/qsv);
- a channel whose hardware encoder cannot tone-map keeps that encoder and tone-maps HDR
  on the CPU: a test encoder marked hardware (libx264 underneath) declares the real
  nvenc OpenCL chain, real ffmpeg fails on the OpenCL device with its real messages.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from exstreamtv_plugins.encoders.hardware import nvenc_preset, qsv_preset, vaapi_preset

from exstreamtv import EncoderPreset
from exstreamtv.ffmpeg.command import MediaInput, OutputProfile, ServiceInfo, build_command
from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.healing.ffmpeg_monitor import DeviceFailure, decisive_error
from exstreamtv.media.models import MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.planner import ItemPlanner
from tests.helpers import MEDIA_CACHE, base_config, ffmpeg_bin
from tests.media_files import _lock
from tests.test_healing_faults import Viewer, events
from tests.test_picture import hdr10_clip, load, registry

PRESETS = {"nvenc": nvenc_preset({}), "vaapi": vaapi_preset({}), "qsv": qsv_preset({})}
#: ffmpeg's words for a graph it could not build (a wrong option, a missing filter).
PARSE_ERRORS = ("Option not found", "not found", "No such filter", "Error initializing filter",
                "Error parsing filterchain", "Invalid output format")
#: hwupload's error when no device was given: the graph was parsed (libavfilter/vf_hwupload.c).
NO_DEVICE = "A hardware device reference is required to upload frames to."


def hdr_argv(preset: EncoderPreset, clip: Path) -> list[str]:
    source = MediaInput(str(clip), duration=1.0, video_stream=0, audio_stream=1,
                        tonemap="hardware")
    return build_command(ffmpeg_bin(), source, OutputProfile(width=640, height=360), preset,
                         ServiceInfo(1, "HDR"))


def without_devices(argv: list[str]) -> list[str]:
    """``argv`` without its device set-up (``-init_hw_device``/``-filter_hw_device``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-init_hw_device", "-filter_hw_device"):
            skip = True
        else:
            out.append(arg)
    return out


def run(argv: list[str]) -> tuple[int, list[str]]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stderr.splitlines()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_hardware_tonemap_graph_parses_in_real_ffmpeg(name):
    argv = hdr_argv(PRESETS[name], hdr10_clip())
    code, lines = run(without_devices(argv))
    text = "\n".join(lines)
    assert code != 0
    assert NO_DEVICE in text, text
    assert not any(e in text for e in PARSE_ERRORS), text
    # The check can fail: a misspelt option is refused while parsing.
    bad = [a.replace("tonemap_opencl=tonemap=", "tonemap_opencl=tonemapx=")
           .replace("tonemap_vaapi=format=", "tonemap_vaapi=formatx=") for a in argv]
    code, lines = run(without_devices(bad))
    assert code != 0 and "Option not found" in "\n".join(lines)


@pytest.mark.parametrize(("name", "kind"), [("nvenc", DeviceFailure.TONEMAP),
                                            ("vaapi", DeviceFailure.DRIVER_INIT),
                                            ("qsv", DeviceFailure.DRIVER_INIT)])
def test_real_argv_fails_here_on_the_device_and_is_classified(name, kind):
    """nvenc's OpenCL device is the tone mapping's alone: its failure must not take the
    channel off the GPU. vaapi/qsv tone-map on the encoder's own VA-API device: when that
    cannot open, the encoder cannot either (the software fallback is right)."""
    code, lines = run(hdr_argv(PRESETS[name], hdr10_clip()))
    assert code != 0
    found = decisive_error(lines)
    assert found is not None and found.device is kind, lines
    if name == "nvenc":
        assert any("Failed to get number of OpenCL platforms" in line for line in lines), lines


# -- the planner's choice ----------------------------------------------------------------


def planner_for(tmp_path: Path, encoder: str) -> ItemPlanner:
    cfg = load(tmp_path, ffmpeg={"encoder": encoder, "video": {"width": 640, "height": 360}})
    return ItemPlanner(cfg.channels[0], registry(), find_ffmpeg())


def filter_graph(planner: ItemPlanner, clip: Path) -> str:
    info = asyncio.run(probe(str(clip), "ffprobe"))
    item = MediaItem("i", "clips", "t", str(clip), info.duration, info)
    argv = planner.media(ScheduledItem(item=item, start=0.0, duration=2.0), 0.0).argv
    return argv[argv.index("-filter_complex") + 1]


@pytest.mark.parametrize(("encoder", "pq", "hlg"), [
    ("nvenc", "tonemap_opencl", "tonemap_opencl"),
    ("vaapi", "tonemap_vaapi", "zscale"),  # tonemap_vaapi takes HDR10 only
    ("qsv", "tonemap_vaapi", "zscale"),
    ("videotoolbox", "zscale", "zscale"),  # no tone-mapping filter in ffmpeg 5.1
    ("software", "zscale", "zscale"),
])
def test_planner_tone_maps_on_the_device_where_it_can(tmp_path, caplog, encoder, pq, hlg):
    planner = planner_for(tmp_path, encoder)
    with caplog.at_level("INFO"):
        assert pq in filter_graph(planner, hdr10_clip("smpte2084"))
    where = "on the device" if pq != "zscale" else "on the CPU"
    assert f"HDR tone-mapped to SDR BT.709 {where}" in caplog.text
    assert hlg in filter_graph(planner, hdr10_clip("arib-std-b67"))
    # After the device failed to tone-map: the CPU, the same encoder.
    assert planner.use_cpu_tonemap() is True and planner.use_cpu_tonemap() is False
    graph = filter_graph(planner, hdr10_clip("smpte2084"))
    assert "tonemap=tonemap=mobius" in graph and "tonemap_" not in graph
    assert planner.preset.name == encoder


# -- the channel keeps its GPU and tone-maps on the CPU --------------------------------

GPU_PLUGIN = '''
from exstreamtv import EncoderPreset, hookimpl
from exstreamtv_plugins.encoders.hardware import nvenc_tonemap


def opencl_gpu(options, tools=None):
    """libx264 posing as a GPU encoder whose tone mapping is nvenc's real OpenCL chain."""
    return EncoderPreset(name="opencl_gpu", codec="libx264", hardware=True,
                         options=(("-preset", "ultrafast"),), tonemap=nvenc_tonemap("0"))


@hookimpl
def register_encoders(register):
    register("opencl_gpu", opencl_gpu, None, "libx264 with nvenc's OpenCL tone mapping (tests)")
'''


def hdr_folder() -> Path:
    """Two 10 s HDR10 clips (PQ, mastering display metadata), 640x360."""
    folder = MEDIA_CACHE / "hdr10-channel"
    with _lock("hdr10-channel"):
        if not (folder / "clip-02.mkv").exists():
            folder.mkdir(parents=True, exist_ok=True)
            x265 = ("log-level=error:colorprim=bt2020:colormatrix=bt2020nc:transfer=smpte2084:"
                    "hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
                    "WP(15635,16450)L(10000000,1):max-cll=1000,400")
            tmp = folder / f"clip.{os.getpid()}.part.mkv"
            subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
                            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25",
                            "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "10",
                            "-vf", "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=smpte2084:"
                                   "m=bt2020nc:p=bt2020:r=tv:npl=100,format=yuv420p10le",
                            "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", x265,
                            "-color_primaries", "bt2020", "-color_trc", "smpte2084",
                            "-colorspace", "bt2020nc", "-c:a", "aac", str(tmp)],
                           check=True, timeout=300)
            shutil.copy(tmp, folder / "clip-01.mkv")
            tmp.replace(folder / "clip-02.mkv")
    return folder


def gpu_config(tmp: Path, healing: bool) -> dict[str, Any]:
    config = base_config(tmp, hdr_folder(), ai_auto_heal={"enabled": healing})
    plugins = tmp / "gpu-plugin"
    plugins.mkdir(exist_ok=True)
    (plugins / "opencl_gpu.py").write_text(GPU_PLUGIN)
    config["plugins"] = {"directories": [str(plugins)]}
    config["ffmpeg"] = {**config["ffmpeg"], "encoder": "opencl_gpu",
                        "video": {**config["ffmpeg"].get("video", {}),
                                  "width": 640, "height": 360},
                        "error_screen": {"visual": "slate", "audio": "silent"}}
    return config


@pytest.mark.parametrize("healing", [True, False], ids=["healing", "pipeline-alone"])
def test_device_that_cannot_tone_map_keeps_the_encoder(make_server, tmp_path, healing):
    """With self-healing, CPU_TONEMAP sends ``UseCpuTonemap`` as the OpenCL line arrives;
    without it, the pipeline's recovery does the same step when the run exits."""
    server = make_server(gpu_config(tmp_path, healing))
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 150_000, 60)
    viewer.finish()
    pipeline = server.get("/api/channels/1").json()["pipeline"]
    assert pipeline["encoder"] == "opencl_gpu", "a tone-mapping failure moved it off its GPU"
    assert pipeline["restarts"] <= 1, pipeline
    fixes = [(e["issue"], e["strategy"], e["action"]) for e in events(server, kind="fix")]
    assert not [f for f in fixes if f[0] == "HARDWARE_FAILED"], fixes
    if healing:
        assert ("TONEMAP_FAILED", "CPU_TONEMAP", "applied") in fixes, fixes
        detected = [e for e in events(server, action="detected")
                    if e["issue"] == "TONEMAP_FAILED"]
        assert detected and "OpenCL platforms" in detected[0]["message"], detected
        # The switch is logged by whichever comes first on a loaded machine: the
        # healing command, or the pipeline's own recovery of the failed segment.
        assert ("HDR tone mapping on the CPU from now on, encoder opencl_gpu kept" in server.log
                or "tone mapping on the CPU, encoder opencl_gpu kept" in server.log), server.log
    else:
        assert fixes == [("TONEMAP_FAILED", "cpu_tonemap", "applied")], fixes
        assert "tone mapping on the CPU, encoder opencl_gpu kept" in server.log
    # The programme plays, tone-mapped on the CPU; the device is not asked again.
    assert "on the CPU (zscale)" in server.log
    assert server.log.count("on the device (tonemap_opencl)") == 1, server.log
    assert not viewer.ended and viewer.error is None
