"""``encoder: software``: H.264 with libx264 (AAC audio), works everywhere.

``encoder_options``: ``preset`` (x264 speed preset, default veryfast), ``profile``
(default high), ``tune`` (optional, e.g. zerolatency or film). Options meant for
other encoders (``device``) are ignored, so a channel can fall back to software.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from exstreamtv import EncoderPreset, hookimpl

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
    return EncoderPreset(name="software", codec="libx264", options=tuple(flags))


@hookimpl
def register_encoders(register: Any) -> None:
    register("software", software_preset, SCHEMA, "libx264 on the CPU")
