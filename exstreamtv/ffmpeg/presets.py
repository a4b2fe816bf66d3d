"""Encoder presets as data: one frozen dataclass per encoder, no command strings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EncoderPreset:
    """How one encoder turns the channel's video profile into ffmpeg arguments.

    ``init_args`` go before every input (hardware device set-up); ``decode_args``
    before the media input (hardware decoding); ``upload_filter`` moves frames to the
    device after the software filters; ``scale_filter`` is the scaler used when frames
    already live on the device; ``options`` are encoder options as (flag, value) pairs.
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


SOFTWARE = EncoderPreset(
    name="software",
    codec="libx264",
    options=(("-preset", "veryfast"), ("-profile:v", "high"), ("-sc_threshold", "0")),
)
