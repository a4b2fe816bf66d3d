"""Stream URLs: a channel as one continuous, endless MPEG-TS response."""

from __future__ import annotations

from quart import Blueprint, Response, request

from exstreamtv.errors import ChannelNotFound, StreamUnavailable
from exstreamtv.streaming.output import ts_body
from exstreamtv.web.common import error, hub

bp = Blueprint("streams", __name__)

TS_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "Accept-Ranges": "none",
    "X-Content-Type-Options": "nosniff",
}


@bp.route("/stream/channels/<int:number>.ts", methods=["GET", "HEAD"])
async def channel_ts(number: int) -> Response | tuple[Response, int]:
    h = hub()
    try:
        h.channels.channel(number)
    except ChannelNotFound as exc:
        return error(404, str(exc))
    if request.method == "HEAD":
        return Response(b"", mimetype="video/mp2t", headers=TS_HEADERS)
    try:
        session = h.sessions.create_session(
            number,
            client_ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            client_id=request.args.get("client"),
        )
    except StreamUnavailable as exc:
        return error(503, str(exc))
    try:
        pipeline = await h.channels.acquire(number)
    except (StreamUnavailable, ChannelNotFound) as exc:
        h.sessions.disconnect(session, str(exc))
        return error(503 if isinstance(exc, StreamUnavailable) else 404, str(exc))
    except BaseException:  # the client left while the channel was starting
        h.sessions.disconnect(session, "client left before the stream started")
        raise
    response = Response(ts_body(pipeline.buffer, session, h.sessions), mimetype="video/mp2t",
                        headers=TS_HEADERS)
    response.timeout = None
    return response
