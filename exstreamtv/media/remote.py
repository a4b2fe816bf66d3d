"""What the media-server sources (Plex, Jellyfin) share: HTTP with clear failure reasons,
paged incremental sync that keeps known items, path replacements, and collection names.

A :class:`RemoteSource` subclass says how to list libraries, how to page through a
library's items (optionally only those changed since a watermark), how to count them and
how to turn one server record into a :class:`MediaItem`. The base class does the rest:

* every failure (server down, timeout, 401/403, 5xx, a page that is not JSON) raises a
  :class:`RemoteError` with a reason the user can act on, so the library keeps its items;
* the first scan of a library is full; later scans fetch only what changed since the
  newest change seen, then compare the server's item count with what is known and fall
  back to a full pass of that library when items were removed;
* pages are converted one at a time, so memory holds one page of JSON plus the items;
* a subclass may add the server's own groupings (:meth:`RemoteSource.groupings`: Plex
  collections and playlists) as collections, fetched again at every scan because they
  change without their items changing; a playlist keeps its order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
import voluptuous as vol

from exstreamtv.errors import MediaError
from exstreamtv.events import HealthEvent
from exstreamtv.media.models import MediaItem
from exstreamtv.media.source import MediaSource
from exstreamtv.secrets import mask, register_secret

log = logging.getLogger(__name__)

#: Options every media-server source accepts (besides its own url and token).
COMMON_OPTIONS: dict[Any, Any] = {
    vol.Optional("libraries", default=[]): [vol.Coerce(str)],
    vol.Optional("path_replacements", default=[]): [
        vol.Schema({vol.Required("from"): str, vol.Required("to"): str})
    ],
    vol.Optional("page_size", default=500): vol.All(int, vol.Range(min=1, max=10000)),
    vol.Optional("timeout", default=30.0): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=600)),
    vol.Optional("verify_tls", default=True): bool,
    vol.Optional("scan_interval_minutes", default=60): vol.All(vol.Coerce(float),
                                                               vol.Range(min=0, max=10080)),
}


class RemoteError(MediaError):
    """A media server could not be read; the message says why and what to check."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteLibrary:
    """One library (Plex section, Jellyfin view) of a media server."""

    key: str
    name: str
    kind: str  # movies | shows | mixed


def collection_name(source_id: str, kind: str, name: str) -> str:
    """The collection an item belongs to: ``<source>:<kind>:<name>``.

    ``kind`` is ``library``, ``show``, ``genre``, ``collection`` or ``playlist``; the whole
    source is also the collection named by its id. Schedules reference these names with
    ``collection:``.
    """
    return f"{source_id}:{kind}:{name}"


@dataclass(frozen=True)
class Grouping:
    """An item's place in one of the server's collections or playlists."""

    collection: str  # a :func:`collection_name`
    position: int | None = None  # a playlist's order; None for an unordered collection


def grouped(item: MediaItem, groupings: Iterable[Grouping]) -> MediaItem:
    """``item`` with the groupings as collections (and playlist positions in its
    ``positions`` metadata, which :meth:`Library.collection` orders by)."""
    groupings = list(groupings)
    if not groupings:
        return item
    positions = {g.collection: g.position for g in groupings if g.position is not None}
    metadata = {**item.metadata, "positions": positions} if positions else item.metadata
    return replace(item, collections=tuple(dict.fromkeys(
        [*item.collections, *(g.collection for g in groupings)])), metadata=metadata)


def replace_path(path: str | None, replacements: list[Mapping[str, str]]) -> str | None:
    """The local file for a server-side ``path`` when a replacement maps it and it exists."""
    if not path:
        return None
    for rule in replacements:
        prefix = rule["from"]
        if path == prefix or path.startswith(prefix.rstrip("/\\") + "/") or \
                path.startswith(prefix.rstrip("/\\") + "\\"):
            local = rule["to"].rstrip("/\\") + path[len(prefix.rstrip("/\\")):].replace("\\", "/")
            if os.path.isfile(local):
                return local
    return None


