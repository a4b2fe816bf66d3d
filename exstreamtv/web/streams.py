"""Stream URLs: a channel as one endless MPEG-TS response, or as live HLS.

Both outputs read the channel's one shared pipeline. A ``Range`` header on the live
TS stream is ignored: the answer is always ``200`` with the stream from the newest
keyframe (``Accept-Ranges: none`` says so). HLS: ``{n}.m3u8`` creates a session and
answers a master playlist naming the session's media playlist
``{n}/{session}/index.m3u8``, whose segments are ``{n}/{session}/seg-K.ts``, and for a
channel with ``subtitles.mode: stream`` a WebVTT rendition ``{n}/{session}/subs.m3u8``
with ``sub-K.vtt`` for each ``seg-K.ts``; every request touches the session. An HLS session counts toward the viewer limit from its
first segment, and is released after ``hls_release_segments`` target durations without a
request (see :mod:`exstreamtv.streaming.session_manager`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint, Response, request

from exstreamtv.cluster.hls import new_session_id
from exstreamtv.cluster.node import serving_relay
from exstreamtv.cluster.wire import PEER_HEADER, RELAY_HEADER
from exstreamtv.config.profiles import output_rate_bps
from exstreamtv.errors import ChannelNotFound, StreamUnavailable
from exstreamtv.ffmpeg.command import OutputProfile
from exstreamtv.streaming.hls import SEGMENT_NAME, SESSION_ID, SUBTITLE_NAME, master_playlist
from exstreamtv.streaming.output import ts_body
from exstreamtv.web.common import error, hub

if TYPE_CHECKING:
    from exstreamtv.hub import Hub
    from exstreamtv.streaming.pipeline import ChannelPipeline
    from exstreamtv.streaming.session_manager import StreamSession

bp = Blueprint("streams", __name__)

TS_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "Accept-Ranges": "none",
    "X-Content-Type-Options": "nosniff",
}
HLS_MIME = "application/vnd.apple.mpegurl"
HLS_HEADERS = {"Cache-Control": "no-cache, no-store"}
FIRST_SEGMENT_TIMEOUT = 30.0


@bp.route("/stream/channels/<int:number>.ts", methods=["GET", "HEAD"])
async def channel_ts(number: int) -> Response | tuple[Response, int]:
    h = hub()
    try:
        h.channels.channel(number)
    except ChannelNotFound as exc:
        return error(404, str(exc))
    if request.method == "HEAD":
        return Response(b"", mimetype="video/mp2t", headers=TS_HEADERS)
    if h.cluster is not None and RELAY_HEADER in request.headers:
        refusal = await h.cluster.admit_relay(number, request.headers)
        if refusal is not None:
            return error(*refusal)
        serving_relay.set(request.headers[RELAY_HEADER])  # transcode here or end, never relay
    try:
        session, pipeline = await _open_session(h, number, "ts")
    except Refused as exc:
        return error(exc.status, exc.reason)
    channel = h.config.channel(number)
    floor = output_rate_bps(channel.ffmpeg) if channel is not None else 0
    body = ts_body(pipeline.buffer, session, h.sessions, h.config.stream_throttler,
                   lambda: pipeline.restarts, floor_bps=floor)
    response = Response(body, mimetype="video/mp2t", headers=TS_HEADERS)
    response.timeout = None
    return response


@bp.route("/stream/channels/<int:number>.m3u8", methods=["GET", "HEAD"])
async def channel_hls(number: int) -> Response | tuple[Response, int]:
    h = hub()
    try:
        channel = h.channels.channel(number)
    except ChannelNotFound as exc:
        return error(404, str(exc))
    if request.method == "HEAD":
        return Response(b"", mimetype=HLS_MIME, headers=HLS_HEADERS)
    try:
        session, _ = await _open_session(h, number, "hls", new_session_id(h.cluster))
    except Refused as exc:
        return error(exc.status, exc.reason)
    video, audio = channel.ffmpeg.video, channel.ffmpeg.audio
    bandwidth = int((video.bitrate_kbps + audio.bitrate_kbps) * 1000 * 1.2)
    language = OutputProfile.from_config(channel.ffmpeg).subtitle_language
    subtitles = (f"{number}/{session.session_id}/subs.m3u8", language) if language else None
    body = master_playlist(f"{number}/{session.session_id}/index.m3u8", bandwidth,
                           f"{video.width}x{video.height}", subtitles)
    return Response(body, mimetype=HLS_MIME, headers=HLS_HEADERS)


@bp.route("/stream/channels/<int:number>/<session_id>/index.m3u8")
async def channel_hls_media(number: int, session_id: str) -> Response | tuple[Response, int]:
    return await _media_playlist(number, session_id, subtitles=False)


@bp.route("/stream/channels/<int:number>/<session_id>/subs.m3u8")
async def channel_hls_subtitles(number: int, session_id: str) -> Response | tuple[Response, int]:
    return await _media_playlist(number, session_id, subtitles=True)


async def _media_playlist(number: int, session_id: str,
                          subtitles: bool) -> Response | tuple[Response, int]:
    h = hub()
    try:
        h.channels.channel(number)
    except ChannelNotFound as exc:
        return error(404, str(exc))
    if not SESSION_ID.match(session_id):
        return error(404, "not an HLS session id")
    held = await _from_holder(h, session_id)
    if held is not None:
        return held
    session = h.sessions.touch(session_id)
    if session is None or session.channel_number != number:
        # An expired session (a paused player coming back): open it again.
        try:
            session, _ = await _open_session(h, number, "hls", session_id)
        except Refused as exc:
            return error(exc.status, exc.reason)
    with h.sessions.request(session):
        try:
            pipeline = await h.channels.acquire(number)
        except (StreamUnavailable, ChannelNotFound) as exc:
            return error(503, str(exc))
        packager = h.channels.packager(pipeline)
        if not await packager.wait_for_segments(1, FIRST_SEGMENT_TIMEOUT):
            h.sessions.record_error(session, "the channel produced no segment in time")
            return error(503, f"channel {number} produced no HLS segment in time")
        if subtitles and packager.cues is None:
            return error(404, f"channel {number} has no subtitle rendition")
        session.target_duration = float(packager.target_duration)
        return Response(packager.playlist(subtitles), mimetype=HLS_MIME, headers=HLS_HEADERS)


@bp.route("/stream/channels/<int:number>/<session_id>/<name>")
async def channel_hls_segment(number: int, session_id: str,
                              name: str) -> Response | tuple[Response, int]:
    h = hub()
    match = SEGMENT_NAME.match(name) or SUBTITLE_NAME.match(name)
    if match is None or not SESSION_ID.match(session_id):
        return error(404, "no such HLS segment")
    held = await _from_holder(h, session_id)
    if held is not None:
        return held
    session = h.sessions.touch(session_id)
    if session is None or session.channel_number != number:
        return error(404, f"HLS session expired; reload /stream/channels/{number}.m3u8")
    pipeline = h.channels.pipelines.get(number)
    if pipeline is None or not pipeline.running:
        return error(404, f"channel {number} is not running")
    try:
        h.sessions.admit(session)
    except StreamUnavailable as exc:
        return error(503, str(exc))
    packager = h.channels.packager(pipeline)
    if name.endswith(".vtt"):
        vtt = packager.subtitles(int(match.group(1)))
        if vtt is None:
            return error(404, f"subtitles {name} are no longer (or not yet) available")
        return Response(vtt, mimetype="text/vtt", headers=HLS_HEADERS)
    with h.sessions.request(session):
        segment = await packager.segment(int(match.group(1)), packager.target_duration * 2.0)
    if segment is None:
        return error(404, f"segment {name} is no longer (or not yet) available")
    h.sessions.record_data(session, len(segment.data))
    return Response(segment.data, mimetype="video/mp2t", headers=HLS_HEADERS)


async def _from_holder(h: Hub, session_id: str) -> Response | None:
    """In a lineup: the answer of the live node that made ``session_id`` when this node
    does not hold it (see :mod:`exstreamtv.cluster.hls`); None to answer here."""
    # A request another node passed on is answered here, never passed on again.
    if h.cluster is None or session_id in h.sessions.sessions or request.headers.get(PEER_HEADER):
        return None
    url = await h.cluster.hls.holder(session_id)
    answer = await h.cluster.hls.fetch(url, request.path) if url is not None else None
    if answer is None:
        return None
    return Response(answer.content, status=answer.status_code, headers=HLS_HEADERS,
                    content_type=answer.headers.get("content-type", "application/octet-stream"))


class Refused(Exception):
    """A viewer cannot be served: the HTTP status and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _open_session(
    h: Hub, number: int, output: str, session_id: str | None = None
) -> tuple[StreamSession, ChannelPipeline]:
    """A new session on a running pipeline; Refused (503 or 404) when impossible."""
    try:
        session = h.sessions.create_session(
            number,
            client_ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            client_id=request.args.get("client"),
            output=output,
            session_id=session_id,
        )
    except StreamUnavailable as exc:
        raise Refused(503, str(exc)) from exc
    session.relay_to = serving_relay.get()
    try:
        pipeline = await h.channels.acquire(number)
    except (StreamUnavailable, ChannelNotFound) as exc:
        h.sessions.disconnect(session, str(exc))
        raise Refused(503 if isinstance(exc, StreamUnavailable) else 404, str(exc)) from exc
    except BaseException:  # the client left while the channel was starting
        h.sessions.disconnect(session, "client left before the stream started")
        raise
    return session, pipeline
