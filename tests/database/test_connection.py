"""DatabaseConnectionManager: the spec's pool formula, resize without failures, metrics."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from exstreamtv.database import connection
from exstreamtv.database.connection import (
    BASE_POOL_SIZE,
    MAX_POOL_SIZE,
    DatabaseConnectionManager,
    optimal_pool_size,
)
from exstreamtv.database.migrate import migrate
from exstreamtv.database.models import PlayHistoryRow


@pytest.mark.parametrize(("channels", "expected"), [(0, 10), (4, 20), (36, 100), (200, 100)])
def test_pool_formula(channels: int, expected: int) -> None:
    assert optimal_pool_size(channels) == expected
    calculated = int(channels * 2.5) + BASE_POOL_SIZE
    assert expected == max(BASE_POOL_SIZE, min(calculated, MAX_POOL_SIZE))


@pytest.mark.parametrize("channels", [0, 4, 36, 200])
def test_engine_pool_has_the_formula_size(db_url: str, channels: int) -> None:
    async def run() -> int:
        manager = DatabaseConnectionManager(db_url, channels)
        await manager.open()
        try:
            size: int = manager.engine.pool.size()  # type: ignore[attr-defined]
            assert manager.stats()["pool_size"] == size
            return size
        finally:
            await manager.close()

    assert asyncio.run(run()) == optimal_pool_size(channels)


def test_resize_keeps_sessions_in_flight(db_url: str) -> None:
    async def run() -> None:
        manager = DatabaseConnectionManager(db_url, 4)
        await manager.open()
        await migrate(manager)
        old_engine = manager.engine
        started, release = asyncio.Event(), asyncio.Event()

        async def long_request() -> int:
            async with manager.session() as session, session.begin():
                session.add(PlayHistoryRow(channel_number=1, started_at=1.0, duration=2.0))
                await session.flush()
                started.set()
                await release.wait()
                return int(await session.scalar(select(func.count(PlayHistoryRow.id))) or 0)

        request = asyncio.create_task(long_request())
        await started.wait()
        assert await manager.resize(36)
        assert manager.pool_size == 100
        assert manager.engine is not old_engine
        assert manager.engine.pool.size() == 100  # type: ignore[attr-defined]
        # New requests use the new engine while the old one still serves the request above.
        async with manager.session() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
        assert manager.retiring == 1
        release.set()
        assert await request == 1
        for _ in range(100):
            if manager.retiring == 0:
                break
            await asyncio.sleep(0.02)
        assert manager.retiring == 0
        assert not await manager.resize(40)  # still 100: nothing to rebuild
        async with manager.session() as session:
            assert await session.scalar(select(func.count(PlayHistoryRow.id))) == 1
        await manager.close()

    asyncio.run(run())


def test_metrics_under_50_concurrent_sessions(db_url: str) -> None:
    async def run() -> dict[str, object]:
        manager = DatabaseConnectionManager(db_url, 0)  # pool of 10 for 50 sessions
        await manager.open()
        await migrate(manager)
        before = manager.metrics.checked_out

        async def request(i: int) -> None:
            async with manager.session() as session, session.begin():
                session.add(PlayHistoryRow(channel_number=i, started_at=float(i), duration=1.0))
                await asyncio.sleep(0.02)

        await asyncio.gather(*(request(i) for i in range(50)))
        async with manager.session() as session:
            count = await session.scalar(select(func.count(PlayHistoryRow.id)))
        stats = manager.stats()
        stats["rows"] = count
        stats["checked_out_delta"] = manager.metrics.checked_out - before
        await manager.close()
        return stats

    stats = asyncio.run(run())
    assert stats["rows"] == 50
    assert stats["pool_size"] == 10
    assert stats["checked_out_delta"] == 51
    assert stats["checked_in"] == stats["checked_out"]
    assert stats["in_use"] == 0
    assert stats["peak_in_use"] == 10  # the pool was saturated, never exceeded
    assert 1 <= stats["created"] <= 10  # type: ignore[operator]
    assert stats["wait_max_ms"] > 0  # type: ignore[operator]
    assert stats["timeouts"] == 0
    assert stats["saturation"] == 0.0


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    async def run() -> tuple[str, int, int]:
        manager = DatabaseConnectionManager(sqlite_url)
        await manager.open()
        async with manager.connection() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        await manager.close()
        return str(mode), int(busy or 0), int(fks or 0)

    assert asyncio.run(run()) == ("wal", 10_000, 1)


def test_invalidated_connections_are_counted(sqlite_url: str) -> None:
    async def run() -> tuple[int, int]:
        manager = DatabaseConnectionManager(sqlite_url)
        await manager.open()
        async with manager.engine.connect() as conn:
            await conn.invalidate()
        async with manager.connection() as conn:
            await conn.execute(text("SELECT 1"))
        metrics = manager.metrics
        await manager.close()
        return metrics.invalidated, metrics.created

    invalidated, created = asyncio.run(run())
    assert invalidated == 1
    assert created == 2


def test_recycled_connections_are_counted(sqlite_url: str) -> None:
    async def run() -> tuple[int, int, int]:
        manager = DatabaseConnectionManager(sqlite_url, pool_recycle=1)
        await manager.open()
        await asyncio.sleep(1.1)  # older than pool_recycle: re-opened at the next checkout
        async with manager.connection() as conn:
            await conn.execute(text("SELECT 1"))
        metrics = manager.metrics
        await manager.close()
        return metrics.recycled, metrics.created, metrics.invalidated

    assert asyncio.run(run()) == (1, 2, 0)


def _hold_write_lock(path: str, seconds: float, holding: threading.Event) -> None:
    """Another writer (its own connection, as a second process would have) keeps SQLite's
    write lock for ``seconds``."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO play_history (channel_number, kind, started_at, duration) "
                   "VALUES (9, 'program', 1.0, 1.0)")
        holding.set()
        time.sleep(seconds)
        db.execute("COMMIT")
    finally:
        db.close()


