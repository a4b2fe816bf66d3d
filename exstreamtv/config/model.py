"""The validated configuration as frozen dataclasses.

Sections named in the spec keep its class names and defaults exactly:
``AIAutoHealConfig``, ``DatabaseBackupConfig``, ``SessionManagerConfig`` and
``StreamThrottlerConfig``. Options that belong to a plugin's ``type:`` stay a mapping
validated by that plugin's schema.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exstreamtv.media.collections import CollectionDefinition


class Role(Enum):
    """What a token may do: a viewer sees (GET), an admin changes too."""

    VIEWER = "viewer"
    ADMIN = "admin"


class ChannelOutput(Enum):
    """What a channel sends: picture and sound, or sound only (a radio channel)."""

    VIDEO = "video"
    AUDIO = "audio"


@dataclass(frozen=True)
class NamedToken:
    """One of ``server.tokens``: who (recorded with every change), the token, the role."""

    name: str
    token: str
    role: Role = Role.VIEWER


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8409
    base_url: str | None = None
    api_token: str | None = None
    auth_disabled: bool = False
    tokens: tuple[NamedToken, ...] = ()
    name: str = "ExStreamTV"
    data_directory: str = "data"
    timezone: str | None = None
    tuner_count: int = 4
    device_id: str | None = None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///data/exstreamtv.db"


@dataclass(frozen=True)
class VideoProfile:
    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate_kbps: int = 3000
    keyframe_seconds: float = 2.0
    codec: str = "h264"
    bit_depth: int = 8
    deinterlace: str = "auto"


@dataclass(frozen=True)
class AudioConfig:
    languages: tuple[str, ...] = ("eng",)
    channels: int = 2
    bitrate_kbps: int = 160
    sample_rate: int = 48000
    picker: str = "default"
    codec: str = "aac"
    loudness_lufs: float | None = None


@dataclass(frozen=True)
class SubtitleConfig:
    mode: str = "none"
    languages: tuple[str, ...] = ("eng",)
    prefer: str = "text"
    sdh: str = "avoid"
    forced_only: bool = False
    picker: str = "default"


@dataclass(frozen=True)
class WatermarkConfig:
    """``image``: a local picture file (relative: from the config file's folder), ``logo``
    (the channel's logo) or null (none)."""

    image: str | None = None
    position: str = "bottom-right"
    size: float = 0.12
    opacity: float = 0.8
    #: ``programmes``: over items only; ``always``: over error screens too.
    show: str = "programmes"


@dataclass(frozen=True)
class NowNextConfig:
    """The current and next programme's titles drawn for ``seconds`` at each item's start."""

    enabled: bool = False
    seconds: float = 10.0
    position: str = "top-left"


@dataclass(frozen=True)
class ErrorScreenConfig:
    visual: str = "text"
    audio: str = "silent"
    message: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class FFmpegConfig:
    ffmpeg_path: str | None = None
    ffprobe_path: str | None = None
    encoder: str = "software"
    encoder_options: Mapping[str, Any] = field(default_factory=dict)
    copy: bool = False
    video: VideoProfile = field(default_factory=VideoProfile)
    audio: AudioConfig = field(default_factory=AudioConfig)
    subtitles: SubtitleConfig = field(default_factory=SubtitleConfig)
    watermark: WatermarkConfig = field(default_factory=WatermarkConfig)
    now_next: NowNextConfig = field(default_factory=NowNextConfig)
    error_screen: ErrorScreenConfig = field(default_factory=ErrorScreenConfig)


@dataclass(frozen=True)
class SourceConfig:
    id: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleConfig:
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def collection(self) -> str | None:
        value = self.options.get("collection")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ChannelConfig:
    number: int
    name: str
    schedule: ScheduleConfig
    ffmpeg: FFmpegConfig
    logo: str | None = None
    #: The named transcode profile (``profiles:``) under the channel's own overrides.
    profile: str | None = None
    group: str = "ExStreamTV"
    enabled: bool = True
    #: A mirror plays channel ``mirror_of``'s playout ``offset_minutes`` later.
    mirror_of: int | None = None
    offset_minutes: float = 0.0
    #: ``audio``: a radio channel, AAC only in TS and HLS (docs/radio.md).
    output: ChannelOutput = ChannelOutput.VIDEO

    @property
    def radio(self) -> bool:
        """True for an audio-only channel (``output: audio``)."""
        return self.output is ChannelOutput.AUDIO

    @property
    def guide_id(self) -> str:
        """The XMLTV channel id, equal to the M3U tvg-id."""
        return f"{self.number}.exstreamtv"


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    discovery_prefix: str = "homeassistant"
    base_topic: str = "exstreamtv"
    client_id: str | None = None
    keepalive: int = 60
    tls: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionManagerConfig:
    max_sessions_per_channel: int = 50
    idle_timeout_seconds: int = 300
    cleanup_interval_seconds: int = 60
    #: A viewer is cut off at ``max_errors`` errors within ``error_window_seconds``.
    max_errors: int = 5
    error_window_seconds: int = 300
    hls_release_segments: int = 3
    max_sessions_total: int | None = None
    max_send_load: float = 0.9


@dataclass(frozen=True)
class RateLimitConfig:
    """Requests per client address on everything reached without the API token."""

    enabled: bool = True
    requests_per_second: float = 50.0
    burst: int = 500


@dataclass(frozen=True)
class StreamThrottlerConfig:
    enabled: bool = True
    target_bitrate_bps: int = 4000000
    mode: str = "realtime"


@dataclass(frozen=True)
class DatabaseBackupConfig:
    enabled: bool = True
    backup_directory: str = "backups"
    interval_hours: int = 24
    keep_count: int = 7
    keep_days: int = 30
    compress: bool = True
    first_backup_minutes: float = 10.0


@dataclass(frozen=True)
class AIAutoHealConfig:
    enabled: bool = True
    log_buffer_minutes: int = 30
    realtime_streaming: bool = True
    ffmpeg_monitor_enabled: bool = True
    ffmpeg_health_threshold: float = 0.8
    pattern_detection_enabled: bool = True
    prediction_confidence_threshold: float = 0.75
    auto_resolve_enabled: bool = True
    max_auto_fixes_per_hour: int = 50
    require_approval_above_risk: str = "MEDIUM"
    use_error_screen_fallback: bool = True
    hot_swap_enabled: bool = True
    learning_enabled: bool = True


@dataclass(frozen=True)
class StreamingConfig:
    """How channel pipelines run (not in the spec; our own tuning knobs)."""

    idle_stop_seconds: float = 15.0
    buffer_seconds: float = 6.0
    lead_seconds: float = 1.5
    prestart_seconds: float = 4.0
    stalled_viewer_seconds: float = 30.0


@dataclass(frozen=True)
class GuideConfig:
    """The XMLTV guide: how far ahead and behind it reaches, and gap merging."""

    days_ahead: int = 2
    hours_behind: int = 2
    merge_flex_seconds: float = 300.0


@dataclass(frozen=True)
class ClusterConfig:
    """Scale-out over PostgreSQL (see docs/scale-out.md); off by default."""

    enabled: bool = False
    node_id: str | None = None
    advertise_url: str | None = None
    max_channels: int = 4
    lease_seconds: float = 6.0
    secret: str | None = None


@dataclass(frozen=True)
class PluginsConfig:
    directories: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


def config_relative(value: str, config_path: Path | str | None) -> Path:
    """A file named in the config, as an absolute path: ``~`` expanded, and a relative
    path taken from the config file's folder (the working directory when the config was
    not read from a file), so the same value means the same file wherever it is used."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    base = Path(config_path).parent if config_path else Path.cwd()
    return Path(os.path.abspath(base / path))


@dataclass(frozen=True)
class Config:
    """A complete, validated configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ffmpeg: FFmpegConfig = field(default_factory=FFmpegConfig)
    #: Named transcode profiles: name -> the ffmpeg keys it sets (unvalidated overrides).
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: tuple[SourceConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    #: Playlists and smart collections (``collections:``).
    collections: tuple[CollectionDefinition, ...] = ()
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    session_manager: SessionManagerConfig = field(default_factory=SessionManagerConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    stream_throttler: StreamThrottlerConfig = field(default_factory=StreamThrottlerConfig)
    database_backup: DatabaseBackupConfig = field(default_factory=DatabaseBackupConfig)
    ai_auto_heal: AIAutoHealConfig = field(default_factory=AIAutoHealConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    extra: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: The top-level sections the file wrote out (a reload must not lose ``server``).
    sections: frozenset[str] = field(default=frozenset(), compare=False)

    def local_path(self, value: str) -> Path:
        """A file named in this config (a logo, a watermark): see :func:`config_relative`."""
        return config_relative(value, self.path)

    def channel(self, number: int) -> ChannelConfig | None:
        """The channel with ``number``, or None."""
        return next((c for c in self.channels if c.number == number), None)

    def source(self, source_id: str) -> SourceConfig | None:
        """The source with ``source_id``, or None."""
        return next((s for s in self.sources if s.id == source_id), None)
