"""Hot reload: watch the config file's folder and hand valid edits to the hub.

Polling (once a second by default) rather than inotify: it works the same on bind
mounts, network shares and in containers, and catches editors that save by writing a
new file and renaming it over the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigWatcher:
    """Calls ``on_change`` when the file's content changes (not merely its mtime)."""

    def __init__(self, path: Path, on_change: Callable[[], Awaitable[object]],
                 interval: float = 1.0) -> None:
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self._stat: tuple[int, int, int] | None = None
        self._digest = _fingerprint(path)
        self._task: asyncio.Task[None] | None = None

    def _stat_of(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    async def check(self) -> bool:
        """Look once; True when a change was handed on."""
        stat = self._stat_of()
        if stat is None or stat == self._stat:
            return False
        self._stat = stat
        digest = _fingerprint(self.path)
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        await self.on_change()
        return True

    async def _loop(self) -> None:
        self._stat = self._stat_of()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("Config reload failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
