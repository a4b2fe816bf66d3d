"""The metadata of a local media file: NFO files, its name and folders, embedded tags, artwork.

Where several say something, the most deliberate wins: an NFO (written by a person or a
library manager) over the file and folder names, and the names over tags embedded in
the file (often left by an encoder or a release group). Show-level NFO (``tvshow.nfo``)
and season-level NFO (``season.nfo``) fill what the episode's NFO leaves out.

Where the sidecar files are (Kodi and Jellyfin layouts)::

    Movie (1999)/Movie (1999).mkv, Movie (1999).nfo or movie.nfo,
        Movie (1999)-poster.jpg or poster.jpg/folder.jpg/cover.jpg, fanart.jpg
    Show/tvshow.nfo, poster.jpg or folder.jpg, fanart.jpg, season02-poster.jpg
    Show/Season 02/season.nfo, poster.jpg or folder.jpg (the season's poster)
    Show/Season 02/Show - S02E05 - Title.mkv, ....nfo, ...-thumb.jpg

Artwork is recorded as paths relative to the source folder under ``metadata["artwork"]``
(``thumb``, ``poster``, ``fanart``); the web layer serves it (never a path outside the
source). Folder-wide names (``poster.jpg``) count only in a folder below the source's
own, where they belong to one movie or show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exstreamtv.media.artwork import looks_like_image
from exstreamtv.media.naming import NameInfo, parse_name, season_of_folder
from exstreamtv.media.nfo import read_nfo

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
#: Embedded tags read (lower-cased container tags), and the metadata key each fills.
TAG_KEYS = {"title": "title", "show": "show", "season_number": "season",
            "episode_sort": "episode", "date": "year", "genre": "genres",
            "description": "summary", "synopsis": "summary", "comment": "summary"}


@dataclass(frozen=True)
class Folder:
    """One listed folder: its path and its file names (lower-cased -> real name)."""

    path: Path
    names: Mapping[str, str] = field(default_factory=dict)

    def find(self, *stems: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> Path | None:
        """The first file named ``stem + extension`` here, in the order given."""
        for stem in stems:
            for ext in extensions:
                real = self.names.get(f"{stem}{ext}".lower())
                if real is not None:
                    return self.path / real
        return None


@dataclass(frozen=True)
class Sidecars:
    """The NFO and image files that describe one media file."""

    nfo: Path | None = None
    season_nfo: Path | None = None
    show_nfo: Path | None = None
    artwork: Mapping[str, Path] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        """Every sidecar file (to notice when one changes)."""
        found = [self.nfo, self.season_nfo, self.show_nfo, *self.artwork.values()]
        return [p for p in found if p is not None]


def find_sidecars(media: Path, root: Path, folders: Mapping[Path, Folder]) -> Sidecars:
    """The sidecar files of ``media`` (under ``root``), from the listed ``folders``."""
    here = folders.get(media.parent) or Folder(media.parent)
    stem = media.stem
    own_folder = media.parent != root
    season = season_of_folder(media.parent.name) if own_folder else None
    show_dir = media.parent.parent if season is not None else media.parent
    show = folders.get(show_dir) if show_dir != root and show_dir.is_relative_to(root) else None
    nfo = here.find(stem, extensions=(".nfo",)) or (
        here.find("movie", extensions=(".nfo",)) if own_folder and season is None else None)
    art: dict[str, Path] = {}
    thumb = here.find(f"{stem}-thumb", stem)
    poster = here.find(f"{stem}-poster")
    if poster is None and own_folder:
        poster = here.find("poster", "folder", "cover")
    if season is not None and show is not None:
        number = "-specials" if season == 0 else f"{season:02d}"
        poster = poster or show.find(f"season{number}-poster") or show.find("poster", "folder")
    fanart = here.find(f"{stem}-fanart") or (here.find("fanart", "backdrop") if own_folder else None)
    if fanart is None and show is not None:
        fanart = show.find("fanart", "backdrop")
    for kind, path in (("thumb", thumb), ("poster", poster), ("fanart", fanart)):
        if path is not None:
            art[kind] = path
    return Sidecars(
        nfo=nfo,
        season_nfo=here.find("season", extensions=(".nfo",)) if season is not None else None,
        show_nfo=show.find("tvshow", extensions=(".nfo",)) if show is not None else None,
        artwork=art,
    )


def usable_artwork(path: Path, inside: Path) -> bool:
    """Whether ``path`` leads to a readable image under ``inside`` (a resolved folder)."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return False
    return real.is_relative_to(inside) and looks_like_image(real)


