"""Typed media model: streams, probed media info, and library items."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

TEXT_SUBTITLE_CODECS = frozenset(
    {"subrip", "srt", "ass", "ssa", "webvtt", "vtt", "mov_text", "text", "microdvd", "subviewer",
     "ttml"}
)


def int_or_none(value: Any) -> int | None:
    """``value`` as an int when it is one (``3``, ``"3"``, ``3.0``); ``None`` for ``None``,
    ``""`` or anything else: what sources and sidecar files send is not trusted."""
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError, OverflowError):
        return None


class DynamicRange(StrEnum):
    """What a video stream's picture is, as far as an SDR (BT.709) channel is concerned."""

    SDR = "sdr"
    #: HDR10 / PQ, and Dolby Vision with an HDR10 base layer (profiles 8.1, 7.6).
    PQ = "pq"
    #: HLG, and Dolby Vision with an HLG base layer (profile 8.4).
    HLG = "hlg"
    #: Dolby Vision with no compatible base layer (profile 5, IPTPQc2): only a Dolby
    #: Vision decoder shows its colours right.
    DOLBY_VISION_ONLY = "dolby_vision_only"


#: The transfers of HDR pictures, as ffprobe names them.
HDR_TRANSFERS = {"smpte2084": DynamicRange.PQ, "arib-std-b67": DynamicRange.HLG}
#: Dolby Vision ``dv_bl_signal_compatibility_id``: what a non-Dolby decoder sees in the
#: base layer (1 HDR10, 2 SDR BT.709, 4 HLG, 6 HDR10 of a UHD Blu-ray; 0 none).
DV_BASE_LAYERS = {1: DynamicRange.PQ, 2: DynamicRange.SDR, 4: DynamicRange.HLG,
                  6: DynamicRange.PQ}
#: The transfer each dynamic range is tone-mapped from (PQ for profile 5: its I channel
#: is PQ-coded, so the brightness comes out about right, the colours do not).
TONEMAP_TRANSFERS = {DynamicRange.PQ: "smpte2084", DynamicRange.HLG: "arib-std-b67",
                     DynamicRange.DOLBY_VISION_ONLY: "smpte2084"}


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
    #: The Dolby Vision configuration record's profile (5, 7, 8 ...; None: not Dolby Vision).
    dv_profile: int | None = None
    #: Its ``dv_bl_signal_compatibility_id``: see :data:`DV_BASE_LAYERS`.
    dv_compatibility_id: int | None = None

    @property
    def interlaced(self) -> bool:
        """The probe says the picture is made of fields (tt, bb, tb, bt)."""
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def dynamic_range(self) -> DynamicRange:
        """What the picture is: the colour tags say, or a Dolby Vision stream's base layer
        compatibility when its tags are missing (profile 5 has no compatible layer)."""
        tagged = HDR_TRANSFERS.get(self.color_transfer or "")
        if self.dv_profile is None:
            return tagged or DynamicRange.SDR
        base = DV_BASE_LAYERS.get(self.dv_compatibility_id or 0)
        if base is None:
            return DynamicRange.DOLBY_VISION_ONLY
        return tagged or base

    @property
    def tonemap_transfer(self) -> str | None:
        """The transfer an SDR channel tone-maps this picture from (None: SDR, left alone)."""
        return TONEMAP_TRANSFERS.get(self.dynamic_range)

    @property
    def assumed_transfer(self) -> str | None:
        """:attr:`tonemap_transfer` when the stream's own colour tags do not say it (a Dolby
        Vision stream without tags): the tone mapper must be told. None otherwise."""
        transfer = self.tonemap_transfer
        return transfer if transfer is not None and self.color_transfer != transfer else None

    @property
    def hdr(self) -> bool:
        """HDR10/PQ, HLG or Dolby Vision with an HDR base (to be tone-mapped for an SDR channel)."""
        return self.tonemap_transfer is not None

    @property
    def dolby_vision(self) -> str | None:
        """The Dolby Vision profile as players name it (``8.1``: profile 8, base layer
        compatibility 1; ``5``), or None."""
        if self.dv_profile is None:
            return None
        if self.dv_compatibility_id:
            return f"{self.dv_profile}.{self.dv_compatibility_id}"
        return str(self.dv_profile)

    @property
    def picture_warning(self) -> str | None:
        """Why this picture cannot be shown right here (profile 5 Dolby Vision), or None."""
        if self.dynamic_range is not DynamicRange.DOLBY_VISION_ONLY:
            return None
        return (f"Dolby Vision profile {self.dolby_vision} has no HDR10, HLG or SDR base layer "
                "and ffmpeg cannot apply its reshaping: it plays tone-mapped as PQ with wrong "
                "colours (green/purple); use a profile 8 or HDR10 version of the file")

    @property
    def is_text_subtitle(self) -> bool:
        return self.type == "subtitle" and self.codec in TEXT_SUBTITLE_CODECS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.type == "subtitle":
            data["text"] = self.is_text_subtitle
        if self.type == "video":
            data["dynamic_range"] = str(self.dynamic_range)
            data["picture_warning"] = self.picture_warning
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
