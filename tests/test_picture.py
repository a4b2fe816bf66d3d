"""Picture and sound: named profiles, output codecs (HEVC, 10-bit, AC-3/E-AC-3), deinterlacing.

Real ffmpeg renders what a channel sends for generated sources; ffprobe and ffmpeg's
``idet`` measure it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from exstreamtv_plugins.encoders.hardware import nvenc_preset, qsv_preset, vaapi_preset
from exstreamtv_plugins.encoders.software import software_preset

from exstreamtv import EncoderPreset
from exstreamtv.config.loader import validate_config
from exstreamtv.errors import ConfigError
from exstreamtv.ffmpeg.command import (
    MediaInput,
    OutputProfile,
    ServiceInfo,
    Watermark,
    build_command,
)
from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.media.models import MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry, collect_registry
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.planner import ItemPlanner
from tests.helpers import MEDIA_CACHE, TEST_FFMPEG, base_config, clips_folder, ffmpeg_bin
from tests.media_files import _lock, ffprobe_streams

GOLDEN = Path(__file__).parent / "golden"
SERVICE = ServiceInfo(7, "Movies")
MEDIA = MediaInput("/media/Movie (2001).mkv", offset=12.5, duration=100.0, video_stream=0,
                   audio_stream=1)


def registry() -> Registry:
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    return collect_registry(host)


def load(tmp_path: Path, extra: dict[str, Any] | None = None, reg: Registry | None = None,
         **channel: Any) -> Any:
    config = base_config(tmp_path, clips_folder("basic", 3, 4.0))
    config["channels"][0].update(channel)
    config.update(extra or {})
    return validate_config(yaml.safe_load(yaml.safe_dump(config)), reg or registry())


# -- profiles and load checks -------------------------------------------------------


def test_profile_sits_between_the_defaults_and_the_channel(tmp_path):
    profiles = {"hd-hevc": {"video": {"codec": "hevc", "bit_depth": 10, "bitrate_kbps": 5000},
                            "audio": {"codec": "eac3", "channels": 6}}}
    cfg = load(tmp_path, {"profiles": profiles}, profile="hd-hevc",
               ffmpeg={"video": {"bitrate_kbps": 6000}})
    ff = cfg.channels[0].ffmpeg
    assert (ff.video.codec, ff.video.bit_depth, ff.video.bitrate_kbps) == ("hevc", 10, 6000)
    assert (ff.audio.codec, ff.audio.channels) == ("eac3", 6)
    assert ff.video.width == TEST_FFMPEG["video"]["width"]  # from the global defaults
    assert cfg.channels[0].profile == "hd-hevc"
    plain = load(tmp_path).channels[0].ffmpeg
    assert (plain.video.codec, plain.video.bit_depth, plain.audio.codec) == ("h264", 8, "aac")
    assert plain.video.deinterlace == "auto"


def test_unknown_profile_and_bad_profile_keys_are_load_errors(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"profiles": {"sd": {"video": {"width": 720}}}}, profile="hd")
    assert "channels[0].profile: unknown profile 'hd' (known: sd)" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"profiles": {"hd": {"video": {"codec": "av1"}}}})
    assert "profiles.hd.video.codec" in str(err.value)


def test_a_codec_the_encoder_cannot_produce_is_a_load_error_naming_the_channel(tmp_path):
    reg = registry()

    def h264_only(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
        return EncoderPreset(name="h264only", codec="libx264")

    reg.registrar("encoder", "test")("h264only", h264_only, None, "declares nothing")
    with pytest.raises(ConfigError) as err:
        load(tmp_path, reg=reg, ffmpeg={"encoder": "h264only",
                                        "video": {"codec": "hevc", "bit_depth": 10}})
    text = str(err.value)
    assert "channels[0].ffmpeg.video.codec" in text and "channel 1 'Clips'" in text
    assert "cannot produce hevc 10-bit (it can: h264 8-bit)" in text
    # Every built-in encoder offers HEVC 8 and 10-bit; H.264 10-bit is software only.
    for encoder in ("software", "nvenc", "vaapi", "qsv", "videotoolbox"):
        load(tmp_path, ffmpeg={"encoder": encoder, "video": {"codec": "hevc", "bit_depth": 10}})
    with pytest.raises(ConfigError, match="encoder 'vaapi' cannot produce h264 10-bit"):
        load(tmp_path, ffmpeg={"encoder": "vaapi", "video": {"bit_depth": 10}})


def test_audio_codec_limits_are_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="ac3 carries at most 6 channels"):
        load(tmp_path, ffmpeg={"audio": {"codec": "ac3", "channels": 8}})
    with pytest.raises(ConfigError, match="ac3 allows at most 640 kbit/s"):
        load(tmp_path, ffmpeg={"audio": {"codec": "ac3", "bitrate_kbps": 768}})


# -- golden argv ---------------------------------------------------------------------

HEVC10 = OutputProfile(video_codec="hevc", bit_depth=10, audio_codec="eac3", audio_channels=6,
                       audio_bitrate_kbps=384)
CASES = {
    "software-hevc10-eac3": (software_preset({}), HEVC10, MEDIA),
    "software-h264-10-ac3": (software_preset({}), OutputProfile(bit_depth=10, audio_codec="ac3"),
                             MEDIA),
    "software-deinterlace": (software_preset({}), OutputProfile(),
                             MediaInput(**{**MEDIA.__dict__, "deinterlace": True})),
    "nvenc-hevc10": (nvenc_preset({}), HEVC10, MEDIA),
    "vaapi-hevc10": (vaapi_preset({}), HEVC10, MEDIA),
    "qsv-hevc8": (qsv_preset({}), OutputProfile(video_codec="hevc"), MEDIA),
    "software-hdr-tonemap": (software_preset({}), OutputProfile(),
                             MediaInput(**{**MEDIA.__dict__, "tonemap": "zscale"})),
    "software-hdr-untagged": (software_preset({}), OutputProfile(), MediaInput(**{
        **MEDIA.__dict__, "tonemap": "zscale", "tonemap_from": "arib-std-b67"})),
    "software-hdr-tags": (software_preset({}), OutputProfile(),
                          MediaInput(**{**MEDIA.__dict__, "tonemap": "tags"})),
    # HDR on the encoder's device: upload p010, tone-map, download nv12, then as usual.
    "nvenc-hdr-tonemap": (nvenc_preset({"device": 1}), OutputProfile(),
                          MediaInput(**{**MEDIA.__dict__, "tonemap": "hardware"})),
    "vaapi-hdr-tonemap": (vaapi_preset({}), OutputProfile(),
                          MediaInput(**{**MEDIA.__dict__, "tonemap": "hardware"})),
    "qsv-hdr-tonemap": (qsv_preset({}), OutputProfile(),
                        MediaInput(**{**MEDIA.__dict__, "tonemap": "hardware"})),
    "vaapi-hdr-cpu-tonemap": (vaapi_preset({}), OutputProfile(),
                              MediaInput(**{**MEDIA.__dict__, "tonemap": "zscale"})),
    "software-watermark": (software_preset({}), OutputProfile(), MediaInput(**{
        **MEDIA.__dict__, "watermark": Watermark("/logos/My Channel.png", "top-left", 0.2, 0.5)})),
    "vaapi-watermark": (vaapi_preset({}), OutputProfile(), MediaInput(**{
        **MEDIA.__dict__, "watermark": Watermark("/logos/logo.png")})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_argv(name):
    preset, profile, media = CASES[name]
    text = "\n".join(build_command("ffmpeg", media, profile, preset, SERVICE)) + "\n"
    path = GOLDEN / f"picture_{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"argv changed; UPDATE_GOLDEN=1 rewrites {path}"


def test_builder_refuses_a_format_the_preset_lacks():
    with pytest.raises(ValueError, match="cannot produce h264 10-bit"):
        build_command("ffmpeg", MEDIA, OutputProfile(bit_depth=10), vaapi_preset({}), SERVICE)


# -- real encodes ----------------------------------------------------------------------


def interlaced_clip() -> Path:
    """3 s of 1080i/25, top field first, flagged so (field_order tt), moving picture."""
    path = MEDIA_CACHE / "interlaced-1080i25.ts"
    with _lock("interlaced"):
        if not path.exists():
            tmp = path.with_name(path.name + f".{os.getpid()}.part")
            subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
                            "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=50",
                            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                            "-t", "3", "-vf", "tinterlace=mode=interleave_top,setfield=tff",
                            "-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme",
                            "-field_order", "tt", "-b:v", "4M", "-c:a", "aac", "-ac", "2",
                            "-f", "mpegts", str(tmp)], check=True, timeout=180)
            tmp.replace(path)
    return path


def plan(tmp_path: Path, source: Path, ffmpeg: dict[str, Any], seconds: float = 2.0) -> list[str]:
    """The argv a channel with ``ffmpeg`` overrides plays ``source`` with (probed for real)."""
    cfg = load(tmp_path, ffmpeg=ffmpeg)
    info = asyncio.run(probe(str(source), "ffprobe"))
    item = MediaItem("i", "clips", "t", str(source), info.duration, info)
    planner = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg())
    return planner.media(ScheduledItem(item=item, start=0.0, duration=seconds), 0.0).argv


def plan_and_run(tmp_path: Path, source: Path, ffmpeg: dict[str, Any], seconds: float = 2.0,
                 name: str = "out") -> Path:
    """Plan ``source`` on a channel with ``ffmpeg`` overrides, run the argv, keep the TS."""
    argv = plan(tmp_path, source, ffmpeg, seconds)
    proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / f"{name}.ts"
    out.write_bytes(proc.stdout)
    return out


def idet(path: Path) -> dict[str, int]:
    """ffmpeg idet's multi-frame verdict counts for ``path``."""
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-i", str(path), "-vf", "idet", "-an",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stderr.splitlines() if "Multi frame detection" in x)
    return {k: int(v) for k, v in re.findall(r"(TFF|BFF|Progressive|Undetermined):\s*(\d+)", line)}


