"""The guide grid page at ``/guide``: one day per page, every channel a row.

Server-rendered (autoescaped) from the same schedulers as the streams: each programme is
a block placed by its start and length within the day (in ``server.timezone``), labelled
with its title and times; runs of programmes shorter than :data:`MIN_BLOCK_SECONDS` are
drawn as one block ("12 short items") so a day of short clips stays a small page. A line
marks now on today's page; ``?day=N`` (-1 to :data:`MAX_DAYS_AHEAD`) pages by day. The
grid scrolls sideways; guide.js only scrolls today's page to now and adds arrow keys.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from quart import Blueprint, Response, render_template, request

from exstreamtv.secrets import mask
from exstreamtv.streaming.channel_manager import timezone_of
from exstreamtv.web.common import hub

bp = Blueprint("guide_page", __name__, template_folder="templates")

DAY_SECONDS = 86400
#: Programmes shorter than this (5 minutes, about 0.35% of the day) are grouped.
MIN_BLOCK_SECONDS = 300
MAX_DAYS_AHEAD = 6


def _clock(ts: float, tz: Any) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%H:%M")


def day_blocks(entries: list[Any], start: float, end: float, tz: Any) -> list[dict[str, Any]]:
    """Entries as blocks in percent of ``[start, end)``; runs of short ones become one."""
    blocks: list[dict[str, Any]] = []
    short: list[Any] = []

    def add(first: Any, last: Any, title: str, kind: str) -> None:
        left, right = max(first.start, start), min(last.end, end)
        blocks.append({"title": title, "kind": kind,
                       "times": f"{_clock(first.start, tz)}–{_clock(last.end, tz)}",
                       "left": round((left - start) / (end - start) * 100, 3),
                       "width": round((right - left) / (end - start) * 100, 3)})

    def flush() -> None:
        if len(short) == 1:
            add(short[0], short[0], short[0].title, short[0].kind)
        elif short:
            add(short[0], short[-1], f"{len(short)} short items", "many")
        short.clear()

    for entry in entries:
        if entry.end - entry.start < MIN_BLOCK_SECONDS:
            short.append(entry)
            continue
        flush()
        add(entry, entry, entry.title, entry.kind)
    flush()
    return blocks


def _day(now: float, offset: int, tz: Any) -> tuple[float, float, datetime]:
    local = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day = local + timedelta(days=offset)
    following = day + timedelta(days=1)  # a DST day is 23 or 25 hours long
    return day.timestamp(), following.timestamp(), day


@bp.route("/guide")
async def guide_page() -> Response:
    h = hub()
    tz = timezone_of(h.config)
    try:
        offset = min(max(int(request.args.get("day", "0")), -1), MAX_DAYS_AHEAD)
    except ValueError:
        offset = 0
    now = time.time()
    start, end, day = _day(now, offset, tz)
    rows = []
    for channel in h.config.channels:
        if not channel.enabled:
            continue
        try:
            entries = h.channels.scheduler(channel.number).window(start, end)
        except Exception:
            entries = []
        rows.append({"number": channel.number, "name": channel.name,
                     "blocks": day_blocks(entries, start, end, tz)})
    hours = [{"label": _clock(start + i * 3600, tz),
              "left": round(i * 3600 / (end - start) * 100, 4)}
             for i in range(int((end - start) // 3600))]
    now_left = round((now - start) / (end - start) * 100, 4) if start <= now < end else None
    html = await render_template(
        "guide.html", name=h.config.server.name, rows=rows, hours=hours, now_left=now_left,
        day=day.strftime("%A %d %B %Y"), offset=offset,
        previous=offset - 1 if offset > -1 else None,
        following=offset + 1 if offset < MAX_DAYS_AHEAD else None)
    response = Response(mask(html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self'")
    response.headers["X-Frame-Options"] = "DENY"
    return response
