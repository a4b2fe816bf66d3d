"""voluptuous schemas for every config section, composed with plugin schemas.

Validation runs in two passes. The first checks the fixed sections and the envelope of
each ``type:``-selected component (a source's ``id`` and ``type``, a schedule's
``type``). The second validates each component's options with the schema its plugin
registered, so a typo in a plugin option fails at load time with the full key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from exstreamtv.config import model
from exstreamtv.config.validators import (
    Section,
    identifier,
    int_range,
    language_list,
    number,
    one_of,
    positive_int,
    string,
)
from exstreamtv.healing.vocabulary import RISK_LEVELS

THROTTLE_MODES = ("realtime", "burst", "adaptive", "disabled")


def _opt(key: str, default: Any) -> vol.Optional:
    return vol.Optional(key, default=default)


def _nullable(validator: Any) -> Any:
    """``null`` or a value ``validator`` accepts (keeping the validator's own message)."""
    compiled = vol.Schema(validator)

    def check(value: Any) -> Any:
        return None if value is None else compiled(value)

    check.nullable = True  # type: ignore[attr-defined]
    check.inner = validator  # type: ignore[attr-defined]
    return check


_NAMED_TOKEN = Section(
    {
        vol.Required("name"): identifier,
        vol.Required("token"): vol.All(string, vol.Length(min=16, msg="expected at least 16 "
                                                          "characters (use a random token)")),
        _opt("role", model.Role.VIEWER.value): one_of(*(r.value for r in model.Role)),
    }
)



def named_token(value: Any) -> Any:
    """a mapping {name, token (16+ characters), role: viewer|admin}"""
    return _NAMED_TOKEN(value)


SERVER = Section(
    {
        _opt("host", "127.0.0.1"): string,
        _opt("port", 8409): int_range(1, 65535),
        _opt("base_url", None): _nullable(vol.All(string, vol.Match(r"^https?://"))),
        _opt("api_token", None): _nullable(string),
        _opt("auth_disabled", False): bool,
        _opt("tokens", []): [named_token],
        _opt("name", "ExStreamTV"): string,
        _opt("data_directory", "data"): string,
        _opt("timezone", None): _nullable(string),
        _opt("tuner_count", 4): int_range(1, 64),
        _opt("device_id", None): _nullable(vol.Match(r"^[0-9A-Fa-f]{8}$")),
    }
)

DATABASE = Section({_opt("url", model.DatabaseConfig.url): string})


def ffmpeg_section(with_defaults: bool) -> Section:
    """The ffmpeg section; channel overrides use it without defaults, then merge."""

    def key(name: str, default: Any) -> vol.Optional:
        return vol.Optional(name, default=default) if with_defaults else vol.Optional(name)

    video = Section(
        {
            key("width", 1280): int_range(16, 7680, "pixels"),
            key("height", 720): int_range(16, 4320, "pixels"),
            key("fps", 30): int_range(1, 120),
            key("bitrate_kbps", 3000): int_range(50, 100_000, "kbit/s"),
            key("keyframe_seconds", 2.0): number(0.25, 10),
            key("codec", "h264"): one_of("h264", "hevc"),
            key("bit_depth", 8): one_of_int(8, 10),
            key("deinterlace", "auto"): one_of("auto", "on", "off"),
        }
    )
    audio = Section(
        {
            key("languages", ["eng"]): language_list,
            key("channels", 2): int_range(1, 8),
            key("bitrate_kbps", 160): int_range(16, 1024, "kbit/s"),
            key("sample_rate", 48000): one_of_int(32000, 44100, 48000),
            key("picker", "default"): string,
            key("codec", "aac"): one_of("aac", "ac3", "eac3"),
            key("loudness_lufs", None): _nullable(number(-40, -5)),
        }
    )
    subtitles = Section(
        {
            key("mode", "none"): one_of("none", "burn", "stream"),
            key("languages", ["eng"]): language_list,
            key("prefer", "text"): one_of("text", "image"),
            key("sdh", "avoid"): one_of("avoid", "prefer", "any"),
            key("forced_only", False): bool,
            key("picker", "default"): string,
        }
    )
    watermark = Section(
        {
            key("image", None): _nullable(string),
            key("position", "bottom-right"): one_of("top-left", "top-right", "bottom-left",
                                                     "bottom-right"),
            key("size", 0.12): number(0.02, 0.5),
            key("opacity", 0.8): number(0.05, 1),
            key("show", "programmes"): one_of("programmes", "always"),
        }
    )
    now_next = Section(
        {
            key("enabled", False): bool,
            key("seconds", 10.0): number(1, 600),
            key("position", "top-left"): one_of("top-left", "top-right", "bottom-left",
                                                 "bottom-right"),
        }
    )
    error_screen = Section(
        {
            key("visual", "text"): string,
            key("audio", "silent"): string,
            key("message", None): _nullable(str),
            key("image", None): _nullable(string),
        }
    )
    return Section(
        {
            key("ffmpeg_path", None): _nullable(string),
            key("ffprobe_path", None): _nullable(string),
            key("encoder", "software"): string,
            key("encoder_options", {}): vol.Schema({str: object}),
            key("copy", False): bool,
            key("video", {}): video,
            key("audio", {}): audio,
            key("subtitles", {}): subtitles,
            key("watermark", {}): watermark,
            key("now_next", {}): now_next,
            key("error_screen", {}): error_screen,
        }
    )


def one_of_int(*choices: int) -> Any:
    def check(value: Any) -> int:
        if value not in choices:
            raise vol.Invalid(f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return int(value)

    check.choices = choices  # type: ignore[attr-defined]
    return check


SOURCE_ENVELOPE = vol.Schema(
    {vol.Required("id"): identifier, vol.Required("type"): string}, extra=vol.ALLOW_EXTRA
)
SCHEDULE_ENVELOPE = vol.Schema({vol.Required("type"): string}, extra=vol.ALLOW_EXTRA)

CHANNEL = Section(
    {
        vol.Required("number"): positive_int,
        vol.Required("name"): string,
        vol.Optional("schedule"): SCHEDULE_ENVELOPE,
        _opt("mirror_of", None): _nullable(positive_int),
        _opt("offset_minutes", 0): number(0, 10080),
        _opt("output", model.ChannelOutput.VIDEO.value): one_of(*(o.value for o in model.ChannelOutput)),
        vol.Optional("ffmpeg"): ffmpeg_section(with_defaults=False),
        _opt("profile", None): _nullable(identifier),
        _opt("logo", None): _nullable(string),
        _opt("group", "ExStreamTV"): string,
        _opt("enabled", True): bool,
    }
)

MQTT = Section(
    {
        _opt("enabled", False): bool,
        _opt("host", "127.0.0.1"): string,
        _opt("port", 1883): int_range(1, 65535),
        _opt("username", None): _nullable(str),
        _opt("password", None): _nullable(str),
        _opt("discovery_prefix", "homeassistant"): string,
        _opt("base_topic", "exstreamtv"): vol.All(string, vol.Match(r"^[^#+]+$")),
        _opt("client_id", None): _nullable(string),
        _opt("keepalive", 60): int_range(5, 3600, "seconds"),
        _opt("tls", {}): Section(
            {
                _opt("enabled", False): bool,
                _opt("ca_certs", None): _nullable(string),
                _opt("certfile", None): _nullable(string),
                _opt("keyfile", None): _nullable(string),
                _opt("insecure", False): bool,
            }
        ),
    }
)

SESSION_MANAGER = Section(
    {
        _opt("max_sessions_per_channel", 50): int_range(1, 10_000),
        _opt("idle_timeout_seconds", 300): int_range(1, 86_400, "seconds"),
        _opt("cleanup_interval_seconds", 60): int_range(1, 3600, "seconds"),
        _opt("max_errors", 5): int_range(1, 10_000),
        _opt("error_window_seconds", 300): int_range(1, 86_400, "seconds"),
        _opt("hls_release_segments", 3): int_range(2, 100, "target durations"),
        _opt("max_sessions_total", None): _nullable(int_range(1, 1_000_000)),
        _opt("max_send_load", 0.9): number(0.01, 1),
    }
)

RATE_LIMIT = Section(
    {
        _opt("enabled", True): bool,
        _opt("requests_per_second", 50.0): number(0.01, 100_000),
        _opt("burst", 500): int_range(1, 1_000_000, "requests"),
    }
)

STREAM_THROTTLER = Section(
    {
        _opt("enabled", True): bool,
        _opt("target_bitrate_bps", 4000000): int_range(64_000, 1_000_000_000, "bit/s"),
        _opt("mode", "realtime"): one_of(*THROTTLE_MODES),
    }
)

DATABASE_BACKUP = Section(
    {
        _opt("enabled", True): bool,
        _opt("backup_directory", "backups"): string,
        _opt("interval_hours", 24): int_range(1, 8760, "hours"),
        _opt("keep_count", 7): int_range(1, 10_000),
        _opt("keep_days", 30): int_range(1, 36_500, "days"),
        _opt("compress", True): bool,
        _opt("first_backup_minutes", 10.0): number(0, 10_080),
    }
)

AI_AUTO_HEAL = Section(
    {
        _opt("enabled", True): bool,
        _opt("log_buffer_minutes", 30): int_range(1, 1440, "minutes"),
        _opt("realtime_streaming", True): bool,
        _opt("ffmpeg_monitor_enabled", True): bool,
        _opt("ffmpeg_health_threshold", 0.8): number(0, 1),
        _opt("pattern_detection_enabled", True): bool,
        _opt("prediction_confidence_threshold", 0.75): number(0, 1),
        _opt("auto_resolve_enabled", True): bool,
        _opt("max_auto_fixes_per_hour", 50): int_range(0, 10_000),
        _opt("require_approval_above_risk", "MEDIUM"): one_of(*RISK_LEVELS),
        _opt("use_error_screen_fallback", True): bool,
        _opt("hot_swap_enabled", True): bool,
        _opt("learning_enabled", True): bool,
    }
)

STREAMING = Section(
    {
        _opt("idle_stop_seconds", 15.0): number(0, 3600),
        _opt("buffer_seconds", 6.0): number(1, 120),
        _opt("lead_seconds", 1.5): number(0, 30),
        _opt("prestart_seconds", 4.0): number(0.5, 60),
        _opt("stalled_viewer_seconds", 30.0): number(1, 3600),
    }
)

GUIDE = Section(
    {
        _opt("days_ahead", 2): int_range(1, 14, "days"),
        _opt("hours_behind", 2): int_range(0, 48, "hours"),
        _opt("merge_flex_seconds", 300): number(0, 3600),
    }
)

CLUSTER = Section(
    {
        _opt("enabled", False): bool,
        _opt("node_id", None): _nullable(vol.Match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")),
        _opt("advertise_url", None): _nullable(vol.All(string, vol.Match(r"^https?://"))),
        _opt("max_channels", 4): int_range(0, 256),
        _opt("lease_seconds", 6.0): number(2, 300),
        _opt("secret", None): _nullable(string),
    }
)

PLUGINS = Section(
    {
        _opt("directories", []): [string],
        _opt("disabled", []): [string],
    }
)

#: The fixed top-level sections, in the order the example config documents them.
CORE_SECTIONS: Mapping[str, Any] = {
    "server": SERVER,
    "database": DATABASE,
    "ffmpeg": ffmpeg_section(with_defaults=True),
    "profiles": None,  # name -> ffmpeg keys, validated by the loader
    "sources": None,  # list, validated by the loader with plugin schemas
    "channels": None,
    "collections": None,  # list, validated by the loader (exstreamtv.media.collections)
    "mqtt": MQTT,
    "session_manager": SESSION_MANAGER,
    "rate_limit": RATE_LIMIT,
    "stream_throttler": STREAM_THROTTLER,
    "database_backup": DATABASE_BACKUP,
    "ai_auto_heal": AI_AUTO_HEAL,
    "streaming": STREAMING,
    "guide": GUIDE,
    "cluster": CLUSTER,
    "plugins": PLUGINS,
}
