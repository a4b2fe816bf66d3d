"""IPTV endpoints: the M3U playlist (and, with the guide plugin, XMLTV)."""

from __future__ import annotations

from quart import Blueprint, Response

from exstreamtv.config.model import Config
from exstreamtv.web.common import base_url, hub

bp = Blueprint("iptv", __name__)


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ").replace("\r", " ")


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
        if channel.logo:
            logo = channel.logo if "://" in channel.logo else f"{base}/{channel.logo.lstrip('/')}"
            attrs.append(f'tvg-logo="{_attr(logo)}"')
        attrs.append(f'group-title="{_attr(channel.group)}"')
        name = channel.name.replace(",", " ").replace("\n", " ")
        lines.append(f"#EXTINF:-1 {' '.join(attrs)},{name}")
        lines.append(f"{base}/stream/channels/{channel.number}.ts")
    return "\n".join(lines) + "\n"


@bp.route("/api/channels.m3u")
@bp.route("/iptv/channels.m3u")
async def channels_m3u() -> Response:
    body = render_m3u(hub().config, base_url())
    return Response(body, mimetype="audio/x-mpegurl", headers={"Cache-Control": "no-cache"})
