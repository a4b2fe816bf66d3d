"""What a media file's name and folders say about it, as Sonarr, Radarr and Kodi name them.

Pure functions on a path relative to the source folder; nothing here touches the disk.
Recognised (case-insensitive, ``.``/``_`` read as spaces):

- episodes: ``Show/Season 02/Show - S02E05 - Title.mkv``, ``S02E05``, ``s2e5``, ``2x05``,
  multi-episode ``S01E01-E02``, ``S01E01E02`` and ``S01E01-02``; the show is the text before
  the marker, else the folder above ``Season NN`` (or the file's own folder); the episode
  title is the text after the marker;
- ``Season NN``/``Specials`` folders give the season when the name has only ``E05``;
- movies: ``Movie (1999).mkv`` or ``Movie.1999.1080p.mkv``: the title and the year.

Anything else keeps its file name (separators as spaces) as the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

_EPISODE = re.compile(
    r"(?<![a-z0-9])s(?P<season>\d{1,4})[ ._-]*e(?P<episode>\d{1,4})"
    r"(?:(?:[ ._-]*-?[ ._-]*e|-)(?P<last>\d{1,4}))?(?![0-9])", re.IGNORECASE)
_CROSS = re.compile(r"(?<![a-z0-9])(?P<season>\d{1,2})x(?P<episode>\d{1,3})"
                    r"(?:-(?:\d{1,2}x)?(?P<last>\d{1,3}))?(?![0-9])", re.IGNORECASE)
_BARE_EPISODE = re.compile(r"(?<![a-z0-9])(?:e|ep|episode)[ ._-]*(?P<episode>\d{1,4})(?![0-9])",
                           re.IGNORECASE)
_SEASON_FOLDER = re.compile(r"^(?:season|series|staffel|saison)[ ._-]*(?P<season>\d{1,4})$",
                            re.IGNORECASE)
_YEAR_PAREN = re.compile(r"^(?P<title>.+?)[ ._-]*[(\[](?P<year>(?:18|19|20)\d{2})[)\]]")
_YEAR_BARE = re.compile(r"^(?P<title>.+?)[ ._-]+(?P<year>(?:19|20)\d{2})(?:[ ._-]|$)")
#: A quality note at the end of a Sonarr/Radarr name: ``WEBDL-1080p``, ``[HDTV-720p]``.
_QUALITY = re.compile(r"[ ._-]*[\[(]?(?:[a-z]+-?)?(?:480|576|720|1080|2160)[pi][\])]?$",
                      re.IGNORECASE)
_SEPARATORS = re.compile(r"[._]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class NameInfo:
    """Metadata read from a file name and its folders; None where the name says nothing."""

    title: str
    show: str | None = None
    season: int | None = None
    episode: int | None = None
    #: The last episode of a multi-episode file (``S01E01-E02`` gives 2).
    episode_last: int | None = None
    episode_title: str | None = None
    year: int | None = None

    @property
    def is_episode(self) -> bool:
        return self.episode is not None


def tidy(text: str) -> str:
    """Dots and underscores as spaces, runs of spaces as one, dashes at the ends trimmed."""
    return _SPACES.sub(" ", _SEPARATORS.sub(" ", text)).strip(" -–")


def season_of_folder(name: str) -> int | None:
    """The season a folder stands for: ``Season 02`` gives 2, ``Specials`` gives 0."""
    if name.lower() in ("specials", "extras - specials"):
        return 0
    match = _SEASON_FOLDER.match(tidy(name))
    return int(match["season"]) if match else None


def show_folder(relative: PurePath) -> str | None:
    """The show's folder name for a file at ``relative``: above ``Season NN``, else its own."""
    parents = relative.parts[:-1]
    if not parents:
        return None
    if season_of_folder(parents[-1]) is not None:
        return parents[-2] if len(parents) >= 2 else None
    return parents[-1]


def _movie(stem: str) -> NameInfo:
    stem = _QUALITY.sub("", stem) or stem
    for pattern in (_YEAR_PAREN, _YEAR_BARE):
        match = pattern.match(stem)
        if match and tidy(match["title"]):
            return NameInfo(title=tidy(match["title"]), year=int(match["year"]))
    return NameInfo(title=tidy(stem) or stem)


def parse_name(relative: PurePath | str) -> NameInfo:
    """What the path (relative to the source folder) says about the file."""
    relative = PurePath(relative)
    stem = relative.stem
    folder_season = season_of_folder(relative.parts[-2]) if len(relative.parts) > 1 else None
    match = _EPISODE.search(stem) or _CROSS.search(stem)
    season: int | None
    if match:
        season, episode = int(match["season"]), int(match["episode"])
        last = int(match["last"]) if match["last"] else None
    else:
        bare = _BARE_EPISODE.search(stem) if folder_season is not None else None
        if bare is None:
            return _movie(stem)
        match, season, episode, last = bare, folder_season, int(bare["episode"]), None
    before = tidy(stem[:match.start()])
    after = tidy(_QUALITY.sub("", stem[match.end():]))
    folder_show = show_folder(relative)
    # A show folder above "Season NN" is the show's own name (Sonarr, Jellyfin, Kodi).
    show = (tidy(folder_show) if folder_show and folder_season is not None else None) \
        or before or (tidy(folder_show) if folder_show else None)
    if show:
        show = _movie(show).title if _YEAR_PAREN.match(show) else show
    episode_title = after or None
    if last is not None and last <= episode:
        last = None
    title = episode_title or (f"{show} S{season or 0:02d}E{episode:02d}" if show
                              else tidy(stem) or stem)
    return NameInfo(title=title, show=show, season=season, episode=episode,
                    episode_last=last, episode_title=episode_title)
