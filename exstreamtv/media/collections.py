"""Collections defined in the config: hand-ordered playlists and smart collections.

``collections:`` (top level) names lists of items that any ``collection:`` may use:

* a **playlist** (``items:``) is an ordered list of entries, each a query that picks
  items from any source (``{source: shows, title: Pilot}``, ``{source: films, path:
  "*/Alien (1979)/*"}``); the items of each entry follow one another in library order;
* a **smart collection** (``query:``) is every item of the library that matches.

A query is a conjunction of: ``source`` (source id), ``show``, ``season``, ``genre``,
``title`` (case-insensitive equality), ``year`` and ``duration_minutes`` (a number or
``[min, max]``), ``path`` (a glob on the item's location) and ``tags`` (all must be in
the item's ``tags`` metadata). Membership is computed from the library as it is, so a
collection follows every scan; a playlist entry that matches nothing is reported (the
channel's health) and skipped, and an empty collection plays the offline screen saying so.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from exstreamtv.config.validators import number, string
from exstreamtv.media.models import MediaItem, int_or_none


def _range(value: Any) -> tuple[float, float]:
    """A number or [min, max]."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise vol.Invalid("expected a number or [min, max]")
        low, high = number()(value[0]), number()(value[1])
        if low > high:
            raise vol.Invalid(f"[min, max] with min above max: {value!r}")
        return (low, high)
    one = number()(value)
    return (one, one)