def test_interlaced_source_is_deinterlaced_keeping_the_frame_rate(tmp_path):
    clip = interlaced_clip()
    info = asyncio.run(probe(str(clip), "ffprobe"))
    assert info.video_streams[0].field_order == "tt" and info.video_streams[0].interlaced
    hd = {"video": {"width": 1920, "height": 1080, "fps": 25, "bitrate_kbps": 4000}}
    out = plan_and_run(tmp_path, clip, hd, name="auto")
    counts = idet(out)
    assert counts["Progressive"] >= 40 and counts["TFF"] + counts["BFF"] <= 2, counts
    # 2 s at 25 frames/s: one frame out per frame in (field rate would give ~100)
    assert 48 <= sum(counts.values()) <= 51, counts
    assert ffprobe_streams(out)[0]["r_frame_rate"] == "25/1"
    # Control: with deinterlacing off, idet sees the fields the source has.
    raw = plan_and_run(tmp_path, clip, {"video": {**hd["video"], "deinterlace": "off"}},
                          name="off")
    combed = idet(raw)
    assert combed["TFF"] >= 40, combed
    # Forced on a source the probe calls progressive; auto leaves that one alone.
    progressive = clips_folder("basic", 3, 4.0) / "clip-01.mp4"
    assert "bwdif" in " ".join(plan(tmp_path, progressive, {"video": {"deinterlace": "on"}}))
    assert "bwdif" not in " ".join(plan(tmp_path, progressive, {}))


