"""Sources and settings sections edited through the API: same pipeline as channels, and
secrets written in the file never leave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Server, clips_folder
from tests.test_config_edit_api import TOKEN, call, config_text, current

MQTT_SECRET = "literal-mqtt-secret-123"


@pytest.fixture
def server(tmp_path: Path, clips: Path):
    path = tmp_path / "exstreamtv.yaml"
    path.write_text(config_text(tmp_path, clips) +
                    "mqtt:   # the broker\n"
                    "  enabled: false\n"
                    "  port: 1883   # default port\n"
                    f"  password: {MQTT_SECRET}   # written in the file\n")
    srv = Server(path, env={"EDITOR_TEST_TOKEN": TOKEN}).start()
    yield srv
    srv.stop()


def changed(diff: str) -> list[str]:
    return [" ".join(line.split()) for line in diff.splitlines()
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_sections_keep_literal_secrets_out_of_answers(server):
    mqtt = call(server, "GET", "/api/config/sections/mqtt")
    assert mqtt.status_code == 200
    assert mqtt.json()["section"] == {"enabled": False, "port": 1883,
                                      "password": "***"}
    assert MQTT_SECRET not in mqtt.text
    server_section = call(server, "GET", "/api/config/sections/server")
    assert server_section.json()["section"]["api_token"] == "***"
    kept = call(server, "PUT", "/api/config/sections/server", server_section.json()["version"],
                json={**server_section.json()["section"], "name": "Renamed"})
    assert kept.status_code == 200, kept.text
    assert changed(kept.json()["diff"]) == ["+ name: Renamed"]
    assert "api_token: ${EDITOR_TEST_TOKEN}   # from the environment" in \
        server.config_path.read_text()
    mqtt = call(server, "GET", "/api/config/sections/mqtt")
    edited = {**mqtt.json()["section"], "port": 1884}
    saved = call(server, "PUT", "/api/config/sections/mqtt", mqtt.json()["version"], json=edited)
    assert saved.status_code == 200, saved.text
    assert changed(saved.json()["diff"]) == ["- port: 1883 # default port",
                                             "+ port: 1884 # default port"]
    assert MQTT_SECRET not in saved.text
    assert f"password: {MQTT_SECRET}   # written in the file" in server.config_path.read_text()
    assert "Config edited by api-token: section mqtt" in server.log
    assert MQTT_SECRET not in server.log


def test_section_errors_and_unknown_sections(server):
    version = current(server)["version"]
    bad = call(server, "PUT", "/api/config/sections/mqtt", version,
               json={"port": "x", "password": "***"})
    assert bad.status_code == 422
    assert [p["path"] for p in bad.json()["problems"]] == ["mqtt.port"]
    assert call(server, "GET", "/api/config/sections/database").status_code == 404
    assert call(server, "PUT", "/api/config/sections/plugins", version, json={}).status_code == 404
    no_secret = call(server, "PUT", "/api/config/sections/mqtt", version,
                     json={"password": "***", "username": "***"})
    assert no_secret.status_code == 422 and "username" in no_secret.json()["error"]


def test_sources_add_use_and_remove(server):
    more = clips_folder("editor-more", 1, 3.0)
    version = current(server)["version"]
    added = call(server, "POST", "/api/config/sources", version,
                 json={"id": "more", "type": "local", "path": str(more)})
    assert added.status_code == 200, added.text
    assert [s["id"] for s in added.json()["sources"]] == ["clips", "more"]
    scan = call(server, "POST", "/api/sources/more/scan")
    assert scan.status_code < 400, scan.text
    version = added.json()["version"]
    channel = {"number": 9, "name": "More", "schedule": {"type": "ordered", "collection": "more"}}
    made = call(server, "POST", "/api/config/channels", version, json=channel)
    assert made.status_code == 200, made.text
    version = made.json()["version"]
    # Removing a source a channel still plays is refused with the channel's key path.
    refused = call(server, "DELETE", "/api/config/sources/more", version)
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["path"] == "channels[1].schedule.collection"
    typo = call(server, "PUT", "/api/config/sources/more", version,
                json={"id": "more", "type": "locall", "path": str(more)})
    assert typo.status_code == 422
    assert typo.json()["problems"][0]["path"] == "sources[1].type"
    assert call(server, "DELETE", "/api/config/sources/nope", version).status_code == 404
    gone = call(server, "DELETE", "/api/config/channels/9", version)
    gone = call(server, "DELETE", "/api/config/sources/more", gone.json()["version"])
    assert gone.status_code == 200
    assert [s["id"] for s in gone.json()["sources"]] == ["clips"]
