"""Generated media for the media pipeline tests: multi-track files, Dolby Vision files,
and measuring output.

The multi-track file has three audio tracks with distinct tones, so a decoded output
tells which track is heard: English 5.1 (300 Hz), French stereo (600 Hz), English
commentary (1200 Hz); and three subtitle tracks: English forced, English SDH, French, each shown from 2.0 s
to 3.8 s (so a burn-in from an offset shows whether subtitle timing follows the seek).
"""

from __future__ import annotations

import array
import fcntl
import hashlib
import itertools
import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.dovi import DoviConfig, add_dovi_box, add_rpus
from tests.helpers import MEDIA_CACHE, ffmpeg_bin

TONES = {"eng": 300, "fre": 600, "commentary": 1200}

_SRT = "1\n00:00:02,000 --> 00:00:03,800\n{text}\n"


def _lock(name: str) -> Any:
    MEDIA_CACHE.mkdir(parents=True, exist_ok=True)
    handle = open(MEDIA_CACHE / f".{name}.lock", "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def multitrack(seconds: float = 4.0) -> Path:
    """The three-audio, three-subtitle MKV (cached across runs and workers)."""
    out = MEDIA_CACHE / f"multitrack-{seconds:g}.mkv"
    with _lock("multitrack"):
        if out.exists():
            return out
        subs = []
        for name, text in (("forced", "FORCED ENGLISH"), ("sdh", "[MUSIC] ENGLISH SDH"),
                           ("fre", "SOUS-TITRE FRANCAIS")):
            path = MEDIA_CACHE / f"multitrack-{name}.srt"
            path.write_text(_SRT.format(text=text))
            subs.append(str(path))
        t = str(seconds)
        argv = [
            ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
            "-f", "lavfi", "-i", f"sine=frequency={TONES['eng']}:sample_rate=48000",
            "-f", "lavfi", "-i", f"sine=frequency={TONES['fre']}:sample_rate=48000",
            "-f", "lavfi", "-i", f"sine=frequency={TONES['commentary']}:sample_rate=48000",
            "-i", subs[0], "-i", subs[1], "-i", subs[2],
            "-filter_complex", "[1:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[a51]",
            "-map", "0:v", "-map", "[a51]", "-map", "2:a", "-map", "3:a",
            "-map", "4:s", "-map", "5:s", "-map", "6:s",
            "-t", t, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-ac:a:1", "2", "-ac:a:2", "2", "-c:s", "srt",
            "-metadata:s:a:0", "language=en", "-metadata:s:a:0", "title=English 5.1",
            "-metadata:s:a:1", "language=fre", "-metadata:s:a:1", "title=Francais",
            "-metadata:s:a:2", "language=eng", "-metadata:s:a:2", "title=Director's Commentary",
            "-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:a:2", "comment",
            "-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=English (forced)",
            "-metadata:s:s:1", "language=eng", "-metadata:s:s:1", "title=English SDH",
            "-metadata:s:s:2", "language=fra", "-metadata:s:s:2", "title=Francais",
            "-disposition:s:0", "forced", "-disposition:s:1", "hearing_impaired",
            "-disposition:s:2", "0",
            "-f", "matroska", str(out) + ".part",
        ]
        subprocess.run(argv, check=True)
        os.replace(str(out) + ".part", out)
        return out


def run_ffmpeg(argv: list[str], seconds: float = 2.0, timeout: float = 60) -> bytes:
    """Run an argv that writes MPEG-TS to stdout; the first ``seconds`` of output."""
    proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def ffprobe_streams(path: Path | str) -> list[dict[str, Any]]:
    """ffprobe's streams of a file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True, check=True, timeout=60,
    )
    streams: list[dict[str, Any]] = json.loads(out.stdout)["streams"]
    return streams


def decode_audio(path: Path | str, start: float = 0.5, seconds: float = 1.0,
                 channel: int = 0) -> array.array[int]:
    """One channel of ``path``'s audio as 16-bit samples at 48 kHz."""
    out = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-ss", str(start), "-t", str(seconds),
         "-af", f"pan=mono|c0=c{channel}", "-f", "s16le", "-ar", "48000", "-"],
        capture_output=True, check=True, timeout=60,
    )
    samples = array.array("h")
    samples.frombytes(out.stdout[: len(out.stdout) // 2 * 2])
    return samples


def dominant_frequency(samples: array.array[int], rate: int = 48000) -> float:
    """The frequency of a pure tone from its zero crossings (0 for silence)."""
    if not samples or max(abs(s) for s in samples) < 100:
        return 0.0
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


def peak(samples: array.array[int]) -> int:
    """The largest absolute sample."""
    return max((abs(s) for s in samples), default=0)


def frame_hashes(path: Path | str, start: float = 0.5, frames: int = 5) -> list[str]:
    """MD5 of ``frames`` decoded video frames from ``start``."""
    out = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-ss", str(start), "-frames:v",
         str(frames), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60,
    )
    size = len(out.stdout) // frames
    return [hashlib.md5(out.stdout[i * size:(i + 1) * size]).hexdigest() for i in range(frames)]


def dvd_spu(width: int = 200, height: int = 20, x: int = 60, y: int = 140,
            duration_ticks: int = 2000) -> bytes:
    """One DVD subtitle (SPU) packet: a solid ``width`` x ``height`` box in colour 1.

    Every line is one run-length code (``width`` pixels of colour 1), the same for the
    top and bottom fields; a second control sequence hides it after ``duration_ticks``
    (1024/90000 s each).
    """
    line = struct.pack(">H", (width << 2) | 1)
    field = line * (height // 2)
    data = field + field
    control = 4 + len(data)
    x2, y2 = x + width - 1, y + height - 1
    coords = bytes([x >> 4, ((x & 0xF) << 4) | (x2 >> 8), x2 & 0xFF,
                    y >> 4, ((y & 0xF) << 4) | (y2 >> 8), y2 & 0xFF])
    commands = (bytes([0x01, 0x03, 0x32, 0x10, 0x04, 0xFF, 0xF0, 0x05]) + coords
                + bytes([0x06]) + struct.pack(">HH", 4, 4 + len(field)) + b"\xff")
    second = control + 4 + len(commands)
    body = data + struct.pack(">HH", 0, second) + commands
    body += struct.pack(">HH", duration_ticks, second) + b"\x02\xff"
    return struct.pack(">HH", 4 + len(body), control) + body


def image_subtitled(seconds: float = 4.0) -> Path:
    """A grey 320x180 MKV with one English DVD (image) subtitle shown from 0 s (PyAV)."""
    import fractions

    import av

    out = MEDIA_CACHE / f"imagesub-{seconds:g}.mkv"
    with _lock("imagesub"):
        if out.exists():
            return out
        part = Path(str(out) + ".part")
        container = av.open(str(part), "w", format="matroska")
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        subs = container.add_stream("dvd_subtitle")
        subs.metadata["language"] = "eng"
        samples = 1024
        for i in range(int(seconds * 25)):
            frame = av.VideoFrame(320, 180, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = i
            container.mux(video.encode(frame))
            if i == 0:
                packet = av.Packet(dvd_spu(duration_ticks=int(seconds * 90000 / 1024)))
                packet.stream = subs
                packet.pts = packet.dts = 0
                packet.time_base = fractions.Fraction(1, 1000)
                packet.duration = int(seconds * 1000)
                container.mux(packet)
        for n in range(int(seconds * 48000 / samples)):
            sound = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
            for plane in sound.planes:
                plane.update(bytes(plane.buffer_size))
            sound.sample_rate = 48000
            sound.pts = n * samples
            container.mux(audio.encode(sound))
        container.mux(video.encode())
        container.mux(audio.encode())
        container.close()
        os.replace(part, out)
        return out


def _render(out: Path, inputs: list[str], codecs: list[str]) -> None:
    part = Path(str(out) + ".part")
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", *inputs, *codecs,
                    "-f", {"mkv": "matroska", "m4a": "mp4", "ts": "mpegts"}.get(out.suffix[1:], out.suffix[1:]),
                    str(part)], check=True)
    os.replace(part, out)


def bad_input_folder() -> Path:
    """A channel's worth of awkward files (cached): see the test using it for the list."""
    folder = MEDIA_CACHE / "bad-input"
    with _lock("bad-input"):
        folder.mkdir(parents=True, exist_ok=True)
        video = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"]
        h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]
        aac = ["-c:a", "aac", "-b:a", "64k"]

        def tone(freq: int) -> list[str]:
            return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=44100"]

        items: dict[str, Any] = {
            "b-no-audio.mp4": (video, [*h264, "-t", "2"]),
            "c-no-video.m4a": (tone(1000), [*aac, "-t", "2", "-metadata:s:a:0", "language=eng"]),
            "e-unknown-language.mkv": (video + tone(440),
                                       [*h264, *aac, "-t", "2", "-metadata:s:a:0", "language=qqq"]),
        }
        for name, (inputs, codecs) in items.items():
            if not (folder / name).exists():
                _render(folder / name, inputs, codecs)
        multi = folder / "a-multitrack.mkv"
        if not multi.exists():
            multi.write_bytes(multitrack().read_bytes())
        damaged = folder / "d-damaged.ts"
        if not damaged.exists():
            src = folder / "d-source.ts"
            _render(src, video + tone(440), [*h264, *aac, "-t", "3"])
            data = bytearray(src.read_bytes())
            middle = len(data) // 2
            data[middle:middle + 20000] = os.urandom(20000)
            damaged.write_bytes(bytes(data))
            src.unlink()
        images = folder / "f-image-subtitles.mkv"
        if not images.exists():
            images.write_bytes(image_subtitled(2.0).read_bytes())
    return folder


