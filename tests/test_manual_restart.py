"""A manual restart (the Home Assistant button, over MQTT) shows the error screen while
the fresh ffmpeg starts, then the programme comes back; viewers stay connected."""

from __future__ import annotations

from tests.helpers import clips_folder
from tests.test_healing_faults import Viewer, slate_frames
from tests.test_mqtt import broker, mqtt_config, watcher  # noqa: F401 (fixtures)


def test_restart_button_shows_the_error_screen_then_the_programme(
        make_server, mqtt_config, watcher, tmp_path):  # noqa: F811
    config = mqtt_config()
    config["sources"][0]["path"] = str(clips_folder("heal", 2, 20.0))
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": {"visual": "slate", "audio": "silent"}}
    server = make_server(config)
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 50_000, 30)
    watcher.wait_message("exstreamtv/status", "online")
    before = server.get("/api/channels/1").json()["pipeline"]["restarts"]
    watcher.publish("exstreamtv/channel/1/command/restart", "PRESS")
    server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"]["restarts"]
                    > before, 30)
    size = len(viewer.data)
    server.wait_for(lambda: len(viewer.data) > size + 50_000, 20)
    viewer.finish()
    assert not viewer.ended and viewer.error is None
    slate, errors = slate_frames(bytes(viewer.data), tmp_path)
    assert errors.strip() == "", errors
    first = slate.index(True) if True in slate else -1
    assert first > 0, "the error screen never showed"
    assert not all(slate[first:]), "the programme never came back after the error screen"
    assert "restarting its ffmpeg (requested from Home Assistant)" in server.log
