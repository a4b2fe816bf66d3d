"""Hardware H.264 encoders: ``nvenc``, ``vaapi``, ``qsv``, ``videotoolbox``.

Each is an :class:`EncoderPreset`: device set-up before the inputs (``init_args``),
hardware decoding of the media input (``decode_args``), an upload filter after the
software scale/pad/fps chain, and encoder options. Filters run on the CPU so that
every item and error screen passes the same chain; only the encode runs on the device.

``encoder_options``: ``device`` (vaapi/qsv render node, default /dev/dri/renderD128;
nvenc GPU index, default 0) and ``hwaccel_decode`` (decode on the device too, default
false: a file the device cannot decode would otherwise fail).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from exstreamtv import EncoderPreset, hookimpl

SCHEMA = {
    vol.Optional("device", default=None): vol.Any(None, str, vol.All(int, vol.Range(min=0, max=63))),
    vol.Optional("hwaccel_decode", default=False): bool,
}


def _opts(options: dict[str, Any]) -> dict[str, Any]:
    return dict(vol.Schema(SCHEMA, extra=vol.REMOVE_EXTRA)(dict(options)))


def nvenc_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """NVIDIA NVENC (h264_nvenc); needs the NVIDIA driver with libnvidia-encode."""
    opts = _opts(options)
    gpu = str(opts["device"] if opts["device"] is not None else 0)
    decode = ("-hwaccel", "cuda", "-hwaccel_device", gpu) if opts["hwaccel_decode"] else ()
    return EncoderPreset(
        name="nvenc", codec="h264_nvenc", decode_args=decode, pix_fmt="yuv420p",
        options=(("-gpu", gpu), ("-preset", "p4"), ("-tune", "ll"), ("-rc", "cbr"),
                 ("-profile:v", "high"), ("-forced-idr", "1")),
        hardware=True,
    )


def vaapi_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """VA-API (h264_vaapi) on Intel/AMD; needs /dev/dri access (group render)."""
    opts = _opts(options)
    device = str(opts["device"] or "/dev/dri/renderD128")
    decode = (("-hwaccel", "vaapi", "-hwaccel_device", "va", "-hwaccel_output_format", "nv12")
              if opts["hwaccel_decode"] else ())
    return EncoderPreset(
        name="vaapi", codec="h264_vaapi",
        init_args=("-init_hw_device", f"vaapi=va:{device}", "-filter_hw_device", "va"),
        decode_args=decode, upload_filter="hwupload", pix_fmt="nv12",
        options=(("-rc_mode", "CBR"), ("-profile:v", "high")),
        hardware=True,
    )


def qsv_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """Intel Quick Sync (h264_qsv); needs the Intel media driver and oneVPL/libmfx."""
    opts = _opts(options)
    device = str(opts["device"] or "/dev/dri/renderD128")
    decode = ("-hwaccel", "qsv", "-hwaccel_output_format", "nv12") if opts["hwaccel_decode"] else ()
    return EncoderPreset(
        name="qsv", codec="h264_qsv",
        init_args=("-init_hw_device", f"vaapi=va:{device}", "-init_hw_device", "qsv=qs@va",
                   "-filter_hw_device", "qs"),
        decode_args=decode, upload_filter="hwupload=extra_hw_frames=64", pix_fmt="nv12",
        options=(("-preset", "veryfast"), ("-profile:v", "high"), ("-look_ahead", "0")),
        hardware=True,
    )


def videotoolbox_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """Apple VideoToolbox (h264_videotoolbox) on macOS."""
    opts = _opts(options)
    decode = ("-hwaccel", "videotoolbox") if opts["hwaccel_decode"] else ()
    return EncoderPreset(
        name="videotoolbox", codec="h264_videotoolbox", decode_args=decode, pix_fmt="nv12",
        options=(("-realtime", "1"), ("-profile:v", "high"), ("-allow_sw", "0")),
        hardware=True,
    )


#: Name -> (ffmpeg encoder, preset factory), in the order ``auto`` tries them.
HARDWARE = {
    "nvenc": ("h264_nvenc", nvenc_preset),
    "qsv": ("h264_qsv", qsv_preset),
    "vaapi": ("h264_vaapi", vaapi_preset),
    "videotoolbox": ("h264_videotoolbox", videotoolbox_preset),
}


@hookimpl
def register_encoders(register: Any) -> None:
    register("nvenc", nvenc_preset, SCHEMA, "NVIDIA NVENC (h264_nvenc)")
    register("vaapi", vaapi_preset, SCHEMA, "VA-API on Intel/AMD (h264_vaapi)")
    register("qsv", qsv_preset, SCHEMA, "Intel Quick Sync (h264_qsv)")
    register("videotoolbox", videotoolbox_preset, SCHEMA, "Apple VideoToolbox (h264_videotoolbox)")
