"""The guide grid page at ``/guide``: one day per page, every channel a row.

Server-rendered (autoescaped) from the guide's own schedulers (the ones the XMLTV is
built from, which plan the same playout as the streams): each programme is a block placed
by its start and length within the day (in ``server.timezone``), labelled with its title
and times, with the item's poster (``/artwork``, loaded lazily) where it has artwork;
runs of programmes shorter than :data:`MIN_BLOCK_SECONDS` are drawn as one block ("12
short items", see :mod:`exstreamtv.web.grid`) so a day of short clips stays a small page.
``?day=N`` (-1 to :data:`MAX_DAYS_AHEAD`) pages by day.

A day's page is built once, off the event loop, in the document cache (keyed by the
config and library versions and the day), so later requests cost a lookup; only the now
line, placed on today's page, is added per request. The grid scrolls sideways; guide.js
only scrolls today's page to now and adds arrow keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from quart import Blueprint, Response, current_app, request

from exstreamtv.hub import Hub
from exstreamtv.media.artwork import item_artwork_url
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import Scheduler
from exstreamtv.secrets import mask
from exstreamtv.streaming.channel_manager import timezone_of
from exstreamtv.web.common import error, hub
from exstreamtv.web.documents import DocumentNotReady, documents
from exstreamtv.web.grid import Block, grid_blocks

bp = Blueprint("guide_page", __name__, template_folder="templates")

#: Programmes shorter than this (5 minutes, about 0.35% of the day) are grouped.
MIN_BLOCK_SECONDS = 300
MAX_DAYS_AHEAD = 6
#: Width asked of the poster images (the smallest the artwork routes make).
POSTER_WIDTH = 80
#: Where the per-request now line goes in a built page.
NOW_MARK = b"<!--now-line-->"
WAIT_SECONDS = 25.0


def _day(now: float, offset: int, tz: Any) -> tuple[float, float, datetime]:
    local = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day = local + timedelta(days=offset)
    following = day + timedelta(days=1)  # a DST day is 23 or 25 hours long
    return day.timestamp(), following.timestamp(), day


def clock_of(start: float, end: float, tz: Any) -> Callable[[float], str]:
    """``HH:MM`` of a time in the day ``[start, end)``: arithmetic when the day's offset
    from UTC does not change (no DST switch that day), the calendar otherwise."""
    first = datetime.fromtimestamp(start, tz).utcoffset()
    last = datetime.fromtimestamp(end, tz).utcoffset()
    if first is None or first != last:
        return lambda ts: datetime.fromtimestamp(ts, tz).strftime("%H:%M")
    shift = first.total_seconds()

    def clock(ts: float) -> str:
        minutes = int((ts + shift) // 60) % 1440
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return clock


def _rows(channels: list[tuple[Any, Scheduler | None]], start: float, end: float,
          tz: Any) -> list[dict[str, Any]]:
    """Each channel's blocks for the day, with their times and poster URLs."""
    clock = clock_of(start, end, tz)
    posters: dict[str, str | None] = {}

    def poster(item: MediaItem | None) -> str | None:
        if item is None:
            return None
        if item.id not in posters:
            url = item_artwork_url(item, "")
            posters[item.id] = f"{url}?w={POSTER_WIDTH}" if url else None
        return posters[item.id]

    def drawn(block: Block) -> dict[str, Any]:
        return {"title": block.title, "kind": block.kind, "left": block.left,
                "width": block.width, "times": f"{clock(block.start)}–{clock(block.end)}",
                "poster": poster(block.item)}

    rows = []
    for channel, scheduler in channels:
        try:
            blocks = (grid_blocks(scheduler.entries(start), start, end, MIN_BLOCK_SECONDS)
                      if scheduler is not None else [])
        except Exception:
            blocks = []
        rows.append({"number": channel.number, "name": channel.name,
                     "blocks": [drawn(b) for b in blocks]})
    return rows


def _prepare(h: Hub, start: float, end: float, day: datetime,
             offset: int) -> Callable[[], Callable[[], str]]:
    """What the document cache runs: read the lineup here, on the loop; build in a thread."""

    def prepare() -> Callable[[], str]:
        tz = timezone_of(h.config)
        channels: list[tuple[Any, Scheduler | None]] = []
        for channel in h.config.channels:
            if not channel.enabled:
                continue
            try:
                channels.append((channel, h.channels.guide_scheduler(channel.number)))
            except Exception:
                channels.append((channel, None))
        template = current_app.jinja_env.get_template("guide.html")
        hours = [{"label": clock_of(start, end, tz)(start + i * 3600),
                  "left": round(i * 3600 / (end - start) * 100, 4)}
                 for i in range(int((end - start) // 3600))]
        context = {"name": h.config.server.name, "hours": hours, "offset": offset,
                   "day": day.strftime("%A %d %B %Y"),
                   "previous": offset - 1 if offset > -1 else None,
                   "following": offset + 1 if offset < MAX_DAYS_AHEAD else None,
                   "now_mark": NOW_MARK.decode()}

        def build() -> str:
            return mask(template.render(rows=_rows(channels, start, end, tz), **context))

        return build

    return prepare


@bp.route("/guide")
async def guide_page() -> Response | tuple[Response, int]:
    h = hub()
    tz = timezone_of(h.config)
    try:
        offset = min(max(int(request.args.get("day", "0")), -1), MAX_DAYS_AHEAD)
    except ValueError:
        offset = 0
    now = time.time()
    start, end, day = _day(now, offset, tz)
    key = ("guide-page", h.config_status.version, h.library.version, start, end, offset)
    try:
        document = await documents().get(key, _prepare(h, start, end, day, offset),
                                         name="guide page", wait_seconds=WAIT_SECONDS)
    except DocumentNotReady as exc:
        response, status = error(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    line = b""
    if start <= now < end:
        line = (b'<div class="now-line" id="now-line" style="--now: %.4f" aria-hidden="true">'
                b"</div>" % ((now - start) / (end - start) * 100))
    response = Response(document.body.replace(NOW_MARK, line, 1), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self'")
    response.headers["X-Frame-Options"] = "DENY"
    return response
