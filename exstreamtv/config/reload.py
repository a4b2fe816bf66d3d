"""Hot reload: watch the config file and hand edits to the hub, safely.

Polling (once a second by default) rather than inotify: it works the same on bind
mounts, network shares and in containers, and catches editors that save by writing a
new file and renaming it over the old one.

What an editor leaves half-done must never be applied:

* the watcher waits until the file has stopped changing for ``settle`` seconds before
  reading it, so the truncated moment of a truncate-then-write save is usually never
  seen; when it is, the empty file is refused like any invalid edit (see
  :mod:`exstreamtv.config.files`);
* a file that disappears, turns into a folder or becomes unreadable is reported (the hub
  keeps the running config and shows the error); its return is picked up like an edit;
* :func:`load_replacement` parses and validates off the event loop, so streams keep
  flowing while a big file is read, then :func:`replacement_problems` refuses an edit
  that would drop the ``server`` section or open a token-protected API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from exstreamtv.config.files import MAX_FILE_BYTES
from exstreamtv.config.loader import load_config
from exstreamtv.config.model import Config
from exstreamtv.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from exstreamtv.registry import Registry

log = logging.getLogger(__name__)

#: How many times the watcher waits for a file that keeps changing before reading it anyway.
MAX_SETTLE_ROUNDS = 10


def _fingerprint(path: Path) -> str:
    """The content's hash, or a marker for a file that cannot be read as a config.

    Only regular files within the size limit are read (never a FIFO, a device or a huge
    file), so looking at the file cannot block or cost much.
    """
    try:
        info = path.stat()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"not a file: {stat.S_IFMT(info.st_mode)}"
    if info.st_size > MAX_FILE_BYTES:
        return f"too big: {info.st_size} {info.st_mtime_ns}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            return hashlib.sha256(handle.read(MAX_FILE_BYTES + 1)).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


class ConfigWatcher:
    """Calls ``on_change`` when the file's content or readability changes (not its mtime)."""

    def __init__(self, path: Path, on_change: Callable[[], Awaitable[object]],
                 interval: float = 1.0, settle: float = 0.3) -> None:
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self.settle = settle
        self._stat: tuple[int, int, int, int] | None = None
        self._digest = _fingerprint(path)
        self._task: asyncio.Task[None] | None = None

    def _stat_of(self) -> tuple[int, int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode)

    async def _settled_stat(self) -> tuple[int, int, int, int] | None:
        """The file's stat once it has stayed the same for ``settle`` seconds."""
        current = self._stat_of()
        for _ in range(MAX_SETTLE_ROUNDS):
            await asyncio.sleep(self.settle)
            again = self._stat_of()
            if again == current:
                break
            current = again
        return current

    async def check(self) -> bool:
        """Look once; True when a change was handed on."""
        if self._stat_of() == self._stat:
            return False
        self._stat = await self._settled_stat()
        digest = await asyncio.to_thread(_fingerprint, self.path)
        if digest == self._digest:
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


def replacement_problems(running: Config, new: Config) -> list[ConfigProblem]:
    """Why ``new`` may not replace ``running`` live, though it is valid on its own.

    A server started from a file without a token is open, as documented; but a reload
    never opens a server that required a token (a lost line, a truncated save, a bad
    merge): that takes ``server.auth_disabled: true``, written on purpose.
    """
    problems = []
    if "server" in running.sections and "server" not in new.sections:
        problems.append(ConfigProblem(
            "server", "the section is missing from the edited file; the running settings are "
                      "kept (restore the server section to apply the edit)"))
    running_auth = running.server.api_token or running.server.tokens
    new_auth = new.server.api_token or new.server.tokens
    if running_auth and not new_auth and not new.server.auth_disabled:
        problems.append(ConfigProblem(
            "server.api_token", "the running server requires an API token and the edited file "
                                "has none, which would open the API to anyone: set "
                                "server.api_token (or server.tokens), or set "
                                "server.auth_disabled: true to turn authentication off on "
                                "purpose"))
    return problems


async def load_replacement(running: Config, registry: Registry | None) -> Config:
    """Read and validate the running config's file off the event loop; ConfigError when it
    does not parse, does not validate, or may not replace ``running`` (see above)."""
    assert running.path is not None
    try:
        new = await asyncio.to_thread(load_config, running.path, registry)
    except ConfigError:
        raise
    except Exception as exc:  # a bug in a plugin schema must not take the running config
        log.exception("Unexpected error while reading %s", running.path)
        raise ConfigError([ConfigProblem("", f"unexpected error while reading the config: "
                                             f"{type(exc).__name__}: {exc}")],
                          str(running.path)) from None
    problems = replacement_problems(running, new)
    if problems:
        raise ConfigError(problems, str(running.path))
    return new
