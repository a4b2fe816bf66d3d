"""``type: plex``: the movies and episodes of a Plex Media Server, synced through its HTTP API.

Options: ``url``, ``token`` (write ``${PLEX_TOKEN}``; it is sent as the ``X-Plex-Token``
header and masked in every log line), ``libraries`` (section names or ids; default every
movie and show library), ``path_replacements`` (``{from, to}``: read the file directly when
the server's path exists locally), ``page_size``, ``timeout``, ``verify_tls``,
``scan_interval_minutes``.

Items play through the part's direct URL ``{url}{part.key}``, stored without the token:
ffmpeg reads it through the local media relay, which adds the ``X-Plex-Token`` header
(:meth:`fetch_headers`). Streams come from Plex's Media/Part/Stream records, so nothing
is probed over HTTP.
Later scans ask only for what changed (``updatedAt>=`` the newest change seen).
Chapters come with the streams (``includeChapters=1``), for mid-roll breaks. The
server's collections (``<id>:collection:<title>``; a collection of shows holds their
episodes) and video playlists (``<id>:playlist:<title>``, in the playlist's order) are
read again at every scan; a collection or playlist whose ``updatedAt`` did not change is
not fetched again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import voluptuous as vol

from exstreamtv import (
    COMMON_REMOTE_OPTIONS,
    Grouping,
    MediaInfo,
    MediaItem,
    RemoteError,
    RemoteLibrary,
    RemoteSource,
    SourceConfig,
    SourceContext,
    StreamInfo,
    chapter_marks,
    collection_name,
    genres_of,
    hookimpl,
    int_or_none,
    replace_path,
)

log = logging.getLogger(__name__)

SCHEMA = {
    vol.Required("url"): vol.All(str, vol.Match(r"^https?://", msg="must start with http:// or https://")),
    vol.Required("token"): vol.All(str, vol.Length(min=1)),
    **COMMON_REMOTE_OPTIONS,
}

STREAM_TYPES = {1: "video", 2: "audio", 3: "subtitle"}
#: Plex library types we sync, and the item type listed for each (1 movie, 4 episode).
ITEM_TYPES = {"movie": 1, "show": 4}
#: Plex's ``scanType`` as a field order: Plex does not say which field comes first, and
#: the deinterlacer reads that from the frames, so any interlaced order will do.
FIELD_ORDER = {"interlaced": "tt", "progressive": "progressive"}


def stream_info(stream: Mapping[str, Any]) -> StreamInfo | None:
    """A Plex Stream record of the file as a StreamInfo; None for sidecar subtitles (no index)
    and other kinds."""
    kind = STREAM_TYPES.get(int(stream.get("streamType", 0)))
    if kind is None or stream.get("index") is None:
        return None
    fps = stream.get("frameRate")
    return StreamInfo(
        index=int(stream["index"]),
        type=kind,
        codec=str(stream.get("codec") or "unknown"),
        language=stream.get("languageCode") or stream.get("languageTag"),
        title=stream.get("title"),
        channels=stream.get("channels"),
        channel_layout=stream.get("audioChannelLayout"),
        sample_rate=stream.get("samplingRate"),
        width=stream.get("width"),
        height=stream.get("height"),
        fps=float(fps) if fps else None,
        default=bool(stream.get("default", False)),
        forced=bool(stream.get("forced", False)),
        hearing_impaired=bool(stream.get("hearingImpaired", False)),
        field_order=FIELD_ORDER.get(str(stream.get("scanType", "")).lower()),
        color_transfer=stream.get("colorTrc"),
        color_primaries=stream.get("colorPrimaries"),
        dv_profile=int_or_none(stream.get("DOVIProfile")),
        dv_compatibility_id=int_or_none(stream.get("DOVIBLCompatID")),
    )


def sidecar_subtitles(records: list[Mapping[str, Any]], url: str,
                      first_index: int) -> list[StreamInfo]:
    """Plex's external subtitle Streams (``streamType`` 3 with a ``key`` and no ``index``) as
    subtitle streams read from ``{url}{key}`` (through the relay, which adds the token),
    numbered from ``first_index`` on."""
    found: list[StreamInfo] = []
    for stream in records:
        key = stream.get("key")
        if (int(stream.get("streamType", 0)) != 3 or stream.get("index") is not None
                or not isinstance(key, str) or not key.startswith("/")):
            continue
        codec = str(stream.get("codec") or stream.get("format") or "unknown").lower()
        found.append(StreamInfo(
            index=first_index + len(found), type="subtitle", codec=codec,
            language=stream.get("languageCode") or stream.get("languageTag"),
            title=stream.get("title") or stream.get("displayTitle"),
            default=bool(stream.get("default", False)), forced=bool(stream.get("forced", False)),
            hearing_impaired=bool(stream.get("hearingImpaired", False)),
            external_path=f"{url}{key}"))
    return found


class PlexSource(RemoteSource):
    """Movies and episodes of the selected Plex libraries."""

    product = "Plex"

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.token = str(config.options["token"])
        super().__init__(config, context)
        self._shows: dict[str, dict[str, Any]] = {}
        #: item id -> the Plex keys it is known by: its own, its season's and its show's.
        self._keys: dict[str, tuple[str, ...]] = {}
        #: A collection's or playlist's members by its key, with the updatedAt read.
        self._members: dict[str, tuple[Any, list[str]]] = {}

    @property
    def secret(self) -> str:
        return self.token

    def headers(self) -> dict[str, str]:
        return {"X-Plex-Token": self.token, "X-Plex-Client-Identifier": "exstreamtv",
                "X-Plex-Product": "ExStreamTV"}

    async def libraries(self) -> list[RemoteLibrary]:
        data = await self.get_json("/library/sections")
        found = []
        for d in data.get("MediaContainer", {}).get("Directory", []) or []:
            if d.get("type") in ITEM_TYPES:
                kind = "movies" if d["type"] == "movie" else "shows"
                found.append(RemoteLibrary(str(d["key"]), str(d.get("title") or d["key"]), kind))
        if not found and "MediaContainer" not in data:
            raise RemoteError(f"{self.where()} answered /library/sections without a "
                              f"MediaContainer; is sources[{self.id}].url a Plex server?")
        return found

    def _params(self, library: RemoteLibrary, start: int, size: int) -> dict[str, Any]:
        return {"type": ITEM_TYPES["movie" if library.kind == "movies" else "show"],
                "X-Plex-Container-Start": start, "X-Plex-Container-Size": size}

    async def count(self, library: RemoteLibrary) -> int:
        data = await self.get_json(f"/library/sections/{library.key}/all",
                                   self._params(library, 0, 0))
        container = data.get("MediaContainer", {})
        return int(container.get("totalSize", container.get("size", 0)))

    async def _load_shows(self, library: RemoteLibrary) -> None:
        """Show-level metadata (genres, artwork) that episodes inherit."""
        async for shows in self._records(f"/library/sections/{library.key}/all", {"type": 2}):
            for show in shows:
                self._shows[str(show.get("ratingKey"))] = {
                    "genres": genres_of(show.get("Genre")), "thumb": show.get("thumb"),
                    "summary": show.get("summary")}

    async def _records(self, path: str,
                       params: Mapping[str, Any]) -> AsyncIterator[list[Mapping[str, Any]]]:
        """The ``Metadata`` records of a listing, a page of ``page_size`` at a time."""
        start = 0
        while True:
            data = await self.get_json(path, {**params, "X-Plex-Container-Start": start,
                                              "X-Plex-Container-Size": self.page_size})
            page = _metadata(data)
            yield page
            start += len(page)
            total = int((data.get("MediaContainer") or {}).get("totalSize", start))
            if not page or start >= total:
                return

    async def pages(self, library: RemoteLibrary, since: Any) -> AsyncIterator[list[MediaItem]]:
        if library.kind == "shows":
            await self._load_shows(library)
        start = 0
        while True:
            params = self._params(library, start, self.page_size)
            if since is not None:
                params["updatedAt>"] = since  # Plex filter syntax: updatedAt>=N
            data = await self.get_json(f"/library/sections/{library.key}/all", params)
            container = data.get("MediaContainer")
            if not isinstance(container, Mapping):
                raise RemoteError(f"{self.where()} answered a library page without a "
                                  "MediaContainer")
            records = list(container.get("Metadata", []) or [])
            await self._add_streams(records)
            yield [item for item in (self.item(library, r) for r in records) if item]
            start += len(records)
            total = int(container.get("totalSize", start))
            if not records or start >= total:
                return

    async def _add_streams(self, records: list[dict[str, Any]]) -> None:
        """Listings carry Media/Part without Stream; fetch details in one batched call."""
        missing = [str(r["ratingKey"]) for r in records if r.get("ratingKey") is not None
                   and not _first_part(r).get("Stream")]
        if not missing:
            return
        data = await self.get_json(f"/library/metadata/{','.join(missing)}",
                                   {"includeChapters": 1})
        details = {str(m.get("ratingKey")): m
                   for m in data.get("MediaContainer", {}).get("Metadata", []) or []}
        for record in records:
            detail = details.get(str(record.get("ratingKey")))
            if detail and detail.get("Media"):
                record["Media"] = detail["Media"]
            if detail and detail.get("Chapter"):
                record["Chapter"] = detail["Chapter"]

    def _location(self, part: Mapping[str, Any]) -> str:
        local = replace_path(part.get("file"), self.replacements)
        return local or f"{self.url}{part['key']}"

    def item(self, library: RemoteLibrary, record: Mapping[str, Any]) -> MediaItem | None:
        """One Plex movie or episode as a MediaItem (None when it has no playable part)."""
        media = (record.get("Media") or [{}])[0]
        part = _first_part(record)
        if not part.get("key"):
            return None
        duration = float(part.get("duration") or media.get("duration")
                         or record.get("duration") or 0) / 1000.0
        if duration <= 0:
            return None
        location = self._location(part)
        records = list(part.get("Stream", []) or [])
        embedded = [s for s in (stream_info(x) for x in records) if s]
        first = max((s.index for s in embedded), default=-1) + 1
        streams = tuple(embedded + sidecar_subtitles(records, self.url, first))
        info = MediaInfo(path=location, duration=duration,
                         format_name=str(part.get("container") or media.get("container") or ""),
                         bit_rate=int(media["bitrate"]) * 1000 if media.get("bitrate") else None,
                         streams=streams) if streams else None
        is_episode = record.get("type") == "episode"
        show = self._shows.get(str(record.get("grandparentRatingKey")), {})
        genres = genres_of(record.get("Genre")) or list(show.get("genres", []))
        thumb = record.get("thumb") or record.get("grandparentThumb") or show.get("thumb")
        metadata: dict[str, Any] = {
            "title": record.get("title"),
            "summary": record.get("summary") or (show.get("summary") if is_episode else None),
            "year": record.get("year"),
            "genres": genres,
            "rating": record.get("contentRating"),
            "score": record.get("audienceRating") or record.get("rating"),
            "thumb": f"{self.url}{thumb}" if thumb else None,
            "library": library.name,
            "plex_key": str(record.get("ratingKey")),
            "updated_at": int(record.get("updatedAt") or record.get("addedAt") or 0),
            "kind": "episode" if is_episode else "movie",
            "chapters": list(chapter_marks(
                (c.get("startTimeOffset", 0) / 1000 for c in record.get("Chapter") or []
                 if isinstance(c, Mapping) and isinstance(c.get("startTimeOffset"), int | float)),
                duration)) or None,
        }
        item_id = f"{self.id}-{record.get('ratingKey')}"
        self._keys[item_id] = tuple(str(record[k]) for k in (
            "ratingKey", "parentRatingKey", "grandparentRatingKey") if record.get(k) is not None)
        collections = [self.id, collection_name(self.id, "library", library.name)]
        if is_episode:
            metadata.update(show=record.get("grandparentTitle"),
                            season=record.get("parentIndex"), episode=record.get("index"))
            if record.get("grandparentTitle"):
                collections.append(collection_name(self.id, "show", record["grandparentTitle"]))
        collections += [collection_name(self.id, "genre", g) for g in genres]
        return MediaItem(
            id=item_id, source_id=self.id,
            title=str(record.get("title") or part.get("file") or record.get("ratingKey")),
            location=location, duration=duration, info=info,
            metadata={k: v for k, v in metadata.items() if v is not None},
            collections=tuple(dict.fromkeys(collections)),
        )

    async def groupings(self, libraries: list[RemoteLibrary]) -> dict[str, list[Grouping]]:
        """The collections of the selected libraries and the server's video playlists."""
        lists: list[tuple[Mapping[str, Any], str]] = []
        for library in libraries:
            data = await self.get_json(f"/library/sections/{library.key}/collections")
            lists += [(c, "collection") for c in _metadata(data)]
        data = await self.get_json("/playlists", {"playlistType": "video"})
        lists += [(p, "playlist") for p in _metadata(data)]
        by_key: dict[str, list[Grouping]] = {}
        seen: set[str] = set()
        for record, kind in lists:
            key, title = record.get("ratingKey"), record.get("title")
            if key is None or not title:
                continue
            seen.add(str(key))
            members = await self._members_of(str(key), kind, record.get("updatedAt"))
            name = collection_name(self.id, kind, str(title))
            for position, member in enumerate(members):
                by_key.setdefault(member, []).append(
                    Grouping(name, position if kind == "playlist" else None))
        for gone in set(self._members) - seen:
            del self._members[gone]
        out: dict[str, list[Grouping]] = {}
        for gone in set(self._keys) - set(self._items):
            del self._keys[gone]
        for item_id, keys in self._keys.items():
            found = [g for k in keys for g in by_key.get(k, ())]
            if found:
                out[item_id] = list({g.collection: g for g in reversed(found)}.values())
        return out

    async def _members_of(self, key: str, kind: str, updated: Any) -> list[str]:
        """The rating keys in a collection (its movies, shows, seasons or episodes) or a
        playlist (in order); fetched again only when its ``updatedAt`` changed."""
        known = self._members.get(key)
        if known is not None and updated is not None and known[0] == updated:
            return known[1]
        path = f"/library/collections/{key}/children" if kind == "collection" \
            else f"/playlists/{key}/items"
        members = [str(m["ratingKey"]) async for page in self._records(path, {})
                   for m in page if m.get("ratingKey") is not None]
        self._members[key] = (updated, members)
        return members

    async def fetch_location(self, item: MediaItem) -> str:
        key = item.metadata.get("plex_key")
        data = await self.get_json(f"/library/metadata/{key}")
        records = data.get("MediaContainer", {}).get("Metadata", []) or []
        part = _first_part(records[0]) if records else {}
        if not part.get("key"):
            raise RemoteError(f"{self.where()} no longer has a playable part for "
                              f"'{item.title}' (item {key})", 404)
        return self._location(part)


def _metadata(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``Metadata`` records of a Plex answer (none when it has none)."""
    records = (data.get("MediaContainer") or {}).get("Metadata") or []
    return [r for r in records if isinstance(r, Mapping)]


def _first_part(record: Mapping[str, Any]) -> Mapping[str, Any]:
    media = record.get("Media") or [{}]
    parts = media[0].get("Part") or [{}]
    first: Mapping[str, Any] = parts[0]
    return first


def factory(config: SourceConfig, context: SourceContext) -> PlexSource:
    return PlexSource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("plex", factory, SCHEMA, "movies and episodes of a Plex Media Server")
