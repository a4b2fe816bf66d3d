"""The web dashboard at ``/``: channels with now and next, and where to tune in."""

from __future__ import annotations

import html
import time

from quart import Blueprint, Response

from exstreamtv.web.api import channel_summary, health_report
from exstreamtv.web.common import base_url, hub

bp = Blueprint("dashboard", __name__)


@bp.route("/")
async def index() -> Response:
    h = hub()
    base = base_url()
    now = time.time()
    rows = []
    for channel in h.config.channels:
        if not channel.enabled:
            continue
        info = channel_summary(h, channel.number, now)
        now_title = info["now"]["title"] if info.get("now") else "—"
        next_title = info["next"]["title"] if info.get("next") else "—"
        rows.append(
            "<tr><td>{n}</td><td>{name}</td><td>{now}</td><td>{next}</td><td>{viewers}</td>"
            "<td><a href=\"{url}\">TS</a></td></tr>".format(
                n=channel.number, name=html.escape(channel.name), now=html.escape(now_title),
                next=html.escape(next_title), viewers=info["viewers"],
                url=html.escape(f"{base}/stream/channels/{channel.number}.ts"),
            )
        )
    status = health_report(h)["status"]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(h.config.server.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}}</style>
</head><body>
<h1>{html.escape(h.config.server.name)}</h1>
<p>Health: <strong id="health">{html.escape(status)}</strong>.
Playlist: <a href="{html.escape(base)}/api/channels.m3u">{html.escape(base)}/api/channels.m3u</a></p>
<table id="channels"><thead><tr><th>#</th><th>Channel</th><th>Now</th><th>Next</th><th>Viewers</th><th>Watch</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
</body></html>"""
    return Response(page, mimetype="text/html")
