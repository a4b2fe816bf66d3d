"""Every fix action that can be sent is in the one table Home Assistant's event entity uses."""

from __future__ import annotations

import re
from pathlib import Path

from exstreamtv_plugins.mqtt.entities import FIX_EVENT_TYPES, Discovery, Topics

from exstreamtv import ChannelConfig, FixAction
from exstreamtv.config.model import FFmpegConfig, ScheduleConfig
from exstreamtv.healing.vocabulary import FixStatus

ROOT = Path(__file__).resolve().parent.parent
#: ``action="..."`` inside a ``FixEvent(...)`` call (calls span a few lines).
FIX_EVENT_ACTION = re.compile(r"FixEvent\((?:[^()]|\([^()]*\))*?action=\"(\w+)\"", re.S)


def test_event_entity_lists_every_action() -> None:
    discovery = Discovery(Topics.of("exstreamtv", "homeassistant"), "dev", "Server")
    channel = ChannelConfig(1, "One", ScheduleConfig(type="ordered"), FFmpegConfig())
    event = next(a.payload for a in discovery.channel(channel) if a.topic.startswith(
        "homeassistant/event/"))
    assert event["event_types"] == [a.value for a in FixAction] == list(FIX_EVENT_TYPES)
    for wanted in ("pending", "escalated", "expired", "capped", "predicted", "pattern",
                   "skipped", "approved", "rolled_back"):
        assert wanted in event["event_types"]


def test_every_action_in_the_code_is_in_the_table() -> None:
    literals: dict[str, str] = {}
    for path in [*ROOT.joinpath("exstreamtv").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        for action in FIX_EVENT_ACTION.findall(path.read_text()):
            literals[action] = str(path.relative_to(ROOT))
    assert literals, "the scan found no FixEvent at all"
    unknown = {a: where for a, where in literals.items() if a not in set(FixAction)}
    assert not unknown, f"FixEvent actions missing from FixAction (HA drops them): {unknown}"
    # A fix record's final status is published as its action.
    published = {s.value for s in FixStatus} - {FixStatus.PROPOSED.value}
    assert published <= {a.value for a in FixAction}
