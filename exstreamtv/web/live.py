"""Server-sent events: the event bus, live, for the dashboard (``/api/events/stream``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from quart import Blueprint, Response

from exstreamtv.events import Event
from exstreamtv.secrets import mask_data
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import hub

bp = Blueprint("live", __name__)

KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 200


@bp.route("/api/events/stream")
@require_token
async def events_stream() -> Response:
    """Every bus event as one SSE ``data:`` line of JSON (secrets masked); a slow reader
    loses old events."""
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def enqueue(event: Event) -> None:
        if queue.full():
            queue.get_nowait()  # drop the oldest: a stalled browser never grows memory
        queue.put_nowait(event)

    unsubscribe = hub().bus.subscribe(enqueue)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                data = json.dumps(mask_data(event.to_dict()), default=str)
                yield f"data: {data}\n\n".encode()
        finally:
            unsubscribe()

    response = Response(body(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.timeout = None
    return response
