"""DatabaseBackupManager (spec 5.1): scheduled, manual and pre-restore backups.

A backup is one archive ``<name>.tar.gz`` (``.tar`` without ``compress``) holding the
database (a SQLite snapshot taken with the online backup API, or a ``pg_dump`` custom
archive), the config file, and ``backup.json``; next to it ``<name>.json`` holds the
:class:`BackupInfo` with the archive's SHA-256. Which files of the folder are ours, and
how they are written (owner-only, under a ``.part`` name until complete, one backup at a
time across processes), is in :mod:`exstreamtv.database.backup_files`; a failed backup
removes what it wrote, and one that was killed is cleaned up at the next start or backup.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import io
import json
import logging
import os
import re
import shutil
import tarfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exstreamtv import __version__
from exstreamtv.config.model import DatabaseBackupConfig
from exstreamtv.database import sqlite_tools
from exstreamtv.database.backup_files import (
    KINDS,
    BackupInfo,
    archive_name,
    clean_partials,
    copy_private,
    create_private,
    folder_lock,
    make_private_dir,
    open_nofollow,
    own_file,
    owned_files,
    read_sidecar,
    remove_partials,
    remove_quietly,
    sha256_file,
    staged_restore,
    touch_private,
    with_side_files,
    write_private,
)
from exstreamtv.database.connection import DatabaseConnectionManager, sqlite_path
from exstreamtv.database.migrate import SchemaTooNew, check_not_newer, migrate, schema_revision
from exstreamtv.database.models import BackupRow
from exstreamtv.database.pg_tools import ToolError, pg_env_and_url, pg_tool, run_tool
from exstreamtv.errors import ExStreamTVError

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")  # fullmatch: "$" allows a final \n
#: After a failed scheduled backup, the next try is this long after.
RETRY_SECONDS = 600.0
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Skip:
    """A scheduled backup this server does not take: why, and when to look again."""

    reason: str
    until: float


#: Takes the scheduled backup (by awaiting its argument) or returns why not: set by
#: a cluster node, so that one node at a time takes the scheduled backup.
ScheduleGate = Callable[[Callable[[], Awaitable[object]], float], Awaitable[Skip | None]]


class BackupError(ExStreamTVError):
    """A backup or restore that could not be done; the message says why."""


class InvalidBackupName(BackupError):
    """A name with a path separator, ``..`` or other characters a backup never has."""


class BackupNotFound(BackupError):
    """No backup with that name."""


class BackupDiskFull(BackupError):
    """The backup folder's disk is full (or the quota is used up)."""


def _disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the disk or a quota is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "database or disk is full" in text \
                or "Disk quota exceeded" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def check_name(name: str) -> str:
    """``name`` if it can name a backup, else :class:`InvalidBackupName`."""
    if "/" in name or "\\" in name or ".." in name or not NAME_PATTERN.fullmatch(name):
        raise InvalidBackupName(
            f"invalid backup name {name!r}: use letters, digits, '.', '_' and '-' only "
            "(no path separators, no '..')")
    return name


