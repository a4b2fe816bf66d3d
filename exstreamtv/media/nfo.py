"""Kodi/Jellyfin NFO files (``movie.nfo``, ``<name>.nfo``, ``tvshow.nfo``, ``season.nfo``).

An NFO is XML written by Kodi, Jellyfin, Sonarr, Radarr or tinyMediaManager; in the wild
it is also a bare IMDb link, XML followed by a link, XML in a wrong encoding, or several
``<episodedetails>`` roots for a multi-episode file. :func:`read_nfo` never raises on
any of these: what cannot be read gives None (and one log line), so a bad NFO never fails
a scan. Reading is bounded and entity-free: files over :data:`MAX_NFO_BYTES` are not
read, and a document type declaration (the only way to define entities, hence
"billion laughs" expansion or external entities) makes the file unreadable.

Fields kept (metadata keys as the Plex and Jellyfin sources name them): ``title``,
``show`` (``showtitle``), ``season``, ``episode``, ``summary`` (``plot``, else
``outline``), ``year``, ``genres``, ``rating`` (``mpaa``), ``score`` (the default of
``<ratings>``, else ``<rating>``, out of 10), ``premiered`` (``aired``/``premiered``,
``YYYY-MM-DD``) and ``runtime`` (minutes).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from exstreamtv.safe_text import clean, printable_path

log = logging.getLogger(__name__)

#: NFO files larger than this are not read (real ones are a few kilobytes).
MAX_NFO_BYTES = 1_000_000
#: Longest text kept from one field (a plot), in characters.
MAX_FIELD_CHARS = 4000
#: Root elements that are metadata documents.
ROOTS = ("movie", "episodedetails", "tvshow", "season", "musicvideo")

_DOCTYPE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")


def _xml_part(data: bytes) -> bytes | None:
    """The XML of an NFO: from the first root element to the end of the last one."""
    start = data.find(b"<")
    if start < 0:
        return None
    ends = [data.rfind(f"</{root}>".encode()) for root in ROOTS]
    end = max(ends)
    if end < 0:
        return None
    closing = data.index(b">", end) + 1
    return data[start:closing]


def _parse(xml: bytes) -> list[ET.Element]:
    """The root elements of ``xml`` (several for a multi-episode NFO)."""
    text: str
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        # Declared (or assumed) UTF-8 but written in a Windows code page: read it as one.
        text = xml.decode("cp1252", errors="replace")
    text = _DECLARATION.sub("", clean(text))
    wrapper = ET.fromstring(f"<nfo>{text}</nfo>")
    return [child for child in wrapper if child.tag in ROOTS]


def _text(element: ET.Element, *tags: str) -> str | None:
    for tag in tags:
        found = element.find(tag)
        if found is not None and found.text and found.text.strip():
            return found.text.strip()[:MAX_FIELD_CHARS]
    return None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"\s*(-?\d+)", value)
    return int(match[1]) if match else None


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 < number <= 10 else None


def _score(element: ET.Element) -> float | None:
    ratings = element.findall("ratings/rating")
    chosen = next((r for r in ratings if r.get("default") == "true"), ratings[0] if ratings else None)
    if chosen is not None:
        value = _float(_text(chosen, "value"))
        maximum = _float(chosen.get("max")) if chosen.get("max") else 10.0
        if value is not None and maximum:
            return round(value * 10.0 / maximum, 1)
    return _float(_text(element, "rating"))


def _date(value: str | None) -> str | None:
    match = _DATE.match(value or "")
    if not match:
        return None
    return f"{int(match[1]):04d}-{int(match[2]):02d}-{int(match[3]):02d}"


def fields_of(element: ET.Element) -> dict[str, Any]:
    """The metadata of one NFO root element; only the keys the element has."""
    premiered = _date(_text(element, "aired", "premiered", "releasedate"))
    year = _int(_text(element, "year")) or (int(premiered[:4]) if premiered else None)
    genres = [clean(g.text.strip())[:200] for g in element.findall("genre")
              if g.text and g.text.strip()]
    data: dict[str, Any] = {
        "title": _text(element, "title"),
        "show": _text(element, "showtitle"),
        "season": _int(_text(element, "season", "seasonnumber")),
        "episode": _int(_text(element, "episode")),
        "summary": _text(element, "plot", "outline"),
        "year": year if year and 1800 <= year <= 2200 else None,
        "genres": list(dict.fromkeys(genres))[:20] or None,
        "rating": _text(element, "mpaa"),
        "score": _score(element),
        "premiered": premiered,
        "runtime": _int(_text(element, "runtime")),
    }
    if element.tag == "tvshow" and data["title"]:
        data["show"] = data["title"]
    return {k: clean(v) if isinstance(v, str) else v for k, v in data.items() if v is not None}


def read_nfo(path: Path) -> list[dict[str, Any]] | None:
    """The metadata of each root element of the NFO at ``path``; None if it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_NFO_BYTES:
            log.warning("Ignoring %s: %d bytes is too large for an NFO (at most %d)",
                        printable_path(path), size, MAX_NFO_BYTES)
            return None
        with path.open("rb") as handle:
            data = handle.read(MAX_NFO_BYTES + 1)
    except OSError as exc:
        log.warning("Ignoring %s: %s", printable_path(path), exc.strerror or exc)
        return None
    if _DOCTYPE.search(data):
        log.warning("Ignoring %s: an NFO with a DOCTYPE or ENTITY declaration is not read",
                    printable_path(path))
        return None
    xml = _xml_part(data)
    if xml is None:
        return None  # a bare link, or not XML at all: nothing to read
    try:
        roots = _parse(xml)
    except ET.ParseError as exc:
        log.warning("Ignoring %s: not well-formed XML (%s); fix or delete the file",
                    printable_path(path), exc)
        return None
    return [fields_of(root) for root in roots] or None
