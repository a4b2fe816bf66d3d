"""Artwork: stable URLs, safe resizing with Pillow, and a bounded cache on disk.

Clients never see where an image comes from. Every image has a URL of ours
(:func:`item_artwork_url`, :func:`channel_logo_url`); the server reads the file (a
local poster, a channel logo given as a path) or fetches it from the media server with
the source's credentials in a header, resizes it and keeps the result in
``<data_directory>/artwork``.

Invariants:

* an image larger than :data:`MAX_SOURCE_BYTES` or :data:`MAX_PIXELS` (width x height,
  read from the header before any decoding: no decompression bomb), or that Pillow
  cannot read, raises :class:`ArtworkError` (the web layer answers 404, never a 500);
* widths are rounded up to one of :data:`WIDTHS`, so the cache holds few variants;
* the cache never grows past its byte bound: the least recently used files go first.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from exstreamtv.config.model import ChannelConfig
from exstreamtv.media.models import MediaItem

log = logging.getLogger(__name__)

#: Output widths in pixels; a request is rounded up to the next one.
WIDTHS = (80, 160, 320, 480, 640, 960, 1280)
DEFAULT_WIDTH = 480
#: Source images larger than this many bytes are refused.
MAX_SOURCE_BYTES = 32 * 1024 * 1024
#: Source images with more pixels than this are refused before decoding (a 8000 x 5000 still).
MAX_PIXELS = 40_000_000
#: The cache's default bound in bytes, on disk and (for the most used images) in memory.
CACHE_BYTES = 256 * 1024 * 1024
MEMORY_BYTES = 32 * 1024 * 1024
#: Kinds of item artwork, in the order an icon prefers them.
ITEM_KINDS = ("thumb", "poster", "fanart")


class ArtworkError(Exception):
    """No image can be made: the reason is for the log, the client gets a 404."""


@dataclass(frozen=True)
class Rendered:
    """A resized image: its bytes, media type and entity tag."""

    data: bytes
    content_type: str
    etag: str


def pick_width(requested: str | int | None) -> int:
    """``requested`` rounded up to one of :data:`WIDTHS` (the default when absent or bad)."""
    try:
        width = int(requested) if requested not in (None, "") else DEFAULT_WIDTH
    except (TypeError, ValueError):
        width = DEFAULT_WIDTH
    return next((w for w in WIDTHS if w >= width), WIDTHS[-1])


def item_artwork_kind(item: MediaItem) -> str | None:
    """The kind of artwork an item's icon uses (thumb, else poster), or None."""
    md = item.metadata or {}
    artwork = md.get("artwork")
    if isinstance(artwork, Mapping) and any(artwork.get(k) for k in ITEM_KINDS):
        return next(k for k in ITEM_KINDS if artwork.get(k))
    if isinstance(md.get("embedded_art"), int):
        return "poster"
    if isinstance(md.get("thumb"), str) and md["thumb"]:
        return "thumb"
    return None


def embedded_art_argv(ffmpeg: str, location: str, stream_index: int) -> list[str]:
    """The ffmpeg command that writes a file's embedded cover (a stream) to stdout as PNG."""
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", location,
            "-map", f"0:{stream_index}", "-frames:v", "1", "-c:v", "png", "-f", "image2pipe",
            "pipe:1"]


def item_artwork_url(item: MediaItem, base: str, kind: str | None = None) -> str | None:
    """The stable URL of an item's artwork on this server, or None when it has none."""
    kind = kind or item_artwork_kind(item)
    if kind is None:
        return None
    return f"{base}/artwork/items/{quote(item.id, safe='')}/{kind}"


def channel_logo_url(channel: ChannelConfig, base: str) -> str | None:
    """A channel's logo: a URL as given, a path served at ``/artwork/channels/N``."""
    if not channel.logo:
        return None
    if "://" in channel.logo:
        return channel.logo
    return f"{base}/artwork/channels/{channel.number}"


def read_source(path: Path) -> bytes:
    """The bytes of an image file, refusing what is not a regular file or too large."""
    try:
        with path.open("rb") as handle:
            if not os.path.isfile(path) or os.fstat(handle.fileno()).st_size > MAX_SOURCE_BYTES:
                raise ArtworkError(f"{path} is not a file of at most {MAX_SOURCE_BYTES} bytes")
            return handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise ArtworkError(f"cannot read {path}: {exc.strerror or exc}") from None


