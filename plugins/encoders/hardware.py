"""Hardware H.264 encoders: ``nvenc``, ``vaapi``, ``qsv``, ``videotoolbox``.

Each is an :class:`EncoderPreset`: device set-up before the inputs (``init_args``),
hardware decoding of the media input (``decode_args``), an upload filter after the
software scale/pad/fps chain, and encoder options. Filters run on the CPU so that
every item and error screen passes the same chain; only the encode runs on the device.

HDR items are tone-mapped on the device where ffmpeg has a filter for it (``tonemap``,
a :class:`HardwareTonemap`): ``tonemap_vaapi`` for vaapi and qsv (the VA-API device the
QSV one is derived from), ``tonemap_opencl`` for nvenc (an OpenCL device: ffmpeg cannot
derive one from CUDA). The frames come back to the CPU as SDR BT.709, so burn-in,
watermark and scaling run as for any item. videotoolbox has no tone-mapping filter in
ffmpeg 5.1: the CPU tone-maps, as for software.

``encoder_options``: ``device`` (vaapi/qsv render node, default /dev/dri/renderD128;
nvenc GPU index, default 0) and ``hwaccel_decode`` (decode on the device too, default
false: a file the device cannot decode would otherwise fail).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from exstreamtv import EncoderPreset, HardwareTonemap, VideoFormat, hookimpl

SCHEMA = {
    vol.Optional("device", default=None): vol.Any(None, str, vol.All(int, vol.Range(min=0, max=63))),
    vol.Optional("hwaccel_decode", default=False): bool,
}


#: VA-API's video processor, for HDR10 only: tonemap_vaapi needs the mastering display
#: metadata HLG lacks ("No mastering display data from input"). Its output is nv12 with
#: BT.709 transfer; primaries and matrix are asked for too.
_VAAPI_TONEMAP = "tonemap_vaapi=format=nv12:t=bt709:m=bt709:p=bt709"

VAAPI_TONEMAP = HardwareTonemap(
    filter="tonemap_vaapi",
    chain=("format=p010", "hwupload", _VAAPI_TONEMAP, "hwdownload", "format=nv12"),
    transfers=("smpte2084",),
)

#: QSV: the frames go to the VA-API device the QSV device was derived from
#: (``-init_hw_device qsv=qs@va``; deriving vaapi from it returns that device).
QSV_TONEMAP = HardwareTonemap(
    filter="tonemap_vaapi",
    chain=("format=p010", "hwupload=derive_device=vaapi", _VAAPI_TONEMAP, "hwdownload",
           "format=nv12"),
    transfers=("smpte2084",),
)



def nvenc_tonemap(gpu: str) -> HardwareTonemap:
    """NVIDIA: OpenCL on device ``gpu`` of the NVIDIA OpenCL platform (hwcontext_opencl
    matches ``platform_vendor`` as a substring; without it a host with another OpenCL
    driver has "More than one matching device"). HDR10 and HLG, mobius without
    desaturation like the CPU chain, limited-range BT.709 nv12 out."""
    return HardwareTonemap(
        filter="tonemap_opencl",
        chain=("format=p010", "hwupload",
               "tonemap_opencl=tonemap=mobius:desat=0:t=bt709:m=bt709:p=bt709:r=tv:format=nv12",
               "hwdownload", "format=nv12"),
        init_args=("-init_hw_device", f"opencl=ocl:.{gpu},platform_vendor=NVIDIA",
                   "-filter_hw_device", "ocl"),
    )


def _hevc(encoder: str, pix8: str, pix10: str | None,
          options: tuple[tuple[str, str], ...]) -> tuple[VideoFormat, ...]:
    """HEVC main (8-bit) and, when ``pix10`` is given, main10 through ``encoder``."""
    def opts(profile: str) -> tuple[tuple[str, str], ...]:
        return (*((k, v) for k, v in options if k != "-profile:v"), ("-profile:v", profile))

    formats = [VideoFormat("hevc", 8, encoder, pix8, opts("main"))]
    if pix10:
        formats.append(VideoFormat("hevc", 10, encoder, pix10, opts("main10")))
    return tuple(formats)


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
        formats=_hevc("hevc_nvenc", "yuv420p", "p010le",
                      (("-gpu", gpu), ("-preset", "p4"), ("-tune", "ll"), ("-rc", "cbr"),
                       ("-forced-idr", "1"))),
        tonemap=nvenc_tonemap(gpu),
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
        formats=_hevc("hevc_vaapi", "nv12", "p010", (("-rc_mode", "CBR"),)),
        tonemap=VAAPI_TONEMAP,
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
        formats=_hevc("hevc_qsv", "nv12", "p010", (("-preset", "veryfast"),)),
        tonemap=QSV_TONEMAP,
    )


def videotoolbox_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """Apple VideoToolbox (h264_videotoolbox) on macOS."""
    opts = _opts(options)
    decode = ("-hwaccel", "videotoolbox") if opts["hwaccel_decode"] else ()
    return EncoderPreset(
        name="videotoolbox", codec="h264_videotoolbox", decode_args=decode, pix_fmt="nv12",
        options=(("-realtime", "1"), ("-profile:v", "high"), ("-allow_sw", "0")),
        hardware=True,
        formats=_hevc("hevc_videotoolbox", "nv12", "p010le",
                      (("-realtime", "1"), ("-allow_sw", "0"))),
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