@dataclass(frozen=True)
class DolbyVisionVariant:
    """A Dolby Vision profile as test media: the record's fields and the base layer's
    colour (``transfer`` None: untagged, as profile 5 files are)."""

    profile: int
    compatibility_id: int
    transfer: str | None
    sample_entry: bytes | None = None  # None: hvc1, backward compatible


#: SMPTE bars (75% grey at x 0-45, red at x 228-273 of 320), the picture of every variant.
DV_PICTURE = "smptebars=s=320x180:r=25"
DOLBY_VISION = {
    "8.1": DolbyVisionVariant(8, 1, "smpte2084"),      # HDR10 base layer
    "8.4": DolbyVisionVariant(8, 4, "arib-std-b67"),   # HLG base layer
    "8.2": DolbyVisionVariant(8, 2, "bt709"),          # SDR base layer
    # IPTPQc2 base, no compatible layer. Ours is PQ YCbCr (we have no IPT encoder) in
    # a dvh1 sample entry with no colour tags: what a player sees is the same.
    "5": DolbyVisionVariant(5, 0, None, b"dvh1"),
}
_HDR10_SEI = ("hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
              "L(10000000,1):max-cll=1000,400")


def _dv_base(variant: DolbyVisionVariant) -> bytes:
    """The base layer: 2 s of HEVC Main10 (Annex B), no B-frames (so the raw stream
    remuxes with plain timestamps), the bars converted to the variant's transfer."""
    transfer = variant.transfer or "smpte2084"
    if transfer == "bt709":
        convert, colour = "format=yuv420p10le", "colorprim=bt709:colormatrix=bt709:transfer=bt709"
    else:
        convert = ("zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:"
                   f"t={transfer}:m=bt2020nc:p=bt2020:r=tv:npl=100,format=yuv420p10le")
        colour = f"colorprim=bt2020:colormatrix=bt2020nc:transfer={transfer}"
    params = "log-level=error:bframes=0:keyint=25"
    if variant.transfer is not None:
        params += f":{colour}"
    else:  # no colour description in the VUI
        convert += ",setparams=color_primaries=unknown:color_trc=unknown:colorspace=unknown"
    if variant.transfer == "smpte2084":
        params += f":{_HDR10_SEI}"
    out = subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                          "-i", DV_PICTURE, "-t", "2", "-vf", convert, "-c:v", "libx265",
                          "-preset", "ultrafast", "-x265-params", params, "-f", "hevc", "-"],
                         capture_output=True, check=True, timeout=180)
    return out.stdout


