"""Picture and sound features: transcode speed (x real time) with each feature on vs off.

Generates, in a temporary folder, a 1080i/25 interlaced clip (field order tt), an HDR10
clip (PQ, BT.2020, 10-bit HEVC) and a plain 1080p clip, then runs the channel's real argv
(:func:`build_command`, software encoder, 1280x720 output) on the same clip with one
feature on and off: deinterlacing, HDR tone mapping, HEVC instead of H.264, 10-bit,
the watermark, the loudness gain, the now/next titles, a (blank) DVB subtitle stream.
The ratio is the speed with the feature over the speed
without (below 1: the feature costs). Also the cost of loudness analysis: seconds of CPU
time per hour of media. ``python bench/picture.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import result
from exstreamtv_plugins.encoders.software import software_preset

from exstreamtv.ffmpeg.command import (
    Captions,
    MediaInput,
    OutputProfile,
    ServiceInfo,
    Watermark,
    build_command,
)
from exstreamtv.media.loudness import measure

SERVICE = ServiceInfo(1, "bench")


def render(out: Path, seconds: float, video_filter: str, codec: list[str]) -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=50" if "interlace" in video_filter
                    else "testsrc2=s=1920x1080:r=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", str(seconds), "-vf", video_filter, *codec, "-c:a", "aac", str(out)],
                   check=True)
    return out


def speed(source: MediaInput, profile: OutputProfile, seconds: float) -> float:
    """x real time of one encode of ``source`` (seconds of media per second of wall time)."""
    argv = build_command("ffmpeg", source, profile, software_preset({}), SERVICE)
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return seconds / (time.perf_counter() - started)


def compare(name: str, off: tuple[MediaInput, OutputProfile], on: tuple[MediaInput, OutputProfile],
            seconds: float) -> None:
    base = speed(*off, seconds)
    with_feature = speed(*on, seconds)
    result(f"picture_{name}", f"{with_feature:.2f}x rt", f"{base:.2f}x rt", with_feature / base,
           "speed with the feature / without, same clip")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    seconds = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M"]
        interlaced = render(folder / "i.ts", seconds, "tinterlace=mode=interleave_top,setfield=tff",
                            [*x264, "-flags", "+ildct+ilme", "-field_order", "tt"])
        plain = render(folder / "p.mkv", seconds, "null", x264)
        hdr = render(folder / "hdr.mkv", seconds,
                     "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=smpte2084:m=bt2020nc:"
                     "p=bt2020:r=tv:npl=100,format=yuv420p10le",
                     ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                      "-color_trc", "smpte2084", "-color_primaries", "bt2020",
                      "-colorspace", "bt2020nc"])
        logo = folder / "logo.png"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "color=c=red:s=300x150", "-frames:v", "1", str(logo)], check=True)
        hd = OutputProfile()
        media = MediaInput(str(plain), duration=seconds, video_stream=0, audio_stream=1)
        i_media = replace(media, location=str(interlaced))
        h_media = replace(media, location=str(hdr))
        compare("deinterlace", (i_media, hd), (replace(i_media, deinterlace=True), hd), seconds)
        compare("hdr_tonemap", (replace(h_media, tonemap="tags"), hd),
                (replace(h_media, tonemap="zscale"), hd), seconds)
        compare("hevc", (media, hd), (media, replace(hd, video_codec="hevc")), seconds)
        compare("10bit_h264", (media, hd), (media, replace(hd, bit_depth=10)), seconds)
        compare("watermark", (media, hd), (replace(media, watermark=Watermark(str(logo))), hd),
                seconds)
        compare("loudness_gain", (media, hd), (replace(media, audio_gain_db=-6.5), hd), seconds)
        titles = Captions(("Now: Bob's Burgers: 100%", "Next: The News"), seconds=seconds)
        compare("now_next", (media, hd), (replace(media, captions=titles), hd), seconds)
        compare("dvb_subtitle_stream", (media, hd), (media, replace(hd, subtitle_language="eng")),
                seconds)
        compare("eac3_51", (media, hd), (media, replace(hd, audio_codec="eac3", audio_channels=6,
                                                           audio_bitrate_kbps=384)), seconds)
        started = time.perf_counter()
        asyncio.run(measure("ffmpeg", str(plain), 1, None))
        elapsed = time.perf_counter() - started
        per_hour = elapsed / seconds * 3600
        result("picture_loudness_analysis", f"{per_hour:.0f} s per hour of media",
               f"{seconds:.0f} s clip in {elapsed:.2f} s", 3600 / per_hour,
               "x real time of the analysis pass (container decode + loudnorm)")


if __name__ == "__main__":
    main()
