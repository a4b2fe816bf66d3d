"""A hardware encoder that cannot initialise here (VA-API on a device that does not exist)."""

from __future__ import annotations

from typing import Any

from exstreamtv import EncoderPreset, hookimpl


def bogus_vaapi(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    return EncoderPreset(
        name="bogus_vaapi", codec="h264_vaapi", hardware=True,
        init_args=("-init_hw_device", "vaapi=va:/dev/dri/does-not-exist",
                   "-filter_hw_device", "va"),
        upload_filter="format=nv12,hwupload", pix_fmt="vaapi")


@hookimpl
def register_encoders(register: Any) -> None:
    register("bogus_vaapi", bogus_vaapi, None, "VA-API on a missing device (tests)")