class DatabaseBackupManager:
    """Creates, lists, restores and prunes backups of one database."""

    def __init__(self, manager: DatabaseConnectionManager, config: DatabaseBackupConfig,
                 directory: Path, config_path: Path | None = None,
                 after_restore: Callable[[], Awaitable[None]] | None = None) -> None:
        self.manager = manager
        self.config = config
        self.directory = directory
        self.config_path = config_path
        self.after_restore = after_restore
        self.last_backup: BackupInfo | None = None
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self._started = time.time()
        #: Who may take a scheduled backup (None: this server, always).
        self.gate: ScheduleGate | None = None
        self._not_before = 0.0

    @property
    def backend(self) -> str:
        return "sqlite" if self.manager.is_sqlite else "postgresql"

    def _archive(self, name: str, compressed: bool) -> Path:
        return self.directory / archive_name(name, compressed)

    def _live_sqlite(self) -> Path | None:
        return sqlite_path(self.manager.url) if self.backend == "sqlite" else None

    def clean_partials(self) -> list[str]:
        """Remove what interrupted backups and restores left (none while one runs)."""
        return clean_partials(self.directory, self._live_sqlite())

    @contextlib.asynccontextmanager
    async def _folder_locked(self) -> AsyncIterator[None]:
        """The backup folder's lock (across processes), waited for off the event loop;
        what an interrupted backup left is removed once it is held."""
        await asyncio.to_thread(make_private_dir, self.directory)
        stack = contextlib.ExitStack()
        await asyncio.to_thread(stack.enter_context, folder_lock(self.directory))
        try:
            await asyncio.to_thread(remove_partials, self.directory)
            yield
        finally:
            stack.close()

    # -- create ------------------------------------------------------------------

    async def create_backup(self, kind: str = "manual") -> BackupInfo:
        """Take a backup now; nothing is left behind when it fails.

        Manual and scheduled backups then apply the retention rules (a pre-restore backup
        does not: the backup being restored may be one they would delete)."""
        if kind not in KINDS:
            raise ValueError(f"unknown backup kind {kind!r}")
        async with self._lock:
            try:
                async with self._folder_locked():
                    info = await self._create(kind)
            except BackupError:
                raise
            except OSError as exc:  # the folder itself could not be made or locked
                raise self._failed(kind, exc) from exc
        if kind != "pre-restore":
            await asyncio.to_thread(self.cleanup_old_backups)
        return info

    def _failed(self, name: str, exc: BaseException) -> BackupError:
        """The error to raise for a failed backup (logged and kept for health)."""
        self.last_error = f"backup failed: {exc}"
        log.error("Backup %s failed, nothing kept: %s", name, exc)
        if _disk_full(exc):
            return BackupDiskFull(f"backup failed: the disk holding {self.directory} is full "
                                  f"({exc}); free some space or move backup_directory")
        if isinstance(exc, BackupError):
            return exc
        return BackupError(f"backup failed: {exc}")

    async def _create(self, kind: str) -> BackupInfo:
        created = time.time()
        stamp = datetime.fromtimestamp(created, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"exstreamtv-{stamp}-{kind}"
        revision = await schema_revision(self.manager) if self.manager.is_open else None
        try:
            info = await asyncio.to_thread(self._write, name, kind, created, revision)
        except Exception as exc:
            raise self._failed(name, exc) from exc
        self.last_backup, self.last_error = info, None
        log.info("Backup %s written (%d bytes, %s)", name, info.size, kind)
        await self._record(info)
        return info

    async def _record(self, info: BackupInfo) -> None:
        """Add the backup to the database's history (the files stay authoritative)."""
        if not self.manager.is_open:
            return
        try:
            async with self.manager.session() as session, session.begin():
                session.add(BackupRow(name=info.name, kind=info.kind, created=info.created,
                                      size=info.size, sha256=info.sha256,
                                      schema_version=info.schema_version,
                                      app_version=info.app_version))
        except Exception as exc:
            log.warning("Backup %s is not in the database's history: %s", info.name, exc)

    def _write(self, name: str, kind: str, created: float, revision: str | None) -> BackupInfo:
        """Write backup ``name`` (the caller holds the folder lock)."""
        compressed = self.config.compress
        final = self._archive(name, compressed)
        part = final.with_name(f".{final.name}.part")
        dump = self.directory / f".{name}.db.part"
        sidecar = self.directory / f"{name}.json"
        sidecar_part = self.directory / f".{name}.json.part"
        try:
            if self.backend == "sqlite":
                live = sqlite_path(self.manager.url)
                if live is None:
                    raise BackupError("an in-memory SQLite database cannot be backed up")
                sqlite_tools.snapshot(live, dump)
                member = "database.sqlite"
            else:
                env, url = pg_env_and_url(self.manager.url)
                touch_private(dump)  # pg_dump keeps the mode of a file that exists
                run_tool([pg_tool("pg_dump"), "--format=custom", "--no-owner",
                      f"--file={dump}", f"--dbname={url}"], env)
                member = "database.pgdump"
            db_sha = sha256_file(dump)
            inner = {"name": name, "created": created, "kind": kind, "database": self.backend,
                     "schema_version": revision, "app_version": __version__,
                     "database_member": member, "database_sha256": db_sha}
            mode = "w:gz" if compressed else "w"
            with os.fdopen(create_private(part), "wb") as raw:
                kwargs: dict[str, Any] = {"copybufsize": _CHUNK}
                if compressed:
                    kwargs["compresslevel"] = 6
                with tarfile.open(fileobj=raw, mode=mode, **kwargs) as tar:  # type: ignore[call-overload]
                    _add_bytes(tar, "backup.json", json.dumps(inner, indent=2).encode())
                    if self.config_path is not None and self.config_path.is_file():
                        tar.add(str(self.config_path), arcname="config.yaml")
                    tar.add(str(dump), arcname=member)
                raw.flush()
                os.fsync(raw.fileno())
            info = BackupInfo(name=name, created=created, size=part.stat().st_size,
                              sha256=sha256_file(part), schema_version=revision,
                              app_version=__version__, kind=kind, database=self.backend,
                              compressed=compressed, file=final.name, database_sha256=db_sha)
            write_private(sidecar_part, json.dumps(info.to_dict(), indent=2).encode())
            os.replace(part, final)
            os.replace(sidecar_part, sidecar)
            return info
        except BaseException:
            remove_quietly(part, sidecar_part, final, sidecar)
            raise
        finally:
            remove_quietly(*with_side_files(dump))

    # -- list and prune ----------------------------------------------------------

    def list_backups(self) -> list[BackupInfo]:
        """Every complete backup, newest first (by the creation time in its metadata).

        Only sidecars whose every claim checks out count (:func:`read_sidecar`): a forged
        or stray ``.json`` is not a backup, so nothing acts on the paths it names."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return []
        found = [info for n in names if (info := read_sidecar(self.directory, n)) is not None]
        return sorted(found, key=lambda i: i.created, reverse=True)

    def get(self, name: str) -> BackupInfo:
        check_name(name)
        for info in self.list_backups():
            if info.name == name:
                return info
        raise BackupNotFound(f"no backup named {name!r} in {self.directory}")

    def cleanup_old_backups(self, now: float | None = None) -> list[str]:
        """Delete backups beyond ``keep_count`` or older than ``keep_days``.

        The newest backup is always kept. Only the backup's own files are deleted: the
        archive and sidecar its name implies, when they are regular files in the folder.
        Returns the names deleted.
        """
        now = time.time() if now is None else now
        horizon = now - self.config.keep_days * 86400
        deleted = []
        for position, info in enumerate(self.list_backups()):
            if position == 0:
                continue
            if position >= self.config.keep_count or info.created < horizon:
                remove_quietly(*owned_files(self.directory, info.name))
                deleted.append(info.name)
        if deleted:
            log.info("Removed %d old backup(s): %s", len(deleted), ", ".join(deleted))
        return deleted

    # -- restore -----------------------------------------------------------------

    async def restore_backup(self, name: str) -> BackupInfo:
        """Validate ``name``, take a pre-restore backup, swap it in, reconnect.

        Returns the pre-restore backup. The live database is not touched unless the
        backup passed every check.
        """
        info = self.get(name)
        async with self._lock, self._folder_locked():
            work = self.directory / f".restore-{name}"
            work.mkdir(mode=0o700)
            try:
                try:
                    member = await asyncio.to_thread(self._validate, info, work)
                except SchemaTooNew as exc:
                    raise BackupError(str(exc)) from None
                pre = await self._create("pre-restore")
                if self.backend == "sqlite":
                    await self._swap_sqlite(member)
                else:
                    await self._restore_postgres(member)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        log.info("Restored backup %s (the previous database is in %s)", name, pre.name)
        if self.after_restore is not None:
            await self.after_restore()
        return pre

    def _validate(self, info: BackupInfo, work: Path) -> Path:
        archive = own_file(self.directory, info.file)
        if archive is None:
            raise BackupNotFound(f"backup {info.name} is gone from {self.directory}")
        if info.database != self.backend:
            raise BackupError(f"backup {info.name} is of a {info.database} database; this "
                              f"server uses {self.backend}")
        actual = sha256_file(archive)
        if actual != info.sha256:
            raise BackupError(f"backup {info.name} is corrupt: its SHA-256 is {actual}, "
                              f"the metadata says {info.sha256}")
        try:
            with open_nofollow(archive) as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
                inner = json.loads(_read_member(tar, "backup.json"))
                member = str(inner["database_member"])
                if member not in ("database.sqlite", "database.pgdump"):
                    raise BackupError(f"backup {info.name} names an unexpected member {member}")
                target = work / member
                source = tar.extractfile(member)
                if source is None:
                    raise KeyError(member)
                with source, os.fdopen(create_private(target), "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
        except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, KeyError, ValueError) as exc:
            raise BackupError(f"backup {info.name} is unreadable (truncated or corrupt): "
                              f"{exc}") from None
        if sha256_file(target) != inner.get("database_sha256"):
            raise BackupError(f"backup {info.name} is corrupt: the database inside does not "
                              "match its checksum")
        check_not_newer(inner.get("schema_version"), f"Backup {info.name}")
        if self.backend == "sqlite":
            try:
                revision = sqlite_tools.verify(target)
            except sqlite_tools.SQLiteCopyError as exc:
                raise BackupError(str(exc)) from None
            check_not_newer(revision, f"Backup {info.name}")
        else:
            try:
                run_tool([pg_tool("pg_restore"), "--list", str(target)], dict(os.environ))
            except ToolError as exc:
                raise BackupError(str(exc)) from None
        return target

    async def _swap_sqlite(self, restored: Path) -> None:
        live = sqlite_path(self.manager.url)
        assert live is not None
        staged = staged_restore(live)
        try:
            await asyncio.to_thread(copy_private, restored, staged)
            async with self.manager.offline():
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        live.with_name(live.name + suffix).unlink()
                os.replace(staged, live)
        finally:
            remove_quietly(*with_side_files(staged))
        await migrate(self.manager)

    async def _restore_postgres(self, dump: Path) -> None:
        env, url = pg_env_and_url(self.manager.url)
        try:
            tool = pg_tool("pg_restore")
            async with self.manager.offline():
                await asyncio.to_thread(run_tool, [tool, "--clean", "--if-exists", "--no-owner",
                                                   "--single-transaction", f"--dbname={url}",
                                                   str(dump)], env)
        except ToolError as exc:
            raise BackupError(str(exc)) from None
        await migrate(self.manager)

    # -- schedule ----------------------------------------------------------------

    def next_due(self) -> float:
        """When the next scheduled backup is due: ``interval_hours`` after the newest
        scheduled one, or ``first_backup_minutes`` after start when there is none (and
        not before the time a skipped one said to look again)."""
        scheduled = [b.created for b in self.list_backups() if b.kind == "scheduled"]
        if not scheduled:
            due = self._started + self.config.first_backup_minutes * 60
        else:
            due = max(scheduled) + self.config.interval_hours * 3600
        return max(due, self._not_before)

    async def run_schedule(self) -> None:
        """Take a backup every ``interval_hours`` (forever; cancel to stop)."""
        while True:
            delay = max(0.0, self.next_due() - time.time())
            await asyncio.sleep(min(delay, 3600.0))
            if time.time() < self.next_due():
                continue
            try:
                await self._scheduled()
            except Exception as exc:
                log.error("Scheduled backup failed; retrying in 10 minutes: %s", exc)
                self._not_before = time.time() + RETRY_SECONDS

    async def _scheduled(self) -> None:
        """One scheduled backup, here or (through the gate) on another cluster node."""
        if self.gate is None:
            await self.create_backup("scheduled")
            return
        skip = await self.gate(lambda: self.create_backup("scheduled"),
                               self.config.interval_hours * 3600)
        if skip is not None:
            log.info("Scheduled backup skipped on this node: %s", skip.reason)
            self._not_before = skip.until

    def status(self) -> dict[str, Any]:
        backups = self.list_backups()
        return {
            "status": "degraded" if self.last_error else "ok",
            "enabled": self.config.enabled,
            "directory": str(self.directory),
            "count": len(backups),
            "newest": backups[0].name if backups else None,
            "next_due": self.next_due() if self.config.enabled else None,
            "last_error": self.last_error,
        }


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mtime = int(time.time())
    tar.addfile(member, io.BytesIO(data))


def _read_member(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(name)
    return handle.read()
