"""``type: local``: media files in a folder, scanned recursively and probed.

Options: ``path`` (the folder), ``extensions`` (which files count as media),
``probe_concurrency`` (how many files are probed at once), ``probe_engine`` (``auto``:
ffprobe when installed; ``pyav``: in-process, far faster for big libraries; ``ffprobe``),
``scan_interval_minutes`` (rescan every N minutes; 0, the default, scans only at start, on
reload and on request). An unreadable file is skipped with a logged reason, and so is a
file whose name (or folder name) is not valid UTF-8: such a name cannot be stored, shown
or put in a guide, so the file is left out with a warning that says to rename it; the rest
of the source scans as usual. A missing folder fails the scan with what to do.

Titles, episode numbers, descriptions and artwork come from NFO files, the file and folder
names and embedded tags (:mod:`exstreamtv.media.local_metadata`). A rescan probes only
files whose size or time changed, and reads the metadata again of files whose NFO or
artwork changed; a malformed NFO is ignored with a warning, never failing the scan.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol

from exstreamtv import (
    MediaError,
    MediaItem,
    MediaSource,
    SourceConfig,
    SourceContext,
    collection_name,
    hookimpl,
)
from exstreamtv.media.local_metadata import (
    Folder,
    Sidecars,
    describe,
    find_sidecars,
    usable_artwork,
)
from exstreamtv.media.models import MediaInfo
from exstreamtv.media.nfo import read_nfo
from exstreamtv.media.probe import probe_many
from exstreamtv.safe_text import printable_path

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = [
    ".mkv", ".mp4", ".m4v", ".avi", ".mov", ".ts", ".m2ts", ".mpg", ".mpeg", ".webm", ".wmv",
    ".flv", ".ogv", ".mp3", ".flac", ".m4a",
]

SCHEMA = {
    vol.Required("path"): str,
    vol.Optional("extensions", default=DEFAULT_EXTENSIONS): [str],
    vol.Optional("probe_concurrency", default=4): vol.All(int, vol.Range(min=1, max=32)),
    vol.Optional("scan_interval_minutes", default=0): vol.All(
        vol.Coerce(float), vol.Range(min=0, max=10080)),
    vol.Optional("probe_engine", default="auto"): vol.In(("auto", "ffprobe", "pyav")),
}


def item_id(source_id: str, relative: str) -> str:
    digest = hashlib.sha1(f"{source_id}:{relative}".encode()).hexdigest()[:16]
    return f"{source_id}-{digest}"


@dataclass(frozen=True)
class _Known:
    """A scanned file: what its media and sidecar files looked like, and the item made."""

    media: tuple[float, int]
    sidecars: tuple[tuple[str, float, int], ...]
    item: MediaItem


def _stat(path: Path) -> tuple[float, int]:
    st = path.stat()
    return st.st_mtime, st.st_size


def _sidecar_state(sidecars: Sidecars) -> tuple[tuple[str, float, int], ...]:
    state = []
    for path in sidecars.files:
        try:
            state.append((str(path), *_stat(path)))
        except OSError:
            state.append((str(path), 0.0, -1))
    return tuple(state)


class LocalSource(MediaSource):
    """Every media file under a folder."""

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self.root = Path(config.options["path"]).expanduser()
        self.extensions = {e.lower() if e.startswith(".") else f".{e.lower()}"
                           for e in config.options.get("extensions", DEFAULT_EXTENSIONS)}
        self.concurrency = int(config.options.get("probe_concurrency", 4))
        self.engine = str(config.options.get("probe_engine", "auto"))
        self._known: dict[str, _Known] = {}

    def _collections(self, relative: str, metadata: dict[str, Any]) -> tuple[str, ...]:
        """The source, the item's folder (``<id>:folder:<path>``) and its show
        (``<id>:show:<name>``): collections a schedule can play."""
        out = [self.id]
        folder = str(Path(relative).parent.as_posix())
        if folder != ".":
            out.append(collection_name(self.id, "folder", folder))
        if metadata.get("show"):
            out.append(collection_name(self.id, "show", str(metadata["show"])))
        return tuple(out)

    def _walk(self) -> tuple[list[Path], dict[Path, Folder]]:
        """The media files under the root, and every folder's file names (for sidecars)."""
        if not self.root.is_dir():
            raise MediaError(
                f"media folder {self.root} does not exist or is not a folder; create it or fix "
                f"sources[{self.id}].path"
            )
        files: list[Path] = []
        folders: dict[Path, Folder] = {}
        for dirpath, _dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            folders[here] = Folder(here, {name.lower(): name for name in filenames})
            for name in filenames:
                path = here / name
                if (path.suffix.lower() in self.extensions and not name.startswith(".")
                        and path.is_file() and self._decodable(path)):
                    files.append(path)
        return sorted(files), folders

    def _decodable(self, path: Path) -> bool:
        """False (with a warning) for a path that is not valid UTF-8."""
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            log.warning("Skipping %s: its name is not valid UTF-8; rename it to play it",
                        printable_path(path))
            return False
        return True

    def _plan(self) -> tuple[list[MediaItem], list[tuple[Path, Sidecars, MediaInfo | None]]]:
        """Items unchanged since the last scan, and the files to (re)describe.

        A file whose media changed is probed again (its info None here); one whose NFO or
        artwork changed keeps its probe and only has its metadata read again.
        """
        files, folders = self._walk()
        unchanged: list[MediaItem] = []
        todo: list[tuple[Path, Sidecars, MediaInfo | None]] = []
        for path in files:
            try:
                media = _stat(path)
            except OSError:
                continue
            sidecars = find_sidecars(path, self.root, folders)
            known = self._known.get(str(path))
            if known is None or known.media != media:
                todo.append((path, sidecars, None))
            elif known.sidecars != _sidecar_state(sidecars):
                todo.append((path, sidecars, known.item.info))
            else:
                unchanged.append(known.item)
        return unchanged, todo

    def _describe(self, todo: list[tuple[Path, Sidecars, MediaInfo]]) -> list[MediaItem]:
        """Items for probed files: metadata from NFO, names and tags (runs in a thread)."""
        nfos: dict[Path, list[dict[str, Any]] | None] = {}
        images: dict[Path, bool] = {}
        inside = self.root.resolve()

        def read(path: Path) -> list[dict[str, Any]] | None:
            if path not in nfos:
                nfos[path] = read_nfo(path)
            return nfos[path]

        def usable(path: Path) -> bool:
            if path not in images:
                images[path] = usable_artwork(path, inside)
            return images[path]

        items = []
        for path, sidecars, info in todo:
            relative = str(path.relative_to(self.root))
            title, metadata = describe(path, self.root, sidecars, info.tags, read, usable)
            metadata.update(path=relative, folder=path.parent.name)
            cover = next((st.index for st in info.streams if st.attached_pic), None)
            if cover is not None and not metadata.get("artwork"):
                metadata["embedded_art"] = cover  # the file's own cover, served as its poster
            if info.chapters:
                metadata["chapters"] = list(info.chapters)  # mid-roll breaks go there
            item = MediaItem(
                id=item_id(self.id, relative), source_id=self.id, title=title,
                location=str(path), duration=info.duration, info=info,
                metadata=metadata, collections=self._collections(relative, metadata),
            )
            try:
                self._known[str(path)] = _Known(_stat(path), _sidecar_state(sidecars), item)
            except OSError:
                continue
            items.append(item)
        return items

    async def scan(self) -> list[MediaItem]:
        items, todo = await asyncio.to_thread(self._plan)
        to_probe = [path for path, _sidecars, info in todo if info is None]
        results = await probe_many([str(p) for p in to_probe], self.context.tools.ffprobe,
                                   self.concurrency, self.engine)
        described: list[tuple[Path, Sidecars, MediaInfo]] = []
        for path, sidecars, info in todo:
            result = info if info is not None else results[str(path)]
            if isinstance(result, MediaError):
                log.warning("Skipping %s: %s", path, result)
                continue
            if result.duration <= 0 or not (result.video_streams or result.audio_streams):
                log.warning("Skipping %s: no playable audio or video (duration %.1fs)", path,
                            result.duration)
                continue
            described.append((path, sidecars, result))
        items += await asyncio.to_thread(self._describe, described)
        return items


def factory(config: SourceConfig, context: SourceContext) -> LocalSource:
    return LocalSource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("local", factory, SCHEMA, "media files in a folder")
