"""Probing media files into :class:`MediaInfo`: ffprobe when present, else PyAV in-process.

Sidecar subtitles next to a file (``Movie.en.srt``, ``Movie.fr.forced.ass``) are added
as extra subtitle streams with ``external_path`` set. Many files are probed in
parallel with a bound (:func:`probe_many`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from exstreamtv.errors import MediaError
from exstreamtv.ffmpeg.escape import input_location
from exstreamtv.media.language import normalize_language
from exstreamtv.media.models import MediaInfo, StreamInfo, chapter_marks, int_or_none

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = {".srt": "subrip", ".ass": "ass", ".ssa": "ssa", ".vtt": "webvtt", ".sub": "microdvd"}
#: PyAV codec names that differ from ffprobe's.
_PYAV_CODECS = {"srt": "subrip"}
#: libavutil's numbers for a video stream's transfer, primaries and field order (which
#: PyAV gives as integers), as ffprobe names them; "unspecified" and unknown are None.
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
              8: "linear", 11: "iec61966-2-4", 13: "iec61966-2-1", 14: "bt2020-10",
              15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
              9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "jedec-p22"}
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
#: Container tags kept per file, and the longest value kept (a synopsis), in characters.
MAX_TAGS = 64
MAX_TAG_CHARS = 4000
_SDH_TITLE = re.compile(r"\b(sdh|cc|hearing[ -]impaired|hi)\b", re.IGNORECASE)


def _fps(rate: str | None) -> float | None:
    if not rate or rate in ("0/0", "0"):
        return None
    try:
        value = float(Fraction(rate))
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 3) if value > 0 else None


def dovi_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A stream's Dolby Vision configuration record (ffprobe's side data), or {}."""
    for side in raw.get("side_data_list") or []:
        if isinstance(side, dict) and side.get("side_data_type") == "DOVI configuration record":
            return side
    return {}


def _pyav_picture(ctx: Any) -> tuple[str | None, str | None, str | None]:
    """A PyAV video stream's (field order, transfer, primaries), named as by ffprobe (what
    deinterlacing and tone mapping read). Dolby Vision is not seen: PyAV does not give a
    stream's side data."""
    def named(table: dict[int, str], attribute: str) -> str | None:
        return table.get(int_or_none(getattr(ctx, attribute, None)) or 0)

    return (named(_FIELD_ORDERS, "field_order"), named(_TRANSFERS, "color_trc"),
            named(_PRIMARIES, "color_primaries"))


def _stream_from_ffprobe(raw: dict[str, Any]) -> StreamInfo:
    dovi = dovi_record(raw)
    tags = {k.lower(): v for k, v in (raw.get("tags") or {}).items()}
    disp = raw.get("disposition") or {}
    title = tags.get("title")
    return StreamInfo(
        index=int(raw.get("index", 0)),
        type=str(raw.get("codec_type", "data")),
        codec=str(raw.get("codec_name", "unknown")),
        language=normalize_language(tags.get("language")),
        title=title,
        channels=raw.get("channels"),
        channel_layout=raw.get("channel_layout"),
        sample_rate=int(raw["sample_rate"]) if raw.get("sample_rate") else None,
        width=raw.get("width"),
        height=raw.get("height"),
        fps=_fps(raw.get("avg_frame_rate")) or _fps(raw.get("r_frame_rate")),
        pix_fmt=raw.get("pix_fmt"),
        default=bool(disp.get("default")),
        forced=bool(disp.get("forced")),
        hearing_impaired=bool(disp.get("hearing_impaired"))
        or (raw.get("codec_type") == "subtitle" and bool(title and _SDH_TITLE.search(title))),
        comment=bool(disp.get("comment")),
        visual_impaired=bool(disp.get("visual_impaired")),
        attached_pic=bool(disp.get("attached_pic")),
        field_order=raw.get("field_order"),
        color_transfer=raw.get("color_transfer"),
        color_primaries=raw.get("color_primaries"),
        dv_profile=int_or_none(dovi.get("dv_profile")),
        dv_compatibility_id=int_or_none(dovi.get("dv_bl_signal_compatibility_id")),
    )


