"""The channel editor page in a real Chromium: a channel built from nothing plays, each save
touches only its own lines, errors show at the field, a hand edit is detected.

Screenshots at phone and desktop widths go to $EXSTREAMTV_TEST_OUTPUT (default
``test-output/`` in the checkout).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
import yaml

from tests.browser import browser_page, editor_page
from tests.helpers import Server, base_config, clips_folder, free_port, probe_packets

TOKEN = "browser-editor-token-0123"
OUTPUT = Path(os.environ.get("EXSTREAMTV_TEST_OUTPUT",
                             Path(__file__).resolve().parents[1] / "test-output")) / "editor"


def changed(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def server(tmp_path: Path, clips: Path):
    base = base_config(tmp_path, clips)
    path = tmp_path / "exstreamtv.yaml"
    path.write_text(
        "# Built in the browser from nothing\n"
        f"server:\n  port: {free_port()}\n  data_directory: {tmp_path / 'data'}\n"
        "  api_token: ${EDITOR_BROWSER_TOKEN}   # from the environment\n"
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'data' / 'test.db'}'}}\n"
        f"ffmpeg: {json.dumps(base['ffmpeg'])}\n"
        f"sources:\n  - id: clips   # test clips\n    type: local\n    path: {clips}\n"
        "channels: []   # none yet\n"
        "streaming: {idle_stop_seconds: 2}\n")
    srv = Server(path, env={"EDITOR_BROWSER_TOKEN": TOKEN}).start()
    yield srv
    srv.stop()


def saved(page) -> None:
    """Wait until the page says the save went through (and reset the message)."""
    page.locator("#status", has_text="Saved channel 7").wait_for()
    page.evaluate("document.getElementById('status').textContent = ''")


def m3u_numbers(server: Server) -> list[int]:
    text = server.get("/api/channels.m3u").text
    return [int(line.split("/")[-1].split(".")[0]) for line in text.splitlines()
            if line.startswith("http")]


def test_build_a_channel_in_the_browser(server):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = server.config_path
    with editor_page(server.url, TOKEN) as page:
        assert page.locator("#channel-list li").count() == 0

        # 1. A channel from nothing, with the keyboard where a person would use it.
        before = path.read_text()
        page.click("#new-channel")
        page.fill("[data-path=number]", "7")
        page.fill("[data-path=name]", "Seven <b>&amp;")
        page.fill("[data-path=group]", "Tests")
        page.select_option("#schedule-type", "ordered")
        page.fill("[data-path='schedule.collection']", "clips")
        page.focus("[data-path='schedule.collection']")
        page.keyboard.press("Enter")  # submits the form
        saved(page)
        after = path.read_text()
        assert all(line.startswith("+") or line == "-channels: []   # none yet"
                   for line in changed(before, after)), changed(before, after)
        assert "# Built in the browser from nothing" in after
        assert "api_token: ${EDITOR_BROWSER_TOKEN}   # from the environment" in after
        assert TOKEN not in after
        assert page.locator("#channel-list li .pick").text_content() == "7 · Seven <b>&amp;"
        server.wait_for(lambda: m3u_numbers(server) == [7], timeout=30)
        packets = probe_packets(f"{server.url}/stream/channels/7.ts", 3.0)
        assert {p["codec_type"] for p in packets} == {"video", "audio"}

        # 2. Change its schedule to a time-slot grid; a bad time shows at its field.
        page.select_option("#schedule-type", "time_slots")
        page.click("text=Add slots")
        page.fill("[data-path='schedule.slots[0].name']", "All day")
        page.fill("[data-path='schedule.slots[0].start_time']", "25:00")
        page.fill("[data-path='schedule.slots[0].duration_minutes']", "1440")
        page.fill("[data-path='schedule.slots[0].collection']", "clips")
        before = path.read_text()
        page.click("#save")
        error = page.locator("[data-error-for='schedule.slots[0].start_time']:not(:empty)")
        error.wait_for()
        assert "HH:MM" in error.text_content() or "25:00" in error.text_content()
        assert page.evaluate("document.activeElement.dataset.path") == \
            "schedule.slots[0].start_time"
        assert path.read_text() == before
        page.screenshot(path=str(OUTPUT / "editor-field-error-desktop.png"), full_page=True)
        page.fill("[data-path='schedule.slots[0].start_time']", "00:00")
        page.click("#save")
        saved(page)
        after = path.read_text()
        lines = changed(before, after)
        assert [line.split() for line in lines[:2]] == [["-", "type:", "ordered"],
                                                        ["-", "collection:", "clips"]], lines
        assert all(line.startswith("+    ") for line in lines[2:]), lines
        assert "start_time: 00:00" in after or "start_time: '00:00'" in after

        # 3. A hand edit while the page is open: the save is refused with the diff.
        path.write_text(path.read_text().replace("# none yet", "# edited by hand"))
        page.fill("[data-path=name]", "Seven HD")
        page.click("#save")
        page.wait_for_selector("#conflict:not([hidden])")
        conflict = page.locator("#conflict-diff").text_content()
        assert any(line.startswith("+channels:") and line.endswith("# edited by hand")
                   for line in conflict.splitlines()), conflict
        assert "edited by hand" in path.read_text()
        page.click("#conflict-reload")
        page.wait_for_selector("#conflict", state="hidden")
        assert page.input_value("[data-path=name]") == "Seven HD"  # the form was kept
        page.click("#save")
        saved(page)
        final = path.read_text()
        assert "name: Seven HD" in final and "# edited by hand" in final

        # 4. Phone and desktop widths.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(OUTPUT / "editor-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUTPUT / "editor-phone.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    assert (OUTPUT / "editor-phone.png").stat().st_size > 0


def test_sources_settings_and_reorder_with_the_keyboard(server):
    path = server.config_path
    more = clips_folder("editor-more", 1, 3.0)
    with browser_page() as page:
        page.set_default_timeout(30_000)
        page.goto(server.url + "/editor")
        page.fill("input[name=token]", TOKEN)
        page.press("input[name=token]", "Enter")
        page.wait_for_url(server.url + "/")
        page.goto(server.url + "/editor")
        page.wait_for_selector("body[data-ready=yes]")

        # A source added from the form, then rescanned.
        page.click("#new-source")
        page.fill("#source-id", "more")
        page.select_option("#source-type", "local")
        page.fill("#source-fields [data-path=path]", str(more))
        before = path.read_text()
        page.click("#source-save")
        page.locator("#status", has_text="Saved source more").wait_for()
        lines = changed(before, path.read_text())
        assert [line.split() for line in lines] == [["+", "-", "id:", "more"], ["+", "type:", "local"],
                                                    ["+", "path:", str(more)]], lines
        page.click("#source-scan")
        page.locator("#status", has_text="Scan of more started").wait_for()

        # Two channels from the API, reordered with the keyboard in the page.
        for number in (1, 2):
            version = page.evaluate("fetch('/api/config/channels').then(r => r.json())"
                                    ".then(d => d.version)")
            status = page.evaluate(
                """([number, version]) => fetch('/api/config/channels', {method: 'POST',
                     headers: {'Content-Type': 'application/json', 'If-Match': version,
                       'X-CSRF-Token': document.cookie.match(/exstreamtv_csrf=([^;]+)/)[1]},
                     body: JSON.stringify({number, name: 'K' + number,
                       schedule: {type: 'ordered', collection: 'more'}})}).then(r => r.status)""",
                [number, version])
            assert status == 200
        page.goto(server.url + "/editor")
        page.wait_for_selector("body[data-ready=yes]")
        page.focus("#channel-list li[data-number='2'] button[aria-label^='Move K2 up']")
        page.keyboard.press("Enter")
        page.locator("#status", has_text="Order saved").wait_for()
        numbers = [c["number"] for c in yaml.safe_load(path.read_text())["channels"]]
        assert numbers == [2, 1]
        assert page.evaluate("document.activeElement.textContent") == "2 · K2"

        # A settings section: one field changed, one line in the file.
        page.select_option("#section-name", "database_backup")
        page.wait_for_selector("#section-fields [data-path='database_backup.keep_count']")
        page.fill("#section-fields [data-path='database_backup.keep_count']", "3")
        before = path.read_text()
        page.click("#section-save")
        page.locator("#status", has_text="Saved section database_backup").wait_for()
        assert changed(before, path.read_text()) == ["+database_backup:",
                                                     "+  keep_count: 3"]
        # A bad value shows at its field with the loader's message.
        page.fill("#section-fields [data-path='database_backup.keep_count']", "-1")
        page.click("#section-save")
        page.locator("[data-error-for='database_backup.keep_count']:not(:empty)").wait_for()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUTPUT / "editor-sources-settings-phone.png"), full_page=True)
