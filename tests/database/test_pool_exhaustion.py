"""An exhausted connection pool is counted, logged in words self-healing knows, and
self-healing's EXPAND fix grows the pool of the running hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.events import FixEvent
from tests.helpers import write_config
from tests.test_healing_outcomes import started_hub


async def _hold(manager: DatabaseConnectionManager, count: int,
                release: asyncio.Event) -> list[asyncio.Task[None]]:
    held = asyncio.Semaphore(0)

    async def hold() -> None:
        async with manager.connection() as conn:
            await conn.execute(text("SELECT 1"))
            held.release()
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    for _ in range(count):
        await held.acquire()
    return tasks


def test_pool_timeout_is_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                            db_url: str) -> None:
    async def run() -> None:
        manager = DatabaseConnectionManager(db_url, 0, pool_timeout=0.3)
        await manager.open()
        manager.set_pool_size(2, "test")
        release = asyncio.Event()
        tasks = await _hold(manager, 2, release)
        with pytest.raises(PoolTimeout):
            async with manager.session():
                pass
        with pytest.raises(PoolTimeout):
            async with manager.connection():
                pass
        release.set()
        await asyncio.gather(*tasks)
        assert manager.metrics.timeouts == 2
        async with manager.connection() as conn:  # the pool works again
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        await manager.close()

    with caplog.at_level(logging.WARNING, "exstreamtv.database.connection"):
        asyncio.run(run())
    warnings = [r.getMessage() for r in caplog.records if "exhausted" in r.getMessage()]
    assert len(warnings) == 2 and "all 2 connections" in warnings[0]


def test_exhausted_pool_is_expanded_by_self_healing(tmp_path: Path, config_for) -> None:
    config = config_for()
    # The pool pattern is HIGH risk (the spec's table), and the gate weighs the issue's
    # risk: with the default bar (MEDIUM) the expansion waits for an approval.
    config["ai_auto_heal"] = {**config.get("ai_auto_heal", {}),
                              "require_approval_above_risk": "HIGH"}
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def run() -> None:
        hub = await started_hub(path)
        fixes: list[FixEvent] = []
        hub.bus.subscribe(lambda e: fixes.append(e) if isinstance(e, FixEvent) else None)
        manager = hub.database.manager
        manager.pool_timeout = 0.3
        manager.set_pool_size(2, "test")
        release = asyncio.Event()
        tasks = await _hold(manager, 2, release)
        async def wait_in_vain() -> None:
            with contextlib.suppress(PoolTimeout):
                async with manager.session():
                    pass

        # Four requests time out: a pattern (one timeout is not, see the spec's table).
        await asyncio.gather(*(wait_in_vain() for _ in range(4)))
        release.set()
        await asyncio.gather(*tasks)
        for _ in range(100):  # the healing tick scans the logs every two seconds
            if manager.pool_size == 3:
                break
            await asyncio.sleep(0.1)
        assert manager.pool_size == 3
        assert any(e.issue == "DB_POOL_EXHAUSTED" and e.strategy == "EXPAND"
                   and e.action == "applied" for e in fixes), fixes
        await hub.database.restore_pool(2)  # what a rollback does
        assert manager.pool_size == 2
        await hub.stop()

    asyncio.run(run())
