"""Text subtitles drawn as DVB subtitles: what drawing and encoding the cues costs, against
what the channel's own transcode costs, at the example config's 720p profile.

Baseline (same run): CPU seconds per second of programme of the channel's real ffmpeg
argv (software encoder, 1280x720) on a generated 1080p clip. Measured: CPU seconds per
second of programme of drawing and encoding a film's worth of cues (1,000 cues over
90 minutes, one or two lines of 25 to 45 characters, the density of a dialogue-heavy
film), the bytes each display set adds and the bitrate that makes. ``--japanese``: cues of
Japanese with a Latin word now and then, so each screen is drawn in two fonts.
``python bench/dvb_text.py [--cues N] [--seconds N] [--japanese]``.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import result
from exstreamtv_plugins.encoders.software import software_preset

from exstreamtv.ffmpeg.command import MediaInput, OutputProfile, ServiceInfo, build_command
from exstreamtv.ffmpeg.dvb_subtitles import display_set, subtitle_packets
from exstreamtv.streaming.dvb_text import render

PROFILE = OutputProfile(width=1280, height=720, fps=25, video_bitrate_kbps=3000,
                        audio_bitrate_kbps=128)
FILM_SECONDS = 90 * 60
WORDS = ("the", "we", "never", "said", "it's", "l'été", "over", "there", "tomorrow",
         "what", "do", "you", "mean", "Captain", "café", "right", "now", "I", "can't", "go")
JAPANESE = ("明日", "私たちは", "そこに", "行きます", "何を", "言った", "船長", "今すぐ", "できない",
            "本当に", "東京", "の", "は", "が", "を", "OK", "Captain", "café")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def transcode_cpu_per_second(seconds: float) -> float:
    """CPU seconds per second of programme of the channel's ffmpeg at the 720p profile."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", "testsrc2=s=1920x1080:r=25", "-f", "lavfi", "-i",
                        "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)],
                       check=True)
        argv = build_command("ffmpeg", MediaInput(str(clip), duration=seconds), PROFILE,
                             software_preset({}), ServiceInfo(1, "bench"))
        before = children_cpu()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return (children_cpu() - before) / seconds


def cue_text(rng: random.Random, japanese: bool = False) -> str:
    lines = []
    for _ in range(rng.choice((1, 1, 2))):
        line = ""
        if japanese:  # written without spaces; a line of 12 to 22 letters
            while len(line) < rng.randint(12, 22):
                line += rng.choice(JAPANESE)
            lines.append(line)
            continue
        while len(line) < rng.randint(25, 45):
            line = f"{line} {rng.choice(WORDS)}".strip()
        lines.append(line[0].upper() + line[1:])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cues", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--japanese", action="store_true")
    args = parser.parse_args()
    rng = random.Random(21)
    texts = [cue_text(rng, args.japanese) for _ in range(args.cues)]
    size = (PROFILE.width, PROFILE.height)

    baseline = transcode_cpu_per_second(args.seconds)

    started, cpu0 = time.perf_counter(), time.process_time()
    total = 0
    for i, text in enumerate(texts):
        picture = render(text, size)
        assert picture is not None
        data = subtitle_packets(0x100, i * 90_000, display_set(picture, size, 2 + i % 14, 10))
        clear = subtitle_packets(0x100, i * 90_000 + 45_000, display_set(None, size, 2, 1))
        total += len(data) + len(clear)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - started
    per_second = cpu * (1000 / args.cues) / FILM_SECONDS  # scaled to a 1,000-cue film

    result(f"drawn text subtitles (1,000-cue film, 720p{', Japanese' if args.japanese else ''})",
           f"{per_second * 1000:.2f} ms CPU per s of programme",
           f"{baseline * 1000:.0f} ms CPU per s (the channel's transcode)", per_second / baseline,
           f"{per_second / baseline:.5f}x; {cpu / args.cues * 1000:.1f} ms CPU per screen "
           f"({wall / args.cues * 1000:.1f} ms wall), {total / args.cues / 1024:.1f} KiB per "
           f"screen with its clearing, "
           f"{total * 8 * (1000 / args.cues) / FILM_SECONDS / 1000:.1f} kbit/s on average")

if __name__ == "__main__":
    main()
