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
    MqttConfig,
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
    ItemFailed,
    SessionEvent,
)
from exstreamtv.ffmpeg.audio_picker import DefaultAudioPicker  # noqa: E402
from exstreamtv.ffmpeg.command import OutputProfile  # noqa: E402
from exstreamtv.ffmpeg.escape import drawtext_filter, filter_spec, input_location  # noqa: E402
from exstreamtv.ffmpeg.presets import (  # noqa: E402
    EncoderPreset,
    HardwareTonemap,
    VideoFormat,
    listed_encoders,
    trial_encode,
)
from exstreamtv.ffmpeg.subtitle_picker import DefaultSubtitlePicker  # noqa: E402
from exstreamtv.healing.issue import DetectedIssue  # noqa: E402
from exstreamtv.healing.strategy import FixContext, HealingStrategy  # noqa: E402
from exstreamtv.healing.vocabulary import FixAction, FixStatus, IssueType, Risk  # noqa: E402
from exstreamtv.hub import Hub  # noqa: E402
from exstreamtv.media.models import (  # noqa: E402
    MediaInfo,
    MediaItem,
    StreamInfo,
    chapter_marks,
    int_or_none,
)
from exstreamtv.media.pickers import AudioChoice, SubtitleChoice  # noqa: E402
from exstreamtv.media.remote import (  # noqa: E402
    COMMON_OPTIONS as COMMON_REMOTE_OPTIONS,
)
from exstreamtv.media.remote import (  # noqa: E402
    Grouping,
    RemoteError,
    RemoteLibrary,
    RemoteSource,
    collection_name,
    genres_of,
    replace_path,
)
from exstreamtv.media.source import MediaSource, SourceContext  # noqa: E402
from exstreamtv.scheduling.balance import SCHEMA as BALANCE_SCHEMA  # noqa: E402
from exstreamtv.scheduling.balance import BalanceScheduler  # noqa: E402
from exstreamtv.scheduling.base import (  # noqa: E402
    LoopingSequence,
    ScheduledItem,
    Scheduler,
    SchedulerContext,
)
from exstreamtv.scheduling.blocks import RANDOM_SCHEMA, RandomScheduler  # noqa: E402
from exstreamtv.scheduling.options import epoch_option, parse_epoch, seed_option  # noqa: E402
from exstreamtv.scheduling.sequences import (  # noqa: E402
    SequenceScheduler,
    ShuffledSequence,
    skip_missing,
)
from exstreamtv.scheduling.slot_options import SCHEMA as TIME_SLOTS_SCHEMA  # noqa: E402
from exstreamtv.scheduling.slot_options import TimeSlot  # noqa: E402
from exstreamtv.scheduling.time_slots import TimeSlotScheduler  # noqa: E402
from exstreamtv.secrets import mask_data as mask_secrets  # noqa: E402
from exstreamtv.secrets import register_secret  # noqa: E402
from exstreamtv.streaming.control import (  # noqa: E402
    ChannelControl,
    ChannelStatus,
    CommandResult,
    PlayFromLocation,
    Restart,
    RestartFrom,
    SegmentEnded,
    ShowErrorScreen,
    SkipItem,
    UseCpuTonemap,
    UsePreset,
    UseProfile,
)
from exstreamtv.streaming.error_screens import (  # noqa: E402
    ErrorScreenRequest,
    VisualInput,
    drawtext_problem,
    escape_drawtext,
)
from exstreamtv.web.api import channel_summary, health_report  # noqa: E402
from exstreamtv.web.hdhomerun import discover as hdhomerun_discover  # noqa: E402

__all__ = [
    "BALANCE_SCHEMA",
    "COMMON_REMOTE_OPTIONS",
    "RANDOM_SCHEMA",
    "TIME_SLOTS_SCHEMA",
    "AudioChoice",
    "AudioConfig",
    "BalanceScheduler",
    "ChannelConfig",
    "ChannelControl",
    "ChannelEvent",
    "ChannelStatus",
    "CommandResult",
    "ConfigEvent",
    "DefaultAudioPicker",
    "DefaultSubtitlePicker",
    "DetectedIssue",
    "EncoderPreset",
    "ErrorScreenRequest",
    "Event",
    "ExStreamTVError",
    "FixAction",
    "FixContext",
    "FixEvent",
    "FixStatus",
    "Grouping",
    "HardwareTonemap",
    "HealingStrategy",
    "HealthEvent",
    "Hub",
    "IssueType",
    "ItemFailed",
    "LoopingSequence",
    "MediaError",
    "MediaInfo",
    "MediaItem",
    "MediaSource",
    "MqttConfig",
    "OutputProfile",
    "PlayFromLocation",
    "PluginError",
    "RandomScheduler",
    "RemoteError",
    "RemoteLibrary",
    "RemoteSource",
    "Restart",
    "RestartFrom",
    "Risk",
    "ScheduledItem",
    "Scheduler",
    "SchedulerContext",
    "SegmentEnded",
    "SequenceScheduler",
    "SessionEvent",
    "ShowErrorScreen",
    "ShuffledSequence",
    "SkipItem",
    "SourceConfig",
    "SourceContext",
    "StreamInfo",
    "SubtitleChoice",
    "SubtitleConfig",
    "TimeSlot",
    "TimeSlotScheduler",
    "UseCpuTonemap",
    "UsePreset",
    "UseProfile",
    "VideoFormat",
    "VisualInput",
    "__version__",
    "channel_summary",
    "chapter_marks",
    "collection_name",
    "drawtext_filter",
    "drawtext_problem",
    "epoch_option",
    "escape_drawtext",
    "filter_spec",
    "genres_of",
    "hdhomerun_discover",
    "health_report",
    "hookimpl",
    "input_location",
    "int_or_none",
    "listed_encoders",
    "mask_secrets",
    "parse_epoch",
    "register_secret",
    "replace_path",
    "seed_option",
    "skip_missing",
    "trial_encode",
]
