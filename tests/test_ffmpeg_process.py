"""FFmpegProcess ending well when its pipes outlive it.

A process that exits while a child of its own (in another session, so a group kill
misses it) still holds stderr: stopping it and then waiting for it must return, keep the
lines printed before the exit, and never raise a cancellation into the caller, which is
the channel's loop (a leaked cancellation ended that loop silently and left viewers on a
dead channel).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from exstreamtv.ffmpeg.process import FFmpegProcess

HOLDS_STDERR = ("echo 'fatal: the reason' >&2; "
                "setsid sh -c 'exec >/dev/null; sleep 1; echo late >&2' & exit 1")


async def _stop_then_wait() -> tuple[int, list[str], float]:
    lines: list[str] = []
    proc = FFmpegProcess(["sh", "-c", HOLDS_STDERR], "holder", listeners=[lines.append])
    await proc.start()
    await asyncio.sleep(0.3)
    began = time.monotonic()
    await proc.stop(timeout=0.2)
    code = await proc.wait()
    took = time.monotonic() - began
    await asyncio.sleep(1.2)  # the grandchild lets go of the pipe before the loop closes
    return code, lines, took


def run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except asyncio.CancelledError:
        pytest.fail("a cancellation leaked out of FFmpegProcess into its caller")


def test_stop_then_wait_with_stderr_held_by_a_grandchild() -> None:
    code, lines, _ = run(_stop_then_wait())
    assert code == 1
    assert "fatal: the reason" in lines


async def _wait_in_task() -> str:
    proc = FFmpegProcess(["sh", "-c", HOLDS_STDERR], "holder")
    await proc.start()
    await asyncio.sleep(0.3)

    async def caller() -> str:
        await proc.stop(timeout=0.2)
        await proc.wait()
        await asyncio.sleep(1.2)
        return "returned"

    return await asyncio.create_task(caller())


def test_the_caller_is_not_cancelled() -> None:
    assert run(_wait_in_task()) == "returned"
