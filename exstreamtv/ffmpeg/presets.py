"""Encoder presets as data: one frozen dataclass per encoder, no command strings."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

#: The video codecs and bit depths a channel can ask for (``ffmpeg.video.codec``/``bit_depth``).
VIDEO_CODECS = ("h264", "hevc")
BIT_DEPTHS = (8, 10)


@dataclass(frozen=True)
class VideoFormat:
    """One output an encoder can produce: a codec at a bit depth, and how to ask for it.

    ``encoder`` is the ffmpeg encoder name, ``pix_fmt`` the frame format the software
    filters end with (before any upload to the device), ``options`` the encoder options.
    """

    codec: str
    bit_depth: int
    encoder: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.codec} {self.bit_depth}-bit"


#: The HDR transfers (ffprobe's ``color_transfer``): HDR10/PQ and HLG.
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")


@dataclass(frozen=True)
class HardwareTonemap:
    """HDR to SDR BT.709 on a device, declared by an encoder preset.

    ``filter`` is the device's tone-mapping filter: the preset's tone mapping is used
    only when ``ffmpeg -filters`` lists it. ``chain`` takes decoded frames at the source's
    size through the device and back to CPU memory as SDR BT.709 ``nv12`` (upload the
    10-bit frames, tone-map, download), so every filter after it runs as for any item.
    ``init_args`` set up the device the chain uploads to when the encoder's own set-up
    does not (they go before the inputs of HDR items only). ``transfers`` are the HDR
    transfers the filter accepts; others are tone-mapped on the CPU.
    """

    filter: str
    chain: tuple[str, ...]
    init_args: tuple[str, ...] = ()
    transfers: tuple[str, ...] = HDR_TRANSFERS


@dataclass(frozen=True)
class EncoderPreset:
    """How one encoder turns the channel's video profile into ffmpeg arguments.

    ``init_args`` go before every input (hardware device set-up); ``decode_args``
    before the media input (hardware decoding); ``upload_filter`` moves frames to the
    device after the software filters; ``scale_filter`` is the scaler used when frames
    already live on the device; ``options`` are encoder options as (flag, value) pairs;
    ``tonemap`` is the HDR to SDR chain on the encoder's device, if it has one.

    ``codec``/``pix_fmt``/``options`` describe H.264 8-bit. ``formats`` declares what
    else the encoder can produce (HEVC, 10-bit); a preset that declares nothing produces
    H.264 8-bit only, and a channel asking it for more is refused at load.
    """

    name: str
    codec: str
    init_args: tuple[str, ...] = ()
    decode_args: tuple[str, ...] = ()
    upload_filter: str | None = None
    pix_fmt: str = "yuv420p"
    options: tuple[tuple[str, str], ...] = ()
    hardware: bool = False
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    formats: tuple[VideoFormat, ...] = ()
    tonemap: HardwareTonemap | None = None

    def video_format(self, codec: str = "h264", bit_depth: int = 8) -> VideoFormat | None:
        """How this encoder produces ``codec`` at ``bit_depth``, or None if it cannot."""
        for fmt in self.formats:
            if (fmt.codec, fmt.bit_depth) == (codec, bit_depth):
                return fmt
        if (codec, bit_depth) == ("h264", 8):
            return VideoFormat("h264", 8, self.codec, self.pix_fmt, self.options)
        return None

    def format_labels(self) -> list[str]:
        """What the encoder can produce, e.g. ``["h264 8-bit", "hevc 10-bit"]``."""
        return [f"{c} {d}-bit" for c in VIDEO_CODECS for d in BIT_DEPTHS
                if self.video_format(c, d) is not None]


SOFTWARE = EncoderPreset(
    name="software",
    codec="libx264",
    options=(("-preset", "veryfast"), ("-profile:v", "high"), ("-sc_threshold", "0")),
)


def _listing(ffmpeg: str, flag: str, timeout: float) -> str:
    """What ``ffmpeg -hide_banner FLAG`` prints ("" if ffmpeg cannot run)."""
    try:
        return subprocess.run([ffmpeg, "-hide_banner", flag], capture_output=True,
                              text=True, timeout=timeout, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def listed_encoders(ffmpeg: str, timeout: float = 20.0) -> frozenset[str]:
    """The encoder names ``ffmpeg -encoders`` lists (empty if ffmpeg cannot run)."""
    names = set()
    for line in _listing(ffmpeg, "-encoders", timeout).splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


def listed_filters(ffmpeg: str, timeout: float = 20.0) -> frozenset[str]:
    """The filter names ``ffmpeg -filters`` lists (empty if ffmpeg cannot run)."""
    names = set()
    for line in _listing(ffmpeg, "-filters", timeout).splitlines():
        parts = line.split()
        if len(parts) >= 3 and "->" in parts[2]:
            names.add(parts[1])
    return frozenset(names)


def trial_encode(ffmpeg: str, preset: EncoderPreset, timeout: float = 20.0) -> str | None:
    """Encode one frame with ``preset`` through the real argv builder.

    Returns None when it worked, else ffmpeg's last error line (why the encoder
    cannot be used here: no device, no driver, no licence).
    """
    from exstreamtv.ffmpeg.command import GeneratedInput, OutputProfile, ServiceInfo, build_command

    profile = OutputProfile(width=256, height=144, fps=25, video_bitrate_kbps=200,
                            audio_bitrate_kbps=64)
    source = GeneratedInput(("-f", "lavfi", "-i", "color=c=black:s=256x144:r=25"),
                            ("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"), 0.04)
    argv = build_command(ffmpeg, source, profile, preset, ServiceInfo(1, "encoder test"))
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"test encode failed: {exc}"
    if proc.returncode == 0 and proc.stdout:
        return None
    return first_error(proc.stderr.decode(errors="replace")) or f"ffmpeg exited with {proc.returncode}"


def first_error(stderr: str) -> str | None:
    """The first ``[error]``/``[fatal]`` line of ffmpeg's stderr (the cause, not the fallout)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "[error]" in line or "[fatal]" in line:
            return line
    return lines[-1] if lines else None
