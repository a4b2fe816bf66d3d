"""The bundled example config plays its demo channel on a machine with no media."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.helpers import Server, decode_errors, free_port, write_config

ROOT = Path(__file__).parent.parent


def test_example_config_serves_generated_demo_clips(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "exstreamtv.yaml").read_text())
    config["server"]["port"] = free_port()
    # Smaller clips than the shipped default keep the test quick; the code path is the same.
    config["sources"][0].update({"seconds": 4, "width": 320, "height": 180})
    path = write_config(tmp_path / "exstreamtv.yaml", config)
    with Server(path) as server:
        server.wait_for(
            lambda: server.get("/api/health").json()["components"]["library"]["sources"]
            ["demo"]["items"] == 3, timeout=60)
        assert len(list((tmp_path / "data" / "demo").glob("demo-*.mp4"))) == 3
        code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 6)
        assert code == 0 and not errors.strip(), errors
        assert "Using ffmpeg" in server.log and "from PATH" in server.log
    shutil.rmtree(tmp_path / "data")
