"""Off-loop documents: one build per key however many ask, budgets, JSON depth checks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from quart import Quart

from exstreamtv.web.bodies import json_depth_ok
from exstreamtv.web.documents import DocumentCache, DocumentNotReady
from exstreamtv.web.guide import GuideBudget


def test_concurrent_requests_share_one_build_off_the_loop():
    cache = DocumentCache()
    threads: list[str] = []

    def prepare():
        def build() -> str:
            threads.append(threading.current_thread().name)
            time.sleep(0.3)
            return "<tv/>"
        return build

    async def main() -> list[bytes]:
        results = await asyncio.gather(*(cache.get("k", prepare, name="guide", wait_seconds=30)
                                         for _ in range(8)))
        again = await cache.get("k", prepare, name="guide", wait_seconds=30)
        return [r.body for r in [*results, again]]

    bodies = asyncio.run(main())
    assert bodies == [b"<tv/>"] * 9
    assert cache.builds == 1 and len(threads) == 1
    assert threads[0].startswith("exstreamtv-docs")
    cache.shutdown()


def test_a_slow_build_answers_not_ready_and_fills_the_cache_later():
    cache = DocumentCache()

    def prepare():
        return lambda: (time.sleep(0.5), "late")[1]

    async def main() -> bytes:
        with pytest.raises(DocumentNotReady) as info:
            await cache.get("k", prepare, name="guide", wait_seconds=0.05)
        assert info.value.retry_after >= 1
        await asyncio.sleep(1.0)
        return (await cache.get("k", prepare, name="guide", wait_seconds=0.05)).body

    assert asyncio.run(main()) == b"late"
    assert cache.builds == 1
    cache.shutdown()


def test_document_is_gzipped_for_clients_that_accept_it():
    import gzip

    from exstreamtv.web.documents import Document

    app = Quart(__name__)
    doc = Document.of("<tv>" + "x" * 10_000 + "</tv>")
    assert gzip.decompress(doc.gzipped) == doc.body and len(doc.gzipped) < 200

    async def main() -> None:
        async with app.test_request_context("/", headers={"Accept-Encoding": "gzip, br"}):
            assert doc.response("application/xml").headers["Content-Encoding"] == "gzip"
        async with app.test_request_context("/"):
            assert "Content-Encoding" not in doc.response("application/xml").headers

    asyncio.run(main())


def test_guide_budget_stops_at_the_programme_limit():
    budget = GuideBudget(max_programmes=3)
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
    assert budget.spent_reason is not None and "programmes" in budget.spent_reason


@pytest.mark.parametrize(("body", "ok"), [
    (b'{"a": [1, {"b": "[[[[[[["}]}', True),
    (b"[" * 64 + b"]" * 64, True),
    (b"[" * 65 + b"]" * 65, False),
    (b"[" * 20_000 + b"]" * 20_000, False),
    (b'"\\"[[["', True),
    (b"[[", True),  # truncated but shallow: the route refuses it after its token check
    (b"{", True),
    (b"[" * 65, False),
    (b"[" * 20_000, False),
])
def test_json_depth(body, ok):
    assert json_depth_ok(body) is ok
