"""The channel editing API against a running server: the file is rewritten in place, the
hot reload applies it, stale and invalid edits are refused and nothing is lost."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import Server, base_config, free_port, probe_packets

TOKEN = "editor-test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config_text(tmp: Path, clips: Path) -> str:
    """A hand-written config (comments, flow style, an ${ENV} token) around base_config."""
    base = base_config(tmp, clips)
    ffmpeg = yaml.safe_dump({"ffmpeg": base["ffmpeg"]}, sort_keys=False)
    return (
        "# Hand-written config: every comment must survive edits from the API\n"
        "server:\n"
        f"  host: 127.0.0.1\n  port: {free_port()}   # chosen by the test\n"
        f"  data_directory: {tmp / 'data'}\n"
        "  api_token: ${EDITOR_TEST_TOKEN}   # from the environment\n"
        f"database: {{url: 'sqlite+aiosqlite:///{tmp / 'data' / 'test.db'}'}}\n"
        f"{ffmpeg}"
        "sources:\n"
        f"  - id: clips   # generated clips\n    type: local\n    path: {clips}\n"
        "channels:\n"
        "  # channel one is the reference\n"
        "  - number: 1\n"
        "    name: 'Clips'   # quoted on purpose\n"
        "    schedule: {type: ordered, collection: clips}\n"
        "streaming: {idle_stop_seconds: 2}\n"
    )


@pytest.fixture
def server(tmp_path: Path, clips: Path):
    path = tmp_path / "exstreamtv.yaml"
    path.write_text(config_text(tmp_path, clips))
    srv = Server(path, env={"EDITOR_TEST_TOKEN": TOKEN}).start()
    yield srv
    srv.stop()
    with contextlib.suppress(OSError):
        path.chmod(0o644)


def call(server: Server, method: str, path: str, version: str | None = None,
         **kwargs) -> httpx.Response:
    headers = dict(AUTH)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)


def current(server: Server) -> dict:
    response = call(server, "GET", "/api/config/channels")
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'
    return response.json()


def m3u_numbers(server: Server) -> list[int]:
    text = server.get("/api/channels.m3u").text
    return [int(line.split("/")[-1].split(".")[0]) for line in text.splitlines()
            if line.startswith("http")]


def news(number: int = 5, name: str = "News") -> dict:
    return {"number": number, "name": name, "group": "Info",
            "schedule": {"type": "shuffle", "collection": "clips"}}


def test_get_answers_the_yaml_shape_without_resolving_secrets(server):
    assert httpx.get(f"{server.url}/api/config/channels", timeout=10).status_code == 401
    body = current(server)
    assert body["channels"] == [{"number": 1, "name": "Clips",
                                 "schedule": {"type": "ordered", "collection": "clips"}}]
    raw = call(server, "GET", "/api/config/channels").text
    assert TOKEN not in raw
    doc = httpx.get(f"{server.url}/api/openapi.json", timeout=10).json()
    assert {"get", "post"} <= set(doc["paths"]["/api/config/channels"])
    assert {"put", "delete"} <= set(doc["paths"]["/api/config/channels/{number}"])


def test_create_writes_only_new_lines_and_the_channel_plays(server):
    before = server.config_path.read_text()
    version = current(server)["version"]
    response = call(server, "POST", "/api/config/channels", version, json=news())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is True and body["version"] != version
    after = server.config_path.read_text()
    assert after.startswith(before.split("streaming:")[0])
    assert after.endswith("streaming: {idle_stop_seconds: 2}\n")
    assert "api_token: ${EDITOR_TEST_TOKEN}   # from the environment" in after
    assert TOKEN not in after
    added = [line for line in body["diff"].splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in body["diff"].splitlines()
               if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and added[0] == "+  - number: 5"
    server.wait_for(lambda: m3u_numbers(server) == [1, 5], timeout=30)
    packets = probe_packets(f"{server.url}/stream/channels/5.ts", 3.0)
    assert {p["codec_type"] for p in packets} == {"video", "audio"}
    assert "Config edited by api-token: create channel 5" in server.log


def test_edit_changes_one_line_and_a_stale_version_gets_409_with_a_diff(server):
    version = current(server)["version"]
    edited = {"number": 1, "name": "Clips HD",
              "schedule": {"type": "ordered", "collection": "clips"}}
    response = call(server, "PUT", "/api/config/channels/1", version, json=edited)
    assert response.status_code == 200, response.text
    lines = [line for line in response.json()["diff"].splitlines()
             if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    # One line changes; its quoting and comment stay (the comment keeps its column
    # where the longer value leaves room).
    assert [" ".join(line.split()) for line in lines] == [
        "- name: 'Clips' # quoted on purpose", "+ name: 'Clips HD' # quoted on purpose"]
    # The old version is refused now, even with a valid edit.
    stale = call(server, "PUT", "/api/config/channels/1", version,
                 json={**edited, "name": "Lost?"})
    assert stale.status_code == 409
    assert stale.json()["version"] == response.json()["version"]
    assert stale.json()["rejected"]["name"] == "Lost?"
    # A hand edit in an editor: the API's next save is refused with the diff.
    fresh = response.json()["version"]
    path = server.config_path
    path.write_text(path.read_text().replace("# channel one is the reference",
                                             "# edited by hand"))
    conflict = call(server, "DELETE", "/api/config/channels/1", fresh)
    assert conflict.status_code == 409
    assert "-  # channel one is the reference" in conflict.json()["diff"]
    assert "+  # edited by hand" in conflict.json()["diff"]
    assert "edited by hand" in path.read_text() and m3u_numbers(server) == [1]


def test_schema_errors_come_back_with_the_key_path(server):
    version = current(server)["version"]
    text = server.config_path.read_text()
    bad = news()
    bad["schedule"] = {"type": "time_slots", "slots": [{"start_time": "25:99",
                                                       "duration_minutes": 30,
                                                       "collection": "clips"}]}
    response = call(server, "POST", "/api/config/channels", version, json=bad)
    assert response.status_code == 422, response.text
    paths = [p["path"] for p in response.json()["problems"]]
    assert any(p.startswith("channels[1].schedule.slots[0]") for p in paths), paths
    duplicate = call(server, "POST", "/api/config/channels", version, json=news(1))
    assert duplicate.status_code == 422
    assert duplicate.json()["problems"][0]["path"] == "channels[1].number"
    unknown = call(server, "POST", "/api/config/channels", version, json={**news(), "colour": 1})
    [problem] = unknown.json()["problems"]
    assert problem["path"] == "channels[1].colour"
    assert problem["message"].startswith("unknown key 'colour' (allowed: enabled, ffmpeg")
    assert call(server, "POST", "/api/config/channels", version, content=b"[1]").status_code == 400
    assert call(server, "POST", "/api/config/channels", json=news()).status_code == 428
    assert call(server, "DELETE", "/api/config/channels/9", version).status_code == 404
    assert server.config_path.read_text() == text


def test_delete_and_reorder(server):
    version = current(server)["version"]
    version = call(server, "POST", "/api/config/channels", version, json=news(5)).json()["version"]
    version = call(server, "POST", "/api/config/channels", version,
                   json=news(3, "Three")).json()["version"]
    bad = call(server, "PUT", "/api/config/channels/order", version, json={"order": [3, 1]})
    assert bad.status_code == 400
    moved = call(server, "PUT", "/api/config/channels/order", version, json={"order": [3, 1, 5]})
    assert moved.status_code == 200, moved.text
    assert [c["number"] for c in current(server)["channels"]] == [3, 1, 5]
    gone = call(server, "DELETE", "/api/config/channels/1", moved.json()["version"])
    assert gone.status_code == 200
    server.wait_for(lambda: m3u_numbers(server) == [3, 5], timeout=30)
    assert "# Hand-written config" in server.config_path.read_text()


def test_read_only_file_is_refused_and_the_running_config_stays(server):
    version = current(server)["version"]
    text = server.config_path.read_text()
    server.config_path.chmod(0o444)
    response = call(server, "POST", "/api/config/channels", version, json=news())
    assert response.status_code == 409
    assert "read-only" in response.json()["error"]
    assert server.config_path.read_text() == text
    assert m3u_numbers(server) == [1]
    server.config_path.chmod(0o640)
    ok = call(server, "POST", "/api/config/channels", version, json=news())
    assert ok.status_code == 200
    assert oct(server.config_path.stat().st_mode & 0o777) == oct(0o640)


def test_full_disk_is_refused_and_the_running_config_stays(tmp_path, clips):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        path = mount / "exstreamtv.yaml"
        path.write_text(config_text(tmp_path, clips))
        with Server(path, cwd=tmp_path, env={"EDITOR_TEST_TOKEN": TOKEN}) as srv:
            version = current(srv)["version"]
            text = path.read_text()
            filler = mount / "filler"
            with contextlib.suppress(OSError), open(filler, "wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
            response = call(srv, "POST", "/api/config/channels", version, json=news())
            assert response.status_code == 507, response.text
            assert "no space left" in response.json()["error"]
            assert path.read_text() == text
            assert sorted(p.name for p in mount.iterdir()) == ["exstreamtv.yaml", "filler"]
            assert m3u_numbers(srv) == [1]
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mount)], check=False).returncode == 0:
                break
            time.sleep(0.2)


def test_two_saves_on_the_same_version_one_wins(server):
    import concurrent.futures

    version = current(server)["version"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(call, server, "POST", "/api/config/channels", version,
                               json=news(n, f"N{n}")) for n in (7, 8)]
        codes = sorted(f.result().status_code for f in futures)
    assert codes == [200, 409]
    assert len(current(server)["channels"]) == 2
    assert os.listdir(server.config_path.parent).count(".exstreamtv.yaml.tmp") == 0


def test_each_change_is_published_with_who_and_the_diff(server):
    import json

    version = current(server)["version"]
    with httpx.stream("GET", f"{server.url}/api/events/stream", headers=AUTH,
                      timeout=30) as response:
        lines = response.iter_lines()
        assert next(lines).startswith(": connected")
        saved = call(server, "POST", "/api/config/channels", version, json=news())
        assert saved.status_code == 200
        for line in lines:
            if line.startswith("data:") and '"config_edit"' in line:
                event = json.loads(line[5:])
                break
    assert event["who"] == "api-token" and event["action"] == "create"
    assert event["channel"] == 5 and event["version"] == saved.json()["version"]
    assert event["based_on"] == version and "+  - number: 5" in event["diff"]
