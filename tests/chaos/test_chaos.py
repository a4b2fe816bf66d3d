"""The short chaos suite (CI). The long run: python bench/chaos.py --minutes 10."""

from __future__ import annotations

from tests.chaos.scenarios import config_churn, connection_abuse, kill_storm, three_channels
from tests.helpers import base_config, clips_folder


def test_viewers_survive_ffmpeg_kills(make_server, tmp_path):
    # 12-second items, so a kill lands while ffmpeg is still encoding.
    config = three_channels(base_config(tmp_path, clips_folder("long", 3, 12.0)))
    server = make_server(config)
    summary = kill_storm(server, [1, 2, 3], [8, 6, 6], seconds=90, kill_every=4,
                         kills_wanted=3)
    print(summary)
    assert summary["kills"] == 3
    assert summary["disconnects"] == 0, summary
    assert summary["healed"] == summary["kills"], summary
    assert summary["min_bytes_per_viewer"] > 100_000


def test_config_churn_keeps_last_valid_config(make_server, config_for):
    config = three_channels(config_for())
    server = make_server(config)
    summary = config_churn(server, config, seconds=12, every=1.5)
    print(summary)
    assert summary["wrong_states"] == []
    assert summary["unchanged_channel_restarts"] == 0
    assert summary["viewer_disconnected"] is None


def test_never_reading_viewers_and_storms_leak_nothing(make_server, config_for):
    server = make_server(config_for())
    summary = connection_abuse(server, idle_readers=20, storm=200)
    print(summary)
    assert summary["sessions_left"] == 0
    assert summary["ffmpeg_left"] == 0
    assert summary["rss_end_mib"] - summary["rss_base_mib"] < 40, summary


def test_broker_outage_does_not_touch_streaming(make_server, config_for, tmp_path):
    from tests.chaos.scenarios import broker_outage
    from tests.mqtt_support import Broker

    broker = Broker(tmp_path / "broker").start()
    try:
        config = config_for(mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port})
        server = make_server(config)
        summary = broker_outage(server, broker, down_seconds=6)
        print(summary)
        assert summary["viewer_disconnected"] is None
        assert summary["bytes_streamed_while_down"] > 50_000
        assert summary["state_republished_after_s"] < 5.0, summary
    finally:
        broker.stop()


def test_backups_and_restores_while_the_library_is_written(make_server, config_for, tmp_path):
    from tests.chaos.scenarios import backups_under_writes, growing_source
    from tests.helpers import clips_folder

    grow = tmp_path / "grow"
    server = make_server(growing_source(config_for(), grow))
    clip = next(iter(sorted(clips_folder().glob("*.mp4"))))
    summary = backups_under_writes(server, grow, clip, seconds=8, every=2)
    print(summary)
    assert summary["errors"] == []
    assert summary["backups"] >= 3 and summary["restores"] == 6
    assert summary["items_written"] >= 5
    assert summary["rows_lost"] == []
    assert summary["viewer_disconnected"] is None
