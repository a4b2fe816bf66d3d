"""Browsing the library: sources, their shows and folders, and items, page by page.

``GET /api/library/sources`` lists the sources with their item counts;
``GET /api/library/sources/{id}/groups`` the shows and folders of one source;
``GET /api/library/items?source=&group=`` the items of a source or of one of its groups
(without ``source``, of the whole library).
The lists take ``q`` (case-insensitive words that must all be in the title, show or
path), ``offset`` and ``limit`` (at most :data:`MAX_LIMIT`) and answer ``total`` beside
the page. Every group and source names the ``collection`` a schedule may play, and every
item a ``query`` that picks exactly it in a playlist (``collections:``); posters are the
``/artwork`` URLs. Any role may read (the API token or a session); nothing here shows an
item's location outside its source (a remote URL may carry credentials) or a source's
options.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from quart import Blueprint, Response, request

from exstreamtv.media.artwork import item_artwork_url
from exstreamtv.media.models import MediaItem
from exstreamtv.media.remote import collection_name
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

bp = Blueprint("library", __name__, url_prefix="/api/library")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Width asked of the posters listed (the artwork routes round it up).
POSTER_WIDTH = 160


def group_of(item: MediaItem) -> tuple[str, str] | None:
    """(kind, name) of the show or folder an item is listed under, if any."""
    md = item.metadata or {}
    if md.get("show"):
        return ("show", str(md["show"]))
    folder = str(PurePosixPath(str(md["path"])).parent) if md.get("path") else "."
    if folder != ".":
        return ("folder", folder)
    if md.get("library"):
        return ("library", str(md["library"]))
    return None


def _glob_escaped(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def item_query(item: MediaItem) -> dict[str, Any]:
    """A playlist entry that picks this item (by its path in a local source, else by
    title, show and season)."""
    md = item.metadata or {}
    if md.get("path"):
        return {"source": item.source_id, "path": "*/" + _glob_escaped(str(md["path"]))}
    query: dict[str, Any] = {"source": item.source_id, "title": item.title}
    if md.get("show"):
        query["show"] = str(md["show"])
    if isinstance(md.get("season"), int):
        query["season"] = md["season"]
    return query


def _poster(item: MediaItem | None) -> str | None:
    url = item_artwork_url(item, "") if item is not None else None
    return f"{url}?w={POSTER_WIDTH}" if url else None


def _matches(item: MediaItem, words: list[str]) -> bool:
    if not words:
        return True
    md = item.metadata or {}
    text = " ".join((item.title, str(md.get("show") or ""), str(md.get("path") or ""))).lower()
    return all(word in text for word in words)


@dataclass(frozen=True)
class Page:
    """The page a request asks for, and its search words."""

    offset: int
    limit: int
    words: list[str]


def _page() -> Page | tuple[Response, int]:
    """The page of the request, or the 400 answer."""
    try:
        offset = int(request.args.get("offset", "0"))
        limit = int(request.args.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        return error(400, "offset and limit are whole numbers, e.g. ?offset=50&limit=50")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        return error(400, f"offset must be 0 or more and limit 1 to {MAX_LIMIT}")
    return Page(offset, limit, request.args.get("q", "").lower().split())


def _paged(rows: list[dict[str, Any]], page: Page, key: str) -> tuple[Response, int]:
    return json_response({"total": len(rows), "offset": page.offset, "limit": page.limit,
                          key: rows[page.offset:page.offset + page.limit]})


def _source_items(source_id: str) -> list[MediaItem] | tuple[Response, int]:
    h = hub()
    if source_id not in h.library.sources:
        known = ", ".join(sorted(h.library.sources)) or "none"
        return error(404, f"no source '{source_id}' (known: {known})")
    return list(h.library.items.get(source_id, []))


@bp.route("/sources")
@require_token
async def sources() -> tuple[Response, int]:
    h = hub()
    rows = []
    for source_id, source in h.library.sources.items():
        items = h.library.items.get(source_id, [])
        status = h.library.status.get(source_id)
        rows.append({"id": source_id, "type": source.config.type, "items": len(items),
                     "state": status.state if status else "pending",
                     "collection": source_id,
                     "poster": next((p for p in map(_poster, items) if p), None)})
    return json_response({"sources": rows})


def _groups(items: Iterable[MediaItem], words: list[str]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        group = group_of(item)
        if group is None:
            continue
        row = found.get(group)
        if row is None:
            name = collection_name(item.source_id, *group)
            row = found[group] = {
                "kind": group[0], "name": group[1], "count": 0, "poster": None,
                "collection": name if name in item.collections else None}
        row["count"] += 1
        if row["poster"] is None:
            row["poster"] = _poster(item)
    return [row for row in found.values()
            if all(word in row["name"].lower() for word in words)]


@bp.route("/sources/<source_id>/groups")
@require_token
async def groups(source_id: str) -> tuple[Response, int]:
    page = _page()
    if not isinstance(page, Page):
        return page
    items = _source_items(source_id)
    if not isinstance(items, list):
        return items
    rows = sorted(_groups(items, page.words), key=lambda r: (r["kind"], r["name"].lower()))
    return _paged(rows, page, "groups")


def describe(item: MediaItem) -> dict[str, Any]:
    """An item as the browser lists it (with its picture's dynamic range, and ``warning``
    when a channel cannot show it right: Dolby Vision profile 5)."""
    md = item.metadata or {}
    videos = item.info.video_streams if item.info is not None else []
    video = videos[0] if videos else None
    return {"id": item.id, "source": item.source_id, "title": item.title,
            "duration": round(item.duration, 3), "show": md.get("show"),
            "season": md.get("season"), "episode": md.get("episode"),
            "year": md.get("year"), "path": md.get("path"),
            "poster": _poster(item), "query": item_query(item),
            "dynamic_range": str(video.dynamic_range) if video else None,
            "dolby_vision": video.dolby_vision if video else None,
            "warning": video.picture_warning if video else None}


@bp.route("/items")
@require_token
async def items() -> tuple[Response, int]:
    page = _page()
    if not isinstance(page, Page):
        return page
    source_id = request.args.get("source", "")
    kind, _, name = request.args.get("group", "").partition(":")
    if not source_id:
        if kind:
            return error(400, "a group is one source's: /api/library/items?source=<id>&group=...")
        h = hub()
        listed = [item for items in h.library.items.values() for item in items]
    else:
        found = _source_items(source_id)
        if not isinstance(found, list):
            return found
        listed = found
    if kind:
        listed = [item for item in listed if group_of(item) == (kind, name)]
    rows = [describe(item) for item in listed if _matches(item, page.words)]
    return _paged(rows, page, "items")