def container_tags(raw: Any) -> dict[str, str]:
    """A file's container tags (title, show, date ...), keys lower-cased, bounded in size."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in list(raw.items())[:MAX_TAGS]:
        out[str(key).lower()[:64]] = str(value)[:MAX_TAG_CHARS]
    return out


def parse_ffprobe_json(path: str, data: dict[str, Any]) -> MediaInfo:
    """Turn ``ffprobe -show_format -show_streams -show_chapters -of json`` output into
    MediaInfo."""
    fmt = data.get("format") or {}
    streams = tuple(_stream_from_ffprobe(s) for s in data.get("streams") or [])
    duration = float(fmt.get("duration") or 0.0)
    if duration <= 0:
        durations = [float(s["duration"]) for s in data.get("streams") or [] if s.get("duration")]
        duration = max(durations, default=0.0)
    return MediaInfo(
        path=path,
        duration=duration,
        format_name=str(fmt.get("format_name", "")),
        bit_rate=int(fmt["bit_rate"]) if fmt.get("bit_rate") else None,
        streams=streams,
        tags=container_tags(fmt.get("tags")),
        chapters=chapter_marks((c.get("start_time") for c in data.get("chapters") or []
                                if isinstance(c, dict)), duration),
    )


async def probe_with_ffprobe(ffprobe: str, location: str, timeout: float = 30.0) -> MediaInfo:
    """Probe ``location`` (a path or URL) with the ffprobe binary."""
    proc = await asyncio.create_subprocess_exec(
        ffprobe, "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json",
        input_location(location),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise MediaError(f"probing {location} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()
        raise MediaError(f"cannot read {location}: {reason[-1] if reason else 'ffprobe failed'}")
    try:
        data = json.loads(out)
    except ValueError:
        raise MediaError(f"ffprobe gave unreadable output for {location}") from None
    info = parse_ffprobe_json(location, data)
    if not info.streams:
        raise MediaError(f"{location} has no audio or video streams")
    return info


def probe_with_pyav(location: str) -> MediaInfo:
    """Probe ``location`` in-process with PyAV (used when no ffprobe is installed)."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a declared dependency
        raise MediaError("no ffprobe found and PyAV is not installed") from None
    try:
        container = av.open(location)
    except Exception as exc:
        raise MediaError(f"cannot read {location}: {exc}") from None
    with container:
        streams = []
        for st in container.streams:
            meta = {k.lower(): v for k, v in (st.metadata or {}).items()}
            ctx = st.codec_context
            disp = int(getattr(st, "disposition", 0) or 0)
            rate = getattr(st, "average_rate", None)
            layout = getattr(ctx, "layout", None)
            streams.append(
                StreamInfo(
                    index=st.index,
                    type=st.type,
                    codec=_PYAV_CODECS.get(getattr(ctx, "name", None) or "unknown",
                                           getattr(ctx, "name", None) or "unknown"),
                    language=normalize_language(meta.get("language")),
                    title=meta.get("title"),
                    pix_fmt=getattr(ctx, "pix_fmt", None) if st.type == "video" else None,
                    channels=getattr(ctx, "channels", None) if st.type == "audio" else None,
                    channel_layout=getattr(layout, "name", None) if st.type == "audio" else None,
                    sample_rate=getattr(ctx, "sample_rate", None) if st.type == "audio" else None,
                    width=getattr(ctx, "width", None) if st.type == "video" else None,
                    height=getattr(ctx, "height", None) if st.type == "video" else None,
                    fps=float(rate) if rate else None,
                    default=bool(disp & 0x1),
                    forced=bool(disp & 0x40),
                    hearing_impaired=bool(disp & 0x80) or (
                        st.type == "subtitle" and bool(_SDH_TITLE.search(meta.get("title") or ""))),
                    comment=bool(disp & 0x8),
                    visual_impaired=bool(disp & 0x100),
                    attached_pic=bool(disp & 0x400),
                )
            )
            if st.type == "video":
                order, transfer, primaries = _pyav_picture(ctx)
                streams[-1] = replace(streams[-1], field_order=order, color_transfer=transfer,
                                      color_primaries=primaries)
        duration = (container.duration or 0) / 1_000_000
        chapters = getattr(container, "chapters", None)
        starts = [c["start"] * c["time_base"] for c in (chapters() if chapters else [])
                  if c.get("time_base")]
        return MediaInfo(location, float(duration), container.format.name, container.bit_rate,
                         tuple(streams), container_tags(container.metadata),
                         chapter_marks(starts, float(duration)))


def sidecar_subtitles(path: Path, first_index: int) -> list[StreamInfo]:
    """Subtitle files next to ``path``: ``<stem>[.<lang>][.forced|.sdh|.cc].<ext>``."""
    found: list[StreamInfo] = []
    try:
        siblings = sorted(path.parent.iterdir())
    except OSError:
        return found
    for sib in siblings:
        codec = SIDECAR_EXTENSIONS.get(sib.suffix.lower())
        if codec is None or not sib.name.startswith(path.stem + "."):
            continue
        parts = sib.name[len(path.stem) + 1 : -len(sib.suffix)].lower().split(".")
        flags = {p for p in parts if p in ("forced", "sdh", "cc", "hi", "default")}
        lang = next((normalize_language(p) for p in parts if p not in flags and p), None)
        found.append(
            StreamInfo(
                index=first_index + len(found),
                type="subtitle",
                codec=codec,
                language=lang,
                title=sib.name,
                default="default" in flags,
                forced="forced" in flags,
                hearing_impaired=bool(flags & {"sdh", "cc", "hi"}),
                external_path=str(sib),
            )
        )
    return found


async def probe(location: str, ffprobe: str | None, engine: str = "auto") -> MediaInfo:
    """Probe a file or URL, adding sidecar subtitles for local files.

    ``engine``: ``ffprobe`` (a subprocess per file), ``pyav`` (in-process, no process
    start-up: much faster for big local libraries) or ``auto`` (ffprobe when installed).
    """
    if ffprobe and engine != "pyav":
        info = await probe_with_ffprobe(ffprobe, location)
    else:
        info = await asyncio.to_thread(probe_with_pyav, location)
    path = Path(location)
    if "://" not in location and path.exists():
        extra = sidecar_subtitles(path, len(info.streams))
        if extra:
            info = replace(info, streams=info.streams + tuple(extra))
    return info


async def probe_many(
    locations: Iterable[str], ffprobe: str | None, concurrency: int = 4, engine: str = "auto"
) -> dict[str, MediaInfo | MediaError]:
    """Probe many files in parallel, at most ``concurrency`` at a time (see :func:`probe`)."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(loc: str) -> tuple[str, MediaInfo | MediaError]:
        async with gate:
            try:
                return loc, await probe(loc, ffprobe, engine)
            except MediaError as exc:
                return loc, exc

    results = await asyncio.gather(*(one(loc) for loc in locations))
    return dict(results)
