"""DatabaseConnectionManager: the spec's pool formula, resize without failures, metrics."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

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
