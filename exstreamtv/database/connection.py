"""DatabaseConnectionManager (spec 1.1): one async engine, sized by channel count, watched.

The pool size follows the spec's formula (:func:`optimal_pool_size`). When hot reload
changes the channel count, :meth:`DatabaseConnectionManager.resize` builds a new engine,
routes new sessions to it and disposes of the old one once the sessions that were using
it have finished, so no request in flight fails. Pool events feed
:class:`ConnectionMetrics`; :meth:`DatabaseConnectionManager.check` measures latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

BASE_POOL_SIZE = 10
MAX_POOL_SIZE = 100
CONNECTIONS_PER_CHANNEL = 2.5
#: SQLite waits this long for the single writer lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: A write SQLite still refuses after its busy timeout is tried this many times in all.
WRITE_ATTEMPTS = 3
WRITE_RETRY_SECONDS = 0.5
POOL_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (or "busy"): another writer held the lock."""
    return isinstance(exc, OperationalError) and any(
        word in str(exc.orig) for word in ("database is locked", "database is busy"))


def optimal_pool_size(channel_count: int) -> int:
    """The spec's pool size: ``max(BASE, min(int(channels * 2.5) + BASE, MAX))``."""
    calculated = int(channel_count * CONNECTIONS_PER_CHANNEL) + BASE_POOL_SIZE
    return max(BASE_POOL_SIZE, min(calculated, MAX_POOL_SIZE))


