"""The recovery policy and the host-load decision, as pure logic (no ffmpeg)."""

from __future__ import annotations

from exstreamtv.media.models import MediaItem
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.host_load import HostLoad
from exstreamtv.streaming.recovery import (
    CpuTonemapFallback,
    Fill,
    Hold,
    RecoveryPolicy,
    RecoverySettings,
    Resume,
    SoftwareFallback,
)


def entry(start: float = 1000.0, duration: float = 60.0) -> ScheduledItem:
    item = MediaItem(id="x", source_id="s", title="X", location="/x.mkv", duration=duration)
    return ScheduledItem(item, start, duration)


def fail(policy: RecoveryPolicy, e: ScheduledItem, air: float, **kw: object) -> object:
    args = {"hardware": False, "produced": 5.0, "early_exit": True, "cause": "boom", **kw}
    return policy.after_failure(e, 10.0, air, **args)  # type: ignore[arg-type]


def test_first_failure_resumes_then_back_off_then_the_slot_is_filled():
    policy, e = RecoveryPolicy(), entry()
    assert fail(policy, e, 1010.0) == Resume(e, 10.0)
    second = fail(policy, e, 1012.0)
    assert isinstance(second, Hold) and second.seconds == 1.0 and second.then == Resume(e, 10.0)
    third = fail(policy, e, 1015.0)
    assert isinstance(third, Fill) and third.entry == e and "cannot be played" in third.reason
    assert policy.succeeded() and policy.failures == 0


def test_error_screen_hold_is_a_floor_and_never_past_the_slot():
    policy, e = RecoveryPolicy(RecoverySettings(error_screen_hold=5.0)), entry()
    first = fail(policy, e, 1010.0)
    assert isinstance(first, Hold) and first.seconds == 5.0
    short = RecoveryPolicy(RecoverySettings(error_screen_hold=5.0))
    near_end = fail(short, e, 1057.0)
    assert isinstance(near_end, Hold) and near_end.seconds == 3.0
    assert isinstance(fail(RecoveryPolicy(), e, 1059.5), Fill)  # under a second left


def test_hardware_encoder_dying_at_start_goes_software_without_counting():
    policy, e = RecoveryPolicy(), entry()
    step = fail(policy, e, 1010.0, hardware=True, produced=0.2)
    assert isinstance(step, SoftwareFallback) and step.then == Resume(e, 10.0)
    assert policy.failures == 0


def test_starved_only_when_loaded_and_every_channel_slow_and_it_recovers():
    now = [0.0]
    load = [5.0]
    host = HostLoad(cores=2, load=lambda: load[0], clock=lambda: now[0])
    assert host.observe([0.5, 1.0]) is None  # one channel keeps up: not starved
    assert host.observe([0.95, 0.5]) is None  # a dip at a boundary is not slow
    for t in (1.0, 5.0):
        now[0] = t
        assert host.observe([0.5, 0.6]) is None
    now[0] = 9.5
    assert host.observe([0.5, 0.6]) == 1 and host.starved
    now[0] = 30.0
    assert host.observe([0.5, 0.6]) == 2
    assert "starved" in host.describe()
    load[0] = 1.0
    now[0] = 31.0
    assert host.observe([1.0]) is None
    now[0] = 62.0
    assert host.observe([1.0]) == 0 and not host.starved


def test_device_tone_mapping_failure_keeps_the_encoder_and_does_not_count():
    policy, e = RecoveryPolicy(), entry(1000.0, 60.0)
    step = fail(policy, e, 1010.0, hardware=False, tonemap=True, produced=0.0)
    assert isinstance(step, CpuTonemapFallback) and step.then == Resume(e, 10.0)
    assert policy.failures == 0
    # The pipeline asks for it only while the device still tone-maps: after that the same
    # lines are an ordinary failure of the item (resume, back off, fill), never a loop.
    assert isinstance(fail(policy, e, 1010.0, produced=0.0), Resume)