def looks_like_image(path: Path) -> bool:
    """Whether ``path`` is an image Pillow can read, within the size bounds (header only)."""
    from PIL import Image

    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return 0 < image.width * image.height <= MAX_PIXELS
    except Exception:  # untrusted file: anything that goes wrong means "not usable"
        return False


def resize(data: bytes, width: int) -> tuple[bytes, str]:
    """``data`` (any image Pillow reads) scaled to at most ``width`` wide, as JPEG or PNG."""
    from PIL import Image, ImageOps

    if len(data) > MAX_SOURCE_BYTES:
        raise ArtworkError(f"image of {len(data)} bytes is too large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ArtworkError(f"image of {image.width}x{image.height} pixels is too large")
                image.draft("RGB", (width, width * 3))
                image.load()
                picture = ImageOps.exif_transpose(image)
                picture.thumbnail((width, width * 3))
                out = io.BytesIO()
                alpha = picture.mode in ("RGBA", "LA") or (
                    picture.mode == "P" and "transparency" in picture.info)
                if alpha:
                    picture.convert("RGBA").save(out, "PNG", optimize=True)
                    return out.getvalue(), "image/png"
                picture.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
                return out.getvalue(), "image/jpeg"
    except ArtworkError:
        raise
    except Exception as exc:  # untrusted bytes into a C decoder: any failure is "not an image"
        raise ArtworkError(f"not a readable image ({type(exc).__name__}: {exc})") from None


class ArtworkCache:
    """Resized images on disk under ``folder``, at most ``max_bytes`` in all (LRU).

    The most recently used ones are also kept in memory (at most ``memory_bytes``), so a
    guide's worth of icons is served without touching the disk.
    """

    def __init__(self, folder: Path, max_bytes: int = CACHE_BYTES,
                 memory_bytes: int = MEMORY_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._total: int | None = None
        self._memory: OrderedDict[str, Rendered] = OrderedDict()
        self._memory_total = 0

    def recent(self, key: str) -> Rendered | None:
        """The image for ``key`` if it is in memory (cheap enough for the event loop)."""
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
            return found

    def _remember(self, rendered: Rendered) -> None:
        with self._lock:
            if rendered.etag in self._memory or len(rendered.data) > self.memory_bytes // 8:
                return
            self._memory[rendered.etag] = rendered
            self._memory_total += len(rendered.data)
            while self._memory_total > self.memory_bytes:
                _key, old = self._memory.popitem(last=False)
                self._memory_total -= len(old.data)

    @staticmethod
    def key(identity: str, width: int) -> str:
        """The cache key (and entity tag) of one source image at one width."""
        return hashlib.sha256(f"{identity}\0{width}".encode()).hexdigest()[:40]

    def _path(self, key: str, content_type: str) -> Path:
        return self.folder / f"{key}.{'png' if content_type == 'image/png' else 'jpg'}"

    def get(self, key: str) -> Rendered | None:
        for content_type in ("image/jpeg", "image/png"):
            path = self._path(key, content_type)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            os.utime(path)  # recently used
            rendered = Rendered(data, content_type, key)
            self._remember(rendered)
            return rendered
        return None

    def put(self, key: str, data: bytes, content_type: str) -> Rendered:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(key, content_type)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        with self._lock:
            self._total = (self._total if self._total is not None else self._measure()) + len(data)
            if self._total > self.max_bytes:
                self._evict()
        rendered = Rendered(data, content_type, key)
        self._remember(rendered)
        return rendered

    def _files(self) -> list[tuple[float, int, Path]]:
        out = []
        for entry in os.scandir(self.folder):
            if entry.is_file() and entry.name.endswith((".jpg", ".png")):
                st = entry.stat()
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _measure(self) -> int:
        return sum(size for _t, size, _p in self._files())

    def _evict(self) -> None:
        """Remove the least recently used files until the cache is at 80% of its bound."""
        files = sorted(self._files())
        total = sum(size for _t, size, _p in files)
        for _mtime, size, path in files:
            if total <= self.max_bytes * 0.8:
                break
            try:
                path.unlink()
                total -= size
            except OSError:
                continue
        self._total = total

    def size(self) -> int:
        """Bytes in the cache now."""
        with self._lock:
            return self._measure() if self.folder.is_dir() else 0