def _locked_write(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                  hold: float) -> tuple[int | Exception, int]:
    """Channel 1's row written while another connection holds the lock for ``hold`` s:
    (rows of channel 1 afterwards, or the error; retries counted)."""
    monkeypatch.setattr(connection, "SQLITE_BUSY_TIMEOUT_MS", 300)

    async def run() -> tuple[int | Exception, int]:
        manager = DatabaseConnectionManager(sqlite_url)
        await manager.open()
        await migrate(manager)
        holding = threading.Event()
        holder = threading.Thread(target=_hold_write_lock,
                                  args=(sqlite_url.split("///", 1)[1], hold, holding))
        holder.start()
        assert await asyncio.to_thread(holding.wait, 10)
        result: int | Exception
        try:
            await manager.write(lambda session: session.execute(insert(PlayHistoryRow).values(
                channel_number=1, kind="program", started_at=2.0, duration=2.0)))
            async with manager.session() as session:
                result = int(await session.scalar(select(func.count(PlayHistoryRow.id)).where(
                    PlayHistoryRow.channel_number == 1)) or 0)
        except OperationalError as exc:
            result = exc
        await asyncio.to_thread(holder.join)
        retries = manager.metrics.write_retries
        await manager.close()
        return result, retries

    return asyncio.run(run())


def test_a_write_waits_out_a_writer_that_holds_the_lock_past_the_busy_timeout(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lock is held for four busy timeouts: the first attempts are refused ("database
    # is locked"), a later one in a fresh transaction gets through; nothing is lost.
    rows, retries = _locked_write(sqlite_url, monkeypatch, hold=1.2)
    assert rows == 1
    assert retries >= 1


def test_a_write_locked_out_for_good_raises_after_its_attempts(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    error, retries = _locked_write(sqlite_url, monkeypatch, hold=5.0)
    assert isinstance(error, OperationalError) and "database is locked" in str(error)
    assert retries == connection.WRITE_ATTEMPTS - 1
