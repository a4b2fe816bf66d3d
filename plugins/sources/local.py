"""``type: local``: media files in a folder, scanned recursively and probed.

Options: ``path`` (the folder), ``extensions`` (which files count as media),
``probe_concurrency`` (how many files are probed at once), ``probe_engine`` (``auto``:
ffprobe when installed; ``pyav``: in-process, far faster for big libraries; ``ffprobe``),
``scan_interval_minutes`` (rescan every N minutes; 0, the default, scans only at start, on
reload and on request). An unreadable file is skipped with a logged reason; a missing
folder fails the scan with what to do.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

import voluptuous as vol

from exstreamtv import MediaError, MediaItem, MediaSource, SourceConfig, SourceContext, hookimpl
from exstreamtv.media.probe import probe_many

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


def title_from_path(path: Path) -> str:
    """A readable title from a file name: separators become spaces."""
    return path.stem.replace("_", " ").replace(".", " ").strip() or path.name


def item_id(source_id: str, relative: str) -> str:
    digest = hashlib.sha1(f"{source_id}:{relative}".encode()).hexdigest()[:16]
    return f"{source_id}-{digest}"


class LocalSource(MediaSource):
    """Every media file under a folder."""

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self.root = Path(config.options["path"]).expanduser()
        self.extensions = {e.lower() if e.startswith(".") else f".{e.lower()}"
                           for e in config.options.get("extensions", DEFAULT_EXTENSIONS)}
        self.concurrency = int(config.options.get("probe_concurrency", 4))
        self.engine = str(config.options.get("probe_engine", "auto"))
        self._known: dict[str, tuple[float, int, MediaItem]] = {}

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            raise MediaError(
                f"media folder {self.root} does not exist or is not a folder; create it or fix "
                f"sources[{self.id}].path"
            )
        return sorted(
            p for p in self.root.rglob("*")
            if p.suffix.lower() in self.extensions and p.is_file() and not p.name.startswith(".")
        )

    async def scan(self) -> list[MediaItem]:
        files = await asyncio.to_thread(self._files)
        items: list[MediaItem] = []
        to_probe: list[Path] = []
        for path in files:
            st = path.stat()
            known = self._known.get(str(path))
            if known and known[0] == st.st_mtime and known[1] == st.st_size:
                items.append(known[2])
            else:
                to_probe.append(path)
        results = await probe_many([str(p) for p in to_probe], self.context.tools.ffprobe,
                                   self.concurrency, self.engine)
        for path in to_probe:
            result = results[str(path)]
            if isinstance(result, MediaError):
                log.warning("Skipping %s: %s", path, result)
                continue
            if result.duration <= 0 or not (result.video_streams or result.audio_streams):
                log.warning("Skipping %s: no playable audio or video (duration %.1fs)", path,
                            result.duration)
                continue
            relative = str(path.relative_to(self.root))
            item = MediaItem(
                id=item_id(self.id, relative),
                source_id=self.id,
                title=title_from_path(path),
                location=str(path),
                duration=result.duration,
                info=result,
                metadata={"path": relative, "folder": path.parent.name},
                collections=(self.id,),
            )
            st = path.stat()
            self._known[str(path)] = (st.st_mtime, st.st_size, item)
            items.append(item)
        return items


def factory(config: SourceConfig, context: SourceContext) -> LocalSource:
    return LocalSource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("local", factory, SCHEMA, "media files in a folder")
