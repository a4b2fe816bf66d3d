"""A hot restart (a command to the pipeline) must never hang the channel.

Self-healing may ask for a restart while the pipeline is still replacing a crashed
ffmpeg; the segment it leaves mid-stream must be stopped, not waited for (a full pipe
would keep it alive forever, and the channel silent).
"""

from __future__ import annotations

import asyncio
import gc

from exstreamtv import Restart, SkipItem
from tests.helpers import base_config, clips_folder, write_config
from tests.test_healing_outcomes import started_hub


def test_swap_requested_without_killing_the_playing_segment(tmp_path):
    # 12-second items: more output than the pipe holds, so a stranded ffmpeg never exits.
    config = base_config(tmp_path, clips_folder("long", 3, 12.0),
                         ai_auto_heal={"enabled": False, "auto_resolve_enabled": False})
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def run() -> None:
        hub = await started_hub(path)
        pipeline = await hub.channels.acquire(1)
        playing = None
        for _ in range(300):  # a programme ffmpeg still encoding, with seconds to go
            seg = pipeline.current
            progress = pipeline.reached(seg.entry) if seg is not None else None
            if (seg is not None and seg.kind == "program" and seg.bytes_out > 50_000
                    and seg.process.returncode is None and progress is not None
                    and progress + 5 < seg.entry.duration):
                playing = seg
                break
            await asyncio.sleep(0.1)
        assert playing is not None
        # A hot restart while the segment plays: the fresh ffmpeg takes over once it has
        # output, and the segment it leaves mid-stream is stopped, not waited for.
        result = await pipeline.control.send(Restart(reason="test"))
        assert result.applied, result.message
        for _ in range(50):
            if pipeline.current is not playing:
                break
            await asyncio.sleep(0.1)
        fresh = pipeline.current
        assert fresh is not playing and fresh is not None and fresh.kind == "program"
        for _ in range(50):
            if playing.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert playing.process.returncode is not None  # stopped, not left running
        # A second restart landing while the pipeline replaces a killed ffmpeg.
        fresh.process.send_signal(9)
        result = await pipeline.control.send(Restart(reason="test again"))
        assert result.applied, result.message
        before = pipeline.buffer.total_bytes
        for _ in range(100):
            if pipeline.buffer.total_bytes > before + 20_000:
                break
            await asyncio.sleep(0.1)
        assert pipeline.buffer.total_bytes > before + 20_000, "the channel hung"
        control = pipeline.control
        hub.channels.release(1)
        await hub.stop()
        # A command to a stopped (or replaced) pipeline is refused with the reason.
        refused = await control.send(SkipItem())
        assert not refused.applied and "not running" in refused.message
        gc.collect()
        await asyncio.sleep(0.1)

    asyncio.run(run())


def test_after_a_crash_the_programme_goes_on_where_viewers_left_it(tmp_path):
    # Self-healing on (the defaults): error screen at once, then a fresh ffmpeg swapped in.
    config = base_config(tmp_path, clips_folder("long", 3, 12.0))
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def run() -> None:
        hub = await started_hub(path)
        pipeline = await hub.channels.acquire(1)
        crashed = None
        for _ in range(600):  # up to 30 s: the first item may start near its end
            seg = pipeline.current
            # a programme segment with a few seconds left, its ffmpeg still encoding
            progress = pipeline.reached(seg.entry) if seg is not None else None
            if (seg is not None and seg.kind == "program" and seg.bytes_out > 50_000
                    and seg.process.returncode is None and progress is not None
                    and progress + 7 < seg.entry.duration):
                crashed = seg
                break
            await asyncio.sleep(0.05)
        assert crashed is not None
        crashed.process.send_signal(9)
        back = None
        for _ in range(200):
            seg = pipeline.current
            if seg is not None and seg is not crashed and seg.kind == "program" \
                    and seg.bytes_out > 0:
                back = seg
                break
            await asyncio.sleep(0.05)
        assert back is not None, "the programme did not come back"
        reached = crashed.offset + crashed.produced
        assert back.entry.start == crashed.entry.start and reached < crashed.entry.duration - 1
        # Viewers saw the crashed segment up to ``reached``: nothing of it is replayed.
        assert back.offset >= reached - 0.05, (back.offset, reached)
        hub.channels.release(1)
        await hub.stop()
        gc.collect()
        await asyncio.sleep(0.1)

    asyncio.run(run())
