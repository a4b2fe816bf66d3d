"""Replacing the config file atomically, or not at all.

The new text goes to a temporary file in the same folder, is flushed to disk (fsync), gets
the old file's permission bits, and is renamed over the config; the folder is fsynced so
the rename survives a crash. A reader (the hot-reload watcher, an editor) sees the old
file or the new one, never a half-written one. A file whose owner may not write it
(``chmod a-w``) is treated as read-only on purpose and left alone, even for root. Every
failure is a :class:`ConfigWriteError` saying what to do; the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from exstreamtv.errors import ExStreamTVError


class ConfigWriteError(ExStreamTVError):
    """The config file could not be replaced; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _explain(exc: OSError, path: Path) -> ConfigWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ConfigWriteError(f"no space left on the disk holding {path}; free some space "
                                "and save again (the file and the running config are "
                                "unchanged)", 507)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ConfigWriteError(f"cannot write next to {path}: {exc.strerror}; make the folder "
                                "writable for the server (the file and the running config are "
                                "unchanged)", 409)
    return ConfigWriteError(f"cannot write {path}: {exc.strerror} (the file and the running "
                            "config are unchanged)", 409)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), keeping its permission bits."""
    try:
        info = path.stat()
    except OSError as exc:
        raise _explain(exc, path) from None
    if not info.st_mode & stat.S_IWUSR:
        raise ConfigWriteError(f"the config file {path} is read-only (its mode has no write "
                               "bit); make it writable to save from the dashboard or API "
                               "(nothing was changed)", 409)
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, stat.S_IMODE(info.st_mode))
        with contextlib.suppress(OSError):
            os.chown(tmp_name, info.st_uid, info.st_gid)
        os.replace(tmp_name, path)
        tmp_name = ""
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _explain(exc, path) from None
    finally:
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
