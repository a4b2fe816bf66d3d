"""Configuration: schemas, YAML loading with ``${ENV}``, the typed model, hot reload."""

from exstreamtv.config.loader import load_config, validate_config
from exstreamtv.config.model import (
    AIAutoHealConfig,
    ChannelConfig,
    Config,
    DatabaseBackupConfig,
    FFmpegConfig,
    SessionManagerConfig,
    SourceConfig,
    StreamThrottlerConfig,
)

__all__ = [
    "AIAutoHealConfig",
    "ChannelConfig",
    "Config",
    "DatabaseBackupConfig",
    "FFmpegConfig",
    "SessionManagerConfig",
    "SourceConfig",
    "StreamThrottlerConfig",
    "load_config",
    "validate_config",
]