def _tags(tags: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, key in TAG_KEYS.items():
        value = str(tags.get(tag) or "").strip()
        if not value or key in out:
            continue
        if key in ("season", "episode", "year"):
            digits = value[:4] if key == "year" else value
            if digits.isdigit():
                out[key] = int(digits)
        elif key == "genres":
            out[key] = [g.strip() for g in value.replace(";", "/").split("/") if g.strip()]
        else:
            out[key] = value[:4000]
    return out


def _names(info: NameInfo) -> dict[str, Any]:
    data: dict[str, Any] = {"title": info.title, "show": info.show, "season": info.season,
                            "episode": info.episode, "episode_last": info.episode_last,
                            "year": info.year}
    return {k: v for k, v in data.items() if v is not None}


NfoReader = Callable[[Path], "list[dict[str, Any]] | None"]
ImageCheck = Callable[[Path], bool]


def describe(media: Path, root: Path, sidecars: Sidecars,
             tags: Mapping[str, str] | None = None,
             read: NfoReader = read_nfo,
             usable: ImageCheck | None = None) -> tuple[str, dict[str, Any]]:
    """The title and metadata of ``media`` (a file under ``root``).

    ``read`` reads one NFO and ``usable`` checks one image (default:
    :func:`usable_artwork`); a scan passes ones that remember, so a ``tvshow.nfo`` or a
    show's poster is read once for all its episodes.
    """
    if usable is None:
        inside = root.resolve()

        def usable(path: Path) -> bool:
            return usable_artwork(path, inside)

    relative = media.relative_to(root)
    name = parse_name(relative)
    merged: dict[str, Any] = _tags(tags or {})
    merged.update(_names(name))
    show_nfo = (read(sidecars.show_nfo) or [{}])[0] if sidecars.show_nfo else {}
    season_nfo = (read(sidecars.season_nfo) or [{}])[0] if sidecars.season_nfo else {}
    own = read(sidecars.nfo) if sidecars.nfo else None
    if show_nfo and name.is_episode:
        merged["show"] = show_nfo.get("show", merged.get("show"))
        for key in ("genres", "rating", "summary"):
            if key in show_nfo:
                merged.setdefault(f"show_{key}", show_nfo[key])
    if season_nfo.get("title"):
        merged["season_title"] = season_nfo["title"]
    if own:
        first = dict(own[0])
        if len(own) > 1:  # one NFO for a multi-episode file: the first part's fields
            last = own[-1].get("episode")
            if isinstance(last, int):
                merged["episode_last"] = last
        merged.update(first)
    if name.is_episode or merged.get("episode") is not None:
        merged["kind"] = "episode"
        for key in ("genres", "rating", "summary"):
            if key not in merged and f"show_{key}" in merged:
                merged[key] = merged[f"show_{key}"]
    else:
        merged["kind"] = "movie"
    for key in ("show_genres", "show_rating", "show_summary"):
        merged.pop(key, None)
    episode_title = ((own[0].get("title") if own else None) or name.episode_title
                     or (tags or {}).get("title"))
    if merged["kind"] == "episode" and episode_title:
        merged["episode_title"] = str(episode_title)[:4000]
    title = str(merged.get("episode_title") or merged.get("title") or name.title)
    merged["title"] = title
    artwork = {k: str(p.relative_to(root)) for k, p in sidecars.artwork.items() if usable(p)}
    if artwork:
        merged["artwork"] = artwork
    return title, merged