def test_hevc_10bit_with_eac3_51_is_what_the_channel_sends(tmp_path):
    ffmpeg = {"video": {"codec": "hevc", "bit_depth": 10},
              "audio": {"codec": "eac3", "channels": 6, "bitrate_kbps": 384}}
    out = plan_and_run(tmp_path, clips_folder("basic", 3, 4.0) / "clip-01.mp4", ffmpeg)
    video, audio = ffprobe_streams(out)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == \
        ("hevc", "Main 10", "yuv420p10le")
    assert (audio["codec_name"], audio["channels"]) == ("eac3", 6)
    assert audio["channel_layout"] in ("5.1", "5.1(side)")


def test_h264_10bit_and_ac3_stereo(tmp_path):
    ffmpeg = {"video": {"bit_depth": 10}, "audio": {"codec": "ac3"}}
    out = plan_and_run(tmp_path, clips_folder("basic", 3, 4.0) / "clip-01.mp4", ffmpeg)
    video, audio = ffprobe_streams(out)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == \
        ("h264", "High 10", "yuv420p10le")
    assert (audio["codec_name"], audio["channels"]) == ("ac3", 2)


def test_hevc_stream_carries_parameter_sets_at_every_keyframe(tmp_path):
    """A viewer joining mid-stream (or the splicer) decodes from the next keyframe."""
    out = plan_and_run(tmp_path, clips_folder("basic", 3, 4.0) / "clip-01.mp4",
                          {"video": {"codec": "hevc"}}, seconds=3.0)
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                           "packet=pos,flags", "-of", "csv=p=0", str(out)],
                          capture_output=True, text=True, timeout=60, check=True)
    keyframes = [int(line.split(",")[0]) for line in proc.stdout.split() if ",K" in line]
    assert len(keyframes) >= 2, proc.stdout
    tail = tmp_path / "tail.ts"
    tail.write_bytes(out.read_bytes()[keyframes[1] // 188 * 188:])
    decoded = subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", str(tail),
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr[-2000:]


def test_a_channel_with_a_profile_sends_it_normalised(make_server, tmp_path):
    """End to end: a profile with HEVC 10-bit, E-AC-3 5.1 and -23 LUFS, read by ffmpeg as a
    viewer: the codecs ffprobe reports and the loudness ebur128 measures across a quiet and
    a loud item (measured by the server after its scan)."""
    from tests.test_loudness import ebur128, loud, quiet

    media = tmp_path / "media"
    media.mkdir()
    for make in (quiet, loud):
        os.link(make(), media / make().name)
    config = base_config(tmp_path, media)
    config["profiles"] = {"broadcast": {
        "video": {"codec": "hevc", "bit_depth": 10},
        "audio": {"codec": "eac3", "channels": 6, "bitrate_kbps": 384, "loudness_lufs": -23}}}
    config["channels"][0]["profile"] = "broadcast"
    server = make_server(config)
    server.wait_for(lambda: "Loudness of 'quiet'" in server.log and "Loudness of 'loud'" in
                    server.log, timeout=120)
    recording = tmp_path / "viewer.ts"
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i",
                    f"{server.url}/stream/channels/1.ts", "-t", "13", "-map", "0", "-c", "copy",
                    "-f", "mpegts", str(recording)], check=True, timeout=180)
    video, audio = ffprobe_streams(recording)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == \
        ("hevc", "Main 10", "yuv420p10le")
    assert (audio["codec_name"], audio["channels"]) == ("eac3", 6)
    loudness, peak = ebur128(recording)
    assert abs(loudness + 23) <= 1.0, (loudness, peak)