def _tags(value: Any) -> tuple[str, ...]:
    """A tag or a list of tags."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise vol.Invalid("expected a tag or a list of tags")
    return tuple(string(v) for v in values)


QUERY_KEYS = {
    vol.Optional("source"): string,
    vol.Optional("show"): string,
    vol.Optional("season"): vol.All(int, vol.Range(min=0)),
    vol.Optional("genre"): string,
    vol.Optional("title"): string,
    vol.Optional("year"): _range,
    vol.Optional("duration_minutes"): _range,
    vol.Optional("path"): string,
    vol.Optional("tags"): _tags,
}


#: What each query key means, for the generated configuration reference.
QUERY_MEANINGS = {
    "source": "items of this source id",
    "show": "the show's name (case-insensitive)",
    "season": "the season number",
    "genre": "one of the item's genres (case-insensitive)",
    "title": "the item's title (case-insensitive)",
    "year": "the year, or [first, last]",
    "duration_minutes": "the length in minutes, or [shortest, longest]",
    "path": "a glob on the item's location, such as */Comedy/*",
    "tags": "tags the item's metadata must all have",
}


def _query(value: Any) -> dict[str, Any]:
    """A non-empty query: source, show, season, genre, title, year, duration_minutes,
    path, tags."""
    checked: dict[str, Any] = vol.Schema(QUERY_KEYS)(value)
    if not checked:
        raise vol.Invalid("an empty query would match the whole library: give at least one of "
                          + ", ".join(str(k) for k in QUERY_KEYS))
    return checked


@dataclass(frozen=True)
class Query:
    """A conjunction of conditions on an item (see the module docstring)."""

    source: str | None = None
    show: str | None = None
    season: int | None = None
    genre: str | None = None
    title: str | None = None
    year: tuple[float, float] | None = None
    duration_minutes: tuple[float, float] | None = None
    path: str | None = None
    tags: tuple[str, ...] = ()

    def describe(self) -> str:
        """``source=shows, show=Pilot`` for messages."""
        parts = [f"{k}={v}" for k, v in self.__dict__.items() if v not in (None, ())]
        return ", ".join(parts)

    def matches(self, item: MediaItem) -> bool:
        """Whether ``item`` meets every condition."""
        md: Mapping[str, Any] = item.metadata or {}
        if self.source is not None and item.source_id != self.source:
            return False
        if self.show is not None and str(md.get("show") or "").casefold() != self.show.casefold():
            return False
        if self.season is not None and int_or_none(md.get("season")) != self.season:
            return False
        if self.title is not None and item.title.casefold() != self.title.casefold():
            return False
        if self.genre is not None and self.genre.casefold() not in _words(md.get("genres")):
            return False
        if self.year is not None:
            year = int_or_none(md.get("year"))
            if year is None or not self.year[0] <= year <= self.year[1]:
                return False
        if self.duration_minutes is not None and not (
                self.duration_minutes[0] <= item.duration / 60 <= self.duration_minutes[1]):
            return False
        if self.path is not None and not fnmatch.fnmatchcase(item.location, self.path):
            return False
        return not self.tags or {t.casefold() for t in self.tags} <= _words(md.get("tags"))


def _words(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value.casefold()}
    if isinstance(value, list | tuple):
        return {str(v).casefold() for v in value}
    return set()


@dataclass(frozen=True)
class CollectionDefinition:
    """A named playlist (``entries`` in order) or smart collection (``query``)."""

    name: str
    entries: tuple[Query, ...] = ()
    query: Query | None = None

    @property
    def sources(self) -> set[str]:
        """Source ids the definition names."""
        queries = [*self.entries, *([self.query] if self.query else [])]
        return {q.source for q in queries if q.source}

    def resolve(self, items: Iterable[MediaItem]) -> tuple[list[MediaItem], list[str]]:
        """The collection's items from the library's ``items`` (in library order), and
        a problem per playlist entry or query that matches nothing."""
        pool = list(items)
        if self.query is not None:
            found = [i for i in pool if self.query.matches(i)]
            problems = [] if found else [
                f"collection '{self.name}': the query ({self.query.describe()}) matches nothing"]
            return found, problems
        out: list[MediaItem] = []
        problems = []
        for n, entry in enumerate(self.entries):
            matched = [i for i in pool if entry.matches(i)]
            if not matched:
                problems.append(f"collection '{self.name}': item {n} ({entry.describe()}) is not "
                                "in the library")
            out += matched
        return out, problems


ENTRY = vol.Schema({vol.Required("name"): string, vol.Optional("items"): list,
                    vol.Optional("query"): dict})


def _definition(value: Any) -> CollectionDefinition:
    checked = ENTRY(value)
    has_items, has_query = "items" in checked, "query" in checked
    if has_items == has_query:
        raise vol.Invalid("give either items (a playlist) or query (a smart collection)")
    if has_query:
        try:
            return CollectionDefinition(checked["name"], query=Query(**_query(checked["query"])))
        except vol.Invalid as exc:
            raise vol.Invalid(exc.msg, path=["query", *exc.path]) from None
    if not checked["items"]:
        raise vol.Invalid("a playlist needs at least one item", path=["items"])
    entries = []
    for n, entry in enumerate(checked["items"]):
        try:
            entries.append(Query(**_query(entry)))
        except vol.Invalid as exc:
            raise vol.Invalid(exc.msg, path=["items", n, *exc.path]) from None
    return CollectionDefinition(checked["name"], entries=tuple(entries))


def validate_collections(value: Any) -> tuple[CollectionDefinition, ...]:
    """The ``collections:`` section: a list of playlists and smart collections."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise vol.Invalid("expected a list of collections ({name, items} or {name, query})")
    out: list[CollectionDefinition] = []
    errors: list[vol.Invalid] = []
    seen: set[str] = set()
    for i, entry in enumerate(value):
        try:
            definition = _definition(entry)
        except vol.MultipleInvalid as exc:
            errors += [vol.Invalid(e.msg, path=[i, *e.path]) for e in exc.errors]
            continue
        except vol.Invalid as exc:
            errors.append(vol.Invalid(exc.msg, path=[i, *exc.path]))
            continue
        if definition.name in seen:
            errors.append(vol.Invalid(f"collection '{definition.name}' is defined twice",
                                      path=[i, "name"]))
        seen.add(definition.name)
        out.append(definition)
    if errors:
        raise vol.MultipleInvalid(errors)
    return tuple(out)
