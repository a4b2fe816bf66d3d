"""What the guide says about one scheduled entry: one description for XMLTV and the API.

:func:`describe_programme` turns an entry's item metadata (the keys of
docs/sources.md, "What an item carries") into a :class:`Programme`; the XMLTV writer
(:mod:`exstreamtv.scheduling.guide`) and ``/api/channels/{n}`` now/next both use it, so
they never disagree.

| field | from the metadata |
| --- | --- |
| ``title`` | ``show`` for an episode, else the item title |
| ``sub_title`` | ``episode_title``, else the item title when it is more than the show name |
| ``desc`` | ``description`` or ``summary`` |
| ``date`` | ``premiered``/``aired`` (``YYYYMMDD``) for an episode, else ``year`` |
| ``categories`` | ``genres`` (or ``category``); filler adds ``Filler`` |
| ``length_minutes`` | ``runtime`` |
| ``episode_num`` | ``season``/``episode``(/``episode_last``) as ``xmltv_ns`` and ``onscreen`` |
| ``rating`` | ``rating`` (a content rating such as ``TV-14``) |
| ``star_rating`` | ``score`` (out of 10) |
| ``previously_shown`` / ``new`` | aired more than :data:`NEW_DAYS` days ago / within them |
| ``icon`` | the item's artwork URL (given by the caller): its poster or thumbnail |
| ``season`` / ``episode`` / ``episode_last`` | the numbers as integers (None when unknown) |

:meth:`Programme.display_title` is the one-line name where a client shows a single
string (the dashboard, Home Assistant): ``Show S01E02 Episode title``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from exstreamtv.media.models import MediaItem, int_or_none
from exstreamtv.scheduling.base import ScheduledItem

#: A programme first aired within this many days of the guide's build is marked new.
NEW_DAYS = 7
#: Finds an item's artwork URL for the guide (or None).
IconFinder = Callable[[MediaItem], "str | None"]


@dataclass(frozen=True)
class Programme:
    """The guide's description of one entry (see the module table)."""

    title: str
    sub_title: str | None = None
    desc: str | None = None
    date: str | None = None
    categories: tuple[str, ...] = ()
    length_minutes: int | None = None
    icon: str | None = None
    episode_num_xmltv_ns: str | None = None
    episode_num_onscreen: str | None = None
    previously_shown: bool = False
    previously_shown_start: str | None = None
    new: bool = False
    rating: str | None = None
    star_rating: str | None = None
    season: int | None = None
    episode: int | None = None
    episode_last: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def display_title(self) -> str:
        """``Show S01E02 Episode title``: title, on-screen number and sub-title, those known."""
        return " ".join(p for p in (self.title, self.episode_num_onscreen, self.sub_title) if p)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["categories"] = list(self.categories)
        data["display_title"] = self.display_title
        return data


def _date_digits(value: Any) -> str | None:
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits[:8] if len(digits) >= 8 else None


def episode_numbers(md: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(xmltv_ns, onscreen)`` for the item's season and episode (None when it has none)."""
    season, episode = int_or_none(md.get("season")), int_or_none(md.get("episode"))
    last = int_or_none(md.get("episode_last"))
    if season is None and episode is None:
        return None, None
    # xmltv_ns counts from zero; season 0 (specials) has no number there and is left out.
    s_ns = str(season - 1) if season else ""
    e_ns = str(episode - 1) if episode else ""
    onscreen = (f"S{season:02d}" if season is not None else "") + (
        f"E{episode:02d}" if episode is not None else "")
    if last is not None and episode is not None and last > episode:
        onscreen += f"-E{last:02d}"
    return f"{s_ns}.{e_ns}.", onscreen


def _genres(md: Mapping[str, Any]) -> list[str]:
    genres = md.get("genres") or md.get("category") or ()
    if isinstance(genres, str):
        genres = [genres]
    return [str(g) for g in genres if str(g).strip()]


def _score(value: Any) -> str | None:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return f"{score:.1f}/10" if 0 < score <= 10 else None


def _aired(md: Mapping[str, Any]) -> str | None:
    for key in ("premiered", "aired", "originally_available"):
        digits = _date_digits(md.get(key)) if md.get(key) else None
        if digits:
            return digits
    return None


def describe_programme(entry: ScheduledItem, channel_name: str, *,
                       icon: IconFinder | None = None, now: float | None = None) -> Programme:
    """The guide's description of ``entry`` on the channel named ``channel_name``."""
    item = entry.item
    if item is None:
        if entry.kind == "filler":
            return Programme(title=f"{channel_name}: between programmes", categories=("Filler",))
        return Programme(title=f"{channel_name}: off air")
    md: Mapping[str, Any] = item.metadata or {}
    show = str(md["show"]) if md.get("show") else None
    sub_title = md.get("episode_title")
    if not sub_title and show and item.title != show and not item.title.startswith(show):
        sub_title = item.title
    is_episode = md.get("kind") == "episode" or md.get("episode") is not None
    aired = _aired(md)
    date = aired if is_episode and aired else (str(md["year"]) if md.get("year") else aired)
    categories = _genres(md) + (["Filler"] if entry.kind == "filler" else [])
    xmltv_ns, onscreen = episode_numbers(md)
    today = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    new = False
    if aired:
        try:
            first = datetime.strptime(aired, "%Y%m%d").replace(tzinfo=UTC)
            new = 0 <= (today - first).days < NEW_DAYS
        except ValueError:
            new = False
    desc = md.get("description") or md.get("summary")
    return Programme(
        title=show or item.title,
        sub_title=str(sub_title) if sub_title else None,
        desc=str(desc) if desc else None,
        date=date,
        categories=tuple(dict.fromkeys(categories)),
        length_minutes=int_or_none(md.get("runtime")),
        icon=icon(item) if icon is not None else None,
        episode_num_xmltv_ns=xmltv_ns,
        episode_num_onscreen=onscreen,
        previously_shown=not new and (aired is not None or bool(md.get("previously_shown"))
                                      or is_episode),
        previously_shown_start=aired if not new else None,
        new=new,
        rating=str(md["rating"]) if md.get("rating") else None,
        star_rating=_score(md.get("score")),
        season=int_or_none(md.get("season")),
        episode=int_or_none(md.get("episode")),
        episode_last=int_or_none(md.get("episode_last")),
    )
