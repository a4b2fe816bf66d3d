"""Every ai_auto_heal key, changed by a reload of a running hub, is observed in effect.

One hub runs; for each key the config is replaced (``Hub.apply_config``, what a file
edit or POST /api/config/reload does) and the part that key drives is watched until it
follows. realtime_streaming and the resolver keys are also tested over HTTP against a
running server in test_healing_live.py.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from exstreamtv.hub import Hub
from exstreamtv.server import load_everything
from tests.helpers import until, write_config


def test_every_key_applies_on_reload(tmp_path, config_for):
    path = write_config(tmp_path / "exstreamtv.yaml", config_for())

    async def scenario() -> None:
        config, host, registry = load_everything(path)
        hub = Hub(config, host, registry)
        await hub.start(watch=False)
        engine = hub.healing
        try:
            async def reload(**changes: Any) -> None:
                await hub.apply_config(replace(hub.config, ai_auto_heal=replace(
                    hub.config.ai_auto_heal, **changes)))

            checks: list[tuple[str, Any, Callable[[], bool]]] = [
                ("log_buffer_minutes", 7, lambda: engine.collector.buffer_seconds == 420),
                ("ffmpeg_health_threshold", 0.5,
                 lambda: engine.monitor.health_threshold == 0.5),
                ("hot_swap_enabled", False, lambda: engine.context.hot_swap is False),
                ("use_error_screen_fallback", False,
                 lambda: engine.context.error_screen is False),
                ("auto_resolve_enabled", False, lambda: engine.resolver.enabled is False),
                ("require_approval_above_risk", "SAFE",
                 lambda: engine.resolver.approval_above == "SAFE"),
                ("max_auto_fixes_per_hour", 3, lambda: engine.resolver.max_per_hour == 3),
                ("learning_enabled", False, lambda: engine.resolver.learning is False),
            ]
            for key, value, applied in checks:
                assert not applied(), f"{key} already had the new value"
                await reload(**{key: value})
                await until(applied)
            # enabled: false stops automatic fixes too.
            await reload(auto_resolve_enabled=True, enabled=False)
            await until(lambda: engine.resolver.enabled is False)
            await reload(enabled=True)
            # pattern_detection_enabled and prediction_confidence_threshold: a 403 line
            # is a pattern only while detection is on, and raises an issue only at or
            # above the threshold (its confidence is 0.5).
            await reload(pattern_detection_enabled=False)
            rounds = engine.scan_rounds
            engine.collector.record("ffmpeg", "[http @ 0x1] HTTP error 403 Forbidden",
                                    channel=9)
            await until(lambda: engine.scan_rounds >= rounds + 2)  # a full round after it
            assert not [e for e in engine.events if e.get("action") == "pattern"]
            await reload(pattern_detection_enabled=True, prediction_confidence_threshold=0.99)
            await until(lambda: [e for e in engine.events if e.get("action") == "pattern"])
            assert not [e for e in engine.events if e.get("action") == "detected"
                        and e.get("channel") == 9]
            await reload(prediction_confidence_threshold=0.4)
            engine.collector.record("ffmpeg", "[http @ 0x1] HTTP error 403 Forbidden",
                                    channel=8)
            await until(lambda: [e for e in engine.events if e.get("action") == "detected"
                                  and e.get("channel") == 8], 10)
        finally:
            await hub.stop()
            gc.collect()
            await asyncio.sleep(0.1)

    asyncio.run(scenario())


def test_enabling_self_healing_live_after_starting_disabled(tmp_path, config_for):
    path = write_config(tmp_path / "exstreamtv.yaml",
                        config_for(ai_auto_heal={"enabled": False}))

    async def scenario() -> None:
        config, host, registry = load_everything(path)
        hub = Hub(config, host, registry)
        await hub.start(watch=False)
        engine = hub.healing
        try:
            assert engine.resolver.enabled is False and engine._hold() is None
            await hub.apply_config(replace(hub.config, ai_auto_heal=replace(
                hub.config.ai_auto_heal, enabled=True, prediction_confidence_threshold=0.4)))
            engine.collector.record("ffmpeg", "[http @ 0x1] HTTP error 403 Forbidden",
                                    channel=3)
            detected = await until(lambda: [e for e in engine.events
                                             if e.get("action") == "detected"], 10)
            assert detected[0]["issue"] == "URL_EXPIRED"
            assert detected[0]["analysis"]["detector"] == "pattern_detector"
            assert engine._hold() is not None
        finally:
            await hub.stop()
            gc.collect()
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
