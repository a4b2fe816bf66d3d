"""The base class media source plugins implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exstreamtv.config.model import SourceConfig
    from exstreamtv.events import EventBus
    from exstreamtv.ffmpeg.locate import FFmpegTools
    from exstreamtv.media.models import MediaItem


@dataclass(frozen=True)
class SourceContext:
    """What a source may use: the ffmpeg tools, the data folder, the event bus."""

    tools: FFmpegTools
    data_dir: Path
    bus: EventBus


class MediaSource(ABC):
    """A library of media items: a folder, a Plex or Jellyfin server, anything.

    ``scan`` returns every item the source has now. When it cannot reach its library it
    raises; the library then keeps the items it already knew.
    """

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @property
    def id(self) -> str:
        return self.config.id

    @abstractmethod
    async def scan(self) -> list[MediaItem]:
        """Every playable item of this source."""

    async def refresh_location(self, item: MediaItem) -> str:
        """A fresh playable location for ``item`` (for expiring URLs); default: unchanged."""
        return item.location

    def fetch_headers(self, location: str) -> Mapping[str, str] | None:
        """Headers that give access to ``location`` (credentials), or None when it needs none.

        ffmpeg never sees them: a location that needs headers is read through the local
        media relay, which adds them to each request it makes upstream.
        """
        return None

    async def close(self) -> None:
        """Release connections; called when the source is removed or the server stops."""
