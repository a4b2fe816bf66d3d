"""The worked third-party plugin under examples/, installed and loaded via its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Server, decode_errors, write_config

EXAMPLE = Path(__file__).parent.parent / "examples" / "exstreamtv-eventlog"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), str(EXAMPLE)], check=True, capture_output=True)
    return target


def test_entry_point_plugin_is_loaded_and_works(installed, tmp_path, config_for):
    env = {"PYTHONPATH": os.pathsep.join([str(installed), *sys.path])}
    events = tmp_path / "events.jsonl"
    config = config_for(event_log={"path": str(events), "kinds": ["channel", "config"]})
    config["ffmpeg"] = {**config["ffmpeg"], "error_screen": {"visual": "clock"}}
    path = write_config(tmp_path / "exstreamtv.yaml", config)
    listed = subprocess.run([sys.executable, "-m", "exstreamtv", "plugins", "list", "--config",
                             str(path), "--json"], capture_output=True, text=True, env={**os.environ, **env},
                            check=True)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["eventlog"]["origin"] == "entry point"
    assert set(rows["eventlog"]["hooks"]) == {"on_event", "register_config_sections",
                                              "register_error_screens"}
    with Server(path, env=env) as server:
        code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 2)
        assert code == 0, errors
        server.wait_for(lambda: events.exists() and '"channel"' in events.read_text())
    kinds = {json.loads(line)["kind"] for line in events.read_text().splitlines()}
    assert kinds <= {"channel", "config"} and "channel" in kinds


def test_config_with_the_plugin_section_fails_without_the_plugin(tmp_path, config_for):
    path = write_config(tmp_path / "c.yaml", config_for(event_log={"path": "x"}))
    result = subprocess.run([sys.executable, "-m", "exstreamtv", "config", "check", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "event_log: unknown section" in result.stderr
