"""The JSON API: health, channels with now/next, sessions, plugins, config status."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, has_request_context, request

from exstreamtv.cluster.peers import ask_peers
from exstreamtv.errors import ChannelNotFound
from exstreamtv.hub import Hub
from exstreamtv.media.artwork import channel_logo_url, item_artwork_url
from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.scheduling.programme import describe_programme
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import base_url, error, hub, json_response

bp = Blueprint("api", __name__, url_prefix="/api")

_RANK = {"ok": 0, "degraded": 1, "error": 2}
#: Schedulers with distribution stats (balance, random) report them over this window.
STATS_WINDOW = 7 * 86400.0
#: The most entries GET /api/channels/{n}/playout lists.
PLAYOUT_MAX_ENTRIES = 5000


def _entry(entry: ScheduledItem, channel_name: str, now: float, base: str) -> dict[str, Any]:
    item = entry.item

    def icon(item: MediaItem) -> str | None:
        return item_artwork_url(item, base)

    programme = describe_programme(entry, channel_name, icon=icon, now=now)
    return {
        "title": entry.title,
        "kind": entry.kind,
        "start": entry.start,
        "end": entry.end,
        "duration": entry.duration,
        "item_id": item.id if item else None,
        "metadata": dict(item.metadata) if item else {},
        "programme": programme.to_dict(),
    }


def channel_health(h: Hub, number: int, now: float | None = None) -> dict[str, Any]:
    """``{"status", "reason", "failing_items"}``: the items channel ``number`` fails on."""
    return h.channels.item_health.report(number, h.channels.failed_items.for_channel(number),
                                         now)


def channel_summary(h: Hub, number: int, now: float | None = None) -> dict[str, Any]:
    """A channel with what is on now and next, and the items it fails on (``health``)."""
    channel = h.channels.channel(number)
    now = time.time() if now is None else now
    # Outside a request (MQTT), links are relative unless server.base_url is set.
    base = base_url() if has_request_context() else (h.config.server.base_url or "").rstrip("/")
    data: dict[str, Any] = {
        "number": channel.number,
        "name": channel.name,
        "group": channel.group,
        "logo": channel.logo,
        "logo_url": channel_logo_url(channel, base),
        "guide_id": channel.guide_id,
        "schedule": channel.schedule.type,
        "output": channel.output.value,  # video | audio (a radio channel)
        "stream_url": f"/stream/channels/{channel.number}.ts",
        "hls_url": f"/stream/channels/{channel.number}.m3u8",
        "viewers": len(h.sessions.viewers(number)),  # HLS players count from their first segment
    }
    try:
        scheduler = h.channels.scheduler(number)
        entries = scheduler.entries(now)
        current, following = next(entries), next(entries)
        data["now"] = {**_entry(current, channel.name, now, base),
                       "offset": current.offset_at(now)}
        data["next"] = _entry(following, channel.name, now, base)
        active, upcoming = scheduler.slot_windows(now)
        if active is not None or upcoming is not None:
            data["slot"] = active.to_dict() if active else None
            data["next_slot"] = upcoming.to_dict() if upcoming else None
        data["schedule_health"] = dict(zip(("status", "reason"), scheduler.health(), strict=True))
        stats = scheduler.stats(now - STATS_WINDOW, now)
        if stats is not None:
            data["schedule_stats"] = stats
    except Exception as exc:
        data["now"] = data["next"] = None
        data["schedule_health"] = {"status": "error", "reason": str(exc)}
    pipeline = h.channels.pipelines.get(number)
    data["pipeline"] = pipeline.status() if pipeline else {"state": "stopped"}
    data["health"] = channel_health(h, number, now)
    return data


def health_report(h: Hub) -> dict[str, Any]:
    """``{"status": ..., "components": {...}}`` from every part of the server."""
    components: dict[str, dict[str, Any]] = {}
    broken = [p for p in h.host.plugins.values() if p.error or p.hook_errors]
    components["plugins"] = {
        "status": "degraded" if broken else "ok",
        "loaded": sum(1 for p in h.host.plugins.values() if p.loaded),
        "failed": {p.name: p.error or p.hook_errors for p in broken},
    }
    components["config"] = {
        "status": "degraded" if h.config_status.last_error else "ok",
        "version": h.config_status.version,
        "last_error": h.config_status.last_error,
    }
    try:
        tools = h.tools
        components["ffmpeg"] = {"status": "ok", "ffmpeg": tools.ffmpeg, "version": tools.version,
                                "origin": tools.origin, "ffprobe": tools.ffprobe}
    except Exception as exc:
        components["ffmpeg"] = {"status": "error", "message": str(exc)}
    sources = {sid: st.to_dict() for sid, st in h.library.status.items()}
    components["library"] = {
        "status": "degraded" if any(s["state"] == "error" for s in sources.values()) else "ok",
        "sources": sources,
    }
    channels: dict[str, Any] = {}
    failing: dict[str, Any] = {}
    worst = "ok"
    for number, pipeline in h.channels.pipelines.items():
        state = pipeline.status()
        status = "ok" if state["health"] == "ok" and state["state"] != "error" else "degraded"
        channels[str(number)] = {"status": status, **state}
        worst = max(worst, status, key=_RANK.__getitem__)
    for channel in h.config.channels:
        items = channel_health(h, channel.number)
        if items["status"] != "ok":
            failing[str(channel.number)] = {"name": channel.name, **items}
            worst = max(worst, items["status"], key=_RANK.__getitem__)
    components["channels"] = {"status": worst, "running": channels, "failing": failing}
    for name, probe in h.components.items():
        try:
            components[name] = probe()
        except Exception as exc:
            components[name] = {"status": "error", "message": str(exc)}
    overall = max((c.get("status", "ok") for c in components.values()),
                  key=lambda s: _RANK.get(s, 2), default="ok")
    return {"status": overall, "components": components, "time": time.time()}


@bp.route("/health")
async def health() -> tuple[Response, int]:
    return json_response(health_report(hub()))


@bp.route("/channels")
async def channels() -> tuple[Response, int]:
    h = hub()
    now = time.time()
    return json_response([channel_summary(h, c.number, now) for c in h.config.channels
                          if c.enabled])


@bp.route("/channels/<int:number>")
async def channel(number: int) -> tuple[Response, int]:
    try:
        return json_response(channel_summary(hub(), number))
    except ChannelNotFound as exc:
        return error(404, str(exc))


@bp.route("/channels/<int:number>/playout")
async def channel_playout(number: int) -> tuple[Response, int]:
    """Every entry from now for ``?hours=`` (default 2, at most 48; at most
    :data:`PLAYOUT_MAX_ENTRIES`), breaks and filler clips included, and the channel's
    cooldowns (what aired that still rests)."""
    h = hub()
    raw = request.args.get("hours", "2")
    try:
        hours = float(raw)
    except ValueError:
        return error(400, f"hours must be a number of hours from 0 to 48, got {raw!r}")
    if not 0 < hours <= 48:
        return error(400, f"hours must be a number of hours from 0 to 48, got {raw!r}")
    try:
        scheduler = h.channels.scheduler(number)
    except ChannelNotFound as exc:
        return error(404, str(exc))
    now = time.time()
    entries: list[dict[str, Any]] = []
    for entry in scheduler.entries(now):
        if entry.start >= now + hours * 3600 or len(entries) == PLAYOUT_MAX_ENTRIES:
            break
        entries.append({"start": entry.start, "end": entry.end, "kind": entry.kind,
                        "title": entry.title, "item_id": entry.item.id if entry.item else None,
                        "slot": entry.slot, "seek": entry.seek})
    cooldowns = [{"key": c.key, "until": c.until} for c in h.channels.cooldowns(number)]
    return json_response({"number": number, "entries": entries, "cooldowns": cooldowns})


@bp.route("/sessions")
@require_token
async def sessions() -> tuple[Response, int]:
    """This node's sessions; in a lineup every node's (``scope=node``: this node's only)."""
    h = hub()
    mine = [s.to_dict() for s in h.sessions.sessions.values()]
    if h.cluster is None or request.args.get("scope") == "node":
        return json_response(mine)
    gathered = await ask_peers(h.cluster, "/api/sessions", {})
    theirs = [s for answer in gathered.answers.values() if isinstance(answer, list)
              for s in answer if isinstance(s, dict)]
    return json_response(mine + theirs, headers=gathered.headers())


@bp.route("/plugins")
@require_token
async def plugins() -> tuple[Response, int]:
    return json_response(hub().host.describe())


@bp.route("/config/status")
@require_token
async def config_status() -> tuple[Response, int]:
    return json_response(hub().config_status.to_dict())


@bp.route("/config/reload", methods=["POST"])
@require_token
async def config_reload() -> tuple[Response, int]:
    h = hub()
    if h.config.path is None:
        return error(409, "this server was not started from a config file")
    ok = await h.reload()
    return json_response(h.config_status.to_dict(), 200 if ok else 422)
