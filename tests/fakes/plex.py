"""A fake Plex Media Server speaking the JSON wire format of the endpoints ExStreamTV calls.

``GET /library/sections`` (Directory list), ``/library/sections/{key}/all`` with
``type`` (1 movie, 2 show, 4 episode), ``X-Plex-Container-Start/Size`` paging (query or
header) and the ``updatedAt>=`` filter; listings carry Media/Part without Stream, like
Plex; ``/library/metadata/{k1,k2,...}`` carries the Streams; part files at
``/library/parts/{id}/{ts}/file.mp4`` with Range; sidecar subtitle files listed as
external Streams (``streamType`` 3, a ``key``, no ``index``) at ``/library/streams/{id}``. Token: ``X-Plex-Token`` header or query;
a missing or wrong one gets Plex's HTML 401 page.

Run standalone (for the benchmark): ``python -m tests.fakes.plex --items 50000 --port N FILE``.
"""

from __future__ import annotations

import argparse
import time
import zlib
from dataclasses import dataclass
from typing import Any

from exstreamtv.media.probe import dovi_record
from tests.fakes.base import (
    FakeItem,
    FakeLibrary,
    FakeServer,
    FakeSubtitle,
    Handler,
    poster_jpeg,
)

UNAUTHORIZED = (b"<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1>"
                b"</body></html>", "text/html")
LANGUAGES = {"eng": "English", "fre": "French", "ger": "German", "spa": "Spanish"}


def show_key(name: str) -> str:
    return str(900_000_000 + zlib.crc32(name.encode()) % 99_999_999)


def plex_streams(item: FakeItem) -> list[dict[str, Any]]:
    _, streams = item.probed()
    out = []
    for s in streams:
        kind = {"video": 1, "audio": 2, "subtitle": 3}.get(s.get("codec_type", ""))
        if kind is None:
            continue
        lang = (s.get("tags") or {}).get("language")
        record: dict[str, Any] = {"id": int(item.id) * 10 + s["index"], "streamType": kind,
                                  "index": s["index"], "codec": s.get("codec_name"),
                                  "displayTitle": s.get("codec_name", "").upper()}
        if lang and lang != "und":
            record.update(languageCode=lang, language=LANGUAGES.get(lang, lang))
        if kind == 1:
            rate = s.get("r_frame_rate", "25/1").split("/")
            record.update(width=s.get("width"), height=s.get("height"),
                          frameRate=round(float(rate[0]) / float(rate[1] or 1), 3),
                          scanType="interlaced" if s.get("field_order") in ("tt", "bb", "tb", "bt")
                          else "progressive")
            for key, field in (("colorTrc", "color_transfer"), ("colorPrimaries", "color_primaries")):
                if s.get(field):
                    record[key] = s[field]
            dovi = dovi_record(s)
            if dovi:
                record.update(DOVIPresent=True, DOVIProfile=dovi.get("dv_profile"),
                              DOVIBLCompatID=dovi.get("dv_bl_signal_compatibility_id"))
        if kind == 2:
            record.update(channels=s.get("channels"), audioChannelLayout=s.get("channel_layout"),
                          samplingRate=int(s.get("sample_rate", 0)))
        disposition = s.get("disposition") or {}
        if disposition.get("default"):
            record["default"] = True
        if disposition.get("forced"):
            record["forced"] = True
        title = (s.get("tags") or {}).get("title")
        if title:
            record["title"] = title
        out.append(record)
    for n, sub in enumerate(item.subtitles):
        # Plex lists a sidecar file as a subtitle Stream with a key and no index.
        stream_id = int(item.id) * 10 + 1000 + n
        name = LANGUAGES.get(sub.language, sub.language)
        out.append({"id": stream_id, "key": f"/library/streams/{stream_id}", "streamType": 3,
                    "codec": sub.codec, "format": sub.codec, "languageCode": sub.language,
                    "language": name, "languageTag": sub.language[:2],
                    "displayTitle": f"{name} ({sub.codec.upper()} External)",
                    "extendedDisplayTitle": f"{name} ({sub.codec.upper()} External)",
                    **({"forced": True} if sub.forced else {})})
    return out


def plex_chapters(item: FakeItem | None) -> list[dict[str, Any]]:
    """Plex's Chapter records (``includeChapters=1``): milliseconds, the first at 0."""
    if item is None or not item.chapters:
        return []
    starts = [0.0, *item.chapters]
    ends = [*item.chapters, item.probed()[0]]
    return [{"id": int(item.id) * 100 + n, "tag": f"Chapter {n + 1}", "index": n + 1,
             "startTimeOffset": int(a * 1000), "endTimeOffset": int(b * 1000)}
            for n, (a, b) in enumerate(zip(starts, ends, strict=True))]


def plex_subtitle(item: FakeItem, stream_id: int) -> FakeSubtitle | None:
    """The sidecar file behind ``/library/streams/{stream_id}``."""
    n = stream_id - int(item.id) * 10 - 1000
    return item.subtitles[n] if 0 <= n < len(item.subtitles) else None


