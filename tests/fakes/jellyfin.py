"""A fake Jellyfin server speaking the JSON wire format of the endpoints ExStreamTV calls.

``GET /Library/VirtualFolders`` (a JSON array), ``/Items`` with ``ParentId``,
``Recursive``, ``IncludeItemTypes``, ``StartIndex``/``Limit`` paging, ``MinDateLastSaved``
and ``Ids``, answering ``{"Items": [...], "TotalRecordCount": N, "StartIndex": S}`` with
MediaSources and MediaStreams; files at ``/Videos/{id}/stream?static=true`` with Range;
sidecar subtitle files as external MediaStreams (``IsExternal``, ``Path``) served at
``/Videos/{id}/{mediaSourceId}/Subtitles/{index}/Stream.{format}``.
Auth: ``Authorization: MediaBrowser Token="..."``, ``X-Emby-Token`` or ``api_key``; a
missing or wrong key gets Jellyfin's empty-bodied 401.

Run standalone (for the benchmark): ``python -m tests.fakes.jellyfin --items 50000 FILE``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

from exstreamtv.media.probe import dovi_record
from tests.fakes.base import FakeItem, FakeLibrary, FakeServer, Handler, poster_jpeg
from tests.fakes.plex import synthetic_library

UNAUTHORIZED = (b"", None)


def guid(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def media_streams(item: FakeItem, dolby_vision: bool = True) -> list[dict[str, Any]]:
    """The item's MediaStreams (``dolby_vision``: with Jellyfin's Dv* fields)."""
    _, streams = item.probed()
    out = []
    for s in streams:
        kind = {"video": "Video", "audio": "Audio", "subtitle": "Subtitle"}.get(
            s.get("codec_type", ""))
        if kind is None:
            continue
        disposition = s.get("disposition") or {}
        tags = s.get("tags") or {}
        record: dict[str, Any] = {
            "Type": kind, "Index": s["index"], "Codec": s.get("codec_name"),
            "IsDefault": bool(disposition.get("default")), "IsForced": bool(disposition.get("forced")),
            "IsExternal": False, "IsInterlaced": False, "SupportsExternalStream": False,
        }
        if tags.get("language") and tags["language"] != "und":
            record["Language"] = tags["language"]
        if tags.get("title"):
            record["Title"] = tags["title"]
        if kind == "Video":
            num, _, den = s.get("r_frame_rate", "25/1").partition("/")
            record.update(Width=s.get("width"), Height=s.get("height"),
                          RealFrameRate=float(num) / float(den or 1), PixelFormat=s.get("pix_fmt"),
                          IsInterlaced=s.get("field_order") in ("tt", "bb", "tb", "bt"),
                          ColorTransfer=s.get("color_transfer"),
                          ColorPrimaries=s.get("color_primaries"))
            dovi = dovi_record(s) if dolby_vision else {}
            if dovi:
                record.update(DvProfile=dovi.get("dv_profile"),
                              DvBlSignalCompatibilityId=dovi.get("dv_bl_signal_compatibility_id"))
        if kind == "Audio":
            record.update(Channels=s.get("channels"), ChannelLayout=s.get("channel_layout"),
                          SampleRate=int(s.get("sample_rate", 0)))
        out.append(record)
    first = max((s["index"] for s in streams), default=-1) + 1
    for n, sub in enumerate(item.subtitles):
        # Jellyfin lists sidecar files after the file's own streams, with their server path.
        out.append({"Type": "Subtitle", "Index": first + n, "Codec": sub.codec,
                    "Language": sub.language, "IsExternal": True, "Path": sub.path,
                    "DisplayTitle": f"{sub.language.capitalize()} - {sub.codec.upper()} - External",
                    "IsDefault": False, "IsForced": sub.forced, "IsHearingImpaired": False,
                    "IsTextSubtitleStream": True, "SupportsExternalStream": True,
                    "IsInterlaced": False})
    return out


class FakeJellyfin(FakeServer):
    """Jellyfin's items API over a set of FakeLibrary objects."""

    #: Jellyfin's MediaStream has DvProfile and DvBlSignalCompatibilityId; Emby's has not.
    dolby_vision_fields = True

    def authorised(self, handler: Handler, query: dict[str, str]) -> bool:
        header = handler.headers.get("Authorization", "")
        match = re.search(r'Token="([^"]*)"', header)
        given = (match.group(1) if match else None) or handler.headers.get("X-Emby-Token") \
            or query.get("api_key") or query.get("ApiKey")
        return given == self.secret


    def record(self, library: FakeLibrary, item: FakeItem) -> dict[str, Any]:
        if self.cache is not None:
            key = (item.id, item.updated)
            if key not in self.cache:
                self.cache[key] = self._record(library, item)
            return self.cache[key]
        return self._record(library, item)

    def _record(self, library: FakeLibrary, item: FakeItem) -> dict[str, Any]:
        duration, _ = item.probed()
        ticks = int(duration * 10_000_000)
        item_id = guid(item.id)
        record: dict[str, Any] = {
            "Name": item.title, "ServerId": "fakeserver", "Id": item_id,
            "Type": "Episode" if item.kind == "episode" else "Movie",
            "Overview": item.summary, "ProductionYear": item.year, "OfficialRating": item.rating,
            "CommunityRating": 7.1, "RunTimeTicks": ticks, "Genres": list(item.genres),
            "ProviderIds": {"Imdb": f"tt{int(item.id):07d}"}, "Path": item.path,
            "DateCreated": iso(1_600_000_000), "DateLastSaved": iso(item.updated),
            "ImageTags": {"Primary": guid(item.id + "img")}, "IsFolder": False,
            "MediaType": "Video", "LocationType": "FileSystem", "ParentId": library.key,
            "MediaSources": [{
                "Protocol": "File", "Id": item_id, "Path": item.path, "Type": "Default",
                "Container": "mp4", "Size": 1000, "Name": item.title, "IsRemote": False,
                "RunTimeTicks": ticks, "SupportsDirectStream": True, "SupportsDirectPlay": True,
                "Bitrate": 500000, "MediaStreams": media_streams(item, self.dolby_vision_fields),
            }],
        }
        if item.chapters:
            # The server lists every chapter, the first at 0 (only when Fields asks).
            record["Chapters"] = [
                {"StartPositionTicks": int(t * 10_000_000), "Name": f"Chapter {n + 1}",
                 "ImageDateModified": iso(0)} for n, t in enumerate((0.0, *item.chapters))]
        if item.kind == "episode":
            record.update(SeriesName=item.show, SeriesId=guid(item.show or ""),
                          ParentIndexNumber=item.season, IndexNumber=item.episode,
                          SeasonName=f"Season {item.season}")
        return record

    def handle(self, handler: Handler, path: str, query: dict[str, str]) -> None:
        if not self.authorised(handler, query):
            handler.send_body(*UNAUTHORIZED, 401)
            return
        if path.startswith("/Items/") and path.endswith("/Images/Primary"):
            handler.send_body(poster_jpeg(), "image/jpeg", 200)
            return
        match = re.fullmatch(r"/Videos/(\w+)/(\w+)/Subtitles/(\d+)/Stream\.(\w+)", path)
        if match:
            self.subtitle(handler, match.group(1), int(match.group(3)))
            return
        if path.startswith("/Videos/") and path.endswith("/stream"):
            wanted = path.split("/")[2]
            for library in self.libraries:
                for item in library.items:
                    if guid(item.id) == wanted:
                        handler.send_file(item.file)
                        return
            handler.send_body(b"", None, 404)
            return
        if handler.fail_now(UNAUTHORIZED):
            return
        if path == "/Library/VirtualFolders":
            handler.send_json([
                {"Name": lib.name, "Locations": [f"/data/{lib.name}"],
                 "CollectionType": "movies" if lib.kind == "movie" else "tvshows",
                 "ItemId": lib.key, "RefreshStatus": "Idle", "LibraryOptions": {}}
                for lib in self.libraries])
        elif path == "/Items":
            self.items(handler, query)
        else:
            handler.send_body(b"", None, 404)

    def subtitle(self, handler: Handler, item_id: str, index: int) -> None:
        for library in self.libraries:
            for item in library.items:
                if guid(item.id) != item_id:
                    continue
                first = max((s["index"] for s in item.probed()[1]), default=-1) + 1
                if 0 <= index - first < len(item.subtitles):
                    handler.send_file(item.subtitles[index - first].file,
                                      "text/plain; charset=utf-8")
                    return
        handler.send_body(b"", None, 404)

    def items(self, handler: Handler, query: dict[str, str]) -> None:
        pairs: list[tuple[FakeLibrary, FakeItem]] = []
        if query.get("Ids"):
            ids = set(query["Ids"].split(","))
            pairs = [(lib, i) for lib in self.libraries for i in lib.items if guid(i.id) in ids]
        else:
            library = self.library(query.get("ParentId", ""))
            if library is None:
                handler.send_json({"Items": [], "TotalRecordCount": 0, "StartIndex": 0})
                return
            since = query.get("MinDateLastSaved")
            memo_key = (library.key, query.get("IncludeItemTypes"), since)
            if self.cache is not None and memo_key in self.lists:
                pairs = self.lists[memo_key]
            else:
                types = set((query.get("IncludeItemTypes") or "Movie,Episode").split(","))
                pairs = [(library, i) for i in library.items
                         if ("Episode" if i.kind == "episode" else "Movie") in types]
                if since:
                    pairs = [(lib, i) for lib, i in pairs if iso(i.updated) >= since]
                if self.cache is not None:
                    self.lists[memo_key] = pairs
        start = int(query.get("StartIndex") or 0)
        limit = int(query["Limit"]) if query.get("Limit") else len(pairs)
        page = pairs[start:start + limit]
        fields = set((query.get("Fields") or "").split(","))
        records = [self.record(lib, i) for lib, i in page]
        if "Chapters" not in fields:
            records = [{k: v for k, v in r.items() if k != "Chapters"} for r in records]
        handler.send_json({"Items": records, "TotalRecordCount": len(pairs),
                           "StartIndex": start})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="bench-key")
    args = parser.parse_args()
    library = synthetic_library(args.items, args.file, key=guid("movies"))
    fake = FakeJellyfin(args.token, [library])
    fake.cache = {}
    fake.start(args.port)
    print(fake.url, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
