"""The XMLTV guide at ``/api/xmltv.xml`` (alias ``/iptv/xmltv.xml``)."""

from __future__ import annotations

import logging
import time

from quart import Blueprint, Response

from exstreamtv.hub import Hub
from exstreamtv.scheduling.base import Scheduler
from exstreamtv.scheduling.guide import GuideChannel, logo_url, render_xmltv
from exstreamtv.web.common import base_url, hub

log = logging.getLogger(__name__)

bp = Blueprint("guide", __name__)


def guide_channels(h: Hub, base: str) -> list[GuideChannel]:
    """Every enabled channel with its scheduler (None when it cannot be built)."""
    out = []
    for channel in h.config.channels:
        if not channel.enabled:
            continue
        scheduler: Scheduler | None
        try:
            scheduler = h.channels.scheduler(channel.number)
        except Exception as exc:
            log.error("Channel %d has no guide: its schedule failed: %s", channel.number, exc)
            scheduler = None
        out.append(GuideChannel(channel, scheduler, logo_url(channel, base)))
    return out


def render_guide(h: Hub, base: str, now: float | None = None) -> str:
    """The XMLTV document of the running server."""
    now = time.time() if now is None else now
    settings = h.config.guide
    start = now - settings.hours_behind * 3600
    end = now + settings.days_ahead * 86400
    return render_xmltv(guide_channels(h, base), start, end,
                        merge_seconds=settings.merge_flex_seconds)


@bp.route("/api/xmltv.xml")
@bp.route("/iptv/xmltv.xml")
async def xmltv() -> Response:
    body = render_guide(hub(), base_url())
    return Response(body, mimetype="application/xml", headers={"Cache-Control": "no-cache"})
