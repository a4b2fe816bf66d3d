"""Documents clients fetch without a token (XMLTV, M3U), built off the event loop.

Building the guide walks every channel's schedule for days: pure CPU work that, on the
event loop, would starve every viewer's stream. A :class:`DocumentCache` runs each
build in one worker thread and keeps the result under a key that names everything the
document depends on (config version, library version, base URL, time window). Requests
for a key being built wait for that one build, so eight clients fetching the guide at
once cost one build, and later fetches in the same window cost nothing.

A built document is kept as UTF-8 and gzip-compressed (both made in the thread), and
served compressed to clients that accept it: a guide of days of short items shrinks
about tenfold, so serving it costs the event loop little.

A build has a time budget: a request waits at most ``wait_seconds`` (then gets
:class:`DocumentNotReady`, a 503 with ``Retry-After``) while the build goes on and
fills the cache for the next request.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from quart import Response, current_app, request

log = logging.getLogger(__name__)

#: How many built documents are kept (old time windows and versions fall out).
KEEP = 8


@dataclass(frozen=True)
class Document:
    """A built document: its bytes, plain and gzip-compressed."""

    body: bytes
    gzipped: bytes

    @classmethod
    def of(cls, text: str) -> Document:
        body = text.encode("utf-8")
        return cls(body, gzip.compress(body, compresslevel=5, mtime=0))

    def response(self, mimetype: str) -> Response:
        """The document for this request: compressed when the client accepts gzip."""
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", "").lower():
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, mimetype=mimetype, headers=headers)
        return Response(self.body, mimetype=mimetype, headers=headers)


class DocumentNotReady(Exception):
    """A document is still being built after the request's wait; try again shortly."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(f"the {name} is still being built; retry in {retry_after} s")
        self.retry_after = retry_after


class DocumentCache:
    """Built documents by key; one build per key at a time, in a worker thread."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._done: OrderedDict[Hashable, Document] = OrderedDict()
        self._building: dict[Hashable, asyncio.Future[Document]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exstreamtv-docs")
        self.builds = 0

    async def get(self, key: Hashable, prepare: Callable[[], Callable[[], str]], *, name: str,
                  wait_seconds: float) -> Document:
        """The document for ``key``; when neither cached nor being built, ``prepare()``
        runs here (on the loop: the part that reads shared state) and the function it
        returns builds the document in the worker thread."""
        done = self._done.get(key)
        if done is not None:
            self._done.move_to_end(key)
            return done
        future = self._building.get(key)
        if future is None:
            build = prepare()
            future = asyncio.wrap_future(self._executor.submit(lambda: Document.of(build())))
            self._building[key] = future
            self.builds += 1
            future.add_done_callback(lambda f: self._finished(key, f))
        try:
            return await asyncio.wait_for(asyncio.shield(future), wait_seconds)
        except TimeoutError:
            raise DocumentNotReady(name, max(1, round(wait_seconds / 2))) from None

    def _finished(self, key: Hashable, future: asyncio.Future[Document]) -> None:
        self._building.pop(key, None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.error("Building a document failed: %s", exc, exc_info=exc)
            return
        self._done[key] = future.result()
        while len(self._done) > self.keep:
            self._done.popitem(last=False)

    def __len__(self) -> int:
        return len(self._done)

    def shutdown(self) -> None:
        """Stop the worker thread (a running build finishes on its own)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def documents() -> DocumentCache:
    """The running app's document cache."""
    cache: DocumentCache = current_app.extensions["exstreamtv_documents"]
    return cache