def is_sqlite(url: str | URL) -> bool:
    """True for a ``sqlite`` URL (any driver)."""
    return make_url(str(url)).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    parsed = make_url(str(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


_WARNED_MODES: set[Path] = set()


def create_private_database(path: Path) -> None:
    """Create the SQLite file ``path`` (and its folder) readable by the owner only when it
    does not exist yet; SQLite would make it 0644 (minus the umask), and its ``-wal`` and
    ``-shm`` files take the database file's mode. An existing file keeps its mode (with a
    warning when other users may read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        with contextlib.suppress(OSError):
            mode = path.stat().st_mode & 0o777
            if mode & 0o077 and path not in _WARNED_MODES:
                _WARNED_MODES.add(path)
                log.warning("The database file %s can be read by other users (mode %o); "
                            "make it private with: chmod 600 %s", path, mode, path)
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def safe_url(url: str | URL) -> str:
    """The URL with any password masked, for logs and health."""
    return make_url(str(url)).render_as_string(hide_password=True)


@dataclass
class ConnectionMetrics:
    """Counters fed by pool events, plus checkout wait times measured by the manager."""

    created: int = 0
    checked_out: int = 0
    checked_in: int = 0
    invalidated: int = 0
    recycled: int = 0
    closed: int = 0
    in_use: int = 0
    peak_in_use: int = 0
    waits: int = 0
    wait_total: float = 0.0
    wait_max: float = 0.0
    timeouts: int = 0
    write_retries: int = 0

    def record_wait(self, seconds: float) -> None:
        self.waits += 1
        self.wait_total += seconds
        self.wait_max = max(self.wait_max, seconds)

    def saturation(self, capacity: int) -> float:
        """Connections in use as a fraction of the pool's capacity."""
        return round(self.in_use / capacity, 3) if capacity else 0.0

    def to_dict(self, capacity: int) -> dict[str, Any]:
        return {
            "created": self.created,
            "checked_out": self.checked_out,
            "checked_in": self.checked_in,
            "invalidated": self.invalidated,
            "recycled": self.recycled,
            "closed": self.closed,
            "in_use": self.in_use,
            "peak_in_use": self.peak_in_use,
            "saturation": self.saturation(capacity),
            "wait_avg_ms": round(1000 * self.wait_total / self.waits, 3) if self.waits else 0.0,
            "wait_max_ms": round(1000 * self.wait_max, 3),
            "timeouts": self.timeouts,
            "write_retries": self.write_retries,
        }


@dataclass
class _EngineSlot:
    """An engine plus the number of sessions currently using it."""

    engine: AsyncEngine
    pool_size: int
    active: int = 0
    retired: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class DatabaseConnectionManager:
    """The async engine for ``url``, its pool sized for ``channel_count`` channels."""

    def __init__(self, url: str, channel_count: int = 0, *, echo: bool = False,
                 pool_recycle: int = 3600, pool_timeout: float = POOL_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.pool_timeout = pool_timeout
        self.channel_count = channel_count
        self.metrics = ConnectionMetrics()
        self.latency_ms: float | None = None
        self.last_check: float | None = None
        self.last_error: str | None = None
        self._echo = echo
        self._pool_recycle = pool_recycle
        self._slot: _EngineSlot | None = None
        self._online = asyncio.Event()
        self._offline_depth = 0
        self._retiring: set[asyncio.Task[None]] = set()

    # -- engine ------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @property
    def pool_size(self) -> int:
        """The pool size in use (the formula's value until resized; 1 for in-memory SQLite)."""
        if self._slot is not None:
            return self._slot.pool_size
        return optimal_pool_size(self.channel_count)

    @property
    def engine(self) -> AsyncEngine:
        """The current engine; :meth:`open` must have been called."""
        if self._slot is None:
            raise RuntimeError("the database is not open")
        return self._slot.engine

    @property
    def is_open(self) -> bool:
        return self._slot is not None

    @property
    def retiring(self) -> int:
        """Old engines (from a resize) still waiting for their sessions to finish."""
        return len(self._retiring)

    def _build(self, pool_size: int) -> _EngineSlot:
        url = make_url(self.url)
        kwargs: dict[str, Any] = {"echo": self._echo}
        if url.get_backend_name() == "sqlite":
            path = sqlite_path(url)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            if path is None:
                kwargs["poolclass"] = StaticPool
                pool_size = 1
            else:
                create_private_database(path)
        elif url.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"timeout": 10}
        if "poolclass" not in kwargs:
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=self.pool_timeout,
                          pool_recycle=self._pool_recycle, pool_pre_ping=True)
        engine = create_async_engine(url, **kwargs)
        self._listen(engine)
        return _EngineSlot(engine, pool_size)

    def _listen(self, engine: AsyncEngine) -> None:
        metrics = self.metrics
        sqlite = engine.dialect.name == "sqlite"
        # Pool records outlive their DB-API connections (and SQLAlchemy clears
        # record.info on recycle), so remember records by identity: a record that
        # connects again without having been invalidated was recycled.
        opened: set[int] = set()
        invalidated: set[int] = set()

        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, record: Any) -> None:
            if sqlite:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()
            key = id(record)
            if key in opened and key not in invalidated:
                metrics.recycled += 1
            invalidated.discard(key)
            opened.add(key)
            metrics.created += 1

        @event.listens_for(engine.sync_engine, "checkout")
        def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            metrics.checked_out += 1
            metrics.in_use += 1
            metrics.peak_in_use = max(metrics.peak_in_use, metrics.in_use)

        @event.listens_for(engine.sync_engine, "checkin")
        def on_checkin(dbapi_connection: Any, record: Any) -> None:
            metrics.checked_in += 1
            metrics.in_use = max(0, metrics.in_use - 1)

        @event.listens_for(engine.sync_engine, "invalidate")
        def on_invalidate(dbapi_connection: Any, record: Any, exc: Any) -> None:
            metrics.invalidated += 1
            invalidated.add(id(record))

        @event.listens_for(engine.sync_engine, "close")
        def on_close(dbapi_connection: Any, record: Any) -> None:
            metrics.closed += 1

    async def open(self) -> None:
        """Create the engine and prove it works with one round trip."""
        if self._slot is None:
            self._slot = self._build(optimal_pool_size(self.channel_count))
        try:
            await self.check()
        except Exception:
            slot, self._slot = self._slot, None
            if slot is not None:
                await slot.engine.dispose()
            raise
        self._online.set()

    async def close(self, wait: float = POOL_TIMEOUT_SECONDS) -> None:
        """Wait (up to ``wait`` seconds) for sessions in flight, then close every connection."""
        slot, self._slot = self._slot, None
        self._online.clear()
        if slot is not None:
            await self._retire(slot, wait)
        for task in list(self._retiring):
            with contextlib.suppress(Exception):
                await task

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[None]:
        """Close every connection for the block (e.g. to swap the file); then reopen.

        Sessions asked for meanwhile wait (up to the pool timeout) instead of failing.
        """
        self._offline_depth += 1
        try:
            await self.close()
            yield
        finally:
            self._offline_depth -= 1
            await self.open()

    async def resize(self, channel_count: int) -> bool:
        """Re-size the pool for ``channel_count``; True when a new engine was built."""
        self.channel_count = channel_count
        return self.set_pool_size(optimal_pool_size(channel_count),
                                  f"{channel_count} channels")

    def set_pool_size(self, wanted: int, why: str) -> bool:
        """Swap in a pool of ``wanted`` connections (the old one retires once idle);
        True when a new engine was built."""
        old = self._slot
        if old is None or old.pool_size == wanted or (sqlite_path(self.url) is None and \
                self.is_sqlite):
            return False
        self._slot = self._build(wanted)
        log.info("Database pool resized from %d to %d connections (%s)",
                 old.pool_size, wanted, why)
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return True

    async def _retire(self, slot: _EngineSlot, wait: float = 300.0) -> None:
        """Dispose of ``slot``'s engine once its sessions finished (or ``wait`` passed)."""
        slot.retired = True
        if slot.active:
            slot.idle.clear()
            try:
                await asyncio.wait_for(slot.idle.wait(), wait)
            except TimeoutError:
                log.warning("Closing the database pool with %d session(s) still running",
                            slot.active)
        await slot.engine.dispose()

    # -- sessions ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in a transaction, committed on success."""
        async with self._connect() as conn, conn.begin():
            yield conn

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session bound to a connection taken now (so the wait is measured)."""
        async with self._connect() as conn, AsyncSession(bind=conn,
                                                          expire_on_commit=False) as session:
            yield session

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``await work(session)`` in one transaction, committed on success.

        SQLite has one writer at a time: a write that still finds the lock taken after the
        busy timeout (or whose read snapshot went stale while it waited, which SQLite
        reports at once) is rolled back and tried again in a fresh transaction, so a busy
        moment does not lose what was being saved. Other errors are raised at once.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self.session() as session, session.begin():
                    return await work(session)
            except OperationalError as exc:
                if not is_locked(exc) or attempt == WRITE_ATTEMPTS:
                    raise
                self.metrics.write_retries += 1
                log.info("The database was locked by another writer; trying again (%d/%d)",
                         attempt + 1, WRITE_ATTEMPTS)
                await asyncio.sleep(WRITE_RETRY_SECONDS * attempt)
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection from the current pool, its wait measured and a timeout counted."""
        slot = await self._acquire_slot()
        try:
            started = time.perf_counter()
            try:
                conn = await slot.engine.connect()
            except PoolTimeout:
                self._exhausted(slot)
                raise
            self.metrics.record_wait(time.perf_counter() - started)
            try:
                yield conn
            finally:
                await conn.close()
        finally:
            self._leave(slot)

    async def _acquire_slot(self) -> _EngineSlot:
        if self._slot is None and self._offline_depth:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._online.wait(), POOL_TIMEOUT_SECONDS)
        slot = self._slot
        if slot is None:
            raise RuntimeError("the database is not open")
        slot.active += 1
        return slot

    def _exhausted(self, slot: _EngineSlot) -> None:
        self.metrics.timeouts += 1
        # Worded for the self-healing pattern detector (DB_POOL_EXHAUSTED -> EXPAND).
        log.warning("Database pool exhausted: all %d connections stayed busy for %.1fs "
                    "(QueuePool limit reached)", slot.pool_size, self.pool_timeout)

    def _leave(self, slot: _EngineSlot) -> None:
        slot.active -= 1
        if slot.active == 0:
            slot.idle.set()

    # -- health ------------------------------------------------------------------

    async def check(self) -> float:
        """One ``SELECT 1`` round trip; returns and records the latency in milliseconds."""
        started = time.perf_counter()
        try:
            async with self.connection() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            self.last_error = str(exc) or type(exc).__name__
            self.last_check = time.time()
            raise
        self.latency_ms = round(1000 * (time.perf_counter() - started), 3)
        self.last_error = None
        self.last_check = time.time()
        return self.latency_ms

    async def check_writable(self) -> None:
        """Prove the database takes writes: a committed no-op UPDATE of the schema stamp.

        ``SELECT 1`` passes on a database opened read-only (a file without write
        permission, a read-only mount, a standby) or a full disk; this does not."""
        async with self.connection() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))

    def stats(self) -> dict[str, Any]:
        """Pool size, metrics and the last measured latency."""
        size = self.pool_size
        return {
            "backend": make_url(self.url).get_backend_name(),
            "url": safe_url(self.url),
            "channels": self.channel_count,
            "pool_size": size,
            "latency_ms": self.latency_ms,
            "last_check": self.last_check,
            **self.metrics.to_dict(size),
        }