class RemoteSource(MediaSource):
    """Base class of sources that sync from a media server's HTTP API."""

    #: The product's name, used in messages ("Plex", "Jellyfin").
    product = "media server"

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        options = config.options
        self.url = str(options["url"]).rstrip("/")
        self.page_size = int(options.get("page_size", 500))
        self.timeout = float(options.get("timeout", 30.0))
        self.verify_tls = bool(options.get("verify_tls", True))
        self.wanted = [str(x) for x in options.get("libraries", []) or []]
        self.replacements: list[Mapping[str, str]] = list(options.get("path_replacements", []))
        self._client: httpx.AsyncClient | None = None
        self._items: dict[str, MediaItem] = {}
        self._by_library: dict[str, set[str]] = {}
        self._watermark: dict[str, Any] = {}
        self._groupings: dict[str, list[Grouping]] = {}
        self.last_sync: dict[str, Any] = {"mode": None, "fetched": 0, "requests": 0}
        register_secret(self.secret)

    # -- what a subclass provides -------------------------------------------------

    @property
    def secret(self) -> str:
        """The token or API key (masked in logs and error messages)."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """Headers sent with every API request (the token goes here, never in API URLs)."""
        raise NotImplementedError

    def fetch_headers(self, location: str) -> Mapping[str, str] | None:
        """The credential headers for a media URL on this server (None for any other URL).

        Stored locations carry no credentials; the media relay adds these when ffmpeg reads.
        """
        if location == self.url or location.startswith(self.url + "/"):
            return self.headers()
        return None

    async def libraries(self) -> list[RemoteLibrary]:
        """Every video library of the server."""
        raise NotImplementedError

    def pages(self, library: RemoteLibrary, since: Any) -> AsyncIterator[list[MediaItem]]:
        """The library's items page by page; only those changed since ``since`` if set."""
        raise NotImplementedError

    async def count(self, library: RemoteLibrary) -> int:
        """How many items the library has now (one cheap request)."""
        raise NotImplementedError

    async def groupings(self, libraries: list[RemoteLibrary]) -> dict[str, list[Grouping]]:
        """The server's own collections and playlists: item id -> the groupings it is in.

        Called after every sync; the default has none. An error keeps the last groupings.
        """
        return {}

    def watermark(self, item: MediaItem) -> Any:
        """The item's change marker (compared with ``>``; the newest seen is kept)."""
        return item.metadata.get("updated_at")

    # -- HTTP ----------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url, timeout=self.timeout, verify=self.verify_tls,
                follow_redirects=True, headers={"Accept": "application/json"},
            )
        return self._client

    def where(self) -> str:
        return f"{self.product} at {mask(self.url)}"

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                       allow_list: bool = False) -> Any:
        """GET ``path`` as JSON; a :class:`RemoteError` with a clear reason otherwise."""
        self.last_sync["requests"] = int(self.last_sync.get("requests", 0)) + 1
        try:
            response = await self.client.get(path, params=params, headers=self.headers())
        except httpx.TimeoutException:
            raise RemoteError(f"{self.where()} did not answer within {self.timeout:g}s "
                              f"({path}); is it overloaded? raise sources[{self.id}].timeout") from None
        except httpx.HTTPError as exc:
            reason = mask(str(exc) or type(exc).__name__)
            raise RemoteError(f"cannot reach {self.where()}: {reason}; is the server running "
                              f"and sources[{self.id}].url right?") from None
        status = response.status_code
        if status in (401, 403):
            raise RemoteError(
                f"{self.where()} rejected the credentials (HTTP {status}) for {path}; check "
                f"sources[{self.id}] token/api_key (set it through ${{ENV}})", status)
        if status >= 400:
            raise RemoteError(f"{self.where()} answered HTTP {status} for {path}", status)
        kind = response.headers.get("content-type", "")
        try:
            data = response.json()
        except ValueError:
            raise RemoteError(
                f"{self.where()} answered {path} with something that is not JSON "
                f"({kind or 'no content type'}); does sources[{self.id}].url point at "
                f"{self.product}?") from None
        if not isinstance(data, dict) and not (allow_list and isinstance(data, list)):
            raise RemoteError(f"{self.where()} answered {path} with unexpected JSON "
                              f"({type(data).__name__}, expected an object)")
        return data

    # -- scanning ------------------------------------------------------------------

    def selected(self, libraries: list[RemoteLibrary]) -> list[RemoteLibrary]:
        """The libraries named in ``libraries`` (by name or key), or all of them."""
        if not self.wanted:
            return libraries
        chosen = [lib for lib in libraries if lib.key in self.wanted or lib.name in self.wanted]
        missing = set(self.wanted) - {lib.key for lib in chosen} - {lib.name for lib in chosen}
        if missing:
            log.warning("Source %s: %s has no library %s (it has: %s)", self.id, self.product,
                        ", ".join(sorted(missing)), ", ".join(lib.name for lib in libraries))
        return chosen

    async def scan(self) -> list[MediaItem]:
        """Sync every selected library; incremental after the first full pass."""
        self.last_sync = {"mode": "incremental", "fetched": 0, "requests": 0}
        libraries = self.selected(await self.libraries())
        if not libraries:
            named = f" named {', '.join(self.wanted)}" if self.wanted else ""
            raise RemoteError(f"{self.where()} lists no movie or show libraries{named}; check "
                              f"sources[{self.id}].libraries and the server's libraries")
        full_libraries = 0
        for library in libraries:
            since = self._watermark.get(library.key)
            if since is not None and await self._sync_changes(library, since):
                continue
            await self._sync_full(library)
            full_libraries += 1
        current = {lib.key for lib in libraries}
        for key in set(self._by_library) - current:
            for item_id in self._by_library.pop(key):
                self._items.pop(item_id, None)
            self._watermark.pop(key, None)
        if full_libraries:
            self.last_sync["mode"] = "full" if full_libraries == len(libraries) else "mixed"
        try:
            self._groupings = await self.groupings(libraries)
        except MediaError as exc:
            log.warning("Source %s: could not read the collections and playlists of %s (%s); "
                        "keeping the ones read before", self.id, self.where(), exc)
        return [grouped(item, self._groupings.get(item.id, ())) for item in self._items.values()]

    def _note(self, library: RemoteLibrary, item: MediaItem) -> None:
        mark = self.watermark(item)
        best = self._watermark.get(library.key)
        if mark is not None and (best is None or mark > best):
            self._watermark[library.key] = mark

    async def _sync_full(self, library: RemoteLibrary) -> None:
        seen: set[str] = set()
        fresh: dict[str, MediaItem] = {}
        self._watermark.pop(library.key, None)
        async for page in self.pages(library, None):
            for item in page:
                fresh[item.id] = item
                seen.add(item.id)
                self._note(library, item)
            self.last_sync["fetched"] += len(page)
        for item_id in self._by_library.get(library.key, set()) - seen:
            self._items.pop(item_id, None)
        self._items.update(fresh)
        self._by_library[library.key] = seen
        if library.key not in self._watermark:
            self._watermark[library.key] = 0

    async def _sync_changes(self, library: RemoteLibrary, since: Any) -> bool:
        """Apply what changed; False when a full pass is needed (items were removed)."""
        known = self._by_library.setdefault(library.key, set())
        changed: dict[str, MediaItem] = {}
        async for page in self.pages(library, since):
            for item in page:
                changed[item.id] = item
            self.last_sync["fetched"] += len(page)
        total = await self.count(library)
        if len(known | changed.keys()) != total:
            log.info("Source %s: library %s has %d items, %d known; doing a full sync",
                     self.id, library.name, total, len(known | changed.keys()))
            return False
        for item in changed.values():
            self._note(library, item)
        self._items.update(changed)
        known.update(changed)
        return True

    async def refresh_location(self, item: MediaItem) -> str:
        """A fresh location for ``item`` (an expired or rejected URL); re-fetched from the server."""
        try:
            location = await self.fetch_location(item)
        except RemoteError as exc:
            self.context.bus.publish(HealthEvent(component=f"source:{self.id}", status="error",
                                                 message=str(exc)))
            raise
        if item.id in self._items and location != item.location:
            self._items[item.id] = replace(item, location=location)
        self.context.bus.publish(HealthEvent(
            component=f"source:{self.id}", status="ok",
            message=f"refreshed the location of '{item.title}'"))
        return location

    async def fetch_location(self, item: MediaItem) -> str:
        """The item's playable location as the server gives it now."""
        raise NotImplementedError

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def genres_of(values: Any) -> list[str]:
    """Genre names from a list of strings or ``{"tag"|"Name": ...}`` objects."""
    out: list[str] = []
    for value in values or []:
        name = value.get("tag") or value.get("Name") if isinstance(value, Mapping) else value
        if name:
            out.append(str(name))
    return out
