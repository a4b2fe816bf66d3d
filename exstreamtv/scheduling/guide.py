"""The programme guide as XMLTV, built from each channel's scheduler.

The document follows /usr/share/xmltv/xmltv.dtd (element order included). Every text
goes through :mod:`exstreamtv.safe_text`, so a file name with a control character or
undecodable bytes cannot make the document ill-formed. Channel ids
are ``ChannelConfig.guide_id`` (``N.exstreamtv``), the M3U ``tvg-id``. Offline or
filler entries shorter than ``guide.merge_flex_seconds`` are merged into the entry
before them, so a guide is not cluttered with two-minute gaps. Times are whole seconds
and programmes tile exactly: each boundary is rounded once (:func:`tiled`), so the
``stop`` of one programme is the ``start`` of the next.

What a programme says comes from :func:`exstreamtv.scheduling.programme.describe_programme`
(title, sub-title, desc, date, categories, length, icon, episode-num, previously-shown or
new, rating, star-rating), the same description the channels API shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from exstreamtv.config.model import ChannelConfig
from exstreamtv.media.artwork import channel_logo_url
from exstreamtv.media.models import MediaItem
from exstreamtv.safe_text import xml_attr, xml_text
from exstreamtv.scheduling.base import ScheduledItem, Scheduler
from exstreamtv.scheduling.programme import IconFinder, Programme, describe_programme

GENERATOR = "ExStreamTV"


@dataclass(frozen=True)
class GuideChannel:
    """A channel with its scheduler and the base URL for icons."""

    channel: ChannelConfig
    scheduler: Scheduler | None
    logo: str | None = None


class _DayCache:
    """Formats POSIX seconds as XMLTV times (UTC) fast: one strftime per day."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        self.seen: dict[int, str] = {}

    def __call__(self, whole: int) -> str:
        known = self.seen.get(whole)
        if known is not None:
            return known
        day, rest = divmod(whole, 86400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = time.strftime("%Y%m%d", time.gmtime(day * 86400))
            self.days[day] = prefix
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        text = f"{prefix}{hours:02d}{minutes:02d}{seconds:02d} +0000"
        self.seen[whole] = text
        return text


def _text(value: Any) -> str:
    return xml_text(value)


def metadata_icon(item: MediaItem) -> str | None:
    """An item's artwork URL straight from its metadata (``thumb``, ``poster``, ``icon``)."""
    md = item.metadata or {}
    for key in ("thumb", "poster", "icon"):
        value = md.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def programme_xml(programme: Programme) -> str:
    """The children of a ``<programme>``, in the order xmltv.dtd requires."""
    p = programme
    parts = [f"<title>{_text(p.title)}</title>"]
    if p.sub_title:
        parts.append(f"<sub-title>{_text(p.sub_title)}</sub-title>")
    if p.desc:
        parts.append(f"<desc>{_text(p.desc)}</desc>")
    if p.date:
        parts.append(f"<date>{_text(p.date)}</date>")
    parts += [f"<category>{_text(c)}</category>" for c in p.categories]
    if p.length_minutes:
        parts.append(f'<length units="minutes">{p.length_minutes}</length>')
    if p.icon:
        parts.append(f"<icon src={xml_attr(p.icon)} />")
    if p.episode_num_xmltv_ns:
        parts.append(f'<episode-num system="xmltv_ns">{_text(p.episode_num_xmltv_ns)}</episode-num>')
    if p.episode_num_onscreen:
        parts.append(f'<episode-num system="onscreen">{_text(p.episode_num_onscreen)}'
                     "</episode-num>")
    if p.previously_shown:
        parts.append(f'<previously-shown start="{p.previously_shown_start}" />'
                     if p.previously_shown_start else "<previously-shown />")
    if p.new:
        parts.append("<new />")
    if p.rating:
        parts.append(f"<rating><value>{_text(p.rating)}</value></rating>")
    if p.star_rating:
        parts.append(f"<star-rating><value>{_text(p.star_rating)}</value></star-rating>")
    return "".join(parts)


def programme_body(entry: ScheduledItem, channel_name: str, icon: IconFinder | None = None,
                   now: float | None = None) -> str:
    """The children of a ``<programme>`` for ``entry``, in DTD order."""
    return programme_xml(describe_programme(entry, channel_name, icon=icon or metadata_icon,
                                            now=now))


def merge_flex(entries: Sequence[ScheduledItem], merge_seconds: float) -> list[ScheduledItem]:
    """Entries with flex time (offline or filler) tidied for a guide.

    A run of flex entries shorter than ``merge_seconds`` is folded into the programme
    before it; a longer run becomes one entry (filler if any part of it is filler).
    """
    out: list[ScheduledItem] = []
    run: list[ScheduledItem] = []

    def flush() -> None:
        if not run:
            return
        start, end = run[0].start, run[-1].end
        if out and end - start < merge_seconds:
            last = out[-1]
            out[-1] = ScheduledItem(last.item, last.start, end - last.start, last.kind, last.slot)
        elif len(run) == 1:
            out.append(run[0])
        else:
            kind = "filler" if any(e.kind == "filler" for e in run) else "offline"
            out.append(ScheduledItem(None, start, end - start, kind, run[0].slot))
        run.clear()

    for entry in entries:
        if entry.kind in ("offline", "filler"):
            run.append(entry)
        elif (entry.seek > 0 and out and out[-1].item is not None and entry.item is not None
              and out[-1].item.id == entry.item.id):
            # The programme goes on after a mid-roll break: one guide entry, breaks included.
            last = out[-1]
            out[-1] = ScheduledItem(last.item, last.start, entry.end - last.start, last.kind,
                                    last.slot)
            run.clear()
        else:
            flush()
            out.append(entry)
    flush()
    return out


def tiled(entries: Iterable[ScheduledItem]) -> Iterator[tuple[int, int, ScheduledItem]]:
    """``(start, stop, entry)`` in whole seconds, each boundary rounded once.

    Where one entry ends less than a second from where the next begins, both share one
    rounded boundary: the stop of one is exactly the start of the next. An entry shorter
    than the rounding (nothing left between its boundaries) is left out.
    """
    previous_end: float | None = None
    previous_stop = 0
    for entry in entries:
        if previous_end is not None and abs(entry.start - previous_end) < 1.0:
            start = previous_stop
        else:
            start = round(entry.start)
        stop = max(round(entry.end), start)
        previous_end, previous_stop = entry.end, stop
        if stop > start:
            yield start, stop, entry


def render_xmltv(
    channels: Iterable[GuideChannel], start: float, end: float, *, merge_seconds: float = 300.0,
    icon: IconFinder | None = None, now: float | None = None,
) -> str:
    """The XMLTV document for ``channels`` over ``[start, end)``."""
    fmt = _DayCache()
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE tv SYSTEM "xmltv.dtd">',
        f'<tv generator-info-name="{GENERATOR}" source-info-name="{GENERATOR}">',
    ]
    channel_parts: list[str] = []
    programme_parts: list[str] = []
    # Items recur across channels and days: each programme body is rendered once.
    bodies: dict[tuple[str | None, str, str], str] = {}
    for gc in channels:
        channel = gc.channel
        cid = xml_attr(channel.guide_id)
        logo = f"<icon src={xml_attr(gc.logo)} />" if gc.logo else ""
        channel_parts.append(
            f"<channel id={cid}><display-name>{_text(channel.name)}</display-name>"
            f"<display-name>{channel.number}</display-name>{logo}</channel>"
        )
        if gc.scheduler is None:
            continue
        # A channel with breaks folds up to its own flex length (30 minutes) into programmes.
        merge = max(merge_seconds, float(getattr(gc.scheduler, "merge_flex_seconds", 0.0)))
        for begin, stop, entry in tiled(merge_flex(gc.scheduler.window(start, end), merge)):
            key = ((entry.item.id, entry.kind, "") if entry.item
                   else (None, entry.kind, channel.name))
            body = bodies.get(key)
            if body is None:
                body = programme_body(entry, channel.name, icon, now)
                bodies[key] = body
            programme_parts.append(
                f'<programme start="{fmt(begin)}" stop="{fmt(stop)}" '
                f"channel={cid}>{body}</programme>"
            )
    return "\n".join([*head, *channel_parts, *programme_parts, "</tv>"]) + "\n"


def logo_url(channel: ChannelConfig, base: str) -> str | None:
    """A channel's logo as an absolute URL (as the M3U gives it): see channel_logo_url."""
    return channel_logo_url(channel, base)
