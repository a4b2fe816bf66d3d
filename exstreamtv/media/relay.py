"""The media relay: ffmpeg reads remote items through it, so credentials never reach argv.

A remote item's location is a credential-free URL (a Plex part, a Jellyfin stream); what
gives access to it (``X-Plex-Token``, Jellyfin's API key header) stays in the source.
Before ffmpeg starts, :meth:`MediaRelay.playable` swaps such a location for a local one,
``http://127.0.0.1:<port>/relay/<id>``, where ``id`` is 32 random URL-safe bytes naming
(source, upstream URL). The id stays the same while the item is remembered, so ffmpeg's
reconnects and seeks (``-ss`` reads the index, then jumps with ``Range``) reuse it.

Invariants:

* the relay listens on 127.0.0.1 only, on a port of its own (whatever ``server.host`` is),
  and answers nothing but ``GET``/``HEAD /relay/<known id>``;
* credentials are asked of the source at each request (a hot-reloaded token applies at
  once) and only for URLs on the source's own server (:meth:`MediaSource.fetch_headers`);
* the upstream answer is passed through: its status (a 401 still reaches ffmpeg and
  self-healing), the headers ffmpeg uses to seek, and the body as it arrives; redirects
  are not followed, so a credential header never goes to another host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from typing import TYPE_CHECKING

import httpx

from exstreamtv.errors import MediaError
from exstreamtv.secrets import mask

if TYPE_CHECKING:
    from exstreamtv.media.library import Library
    from exstreamtv.media.models import MediaItem

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PREFIX = "/relay/"
#: Ids remembered (least recently used forgotten first); one per remote item played.
MAX_TARGETS = 10_000
CHUNK = 64 * 1024
HEADER_LIMIT = 16 * 1024
REQUEST_TIMEOUT = 30.0
#: Upstream answer headers passed back to ffmpeg (what it needs to size, seek and type).
PASSED_HEADERS = ("content-type", "content-length", "content-range", "accept-ranges",
                  "last-modified", "etag")
#: Request headers passed upstream.
FORWARDED_HEADERS = ("range", "if-range")


class MediaRelay:
    """A loopback HTTP relay from opaque ids to remote media, adding the source's credentials."""

    def __init__(self, library: Library, timeout: float = REQUEST_TIMEOUT) -> None:
        self.library = library
        self.timeout = timeout
        self.port: int | None = None
        self.requests = 0
        self._targets: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._ids: dict[tuple[str, str], str] = {}
        self._server: asyncio.Server | None = None
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._handlers: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, HOST, 0, limit=HEADER_LIMIT)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.debug("Media relay listening on %s:%d", HOST, self.port)

    async def stop(self) -> None:
        """Stop listening, end open relays and close upstream connections."""
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            for task in list(self._handlers):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            self.port = None
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # -- what ffmpeg is given ----------------------------------------------------------

    def playable(self, item: MediaItem, location: str) -> str:
        """``location`` as ffmpeg should open it: through the relay when it needs credentials."""
        source = self.library.sources.get(item.source_id)
        if source is None or "://" not in location or not source.fetch_headers(location):
            return location
        return self.url_for(item.source_id, location)

    def url_for(self, source_id: str, url: str) -> str:
        """The local URL that relays ``url`` with ``source_id``'s credentials."""
        if self.port is None:
            raise MediaError("the media relay is not running, so remote items cannot be read; "
                             "restart the server")
        key = (source_id, url)
        relay_id = self._ids.get(key)
        if relay_id is None:
            relay_id = secrets.token_urlsafe(32)
            self._ids[key] = relay_id
            self._targets[relay_id] = key
            while len(self._targets) > MAX_TARGETS:
                _, old = self._targets.popitem(last=False)
                self._ids.pop(old, None)
        else:
            self._targets.move_to_end(relay_id)
        return f"http://{HOST}:{self.port}{PREFIX}{relay_id}"

    # -- serving -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # ffmpeg closed the connection (a seek, the end of an item, a restart)
        except Exception as exc:
            log.warning("Media relay: a request failed: %s", mask(str(exc) or type(exc).__name__))
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer or not str(peer[0]).startswith("127."):
            return
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout)
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return await _answer(writer, 400, "Bad Request")
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return await _answer(writer, 405, "Method Not Allowed", {"Allow": "GET, HEAD"})
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        key = self._targets.get(target[len(PREFIX):]) if target.startswith(PREFIX) else None
        source = self.library.sources.get(key[0]) if key else None
        credentials = source.fetch_headers(key[1]) if source is not None and key else None
        if key is None or not credentials:
            return await _answer(writer, 404, "Not Found")
        self.requests += 1
        upstream = {**credentials, "Accept-Encoding": "identity",
                    **{k: headers[k] for k in FORWARDED_HEADERS if k in headers}}
        verify = bool(getattr(source, "verify_tls", True))
        await self._relay(writer, method, key[1], upstream, self._http(verify))

    async def _relay(self, writer: asyncio.StreamWriter, method: str, url: str,
                     headers: dict[str, str], client: httpx.AsyncClient) -> None:
        try:
            async with client.stream(method, url, headers=headers) as response:
                if 300 <= response.status_code < 400:
                    log.warning("Media relay: %s redirects (HTTP %d); redirects are not followed "
                                "so the credentials stay with their server", mask(url),
                                response.status_code)
                    return await _answer(writer, 502, "Bad Gateway")
                passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
                writer.write(_status_and_headers(response.status_code, response.reason_phrase,
                                                 passed))
                await writer.drain()
                if method == "HEAD":
                    return
                async for chunk in response.aiter_raw(CHUNK):
                    writer.write(chunk)
                    await writer.drain()
        except httpx.HTTPError as exc:
            log.warning("Media relay: cannot read %s: %s", mask(url),
                        mask(str(exc) or type(exc).__name__))
            with contextlib.suppress(Exception):
                await _answer(writer, 504 if isinstance(exc, httpx.TimeoutException) else 502,
                              "Bad Gateway")

    def _http(self, verify: bool) -> httpx.AsyncClient:
        """The upstream client (one verifying TLS, one not, as the source's ``verify_tls`` says)."""
        if verify not in self._clients:
            self._clients[verify] = httpx.AsyncClient(timeout=self.timeout, verify=verify,
                                                      follow_redirects=False)
        return self._clients[verify]


def _status_and_headers(status: int, reason: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or 'Status'}", *(f"{k}: {v}" for k, v in headers.items()),
             "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str,
                  extra: dict[str, str] | None = None) -> None:
    writer.write(_status_and_headers(status, reason, {"Content-Length": "0", **(extra or {})}))
    await writer.drain()
