"""The cluster's lease statements against a real PostgreSQL, without servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from exstreamtv.cluster import store
from tests.database.conftest import fresh_postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


def test_channels_placed_at_once_respect_the_node_capacity(pg_url: str) -> None:
    async def run() -> list[store.Placement]:
        engine = create_async_engine(pg_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await store.create_schema(conn)
                await store.register(conn, "a", "http://a", 1, "v1", "test")

            async def place(channel: int) -> store.Placement:
                async with engine.begin() as conn:
                    return await store.place(conn, "a", channel, capacity=1, may_own=True,
                                             lease_seconds=30)

            return list(await asyncio.gather(*(place(n) for n in range(1, 7))))
        finally:
            await engine.dispose()

    placements = asyncio.run(run())
    owned = [p for p in placements if isinstance(p, store.Owned)]
    assert len(owned) == 1, placements
    assert all(isinstance(p, store.NoPlace) for p in placements if p not in owned)
