"""Typed media model: streams, probed media info, and library items."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

TEXT_SUBTITLE_CODECS = frozenset(
    {"subrip", "srt", "ass", "ssa", "webvtt", "vtt", "mov_text", "text", "microdvd", "subviewer",
     "ttml"}
)


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file (or a sidecar subtitle file)."""

    index: int
    type: str  # video | audio | subtitle | data | attachment
    codec: str
    language: str | None = None
    title: str | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_rate: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pix_fmt: str | None = None
    default: bool = False
    forced: bool = False
    hearing_impaired: bool = False
    comment: bool = False
    visual_impaired: bool = False
    attached_pic: bool = False
    external_path: str | None = None
    #: ffprobe's ``field_order``: progressive, tt, bb, tb, bt (None: unknown).
    field_order: str | None = None
    #: ffprobe's ``color_transfer`` (smpte2084 is HDR10/PQ, arib-std-b67 is HLG).
    color_transfer: str | None = None
    color_primaries: str | None = None

    @property
    def interlaced(self) -> bool:
        """The probe says the picture is made of fields (tt, bb, tb, bt)."""
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def hdr(self) -> bool:
        """HDR10/PQ or HLG transfer (to be tone-mapped for an SDR channel)."""
        return self.color_transfer in ("smpte2084", "arib-std-b67")

    @property
    def is_text_subtitle(self) -> bool:
        return self.type == "subtitle" and self.codec in TEXT_SUBTITLE_CODECS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.type == "subtitle":
            data["text"] = self.is_text_subtitle
        return data


#: Chapter marks kept per file (a file may hold thousands of bogus ones).
MAX_CHAPTERS = 200


def chapter_marks(starts: Iterable[object], duration: float) -> tuple[float, ...]:
    """Chapter start times (seconds) usable as break points: inside ``(0, duration)``,
    finite, sorted, at least a second apart, at most :data:`MAX_CHAPTERS`."""
    marks: list[float] = []
    for start in starts:
        try:
            t = float(start)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(t) and t >= 1.0 and (duration <= 0 or t < duration - 1.0):
            marks.append(round(t, 3))
    out: list[float] = []
    for t in sorted(marks):
        if not out or t - out[-1] >= 1.0:
            out.append(t)
    return tuple(out[:MAX_CHAPTERS])


@dataclass(frozen=True)
class MediaInfo:
    """What probing a media file found."""

    path: str
    duration: float
    format_name: str = ""
    bit_rate: int | None = None
    streams: tuple[StreamInfo, ...] = ()
    #: Container tags (``title``, ``show``, ``date`` ...), keys lower-cased.
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Where the file's chapters start, seconds (the first chapter's 0 left out).
    chapters: tuple[float, ...] = ()

    @property
    def video_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.type == "video" and not s.attached_pic]

    @property
    def audio_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.type == "audio"]

    @property
    def subtitle_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.type == "subtitle"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration": self.duration,
            "format": self.format_name,
            "bit_rate": self.bit_rate,
            "streams": [s.to_dict() for s in self.streams],
        }


@dataclass(frozen=True)
class MediaItem:
    """A playable item of a library: a file or URL plus the metadata the guide shows."""

    id: str
    source_id: str
    title: str
    location: str
    duration: float
    info: MediaInfo | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    collections: tuple[str, ...] = ()

    @property
    def sort_key(self) -> tuple[Any, ...]:
        md = self.metadata
        return (
            str(md.get("show") or ""),
            int(md.get("season") or 0),
            int(md.get("episode") or 0),
            self.location.lower(),
        )