@dataclass
class FakeGrouping:
    """A Plex collection (of a library: movies or shows) or a video playlist (in order).

    ``members`` are item ids, or show names for a collection of shows.
    """

    key: str
    title: str
    members: list[str]
    library: str | None = None  # a collection's library key; None: a playlist
    updated: int = 1_700_000_000


class FakePlex(FakeServer):
    """Plex's library API over a set of FakeLibrary objects (and its collections and
    playlists, in ``groupings``)."""

    def __init__(self, secret: str, libraries: list[FakeLibrary],
                 groupings: list[FakeGrouping] | None = None) -> None:
        super().__init__(secret, libraries)
        self.groupings = list(groupings or [])
        self.broken: set[str] = set()  # grouping paths that answer 500


    def metadata(self, library: FakeLibrary, item: FakeItem, streams: bool) -> dict[str, Any]:
        if self.cache is not None:
            key = (item.id, item.updated, streams)
            if key not in self.cache:
                self.cache[key] = self._metadata(library, item, streams)
            return self.cache[key]
        return self._metadata(library, item, streams)

    def _metadata(self, library: FakeLibrary, item: FakeItem, streams: bool) -> dict[str, Any]:
        duration, _ = item.probed()
        ms = int(duration * 1000)
        part: dict[str, Any] = {
            "id": int(item.id), "key": f"/library/parts/{item.id}/{item.updated}/file.mp4",
            "duration": ms, "file": item.path, "size": 1000, "container": "mp4",
        }
        if streams:
            part["Stream"] = plex_streams(item)
        record: dict[str, Any] = {
            "ratingKey": item.id, "key": f"/library/metadata/{item.id}",
            "type": item.kind, "title": item.title, "summary": item.summary,
            "contentRating": item.rating, "year": item.year, "duration": ms,
            "thumb": f"/library/metadata/{item.id}/thumb/{item.updated}",
            "addedAt": item.updated, "updatedAt": item.updated,
            "librarySectionID": int(library.key), "librarySectionTitle": library.name,
            "Media": [{"id": int(item.id), "duration": ms, "container": "mp4",
                       "videoResolution": "sd", "Part": [part]}],
        }
        if item.kind == "movie" and item.genres:
            record["Genre"] = [{"tag": g} for g in item.genres]
        if item.kind == "episode":
            record.update(grandparentTitle=item.show, grandparentRatingKey=show_key(item.show or ""),
                          grandparentThumb=f"/library/metadata/{show_key(item.show or '')}/thumb/1",
                          parentIndex=item.season, index=item.episode,
                          parentTitle=f"Season {item.season}")
        return record

    def authorised(self, handler: Handler, query: dict[str, str]) -> bool:
        given = handler.headers.get("X-Plex-Token") or query.get("X-Plex-Token")
        return given == self.secret

    def handle(self, handler: Handler, path: str, query: dict[str, str]) -> None:
        if not self.authorised(handler, query):
            handler.send_body(UNAUTHORIZED[0], UNAUTHORIZED[1], 401)
            return
        if path.startswith("/library/metadata/") and "/thumb/" in path:
            handler.send_body(poster_jpeg(), "image/jpeg", 200)
            return
        if path.startswith("/library/parts/"):
            item = self.item(path.split("/")[3])
            if item is None:
                handler.send_body(b"", None, 404)
            else:
                handler.send_file(item.file)
            return
        if path.startswith("/library/streams/"):
            self.subtitle(handler, path.split("/")[3])
            return
        if handler.fail_now(UNAUTHORIZED):
            return
        if path.startswith(("/library/collections/", "/playlists")) or (
                path.startswith("/library/sections/") and path.endswith("/collections")):
            self.grouping(handler, path)
        elif path == "/library/sections":
            handler.send_json({"MediaContainer": {"size": len(self.libraries), "Directory": [
                {"key": lib.key, "type": lib.kind, "title": lib.name, "agent": "tv.plex.agents",
                 "scanner": "Plex", "language": "en-US", "uuid": f"uuid-{lib.key}",
                 "Location": [{"id": int(lib.key), "path": f"/data/{lib.name}"}]}
                for lib in self.libraries]}})
        elif path.startswith("/library/sections/") and path.endswith("/all"):
            self.listing(handler, path.split("/")[3], query)
        elif path.startswith("/library/metadata/"):
            keys = path.split("/")[3].split(",")
            found = []
            for library in self.libraries:
                by_id = {i.id: i for i in library.items}
                found += [self.metadata(library, by_id[k], True) for k in keys if k in by_id]
            if query.get("includeChapters") == "1":
                found = [{**r, "Chapter": plex_chapters(self.item(str(r["ratingKey"])))}
                         if plex_chapters(self.item(str(r["ratingKey"]))) else r for r in found]
            handler.send_json({"MediaContainer": {"size": len(found), "Metadata": found}},
                              200 if found else 404)
        else:
            handler.send_body(b"<html><body>404 Not Found</body></html>", "text/html", 404)

    def grouping(self, handler: Handler, path: str) -> None:
        """``/library/sections/{key}/collections``, ``/library/collections/{key}/children``,
        ``/playlists`` and ``/playlists/{key}/items``."""
        groupings = self.groupings
        if path in self.broken:
            handler.send_body(b"<html><body>500 Internal Server Error</body></html>",
                              "text/html", 500)
            return
        parts = path.strip("/").split("/")
        if path == "/playlists" or path.endswith("/collections"):
            wanted = [g for g in groupings if (g.library is None) == (path == "/playlists")
                      and (g.library is None or g.library == parts[2])]
            records = [{"ratingKey": g.key, "key": (f"/playlists/{g.key}/items" if g.library
                                                    is None else f"/library/collections/{g.key}"
                                                    "/children"),
                        "type": "playlist" if g.library is None else "collection",
                        "title": g.title, "updatedAt": g.updated, "addedAt": g.updated,
                        **({"playlistType": "video", "smart": False, "leafCount": len(g.members)}
                           if g.library is None else {"subtype": "movie",
                                                      "childCount": str(len(g.members))})}
                       for g in wanted]
            handler.send_json({"MediaContainer": {"size": len(records), "Metadata": records}})
            return
        found = next((g for g in groupings if g.key == parts[2 if parts[0] == "library" else 1]),
                     None)
        if found is None:
            handler.send_body(b"", None, 404)
            return
        records = []
        for n, member in enumerate(found.members):
            item = self.item(member)
            if item is not None:
                library = next(lib for lib in self.libraries if item in lib.items)
                records.append({**self.metadata(library, item, False), "playlistItemID": n + 1})
            else:  # a show in a collection of shows
                records.append({"ratingKey": show_key(member), "type": "show", "title": member})
        handler.send_json({"MediaContainer": {"size": len(records), "totalSize": len(records),
                                              "Metadata": records}})

    def subtitle(self, handler: Handler, stream_id: str) -> None:
        for library in self.libraries:
            for item in library.items:
                sub = plex_subtitle(item, int(stream_id)) if stream_id.isdigit() else None
                if sub is not None:
                    handler.send_file(sub.file, "text/plain; charset=utf-8")
                    return
        handler.send_body(b"", None, 404)

    def listing(self, handler: Handler, key: str, query: dict[str, str]) -> None:
        library = self.library(key)
        if library is None:
            handler.send_body(b"", None, 404)
            return
        start = int(query.get("X-Plex-Container-Start")
                    or handler.headers.get("X-Plex-Container-Start") or 0)
        size_raw = query.get("X-Plex-Container-Size") or handler.headers.get("X-Plex-Container-Size")
        kind = query.get("type")
        since = query.get("updatedAt>")
        if kind == "2":
            shows: dict[str, FakeItem] = {}
            for item in library.items:
                shows.setdefault(item.show or "", item)
            records: list[Any] = [
                {"ratingKey": show_key(name), "type": "show", "title": name,
                 "summary": f"About {name}", "Genre": [{"tag": g} for g in item.genres],
                 "thumb": f"/library/metadata/{show_key(name)}/thumb/1"}
                for name, item in shows.items()]
        else:
            memo_key = (library.key, kind, since)
            if self.cache is not None and memo_key in self.lists:
                records = self.lists[memo_key]
            else:
                wanted = {"1": "movie", "4": "episode"}.get(kind or "")
                records = [i for i in library.items if wanted is None or i.kind == wanted]
                if since is not None:
                    records = [i for i in records if i.updated >= int(since)]
                if self.cache is not None:
                    self.lists[memo_key] = records
        total = len(records)
        size = int(size_raw) if size_raw is not None else total
        page = records[start:start + size]
        if kind != "2":
            page = [self.metadata(library, i, False) for i in page]
        handler.send_json({"MediaContainer": {
            "size": len(page), "totalSize": total, "offset": start, "allowSync": True,
            "librarySectionID": int(library.key), "librarySectionTitle": library.name,
            "Metadata": page}})


def synthetic_library(count: int, file: str, key: str = "1") -> FakeLibrary:
    """``count`` movies sharing one file, with fixed streams (nothing to probe)."""
    from pathlib import Path
    streams = ({"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320,
                "height": 180, "r_frame_rate": "25/1", "disposition": {"default": 1}},
               {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2,
                "channel_layout": "stereo", "sample_rate": "48000",
                "tags": {"language": "eng"}, "disposition": {"default": 1}})
    items = [FakeItem(id=str(100_000 + n), title=f"Movie {n:05d}", file=Path(file),
                      year=1950 + n % 70, summary=f"Synthetic movie number {n}.",
                      genres=("Drama", "Comedy")[: 1 + n % 2], updated=1_700_000_000 + n % 1000,
                      duration=5400.0, streams=streams) for n in range(count)]
    return FakeLibrary(key, "Movies", "movie", items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="bench-token")
    args = parser.parse_args()
    fake = FakePlex(args.token, [synthetic_library(args.items, args.file)])
    fake.cache = {}
    fake.start(args.port)
    print(fake.url, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