def hdr10_clip(transfer: str = "smpte2084") -> Path:
    """3 s of SDR test picture converted to HDR (PQ or HLG, BT.2020, 10-bit HEVC) and tagged."""
    path = MEDIA_CACHE / f"hdr-{transfer}.mkv"
    x265 = ("log-level=error:colorprim=bt2020:colormatrix=bt2020nc:transfer=" + transfer +
            (":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
             "WP(15635,16450)L(10000000,1):max-cll=1000,400" if transfer == "smpte2084" else ""))
    with _lock("hdr"):
        if not path.exists():
            tmp = path.with_name(path.name + f".{os.getpid()}.part.mkv")
            subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
                            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25",
                            "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "3",
                            "-vf", "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:"
                                   f"t={transfer}:m=bt2020nc:p=bt2020:r=tv:npl=100,format=yuv420p10le",
                            "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", x265,
                            "-color_primaries", "bt2020", "-color_trc", transfer,
                            "-colorspace", "bt2020nc", "-c:a", "aac", str(tmp)],
                           check=True, timeout=180)
            tmp.replace(path)
    return path


def luma_average(path: Path, frames: int = 10) -> float:
    """signalstats' mean luma (8-bit scale) over the first ``frames`` frames."""
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-i", str(path), "-vf",
                           "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
                           "-an", "-frames:v", str(frames), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    values = [float(v) for v in re.findall(r"YAVG=([\d.]+)", proc.stdout)]
    assert values, proc.stderr[-2000:]
    return sum(values) / len(values)


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_hdr_source_is_tone_mapped_to_sdr_bt709(tmp_path, transfer):
    clip = hdr10_clip(transfer)
    info = asyncio.run(probe(str(clip), "ffprobe"))
    assert info.video_streams[0].color_transfer == transfer and info.video_streams[0].hdr
    size = {"video": {"width": 640, "height": 360}}
    argv = plan(tmp_path, clip, size)
    assert "tonemap=tonemap=mobius" in " ".join(argv)
    out = plan_and_run(tmp_path, clip, size)
    video = ffprobe_streams(out)[0]
    assert (video["color_transfer"], video["color_primaries"], video["color_space"]) == \
        ("bt709", "bt709", "bt709")
    # The SDR picture the HDR clip was made from: tone mapping brings back its brightness.
    sdr = tmp_path / "sdr.ts"
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=640x360:r=25", "-frames:v", "10", "-c:v", "libx264", "-preset",
                    "ultrafast", str(sdr)], check=True, timeout=60)
    reference, mapped = luma_average(sdr), luma_average(out)
    # (mobius: 13% darker; untouched PQ 22%, untouched HLG 17% darker)
    assert abs(mapped - reference) / reference < 0.15, (reference, mapped)
    # An SDR source is left alone.
    assert "tonemap" not in " ".join(plan(tmp_path, clips_folder("basic", 3, 4.0) / "clip-01.mp4",
                                          {}))


