"""``encoder: software``: H.264 with libx264, HEVC with libx265, 8 or 10-bit, on the CPU.

``encoder_options``: ``preset`` (x264/x265 speed preset, default veryfast), ``profile``
(H.264 8-bit only, default high; 10-bit uses high10, HEVC main/main10), ``tune``
(optional, e.g. zerolatency or film; H.264 only). Options meant for other encoders
(``device``) are ignored, so a channel can fall back to software. HEVC needs an ffmpeg
built with libx265; the planner checks ``ffmpeg -encoders`` and falls back to H.264
with a warning when it is missing.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from exstreamtv import EncoderPreset, VideoFormat, hookimpl

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")

SCHEMA = {
    vol.Optional("preset", default="veryfast"): vol.In(X264_PRESETS),
    vol.Optional("profile", default="high"): vol.In(("baseline", "main", "high")),
    vol.Optional("tune", default=None): vol.Any(
        None, vol.In(("film", "animation", "grain", "stillimage", "zerolatency", "fastdecode"))
    ),
}


def software_preset(options: dict[str, Any], tools: Any = None) -> EncoderPreset:
    """The libx264 preset for the channel's encoder options."""
    opts = vol.Schema(SCHEMA, extra=vol.REMOVE_EXTRA)(dict(options))
    flags: list[tuple[str, str]] = [("-preset", opts["preset"]), ("-profile:v", opts["profile"])]
    if opts["tune"]:
        flags.append(("-tune", opts["tune"]))
    flags.append(("-sc_threshold", "0"))
    high10 = [(k, "high10" if k == "-profile:v" else v) for k, v in flags]
    # x265: no scene-cut keyframes (keyframes only every GOP, like -sc_threshold 0), the
    # parameter sets before every keyframe (a viewer joins mid-stream), quiet logs.
    x265 = "scenecut=0:repeat-headers=1:log-level=error"
    formats = (
        VideoFormat("h264", 10, "libx264", "yuv420p10le", tuple(high10)),
        VideoFormat("hevc", 8, "libx265", "yuv420p",
                    (("-preset", opts["preset"]), ("-profile:v", "main"), ("-x265-params", x265))),
        VideoFormat("hevc", 10, "libx265", "yuv420p10le",
                    (("-preset", opts["preset"]), ("-profile:v", "main10"),
                     ("-x265-params", x265))),
    )
    return EncoderPreset(name="software", codec="libx264", options=tuple(flags), formats=formats)


@hookimpl
def register_encoders(register: Any) -> None:
    register("software", software_preset, SCHEMA, "libx264 on the CPU")
