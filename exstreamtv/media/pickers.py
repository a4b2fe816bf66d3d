"""Stream picker contracts: which audio and subtitle streams a channel plays.

Picker plugins register a factory under a name (``ffmpeg.audio.picker``,
``ffmpeg.subtitles.picker``); the factory returns an object with ``pick``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from exstreamtv.config.model import AudioConfig, SubtitleConfig
    from exstreamtv.media.models import MediaInfo, StreamInfo


@dataclass(frozen=True)
class AudioChoice:
    """The audio stream to play (None: generate silence) and a filter to fit the layout."""

    stream: StreamInfo | None
    filter: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SubtitleChoice:
    """How subtitles are shown: nothing, text burned in by a filter, or an image overlay."""

    stream: StreamInfo | None = None
    video_filters: tuple[str, ...] = ()
    overlay_stream: int | None = None
    overlay_input: str | None = None
    reason: str = ""


class AudioPicker(Protocol):
    def pick(self, info: MediaInfo, prefs: AudioConfig) -> AudioChoice:
        """Choose the audio stream of ``info`` for the preferences."""
        ...


class SubtitlePicker(Protocol):
    def pick(self, info: MediaInfo, prefs: SubtitleConfig) -> SubtitleChoice:
        """Choose the subtitle stream of ``info`` (or none) for the preferences."""
        ...
