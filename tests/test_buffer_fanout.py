"""ChannelBuffer as many viewers read it: batched wake-ups, one shared joined copy per
batch, bounded reads, and no copy of the whole chunk list per read."""

from __future__ import annotations

import asyncio

import pytest

from exstreamtv.streaming.buffer import ChannelBuffer, ReaderBehind
from exstreamtv.streaming.ts import Piece


def piece(n: int, size: int = 188, keyframe: bool = False) -> Piece:
    return Piece(bytes([n % 256]) * size, keyframe, float(n))


def test_readers_wake_once_per_batch_and_share_the_joined_bytes() -> None:
    async def scenario() -> None:
        buf = ChannelBuffer(wake_interval=0.05)
        buf.append(piece(0, keyframe=True))
        wakes = []

        async def reader() -> tuple[bytes, int]:
            assert await buf.wait(1, timeout=30)
            wakes.append(buf.next_seq)
            return buf.read_bytes(1)

        readers = [asyncio.create_task(reader()) for _ in range(3)]
        await asyncio.sleep(0)
        for n in range(1, 6):  # five appends in one batch
            buf.append(piece(n))
        results = await asyncio.gather(*readers)
        # Woken after the batch, not at the first append: every reader sees all five.
        assert wakes == [6, 6, 6]
        first, after = results[0]
        assert after == 6 and first == b"".join(piece(n).data for n in range(1, 6))
        assert all(data is first for data, _ in results)  # one join for all readers

    asyncio.run(scenario())


def test_a_reader_with_data_waiting_still_waits_for_the_batch_to_close() -> None:
    async def scenario() -> None:
        buf = ChannelBuffer(wake_interval=0.05)
        buf.append(piece(0))
        waiter = asyncio.create_task(buf.wait(0, timeout=30))
        await asyncio.sleep(0)
        assert not waiter.done()  # data is there, but the batch is still open
        assert await waiter
        assert await buf.wait(0, timeout=0)  # batch closed: data now returns at once

    asyncio.run(scenario())


def test_read_bytes_is_bounded_and_reports_trimmed_positions() -> None:
    async def scenario() -> None:
        buf = ChannelBuffer(keep_seconds=60, max_bytes=10 * 188 * 100)
        for n in range(30):
            buf.append(piece(n, size=188 * 100))
        first = buf.chunks[0].seq
        assert first > 0  # max_bytes trimmed the oldest
        with pytest.raises(ReaderBehind):
            buf.read_bytes(first - 1)
        data, after = buf.read_bytes(first, limit=188 * 250)
        assert len(data) == 188 * 200 and after == first + 2
        data, after = buf.read_bytes(buf.next_seq - 1)
        assert after == buf.next_seq and len(data) == 188 * 100
        assert buf.read_bytes(buf.next_seq) == (b"", buf.next_seq)

    asyncio.run(scenario())


def test_close_wakes_readers_at_once() -> None:
    async def scenario() -> None:
        buf = ChannelBuffer(wake_interval=30.0)
        buf.append(piece(0))
        waiter = asyncio.create_task(buf.wait(1, timeout=60))
        await asyncio.sleep(0)
        buf.close()
        assert await asyncio.wait_for(waiter, 10)

    asyncio.run(scenario())
