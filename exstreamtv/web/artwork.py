"""Artwork at stable URLs: ``/artwork/items/{id}/{kind}`` and ``/artwork/channels/{n}``.

``kind`` is ``thumb``, ``poster`` or ``fanart`` (a local file with no artwork beside it
but a cover embedded in it has that cover, extracted by ffmpeg, as its poster); ``?w=`` asks for a width (rounded up to
one of :data:`exstreamtv.media.artwork.WIDTHS`). A local item's image is read only from
inside its source's folder; a Plex or Jellyfin image is fetched by the server with the
source's credentials in a header (only from that source's own server), so no token is
ever in a URL a client sees. Unknown ids, kinds, channels, a path that leads outside
the library, and files that are not images (corrupt, enormous, a decompression bomb)
answer 404 with a JSON reason. Answers carry an ``ETag`` (``If-None-Match`` gives 304)
and ``Cache-Control``; resized images are cached on disk (bounded, see
:class:`~exstreamtv.media.artwork.ArtworkCache`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
from quart import Blueprint, Response, current_app, request

from exstreamtv.hub import Hub
from exstreamtv.media.artwork import (
    ITEM_KINDS,
    MAX_SOURCE_BYTES,
    ArtworkCache,
    ArtworkError,
    Rendered,
    embedded_art_argv,
    pick_width,
    read_source,
    resize,
)
from exstreamtv.media.models import MediaItem
from exstreamtv.media.remote import RemoteSource
from exstreamtv.secrets import mask
from exstreamtv.web.common import error, hub

log = logging.getLogger(__name__)

bp = Blueprint("artwork", __name__)

#: How long clients may reuse an image without asking again, in seconds.
MAX_AGE = 86400
#: Images resized at once (each is CPU work in a thread).
RESIZE_SLOTS = 2
#: Longest wait for ffmpeg to extract a file's embedded cover, in seconds.
COVER_SECONDS = 20.0

Loader = Callable[[], Awaitable[bytes]]


def _state(h: Hub) -> tuple[ArtworkCache, asyncio.Semaphore]:
    state = current_app.extensions.get("exstreamtv_artwork")
    if state is None:
        state = (ArtworkCache(h.data_dir / "artwork"), asyncio.Semaphore(RESIZE_SLOTS))
        current_app.extensions["exstreamtv_artwork"] = state
    cache: ArtworkCache = state[0]
    slots: asyncio.Semaphore = state[1]
    return cache, slots


def _not_found(reason: str) -> tuple[Response, int]:
    return error(404, reason)


async def _serve(identity: str, load: Loader) -> Response | tuple[Response, int]:
    h = hub()
    cache, slots = _state(h)
    width = pick_width(request.args.get("w"))
    key = ArtworkCache.key(identity, width)
    if request.headers.get("If-None-Match", "").strip('W/ "') == key:
        return _headers(Response(b"", status=304), key)
    rendered: Rendered | None = cache.recent(key) or await asyncio.to_thread(cache.get, key)
    if rendered is None:
        try:
            data = await load()
            async with slots:
                body, content_type = await asyncio.to_thread(resize, data, width)
        except ArtworkError as exc:
            log.info("No artwork for %s: %s", mask(identity.split(":", 1)[-1]), mask(str(exc)))
            return _not_found("no image here (missing, unreadable or not an image)")
        rendered = await asyncio.to_thread(cache.put, key, body, content_type)
    response = Response(rendered.data, content_type=rendered.content_type)
    return _headers(response, rendered.etag)


def _headers(response: Response, etag: str) -> Response:
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response


def _file_identity(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"file:{path}:missing"
    return f"file:{path}:{st.st_mtime_ns}:{st.st_size}"


def _file_loader(path: Path) -> Loader:
    async def load() -> bytes:
        return await asyncio.to_thread(read_source, path)

    return load


def _remote_loader(source: RemoteSource, url: str, headers: Mapping[str, str]) -> Loader:
    async def load() -> bytes:
        try:
            async with source.client.stream("GET", url, headers=dict(headers)) as answer:
                if answer.status_code != 200:
                    raise ArtworkError(f"{source.product} answered HTTP {answer.status_code}")
                chunks, size = [], 0
                async for chunk in answer.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_SOURCE_BYTES:
                        raise ArtworkError("the image is too large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise ArtworkError(f"cannot fetch it from {source.product}: "
                               f"{type(exc).__name__}") from None

    return load


def _cover_loader(ffmpeg: str, path: Path, stream_index: int) -> Loader:
    """The cover image embedded in a media file, extracted by ffmpeg (bounded, timed)."""
    async def load() -> bytes:
        proc = await asyncio.create_subprocess_exec(
            *embedded_art_argv(ffmpeg, str(path), stream_index),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        stdout = proc.stdout
        assert stdout is not None

        async def read_all() -> bytes:
            chunks, size = [], 0
            while chunk := await stdout.read(65536):
                size += len(chunk)
                if size > MAX_SOURCE_BYTES:
                    raise ArtworkError("the embedded cover is too large")
                chunks.append(chunk)
            await proc.wait()
            return b"".join(chunks)

        try:
            data = await asyncio.wait_for(read_all(), COVER_SECONDS)
        except TimeoutError:
            raise ArtworkError(f"extracting the cover took over {COVER_SECONDS:.0f} s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0 or not data:
            raise ArtworkError("ffmpeg could not extract the embedded cover")
        return data

    return load


def _local_path(root: Path, relative: str) -> Path | None:
    """``relative`` under ``root``, or None when it resolves outside it."""
    try:
        base = root.resolve()
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return path if path.is_relative_to(base) and path != base else None


@bp.route("/artwork/items/<item_id>/<kind>")
async def item_artwork(item_id: str, kind: str) -> Response | tuple[Response, int]:
    h = hub()
    item: MediaItem | None = h.library.item(item_id)
    if item is None or kind not in ITEM_KINDS:
        return _not_found(f"no artwork '{kind}' for item '{item_id}'")
    source = h.library.sources.get(item.source_id)
    md = item.metadata or {}
    artwork = md.get("artwork")
    root = getattr(source, "root", None)
    if isinstance(artwork, Mapping) and isinstance(artwork.get(kind), str) \
            and isinstance(root, Path):
        path = _local_path(root, artwork[kind])
        if path is None:
            return _not_found(f"no artwork '{kind}' for item '{item_id}'")
        return await _serve(_file_identity(path), _file_loader(path))
    cover = md.get("embedded_art")
    if kind == "poster" and isinstance(cover, int) and isinstance(root, Path):
        path = _local_path(root, str(md.get("path") or ""))
        if path is None:
            return _not_found(f"no artwork '{kind}' for item '{item_id}'")
        return await _serve(f"cover:{cover}:{_file_identity(path)}",
                            _cover_loader(h.tools.ffmpeg, path, cover))
    thumb = md.get("thumb")
    if kind == "thumb" and isinstance(thumb, str) and isinstance(source, RemoteSource):
        headers = source.fetch_headers(thumb)
        if headers is None:  # only the source's own server is ever asked
            return _not_found(f"no artwork '{kind}' for item '{item_id}'")
        return await _serve(f"url:{thumb}", _remote_loader(source, thumb, headers))
    return _not_found(f"no artwork '{kind}' for item '{item_id}'")


def logo_path(h: Hub, logo: str) -> Path:
    """A channel logo given as a path: absolute, or relative to the config file's folder."""
    return h.config.local_path(logo)


@bp.route("/artwork/channels/<int:number>")
async def channel_logo(number: int) -> Response | tuple[Response, int]:
    h = hub()
    channel = h.config.channel(number)
    if channel is None or not channel.enabled or not channel.logo or "://" in channel.logo:
        return _not_found(f"channel {number} has no logo served here")
    path = logo_path(h, channel.logo)
    return await _serve(_file_identity(path), _file_loader(path))
