"""The MQTT plugin in an in-process hub: approvals, fix events, secrets, command parsing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exstreamtv_plugins.mqtt.bridge import EVENT_BACKLOG, EVENT_MAX_AGE, drop_stale, new_backlog
from exstreamtv_plugins.mqtt.commands import BadCommand, parse
from exstreamtv_plugins.mqtt.entities import Topics, sanitize_id

from exstreamtv import FixEvent, HealthEvent, mask_secrets, register_secret
from exstreamtv.healing.analysis import Analyst
from exstreamtv.healing.log_collector import UnifiedLogCollector
from exstreamtv.hub import Hub
from exstreamtv.server import load_everything
from tests.helpers import base_config, until, write_config
from tests.mqtt_support import Broker, Watcher

SECRET = "hunter2-very-secret"


class Healing:
    """The approval surface the MQTT plugin expects of ``hub.healing``."""

    def __init__(self) -> None:
        self.waiting = {"fix-1": {"id": "fix-1", "issue": "stall", "strategy": "restart",
                                  "channel": 1, "risk": "low"}}
        self.decisions: list[tuple[str, str]] = []

    async def start(self) -> None:
        """The hub starts and stops its healing engine; this stand-in has nothing to run."""

    async def stop(self) -> None:
        """See start."""

    def pending(self) -> list[dict[str, Any]]:
        return list(self.waiting.values())

    async def approve(self, fix_id: str) -> bool:
        if fix_id not in self.waiting:
            raise KeyError(fix_id)
        del self.waiting[fix_id]
        self.decisions.append(("approve", fix_id))
        return True

    def reject(self, fix_id: str) -> bool:
        self.waiting.pop(fix_id)
        self.decisions.append(("reject", fix_id))
        return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def _results(watcher: Watcher) -> list[dict[str, Any]]:
    return [m.json for m in watcher.on("exstreamtv/command/result")]


def test_approvals_fix_events_and_no_secrets(tmp_path: Path, clips: Path, broker: Broker) -> None:
    config = base_config(tmp_path, clips, mqtt={"enabled": True, "port": broker.port,
                                               "password": SECRET, "username": "tv"})
    config["server"]["api_token"] = SECRET + "-token"
    path = write_config(tmp_path / "exstreamtv.yaml", config)
    watcher = Watcher(broker)

    async def scenario() -> None:
        cfg, host, registry = load_everything(path)
        hub = Hub(cfg, host, registry)
        hub.healing = Healing()  # type: ignore[attr-defined]
        await hub.start(watch=False)
        try:
            select = await until(lambda: [m.json for t, m in watcher.latest().items()
                                           if t.startswith("homeassistant/select/") and m.payload])
            assert select[0]["options"] == ["none", "fix-1"]
            state = await until(lambda: watcher.on("exstreamtv/state"))
            assert state[-1].json["fixes_pending"] == 1
            assert state[-1].json["pending"][0]["issue"] == "stall"
            # Choose the fix in the select, then press approve.
            watcher.publish("exstreamtv/command/fix/select", "fix-1")
            await until(lambda: [m for m in watcher.on("exstreamtv/state")
                                  if m.json["selected_fix"] == "fix-1"])
            watcher.publish("exstreamtv/command/fix/approve", "PRESS")
            result = await until(lambda: _results(watcher))
            assert result[0] == {**result[0], "command": "fix/approve", "fix_id": "fix-1",
                                 "ok": True}
            assert hub.healing.decisions == [("approve", "fix-1")]  # type: ignore[attr-defined]
            # Approving it again: a clear failure, no crash.
            watcher.publish("exstreamtv/command/fix/approve", "fix-1")
            again = await until(lambda: len(r := _results(watcher)) > 1 and r)
            assert again[1]["ok"] is False and "no pending fix" in again[1]["message"]
            # A fix applied to channel 1: the channel's event entity and the hourly count.
            hub.bus.publish(FixEvent(issue="stall", strategy="restart", action="applied",
                                     channel=1, fix_id="fix-2"))
            fired = await until(lambda: watcher.on("exstreamtv/channel/1/fix"))
            assert fired[0].json["event_type"] == "applied"
            assert json.loads(fired[0].payload)["fix_id"] == "fix-2"
            await until(lambda: [m for m in watcher.on("exstreamtv/state")
                                  if m.json["fixes_last_hour"] == 1])
            # The issue's analysis travels in the event payload (secrets masked).
            analysis = Analyst(UnifiedLogCollector()).analyse(
                "URL_EXPIRED", 1, time.time(), detector="ffmpeg_monitor", stderr_tail=[
                    f"[error] http://x/v.mp4?token={SECRET}: Server returned 403 Forbidden"])
            hub.bus.publish(FixEvent(issue="URL_EXPIRED", strategy="", action="detected",
                                     channel=1, analysis=analysis.to_dict()))
            detected = await until(lambda: [m for m in watcher.on("exstreamtv/events/fix")
                                             if m.json["action"] == "detected"])
            sent = detected[0].json["analysis"]
            assert "expired" in sent["probable_cause"] and sent["error"]["http_status"] == 403
            assert SECRET not in detected[0].text
            # Secrets never leave the process, even inside an event message.
            hub.bus.publish(HealthEvent(component="mqtt", status="degraded",
                                        message=f"login with {SECRET} failed"))
            health = await until(lambda: watcher.on("exstreamtv/events/health"))
            assert SECRET not in health[0].text and "***" in health[0].text
        finally:
            await hub.stop()
        await until(lambda: watcher.latest()["exstreamtv/status"].text == "offline")
        everything = b"".join(m.payload for m in watcher.messages)
        assert SECRET.encode() not in everything

    try:
        asyncio.run(scenario())
    finally:
        watcher.close()


@pytest.mark.parametrize("topic,payload", [
    ("exstreamtv/command/reload", b"\xff\xfe"),
    ("exstreamtv/command/reload", b"rm -rf /"),
    ("exstreamtv/command/nope", b"PRESS"),
    ("exstreamtv/command/result", b"{}"),
    ("exstreamtv/channel/1/command/explode", b"PRESS"),
    ("exstreamtv/channel/one/command/restart", b"PRESS"),
    ("exstreamtv/channel/1/extra/command/restart", b"PRESS"),
    ("exstreamtv/command/fix/approve", b"../../etc/passwd"),
    ("exstreamtv/command/fix/approve", b"x" * 300),
])
def test_junk_commands_are_refused(topic: str, payload: bytes) -> None:
    with pytest.raises(BadCommand):
        parse(Topics.of("exstreamtv", "homeassistant"), topic, payload)


def test_valid_commands_parse() -> None:
    topics = Topics.of("exstreamtv", "homeassistant")
    restart = parse(topics, "exstreamtv/channel/12/command/restart", b"PRESS")
    assert (restart.name, restart.channel) == ("restart", 12)
    approve = parse(topics, "exstreamtv/command/fix/approve", b"fix-42")
    assert (approve.name, approve.payload) == ("fix/approve", "fix-42")


def test_ids_are_sanitized() -> None:
    assert sanitize_id("News + Sport #1 / Ünïcode") == "News_Sport_1_Unicode"
    assert sanitize_id("日本") == "x"
    assert sanitize_id("ABC-12_x") == "ABC-12_x"


def test_mask_secrets_masks_keys_and_values() -> None:
    register_secret("p4ss-word")
    data = {"password": "p", "nested": [{"api_token": "t", "note": "uses p4ss-word here"}]}
    assert mask_secrets(data) == {"password": "***",
                                  "nested": [{"api_token": "***", "note": "uses *** here"}]}


def test_events_kept_for_the_broker_are_bounded_in_number_and_age() -> None:
    backlog = new_backlog()
    for i in range(EVENT_BACKLOG + 50):  # an outage with a storm of events
        backlog.append((float(i), "exstreamtv/events/health", f"{i}"))
    assert len(backlog) == EVENT_BACKLOG and backlog[0][2] == "50"  # the oldest went
    # Back after a long outage: only the events of the last EVENT_MAX_AGE seconds go out.
    now = EVENT_BACKLOG + 49 + EVENT_MAX_AGE - 10.5
    dropped = drop_stale(backlog, now)
    assert [int(p) for _, _, p in backlog] == list(range(EVENT_BACKLOG + 39, EVENT_BACKLOG + 50))
    assert dropped == EVENT_BACKLOG - 11
    assert drop_stale(backlog, now) == 0
