"""IPTV endpoints: the M3U playlist (XMLTV is in :mod:`exstreamtv.web.guide`).

The playlist is built off the event loop and reused until the config changes
(:mod:`exstreamtv.web.documents`); names are cleaned of line breaks and characters
that XML forbids, as in the guide.
"""

from __future__ import annotations

from collections.abc import Callable

from quart import Blueprint, Response

from exstreamtv.config.model import Config
from exstreamtv.media.artwork import channel_logo_url
from exstreamtv.safe_text import one_line
from exstreamtv.web.common import base_url, error, hub
from exstreamtv.web.documents import DocumentNotReady, documents

bp = Blueprint("iptv", __name__)


def _attr(value: str) -> str:
    return one_line(value).replace('"', "'")


def render_m3u(config: Config, base: str) -> str:
    """The extended M3U for every enabled channel."""
    guide = f"{base}/api/xmltv.xml"
    lines = [f'#EXTM3U url-tvg="{guide}" x-tvg-url="{guide}"']
    for channel in config.channels:
        if not channel.enabled:
            continue
        attrs = [
            f'tvg-id="{channel.guide_id}"',
            f'tvg-chno="{channel.number}"',
            f'tvg-name="{_attr(channel.name)}"',
        ]
        logo = channel_logo_url(channel, base)
        if logo:
            attrs.append(f'tvg-logo="{_attr(logo)}"')
        attrs.append(f'group-title="{_attr(channel.group)}"')
        if channel.radio:
            attrs.append('radio="true"')  # audio only: TiviMate and Kodi list it as radio
        name = one_line(channel.name).replace(",", " ")
        lines.append(f"#EXTINF:-1 {' '.join(attrs)},{name}")
        lines.append(f"{base}/stream/channels/{channel.number}.ts")
    return "\n".join(lines) + "\n"


@bp.route("/api/channels.m3u")
@bp.route("/iptv/channels.m3u")
async def channels_m3u() -> Response | tuple[Response, int]:
    h, base = hub(), base_url()
    key = ("m3u", h.config_status.version, base)

    def prepare() -> Callable[[], str]:
        config = h.config
        return lambda: render_m3u(config, base)

    try:
        document = await documents().get(key, prepare, name="playlist", wait_seconds=25.0)
    except DocumentNotReady as exc:
        response, status = error(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    return document.response("audio/x-mpegurl")
