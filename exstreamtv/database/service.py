"""The database as a part of the hub: connect (with retries), migrate, persist, back up.

It also owns :class:`~exstreamtv.database.failed_items.FailedItems` (items a channel
could not play, kept out of the playout until their files change).

``Database.start`` connects in the background with backoff, so a database that is
locked or unreachable at start is reported in health instead of crashing the server;
only a database written by a newer ExStreamTV stops the start (:class:`SchemaTooNew`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exstreamtv.config.model import Config
from exstreamtv.database.backup import DatabaseBackupManager
from exstreamtv.database.connection import (
    MAX_POOL_SIZE,
    DatabaseConnectionManager,
    safe_url,
    sqlite_path,
)
from exstreamtv.database.failed_items import FailedItems
from exstreamtv.database.inuse import DatabaseClaim
from exstreamtv.database.migrate import SchemaTooNew, migrate
from exstreamtv.database.playout_state import PlayoutStore
from exstreamtv.database.store import LibraryStore
from exstreamtv.events import ChannelEvent, Event
from exstreamtv.media.models import MediaItem
from exstreamtv.media.source import MediaSource

if TYPE_CHECKING:
    from exstreamtv.hub import Hub

log = logging.getLogger(__name__)

#: How long ``start`` waits for the first connection before serving anyway.
START_WAIT_SECONDS = 5.0
HEALTH_INTERVAL_SECONDS = 15.0
RETRY_MAX_SECONDS = 30.0


def backup_directory(config: Config) -> Path:
    """``database_backup.backup_directory``; a relative one is under the data directory."""
    path = Path(config.database_backup.backup_directory)
    return path if path.is_absolute() else Path(config.server.data_directory) / path


def make_managers(config: Config) -> tuple[DatabaseConnectionManager, DatabaseBackupManager]:
    """The connection and backup managers for ``config`` (also used by the CLI)."""
    manager = DatabaseConnectionManager(config.database.url, len(config.channels))
    backups = DatabaseBackupManager(manager, config.database_backup, backup_directory(config),
                                    config.path)
    return manager, backups


class Database:
    """Owns the connection manager, the library store and the backup manager."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.manager, self.backups = make_managers(hub.config)
        self.backups.after_restore = self._after_restore
        self.store = LibraryStore(self.manager)
        #: Marks the database as used by this server (the CLI restore refuses meanwhile).
        self.claim = DatabaseClaim(self.manager.url, exclusive=False)
        self.failed_items = FailedItems(self.manager)
        #: Playout memories and play history (exstreamtv.database.playout_state).
        self.playout = PlayoutStore(self.manager)
        hub.bus.subscribe(self._on_event)
        self.state = "connecting"  # connecting | ok | error
        self.error: str | None = None
        #: Why the last write probe failed (a read-only or full database), else None.
        self.write_error: str | None = None
        self.schema: str | None = None
        self.attempts = 0
        self._schedule: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ok"

    async def start(self) -> None:
        """Connect, migrate and load the library; keep retrying in the background."""
        self.hub.components["database"] = self.health
        self.hub.components["backups"] = self.backups.status
        await asyncio.to_thread(self.backups.clean_partials)
        self.hub.library.scan_listeners.append(self._save_scan)
        self.hub.library.scan_listeners.append(self.failed_items.check_scan)
        task = self.hub.spawn(self._connect_loop(), name="database-connect")
        await asyncio.wait({task}, timeout=START_WAIT_SECONDS)
        if task.done() and not task.cancelled() and isinstance(task.exception(), SchemaTooNew):
            raise task.exception()  # type: ignore[misc]

    async def _connect_loop(self) -> None:
        delay = 0.5
        while True:
            self.attempts += 1
            try:
                await self.claim.acquire()
                await self.manager.open()
                self.schema = await migrate(self.manager)
            except SchemaTooNew as exc:
                self.state, self.error = "error", str(exc)
                log.error("%s", exc)
                await self.manager.close()
                raise
            except Exception as exc:
                await self.manager.close()
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if self.state != "error":
                    log.error("Database %s is unavailable (%s); retrying in the background",
                              safe_url(self.manager.url), message)
                self.state, self.error = "error", message
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            break
        if self.state == "error":
            log.info("Database %s is available again", safe_url(self.manager.url))
        self.state, self.error = "ok", None
        await self._probe_writes()
        await self._load_library()
        await self.failed_items.load()
        await self._load_playout()
        self.hub.spawn(self._health_loop(), name="database-health")
        self.start_schedule()

    def _on_event(self, event: Event) -> Any:
        if isinstance(event, ChannelEvent) and event.action == "item" and self.ready:
            return self.playout.record_play(event)
        return None

    async def _load_playout(self) -> None:
        try:
            stored = await self.playout.load()
        except Exception as exc:
            log.error("Could not load the channels' playout state: %s", exc)
            return
        self.hub.channels.restore_playout(stored)
        try:
            books = await self.playout.load_cooldowns()
        except Exception as exc:
            log.error("Could not load the channels' cooldowns: %s", exc)
            return
        self.hub.channels.restore_cooldowns(books)

    async def _load_library(self, *, save_pending: bool = True) -> None:
        try:
            known = await self.store.load()
        except Exception as exc:
            log.error("Could not load the library from the database: %s", exc)
            return
        library = self.hub.library
        restored = [sid for sid, items in known.items() if library.restore_items(sid, items)]
        if restored:
            log.info("Loaded known items of %s from the database", ", ".join(restored))
        if not save_pending:
            return
        # Scans that finished while the database was still unavailable are saved now.
        for source_id, source in list(library.sources.items()):
            status = library.status.get(source_id)
            if status is not None and status.state == "ok" and source_id not in restored:
                with contextlib.suppress(Exception):
                    await self._save_scan(source, library.items.get(source_id, []))

    async def _save_scan(self, source: MediaSource, items: list[MediaItem]) -> None:
        if self.ready:
            await self.store.save(source.id, source.config.type, items)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
            with contextlib.suppress(Exception):
                await self.claim.ensure()
            with contextlib.suppress(Exception):
                await self.manager.check()
                await self._probe_writes()

    async def _probe_writes(self) -> None:
        """Record whether the database takes writes (logged once per change)."""
        try:
            await self.manager.check_writable()
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = reason.removeprefix("(sqlite3.OperationalError) ")
            if self.write_error is None:
                log.error("Database %s takes no writes (%s); %s", safe_url(self.manager.url),
                          reason, self._write_advice())
            self.write_error = reason
            return
        if self.write_error is not None:
            log.info("Database %s takes writes again", safe_url(self.manager.url))
        self.write_error = None

    def _write_advice(self) -> str:
        path = sqlite_path(self.manager.url)
        if path is not None:
            return (f"the server's user must be able to write {path} and its folder, on a "
                    "disk mounted read-write with free space")
        return "the database user needs write access, on a primary (not a standby) with free space"

    async def expand_pool(self) -> int:
        """Grow the connection pool by half (self-healing's EXPAND fix for an exhausted
        pool); returns the previous size, which :meth:`restore_pool` takes back."""
        size = self.manager.pool_size
        if not self.ready:
            raise RuntimeError(f"the database is not connected ({self.error or self.state})")
        if size >= MAX_POOL_SIZE:
            raise RuntimeError(f"the pool is already at its maximum of {MAX_POOL_SIZE} "
                               "connections; look for slow queries or a stuck client")
        wanted = min(MAX_POOL_SIZE, max(size + 1, math.ceil(size * 1.5)))
        if not self.manager.set_pool_size(wanted, "self-healing: pool exhausted"):
            raise RuntimeError("this database's pool cannot be resized (in-memory SQLite)")
        return size

    async def restore_pool(self, size: int) -> None:
        """Undo :meth:`expand_pool`."""
        self.manager.set_pool_size(size, "self-healing rollback")

    async def _after_restore(self) -> None:
        # The restored rows stay as the backup had them: the running library keeps what
        # its sources hold, and each source's next scan brings the database up to date.
        await self._load_library(save_pending=False)
        await self._load_playout()

    def start_schedule(self) -> None:
        """Start the scheduled backups once connected (a cluster node: once it joined, so
        that its backups go through the cluster's gate)."""
        clustered = self.hub.config.cluster.enabled
        if (clustered and self.backups.gate is None) or not self.ready:
            return
        if self.hub.config.database_backup.enabled and self._schedule is None:
            self._schedule = self.hub.spawn(self.backups.run_schedule(), name="database-backups")

    def _stop_schedule(self) -> None:
        if self._schedule is not None:
            self._schedule.cancel()
            self._schedule = None

    async def stop(self) -> None:
        """Stop the schedule and close every connection."""
        self._stop_schedule()
        await self.manager.close(wait=5.0)
        await self.claim.release()

    async def apply_config(self, old: Config, new: Config) -> None:
        """Resize the pool for a new channel count; pick up backup settings."""
        if old.database != new.database:
            log.warning("database.url changed; restart the server to use the new database")
        self.backups.config = new.database_backup
        self.backups.config_path = new.path
        directory = backup_directory(new)
        if directory != self.backups.directory:
            log.info("Backups now go to %s", directory)
            self.backups.directory = directory
            await asyncio.to_thread(self.backups.clean_partials)
        if old.database_backup != new.database_backup:
            self._stop_schedule()
            if self.ready:
                self.start_schedule()
        if len(new.channels) != self.manager.channel_count:
            if self.manager.is_open:
                await self.manager.resize(len(new.channels))
            else:
                self.manager.channel_count = len(new.channels)

    def health(self) -> dict[str, Any]:
        """The ``database`` component of ``GET /api/health``."""
        stats = self.manager.stats()
        status = "ok" if self.ready else "error"
        error = self.error
        if self.ready and (stats["saturation"] >= 0.9 or self.write_error):
            status = "degraded"
        if self.ready and self.write_error:
            error = f"the database takes no writes: {self.write_error}; {self._write_advice()}"
        return {
            "status": status,
            "state": self.state,
            "error": error,
            "writable": self.ready and self.write_error is None,
            "attempts": self.attempts,
            "schema": self.schema,
            "checked_at": time.time(),
            **stats,
        }