def dolby_vision(name: str, container: str = "mp4", signalled: bool = True) -> Path:
    """A 2 s 320x180 Dolby Vision file of profile ``name`` (a key of :data:`DOLBY_VISION`),
    with a 440 Hz tone (cached).

    An MP4 gets its configuration record in a ``dvcC``/``dvvC`` box written here; an MKV
    is that MP4 remuxed by ffmpeg (whose Matroska muxer writes the BlockAdditionMapping).
    ``signalled`` False gives the same base layer with neither RPUs nor record: the plain
    HDR10/HLG/SDR file a DV-unaware encoder would have made.
    """
    variant = DOLBY_VISION[name]
    out = MEDIA_CACHE / f"dolby-vision-{name}{'' if signalled else '-base'}.{container}"
    source = dolby_vision(name, "mp4", signalled) if container != "mp4" else None
    with _lock("dolby-vision"):
        if out.exists():
            return out
        if source is not None:
            _render(out, ["-i", str(source)], ["-map", "0", "-c", "copy"])
            return out
        stream = _dv_base(variant)
        if signalled:
            stream = add_rpus(stream, variant.profile)
        raw = out.with_suffix(".hevc")
        raw.write_bytes(stream)
        tags = []
        if variant.transfer is not None:
            space = "bt709" if variant.transfer == "bt709" else "bt2020"
            tags = ["-color_primaries", space, "-color_trc", variant.transfer,
                    "-colorspace", "bt709" if space == "bt709" else "bt2020nc"]
        mp4 = Path(str(out) + ".mp4")
        _render(mp4, ["-framerate", "25", "-f", "hevc", "-i", str(raw), "-f", "lavfi", "-i",
                      "sine=frequency=440:sample_rate=48000"],
                ["-t", "2", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-tag:v", "hvc1",
                 *tags, "-c:a", "aac", "-b:a", "64k"])
        raw.unlink()
        data = mp4.read_bytes()
        if signalled:
            record = DoviConfig(variant.profile, 1, variant.compatibility_id)
            data = add_dovi_box(data, record, variant.sample_entry)
        part = Path(str(out) + ".part")
        part.write_bytes(data)
        mp4.unlink()
        os.replace(part, out)
        return out
