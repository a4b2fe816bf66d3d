"""Fix outcomes are written to the database and replayed into the learner after a restart."""

from __future__ import annotations

import asyncio
import gc

from exstreamtv.healing.auto_resolver import FixRecord
from exstreamtv.hub import Hub
from exstreamtv.server import load_everything
from tests.helpers import write_config


async def started_hub(path) -> Hub:
    config, host, registry = load_everything(path)
    hub = Hub(config, host, registry)
    await hub.start(watch=False)
    for _ in range(100):
        if hub.database.ready:
            break
        await asyncio.sleep(0.1)
    assert hub.database.ready
    return hub


def test_outcomes_survive_a_restart_and_teach_the_learner(tmp_path, config_for):
    path = write_config(tmp_path / "exstreamtv.yaml", config_for())

    async def scenario() -> None:
        hub = await started_hub(path)
        resolver = hub.healing.resolver
        prior = resolver.learner.confidence("FFMPEG_CRASH", "RESTART", 0.85)
        for i in range(6):
            resolver.store.record(FixRecord(id=f"fix-{i}", issue="FFMPEG_CRASH",
                                            strategy="RESTART", channel=1, risk="MEDIUM",
                                            confidence=0.85, status="rolled_back",
                                            message="did not hold", finished=1.0,
                                            cause="ffmpeg exited before the end"))
        for _ in range(50):
            if resolver.store.written == 6:
                break
            await asyncio.sleep(0.1)
        assert resolver.store.written == 6
        await hub.stop()

        again = await started_hub(path)
        store = again.healing.resolver.store
        for _ in range(50):
            if len(store.all()) >= 6:
                break
            await asyncio.sleep(0.1)
        assert [r.id for r in store.all()] == [f"fix-{i}" for i in range(6)]
        assert {r.cause for r in store.all()} == {"ffmpeg exited before the end"}
        learned = again.healing.resolver.learner.confidence("FFMPEG_CRASH", "RESTART", 0.85)
        assert learned < prior  # six failures lowered the confidence in RESTART
        await again.stop()
        gc.collect()  # finalise subprocess transports while their loop still runs
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