def make_image(path: Path, size: str, color: str = "red") -> Path:
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"color=c={color}:s={size}", "-frames:v", "1", str(path)],
                   check=True, timeout=60)
    return path


def corner_color(path: Path, x: int, y: int, w: int, h: int) -> tuple[int, int, int]:
    """The mean RGB of a region of the first frame of ``path``."""
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", str(path),
                           "-frames:v", "1", "-vf", f"crop={w}:{h}:{x}:{y},scale=1:1:flags=area",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, timeout=60, check=True)
    r, g, b = proc.stdout[:3]
    return r, g, b


def test_watermark_is_overlaid_in_its_corner(tmp_path):
    logo = make_image(tmp_path / "logo [1].png", "200x100")
    clip = clips_folder("basic", 3, 4.0) / "clip-01.mp4"  # 320x180 output
    out = plan_and_run(tmp_path, clip, {"watermark": {"image": str(logo), "position": "bottom-right",
                                                      "size": 0.25, "opacity": 1.0}})
    # 80x40 at 10 px from the right and bottom edges (3% margin of 320).
    r, g, b = corner_color(out, 320 - 10 - 70, 180 - 10 - 30, 60, 20)
    assert r > 180 and g < 80 and b < 80, (r, g, b)
    plain = plan_and_run(tmp_path, clip, {}, name="plain")
    assert corner_color(plain, 320 - 10 - 70, 180 - 10 - 30, 60, 20) != (r, g, b)
    # Half opacity over the picture: not pure red any more.
    half = plan_and_run(tmp_path, clip, {"watermark": {"image": str(logo), "size": 0.25,
                                                       "opacity": 0.5}}, name="half")
    hr, hg, hb = corner_color(half, 320 - 10 - 70, 180 - 10 - 30, 60, 20)
    assert hr < r - 30 or hg > g + 30 or hb > b + 30, (hr, hg, hb)


@pytest.mark.parametrize("case", ["missing", "huge", "not-an-image", "url"])
def test_unusable_watermark_is_left_out_with_a_warning(tmp_path, caplog, case):
    path = {"missing": str(tmp_path / "nope.png"),
            "huge": str(make_image(tmp_path / "huge.png", "5000x20")),
            "not-an-image": str(tmp_path / "text.png"),
            "url": "http://127.0.0.1:9/logo.png"}[case]
    (tmp_path / "text.png").write_text("not a picture")
    clip = clips_folder("basic", 3, 4.0) / "clip-01.mp4"
    argv = plan(tmp_path, clip, {"watermark": {"image": path}})
    assert "overlay" not in " ".join(argv)
    assert "no watermark" in caplog.text
    out = plan_and_run(tmp_path, clip, {"watermark": {"image": path}})
    assert ffprobe_streams(out)[0]["codec_name"] == "h264"  # the programme plays


def test_watermark_logo_means_the_channel_logo(tmp_path):
    logo = make_image(tmp_path / "channel.png", "64x64", "blue")
    cfg = load(tmp_path, logo=str(logo), ffmpeg={"watermark": {"image": "logo"}})
    planner = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg())
    clip = clips_folder("basic", 3, 4.0) / "clip-01.mp4"
    info = asyncio.run(probe(str(clip), "ffprobe"))
    argv = planner.media(ScheduledItem(item=MediaItem("i", "c", "t", str(clip), 4.0, info),
                                       start=0.0, duration=2.0), 0.0).argv
    assert str(logo) in argv and "overlay=W-w-10:H-h-10:format=auto" in " ".join(argv)


def test_error_screens_come_out_in_the_channel_format(tmp_path):
    """Items and error screens share one stream layout, whatever the profile asks for."""
    cfg = load(tmp_path, ffmpeg={"video": {"codec": "hevc", "bit_depth": 10},
                                 "audio": {"codec": "ac3", "channels": 6}})
    plan_ = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg()).error_screen("offline", 1.0)
    proc = subprocess.run(plan_.argv, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / "screen.ts"
    out.write_bytes(proc.stdout)
    video, audio = ffprobe_streams(out)
    assert (video["codec_name"], video["pix_fmt"]) == ("hevc", "yuv420p10le")
    assert (audio["codec_name"], audio["channels"]) == ("ac3", 6)
