"""ExStreamTV: turns a media library into live TV channels.

This module is the plugin-facing API: import what a plugin needs from here.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations.
hookimpl = pluggy.HookimplMarker("exstreamtv")

from exstreamtv.config.model import (  # noqa: E402
    AudioConfig,
    ChannelConfig,
    SourceConfig,
    SubtitleConfig,
)
from exstreamtv.errors import ExStreamTVError, MediaError, PluginError  # noqa: E402
from exstreamtv.events import (  # noqa: E402
    ChannelEvent,
    ConfigEvent,
    Event,
    FixEvent,
    HealthEvent,
    SessionEvent,
)
from exstreamtv.ffmpeg.command import OutputProfile  # noqa: E402
from exstreamtv.ffmpeg.presets import EncoderPreset  # noqa: E402
from exstreamtv.healing.auto_resolver import DetectedIssue  # noqa: E402
from exstreamtv.healing.strategy import FixContext, HealingStrategy  # noqa: E402
from exstreamtv.media.models import MediaInfo, MediaItem, StreamInfo  # noqa: E402
from exstreamtv.media.pickers import AudioChoice, SubtitleChoice  # noqa: E402
from exstreamtv.media.source import MediaSource, SourceContext  # noqa: E402
from exstreamtv.scheduling.base import (  # noqa: E402
    LoopingSequence,
    ScheduledItem,
    Scheduler,
    SchedulerContext,
)
from exstreamtv.streaming.error_screens import (  # noqa: E402
    ErrorScreenRequest,
    VisualInput,
    escape_drawtext,
)

__all__ = [
    "AudioChoice",
    "AudioConfig",
    "ChannelConfig",
    "ChannelEvent",
    "ConfigEvent",
    "DetectedIssue",
    "EncoderPreset",
    "ErrorScreenRequest",
    "Event",
    "ExStreamTVError",
    "FixContext",
    "FixEvent",
    "HealingStrategy",
    "HealthEvent",
    "LoopingSequence",
    "MediaError",
    "MediaInfo",
    "MediaItem",
    "MediaSource",
    "OutputProfile",
    "PluginError",
    "ScheduledItem",
    "Scheduler",
    "SchedulerContext",
    "SessionEvent",
    "SourceConfig",
    "SourceContext",
    "StreamInfo",
    "SubtitleChoice",
    "SubtitleConfig",
    "VisualInput",
    "__version__",
    "escape_drawtext",
    "hookimpl",
]
