"""Named transcode profiles and the checks that a channel's output can be produced.

``profiles:`` maps a name to any keys of the ``ffmpeg`` section. A channel with
``profile: NAME`` gets the global ``ffmpeg`` defaults, then the profile, then its own
``ffmpeg:`` overrides. At load, each channel's output is checked against what its
encoder declares (:meth:`EncoderPreset.video_format`) and what the audio codec allows,
so a channel asking for HEVC 10-bit from an encoder without it is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from exstreamtv.config import model, schema
from exstreamtv.config.validators import identifier
from exstreamtv.errors import ConfigProblem

#: What a channel's MPEG-TS carries beyond its codecs' bitrates: TS/PES/PCR overhead
#: (one audio frame per PES) and the encoder's short-term peaks (maxrate, 2x bufsize).
OUTPUT_HEADROOM = 1.25

#: Audio codecs: (most channels, highest bitrate in kbit/s) each encoder accepts.
AUDIO_LIMITS: Mapping[str, tuple[int, int]] = {"aac": (8, 1024), "ac3": (6, 640), "eac3": (6, 1024)}


def validate_profiles(value: Any, problems: list[ConfigProblem],
                      format_problems: Any) -> dict[str, dict[str, Any]]:
    """The ``profiles:`` section as name -> validated ffmpeg overrides (no defaults)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem("profiles", "expected a mapping of profile name to ffmpeg keys"))
        return {}
    partial = schema.ffmpeg_section(with_defaults=False)
    out: dict[str, dict[str, Any]] = {}
    for name, body in value.items():
        try:
            identifier(name)
        except vol.Invalid as exc:
            problems.append(ConfigProblem(f"profiles.{name}", str(exc.msg)))
            continue
        try:
            out[name] = dict(partial(body or {}))
        except vol.Invalid as exc:
            problems.extend(format_problems(exc, ["profiles", name]))
    return out


def profile_base(channel: Mapping[str, Any], defaults: Mapping[str, Any],
                 profiles: Mapping[str, Mapping[str, Any]], where: str,
                 problems: list[ConfigProblem], merge: Any) -> dict[str, Any]:
    """The ffmpeg keys a channel starts from: the defaults with its profile merged in."""
    name = channel.get("profile")
    if name is None:
        return dict(defaults)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        problems.append(ConfigProblem(f"{where}.profile",
                                      f"unknown profile '{name}' (known: {known}); define it "
                                      "under the top-level 'profiles:' section"))
        return dict(defaults)
    merged: dict[str, Any] = merge(defaults, profiles[name])
    return merged


def audio_problems(channel: model.ChannelConfig, where: str) -> list[ConfigProblem]:
    """An audio codec asked for more channels or a higher bitrate than it has."""
    audio = channel.ffmpeg.audio
    most, kbps = AUDIO_LIMITS[audio.codec]
    out = []
    if audio.channels > most:
        out.append(ConfigProblem(f"{where}.ffmpeg.audio.channels",
                                 f"channel {channel.number} '{channel.name}': {audio.codec} carries "
                                 f"at most {most} channels (5.1), got {audio.channels}; use 6 or "
                                 "fewer, or audio.codec aac"))
    if audio.bitrate_kbps > kbps:
        out.append(ConfigProblem(f"{where}.ffmpeg.audio.bitrate_kbps",
                                 f"channel {channel.number} '{channel.name}': {audio.codec} allows at "
                                 f"most {kbps} kbit/s, got {audio.bitrate_kbps}"))
    return out


def encoder_problems(channel: model.ChannelConfig, component: Any, where: str) -> list[ConfigProblem]:
    """The channel's video codec and bit depth must be one its encoder declares.

    ``component`` is the registered encoder; its factory is pure (it only builds a
    preset from options). ``auto`` is decided at start, so it is checked by the planner.
    """
    video = channel.ffmpeg.video
    try:
        preset = component.factory(dict(channel.ffmpeg.encoder_options), None)
        fmt = preset.video_format(video.codec, video.bit_depth)
        labels = preset.format_labels()
    except Exception:  # a plugin that needs the running server to build its preset
        return []
    if fmt is not None:
        return []
    return [ConfigProblem(f"{where}.ffmpeg.video.codec",
                          f"channel {channel.number} '{channel.name}': encoder "
                          f"'{channel.ffmpeg.encoder}' cannot produce {video.codec} "
                          f"{video.bit_depth}-bit (it can: {', '.join(labels)}); choose one of "
                          "those or another encoder (software does every one)")]


def output_rate_bps(ffmpeg: model.FFmpegConfig) -> int:
    """The rate a viewer must be sent a channel at to keep up with it (bit/s)."""
    return int((ffmpeg.video.bitrate_kbps + ffmpeg.audio.bitrate_kbps) * 1000 * OUTPUT_HEADROOM)


def throttle_warnings(config: model.Config) -> list[str]:
    """Channels whose output rate is above ``stream_throttler.target_bitrate_bps``.

    Not an error: viewers of such a channel are sent at the channel's own rate (the
    throttler never goes below it), but the setting does not mean what it says there.
    """
    throttle = config.stream_throttler
    if not throttle.enabled or throttle.mode == "disabled":
        return []
    out = []
    for channel in config.channels:
        rate = output_rate_bps(channel.ffmpeg)
        if channel.enabled and rate > throttle.target_bitrate_bps:
            out.append(f"stream_throttler.target_bitrate_bps ({throttle.target_bitrate_bps}) is "
                       f"below channel {channel.number} '{channel.name}''s output rate (about "
                       f"{rate} bit/s with headroom); its viewers are sent at that rate instead. "
                       "Raise target_bitrate_bps to at least that to silence this warning")
    return out
