"""The files of the backup folder: which ones are ours, and how they are written.

Invariants:

- A sidecar (``NAME.json``) is data, never a path: the archive it describes is always
  ``NAME.tar.gz`` or ``NAME.tar`` in the same folder, where ``NAME`` follows
  :data:`BACKUP_NAME` and equals the sidecar's own file name. Whatever ``file`` a sidecar
  claims, only that name is trusted, and only when it agrees.
- A file is touched (read for a restore, deleted by retention or clean-up) only when
  :func:`own_file` proves it is a regular file directly inside the folder: no symlinks,
  no ``..``, nothing that resolves elsewhere.
- Backups are written owner-only (0600, whatever the umask), under a name starting with
  ``.`` and ending in ``.part`` until complete; :func:`clean_partials` removes what an
  interrupted backup or restore left, and only that.
- One backup or restore at a time per folder, across processes: :func:`folder_lock` is an
  ``flock`` on the folder itself (released by the kernel when a process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("scheduled", "manual", "pre-restore")
_NAME = r"exstreamtv-\d{8}T\d{12}Z-(?:scheduled|manual|pre-restore)"
#: The name of every backup this program writes: ``exstreamtv-<UTC time>-<kind>``.
BACKUP_NAME = re.compile(rf"^{_NAME}\Z")
#: What an unfinished backup leaves: its database copy (with SQLite's side files), its
#: archive, its sidecar, or a restore's work folder.
PARTIAL_NAME = re.compile(
    rf"^\.{_NAME}\.(?:db\.part(?:-wal|-shm|-journal)?|tar\.gz\.part|tar\.part|json\.part)$")
RESTORE_WORK = re.compile(rf"^\.restore-{_NAME}\Z")
#: Suffixes SQLite adds next to a database file.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BackupInfo:
    """What is known about one backup (stored as ``<name>.json``)."""

    name: str
    created: float
    size: int
    sha256: str
    schema_version: str | None
    app_version: str
    kind: str
    database: str  # sqlite | postgresql
    compressed: bool
    file: str
    database_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_iso"] = datetime.fromtimestamp(self.created, UTC).isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupInfo:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def archive_name(name: str, compressed: bool) -> str:
    """The archive file name of backup ``name``."""
    return f"{name}.tar.gz" if compressed else f"{name}.tar"


def own_file(directory: Path, filename: str) -> Path | None:
    """``directory / filename`` when it is a regular file directly inside ``directory``
    (not a symlink, no path separator); else None."""
    if not filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        return None
    path = directory / filename
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        if path.resolve().parent != directory.resolve():
            return None
    except OSError:
        return None
    return path


def read_sidecar(directory: Path, filename: str) -> BackupInfo | None:
    """The backup a sidecar in ``directory`` describes, when every claim in it checks out:
    the sidecar and its archive are our own regular files, the name follows
    :data:`BACKUP_NAME` and matches the sidecar's file name, and ``file`` is exactly the
    archive that name implies. Anything else is not a backup (None)."""
    if not filename.endswith(".json") or not BACKUP_NAME.match(filename[:-5]):
        return None
    sidecar = own_file(directory, filename)
    if sidecar is None:
        return None
    try:
        info = BackupInfo.from_dict(_load_json(sidecar))
    except (OSError, ValueError, TypeError):
        return None
    if info.name != filename[:-5] or not isinstance(info.compressed, bool):
        return None
    if info.file != archive_name(info.name, info.compressed):
        return None
    if own_file(directory, info.file) is None:
        return None
    return info


def _load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def owned_files(directory: Path, name: str) -> list[Path]:
    """The archive(s) and sidecar of backup ``name`` that are provably ours."""
    if not BACKUP_NAME.match(name):
        return []
    found = (own_file(directory, f) for f in (archive_name(name, True),
                                                archive_name(name, False), f"{name}.json"))
    return [path for path in found if path is not None]


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) owner-only; an existing one is left as it is."""
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(directory, PRIVATE_DIR)


def create_private(path: Path) -> int:
    """Create (or truncate) ``path`` readable by the owner only, whatever the umask;
    returns a file descriptor open for writing. A symlink at ``path`` is refused."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def touch_private(path: Path) -> None:
    """An empty owner-only file at ``path`` (for tools that then write into it)."""
    os.close(create_private(path))


def write_private(path: Path, data: bytes) -> None:
    """``data`` into a new owner-only file at ``path``."""
    with os.fdopen(create_private(path), "wb") as handle:
        handle.write(data)


def remove_quietly(*paths: Path) -> None:
    """Unlink each path that is a regular file or a symlink (never a folder's contents)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError,
                                 PermissionError):
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                path.unlink()


def with_side_files(path: Path) -> list[Path]:
    """``path`` and SQLite's ``-wal``/``-shm``/``-journal`` files next to it."""
    return [path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)]


@contextlib.contextmanager
def folder_lock(directory: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the folder's backup lock for the block; yields False (without the lock) when
    ``wait`` is False and another backup or restore holds it."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def remove_partials(directory: Path) -> list[str]:
    """Remove what unfinished backups and restores left in ``directory`` (the caller
    holds :func:`folder_lock`); returns the names removed. Only names matching
    :data:`PARTIAL_NAME` or :data:`RESTORE_WORK` are touched, never through a symlink."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if entry.is_symlink():
            continue
        try:
            if PARTIAL_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            elif RESTORE_WORK.match(entry.name) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                continue
        except OSError as exc:
            log.warning("Could not remove the unfinished backup file %s: %s", entry.path, exc)
            continue
        removed.append(entry.name)
    return removed


def clean_partials(directory: Path, live_database: Path | None = None) -> list[str]:
    """:func:`remove_partials` unless a backup or restore is running right now (in this
    or another process); also a restore's staged copy next to ``live_database``."""
    if not directory.is_dir():
        return []
    with folder_lock(directory, wait=False) as locked:
        if not locked:
            return []
        removed = remove_partials(directory)
        if live_database is not None:
            staged = staged_restore(live_database)
            for path in with_side_files(staged):
                if own_file(path.parent, path.name) is not None:
                    remove_quietly(path)
                    removed.append(path.name)
    if removed:
        log.info("Removed %d file(s) left by an interrupted backup or restore: %s",
                 len(removed), ", ".join(sorted(removed)))
    return removed


def staged_restore(live_database: Path) -> Path:
    """Where a restore puts the new SQLite file before swapping it in."""
    return live_database.with_name(f".{live_database.name}.restore")


def open_nofollow(path: Path) -> io.BufferedReader:
    """``path`` opened for reading, refusing a symlink (``ELOOP``)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file at ``path`` (hex), read without following a symlink."""
    digest = hashlib.sha256()
    with open_nofollow(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_private(source: Path, target: Path) -> None:
    """Copy ``source`` to a new owner-only file ``target``."""
    with open(source, "rb") as src, os.fdopen(create_private(target), "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
