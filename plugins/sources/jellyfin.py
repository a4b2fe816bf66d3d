"""``type: jellyfin``: the movies and episodes of a Jellyfin server, synced through its HTTP API.

Options: ``url``, ``api_key`` (write ``${JELLYFIN_API_KEY}``; sent in the
``Authorization: MediaBrowser Token="..."`` header and masked in every log line),
``libraries`` (names or ids; default every movie, show and mixed library),
``path_replacements``, ``page_size``, ``timeout``, ``verify_tls``, ``scan_interval_minutes``.

Items play through the static stream URL
``{url}/Videos/{id}/stream?static=true&MediaSourceId=...`` (or the local file a path
replacement maps to), stored without the key: ffmpeg reads it through the local media
relay, which adds the key header (:meth:`fetch_headers`). Streams come from
``MediaSources[].MediaStreams``. Later
scans ask only for what changed (``MinDateLastSaved``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode

import voluptuous as vol

from exstreamtv import (
    COMMON_REMOTE_OPTIONS,
    MediaInfo,
    MediaItem,
    RemoteError,
    RemoteLibrary,
    RemoteSource,
    SourceConfig,
    SourceContext,
    StreamInfo,
    __version__,
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
    vol.Required("api_key"): vol.All(str, vol.Length(min=1)),
    **COMMON_REMOTE_OPTIONS,
}

LIBRARY_KINDS = {"movies": "movies", "tvshows": "shows", "mixed": "mixed", None: "mixed"}
FIELDS = "MediaSources,MediaStreams,Overview,Genres,ProviderIds,DateLastSaved,Path,Chapters"
TICKS = 10_000_000  # Jellyfin durations are in 100 ns ticks
#: The file format asked of ``/Videos/{id}/{source}/Subtitles/{index}/Stream.{format}``
#: for each text subtitle codec the server reports (it converts between them).
SUBTITLE_FORMATS = {"subrip": "srt", "srt": "srt", "ass": "ass", "ssa": "ssa", "webvtt": "vtt",
                    "vtt": "vtt"}


def stream_info(stream: Mapping[str, Any]) -> StreamInfo | None:
    """A Jellyfin MediaStream of the file as a StreamInfo; None for external files (see
    :meth:`JellyfinSource.sidecar_subtitles`) and other kinds."""
    kind = str(stream.get("Type", "")).lower()
    if kind not in ("video", "audio", "subtitle") or stream.get("IsExternal"):
        return None
    if stream.get("Index") is None:
        return None
    fps = stream.get("RealFrameRate") or stream.get("AverageFrameRate")
    return StreamInfo(
        index=int(stream["Index"]),
        type=kind,
        codec=str(stream.get("Codec") or "unknown").lower(),
        language=stream.get("Language"),
        title=stream.get("Title"),
        channels=stream.get("Channels"),
        channel_layout=stream.get("ChannelLayout"),
        sample_rate=stream.get("SampleRate"),
        width=stream.get("Width"),
        height=stream.get("Height"),
        fps=float(fps) if fps else None,
        pix_fmt=stream.get("PixelFormat"),
        default=bool(stream.get("IsDefault", False)),
        forced=bool(stream.get("IsForced", False)),
        hearing_impaired=bool(stream.get("IsHearingImpaired", False)),
        # The server does not say which field comes first; the deinterlacer reads it from
        # the frames, so any interlaced order will do.
        field_order=None if kind != "video" or "IsInterlaced" not in stream
        else "tt" if stream["IsInterlaced"] else "progressive",
        color_transfer=stream.get("ColorTransfer"),
        color_primaries=stream.get("ColorPrimaries"),
        dv_profile=int_or_none(stream.get("DvProfile")),
        dv_compatibility_id=int_or_none(stream.get("DvBlSignalCompatibilityId")),
    )


class JellyfinSource(RemoteSource):
    """Movies and episodes of the selected Jellyfin libraries."""

    product = "Jellyfin"
    #: Path before every API path (Emby serves its API under ``/emby``).
    api_prefix = ""
    #: The metadata key that holds the server's item id.
    id_key = "jellyfin_id"

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        self.api_key = str(config.options["api_key"])
        super().__init__(config, context)

    @property
    def secret(self) -> str:
        return self.api_key

    def headers(self) -> dict[str, str]:
        auth = (f'MediaBrowser Client="ExStreamTV", Device="exstreamtv", DeviceId="exstreamtv", '
                f'Version="{__version__}", Token="{self.api_key}"')
        return {"Authorization": auth, "X-Emby-Token": self.api_key}

    async def libraries(self) -> list[RemoteLibrary]:
        data = await self.get_json(f"{self.api_prefix}/Library/VirtualFolders",
                                   allow_list=True)
        folders = data if isinstance(data, list) else data.get("Items", [])
        found = []
        for folder in folders:
            kind = folder.get("CollectionType")
            if kind in LIBRARY_KINDS and folder.get("ItemId"):
                found.append(RemoteLibrary(str(folder["ItemId"]), str(folder.get("Name")),
                                           LIBRARY_KINDS[kind]))
        return found

    def _params(self, library: RemoteLibrary, start: int, limit: int) -> dict[str, Any]:
        return {"ParentId": library.key, "Recursive": "true",
                "IncludeItemTypes": "Movie,Episode", "Fields": FIELDS,
                "SortBy": "SortName", "StartIndex": start, "Limit": limit}

    async def count(self, library: RemoteLibrary) -> int:
        params = self._params(library, 0, 0)
        params["Fields"] = ""
        data = await self.get_json(f"{self.api_prefix}/Items", params)
        return int(data.get("TotalRecordCount", 0))

    async def pages(self, library: RemoteLibrary, since: Any) -> AsyncIterator[list[MediaItem]]:
        start = 0
        while True:
            params = self._params(library, start, self.page_size)
            if since:
                params["MinDateLastSaved"] = since
            data = await self.get_json(f"{self.api_prefix}/Items", params)
            records = data.get("Items")
            if not isinstance(records, list):
                raise RemoteError(f"{self.where()} answered {self.api_prefix}/Items without an "
                                  "Items list")
            yield [item for item in (self.item(library, r) for r in records) if item]
            start += len(records)
            if not records or start >= int(data.get("TotalRecordCount", start)):
                return

    def _location(self, record: Mapping[str, Any], source: Mapping[str, Any]) -> str:
        local = replace_path(source.get("Path") or record.get("Path"), self.replacements)
        if local:
            return local
        query = urlencode({"static": "true", "MediaSourceId": source.get("Id") or record["Id"]})
        return f"{self.url}{self.api_prefix}/Videos/{record['Id']}/stream?{query}"

    def item(self, library: RemoteLibrary, record: Mapping[str, Any]) -> MediaItem | None:
        """One Jellyfin movie or episode as a MediaItem (None without a media source)."""
        sources = record.get("MediaSources") or []
        if not sources or not record.get("Id"):
            return None
        source = sources[0]
        ticks = source.get("RunTimeTicks") or record.get("RunTimeTicks") or 0
        duration = float(ticks) / TICKS
        if duration <= 0:
            return None
        location = self._location(record, source)
        records = list(source.get("MediaStreams") or [])
        embedded = [s for s in (stream_info(x) for x in records) if s]
        first = max((s.index for s in embedded), default=-1) + 1
        streams = tuple(embedded + self.sidecar_subtitles(record, source, records, first))
        info = MediaInfo(path=location, duration=duration,
                         format_name=str(source.get("Container") or ""),
                         bit_rate=source.get("Bitrate"), streams=streams) if streams else None
        is_episode = record.get("Type") == "Episode"
        genres = genres_of(record.get("Genres"))
        image = record.get("ImageTags", {}).get("Primary")
        metadata: dict[str, Any] = {
            "title": record.get("Name"),
            "summary": record.get("Overview"),
            "year": record.get("ProductionYear"),
            "genres": genres,
            "rating": record.get("OfficialRating"),
            "score": record.get("CommunityRating"),
            "thumb": (f"{self.url}{self.api_prefix}/Items/{record['Id']}/Images/Primary?tag={image}"
                      if image else None),
            "library": library.name,
            self.id_key: record["Id"],
            "provider_ids": dict(record.get("ProviderIds") or {}) or None,
            "updated_at": record.get("DateLastSaved") or record.get("DateCreated"),
            "kind": "episode" if is_episode else "movie",
            "chapters": list(chapter_marks(
                (c.get("StartPositionTicks", 0) / TICKS for c in record.get("Chapters") or []
                 if isinstance(c, dict) and isinstance(c.get("StartPositionTicks"), int | float)),
                duration)) or None,
        }
        collections = [self.id, collection_name(self.id, "library", library.name)]
        if is_episode:
            metadata.update(show=record.get("SeriesName"), season=record.get("ParentIndexNumber"),
                            episode=record.get("IndexNumber"))
            if record.get("SeriesName"):
                collections.append(collection_name(self.id, "show", record["SeriesName"]))
        collections += [collection_name(self.id, "genre", g) for g in genres]
        return MediaItem(
            id=f"{self.id}-{record['Id']}", source_id=self.id,
            title=str(record.get("Name") or record["Id"]),
            location=location, duration=duration, info=info,
            metadata={k: v for k, v in metadata.items() if v is not None},
            collections=tuple(dict.fromkeys(collections)),
        )

    def sidecar_subtitles(self, record: Mapping[str, Any], source: Mapping[str, Any],
                          streams: list[Mapping[str, Any]], first_index: int) -> list[StreamInfo]:
        """External subtitle MediaStreams (``IsExternal``) as subtitle streams numbered from
        ``first_index``: the local file when a path replacement maps the server's ``Path``,
        else the server's subtitle URL (read through the relay, which adds the key; never
        ``DeliveryUrl``, which may carry the key in its query). Image formats are kept only
        as local files: the server serves text subtitles."""
        found: list[StreamInfo] = []
        for stream in streams:
            if str(stream.get("Type", "")).lower() != "subtitle" or not stream.get("IsExternal") \
                    or stream.get("Index") is None:
                continue
            codec = str(stream.get("Codec") or "unknown").lower()
            location = replace_path(stream.get("Path"), self.replacements)
            fmt = SUBTITLE_FORMATS.get(codec)
            if location is None and fmt is not None:
                location = (f"{self.url}{self.api_prefix}/Videos/{record['Id']}/"
                            f"{source.get('Id') or record['Id']}/Subtitles/"
                            f"{int(stream['Index'])}/Stream.{fmt}")
            if location is None:
                continue
            found.append(StreamInfo(
                index=first_index + len(found), type="subtitle", codec=codec,
                language=stream.get("Language"),
                title=stream.get("Title") or stream.get("DisplayTitle"),
                default=bool(stream.get("IsDefault", False)),
                forced=bool(stream.get("IsForced", False)),
                hearing_impaired=bool(stream.get("IsHearingImpaired", False)),
                external_path=location))
        return found

    async def fetch_location(self, item: MediaItem) -> str:
        item_id = item.metadata.get(self.id_key)
        data = await self.get_json(f"{self.api_prefix}/Items",
                                   {"Ids": item_id, "Fields": "MediaSources,Path"})
        records = data.get("Items") or []
        if not records or not records[0].get("MediaSources"):
            raise RemoteError(f"{self.where()} no longer has '{item.title}' (item {item_id})", 404)
        return self._location(records[0], records[0]["MediaSources"][0])


def factory(config: SourceConfig, context: SourceContext) -> JellyfinSource:
    return JellyfinSource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("jellyfin", factory, SCHEMA, "movies and episodes of a Jellyfin server")
