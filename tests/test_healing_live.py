"""ai_auto_heal edits take effect on a running server (hot reload), observed from outside."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Server, clips_folder, write_config
from tests.test_healing_faults import Viewer, events, healing_config, kill_ffmpeg


@pytest.fixture(scope="module")
def long_clips() -> Path:
    return clips_folder("heal", 2, 20.0)


def reload(server: Server, config: dict[str, Any], **heal: Any) -> None:
    """Write ``heal`` into ai_auto_heal and wait until the server has applied it."""
    before = server.get("/api/config/status").json()["version"]
    config["ai_auto_heal"] = {**config.get("ai_auto_heal", {}), **heal}
    write_config(server.config_path, config)
    server.wait_for(lambda: server.get("/api/config/status").json()["version"] > before, 15)


def fix_actions(server: Server, since: int) -> list[tuple[str, str, str]]:
    return [(e["issue"], e["strategy"], e["action"]) for e in events(server, kind="fix")[since:]]


def test_resolver_keys_apply_on_reload(make_server, long_clips, tmp_path):
    config = healing_config(tmp_path, long_clips)
    server = make_server(config)
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    server.wait_for(lambda: len(viewer.data) > 50_000, 20)
    try:
        # auto_resolve_enabled: false -> a killed ffmpeg is detected, no RESTART applied.
        reload(server, config, auto_resolve_enabled=False)
        start = len(events(server, kind="fix"))
        kill_ffmpeg(server)
        server.wait_for(lambda: ("FFMPEG_CRASH", "RESTART", "skipped")
                        in fix_actions(server, start), 15)
        assert ("FFMPEG_CRASH", "RESTART", "applied") not in fix_actions(server, start)
        # max_auto_fixes_per_hour: 0 -> capped, escalated instead.
        reload(server, config, auto_resolve_enabled=True, max_auto_fixes_per_hour=0)
        start = len(events(server, kind="fix"))
        kill_ffmpeg(server)
        server.wait_for(lambda: ("FFMPEG_CRASH", "RESTART", "capped")
                        in fix_actions(server, start), 15)
        assert ("FFMPEG_CRASH", "RESTART", "applied") not in fix_actions(server, start)
        # require_approval_above_risk: LOW -> the MEDIUM restart waits for approval ...
        reload(server, config, max_auto_fixes_per_hour=50, require_approval_above_risk="LOW")
        start = len(events(server, kind="fix"))
        kill_ffmpeg(server)
        pending = server.wait_for(lambda: server.get("/api/healing/pending").json(), 15)
        assert pending[0]["risk"] == "MEDIUM" and pending[0]["strategy"] == "RESTART"
        assert ("FFMPEG_CRASH", "RESTART", "applied") not in fix_actions(server, start)
        # ... and a reload back to MEDIUM while it waits lets it run without approval.
        reload(server, config, require_approval_above_risk="MEDIUM")
        server.wait_for(lambda: ("FFMPEG_CRASH", "RESTART", "applied")
                        in fix_actions(server, start), 15)
        assert ("FFMPEG_CRASH", "RESTART", "approved") in fix_actions(server, start)
        assert server.get("/api/healing/pending").json() == []
    finally:
        viewer.finish()
    assert not viewer.ended and viewer.error is None


class LogReader(threading.Thread):
    """Reads the live log stream, keeping its lines."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.status: int | None = None
        self.lines: list[str] = []
        self.done = False

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=30) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError as exc:
            self.lines.append(f"error: {exc!r}")
        finally:
            self.done = True


def test_realtime_streaming_switches_the_live_log(make_server, long_clips, tmp_path):
    config = healing_config(tmp_path, long_clips)
    server = make_server(config)
    reader = LogReader(f"{server.url}/api/healing/logs/stream")
    reader.start()
    server.wait_for(lambda: reader.lines and reader.lines[0].startswith(": connected"), 15)
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()  # the channel starting is logged, and the log is streamed
    try:
        server.wait_for(lambda: [ln for ln in reader.lines
                                 if ln.startswith("data:") and '"channel": 1' in ln], 20)
        reload(server, config, realtime_streaming=False)
        server.wait_for(lambda: reader.done, 15)
        assert "event: end" in reader.lines
        off = server.get("/api/healing/logs/stream")
        assert off.status_code == 409 and "realtime_streaming" in off.json()["error"]
        reload(server, config, realtime_streaming=True)
        again = LogReader(f"{server.url}/api/healing/logs/stream?channel=1&level=warning")
        again.start()
        server.wait_for(lambda: again.lines and again.lines[0].startswith(": connected"), 15)
        assert again.status == 200
        bad = server.get("/api/healing/logs/stream?level=loud")
        assert bad.status_code == 400
    finally:
        viewer.finish()


def test_dashboard_shows_the_live_log_and_each_fix_analysis(make_server, long_clips, tmp_path):
    from tests.browser import browser_page
    from tests.test_dashboard import wait_in_page

    token = "correct-horse-battery-staple"
    config = healing_config(tmp_path, long_clips)
    config["server"]["api_token"] = token
    server = make_server(config)
    auth = {"Authorization": f"Bearer {token}"}
    viewer = Viewer(f"{server.url}/stream/channels/1.ts")
    viewer.start()
    try:
        server.wait_for(lambda: len(viewer.data) > 50_000, 20)
        with browser_page() as page:
            page.goto(server.url + "/")
            page.fill("input[name=token]", token)
            page.click("#login button")
            page.wait_for_selector("#live-log")
            wait_in_page(page, lambda: page.locator("#live-log li").count() > 0, 30)
            # A crash: its fix events carry the analysis, shown as text under the event.
            def shown() -> bool:
                return page.locator("#events details.analysis").count() > 0

            for _ in range(6):  # an ffmpeg that already finished its item cannot be killed
                pid = server.get("/api/channels/1").json()["pipeline"].get("pid")
                with contextlib.suppress(ProcessLookupError, TypeError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(AssertionError):
                    wait_in_page(page, shown, 10)
                if shown():
                    break
            assert shown(), "no fix event with its analysis reached the dashboard"
            summary = page.locator("#events details.analysis summary").first.text_content()
            assert summary is not None and summary.startswith("cause: ")
    finally:
        viewer.finish()
    fixes = server.get("/api/healing/events", params={"kind": "fix"}, headers=auth).json()
    assert any(e.get("analysis") for e in fixes)
