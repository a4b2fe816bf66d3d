"""The editor's library browser in a real Chromium: sources -> shows and folders -> items
with posters and search; a show put on a channel and an item added to the channel's
playlist are written to the YAML and play. Screenshot in $EXSTREAMTV_TEST_OUTPUT."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from tests.browser import editor_page
from tests.helpers import base_config, channel
from tests.library_layout import build_library
from tests.test_editor_browser import OUTPUT

TOKEN = "library-browser-token-0123"


def test_browse_the_library_and_program_a_channel(make_server, tmp_path: Path, clips: Path):
    root = build_library(tmp_path / "library")
    config = base_config(tmp_path, clips)
    config["sources"].append({"id": "lib", "type": "local", "path": str(root)})
    config["server"]["api_token"] = TOKEN
    config["channels"] = [channel(1, "One", "clips")]
    server = make_server(config)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    server.wait_for(lambda: server.get("/api/sources", headers=headers).json()[1]["state"] == "ok",
                    timeout=120)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with editor_page(server.url, TOKEN) as page:

        # Sources, then the shows and folders of one, with posters loaded lazily.
        listed = page.locator("#library-list li")
        assert listed.count() == 2
        page.click("#library-list li[data-source=lib] .pick")
        show = page.locator("#library-list li[data-group='show:Show One']")
        show.wait_for()
        poster = show.locator("img")
        assert poster.get_attribute("loading") == "lazy"
        # Polled from here: wait_for_function compiles its predicate in the page, which
        # the page's CSP (no 'unsafe-eval') refuses whenever the image is not loaded yet.
        deadline = time.monotonic() + 30
        while poster.evaluate("img => img.naturalWidth") == 0:
            assert time.monotonic() < deadline, "the poster did not load"
            page.wait_for_timeout(100)
        # Search narrows the groups.
        page.fill("#library-search", "cafe")
        page.locator("#library-list li[data-group='show:Show One']").wait_for(state="detached")
        assert page.locator("#library-list li[data-group^='folder:Movies/Caf']").count() == 1
        page.fill("#library-search", "")
        show.wait_for()

        # The show on channel 1: the form's schedule takes its collection; Save writes it.
        show.locator("button.play").click()
        assert page.input_value("[data-path='schedule.collection']") == "lib:show:Show One"
        page.click("#save")
        page.locator("#status", has_text="Saved channel 1").wait_for()
        written = yaml.safe_load(server.config_path.read_text())
        assert written["channels"][0]["schedule"]["collection"] == "lib:show:Show One"
        assert server.get("/api/channels/1").json()["now"]["title"] in {
            "The Pilot", "Double Trouble", "Fifth"}

        # An item of a folder into the channel's playlist, which the schedule then plays.
        page.click("#library-list li[data-group='folder:Movies/Cafe Society (1999)'] .pick")
        item = page.locator("#library-list li[data-item]")
        item.first.wait_for()
        assert item.count() == 1 and "Café Society" in item.first.text_content()
        page.screenshot(path=str(OUTPUT / "library-desktop.png"))
        item.first.locator("button.add").click()
        page.locator("#status", has_text="to channel-1").wait_for()
        assert page.input_value("[data-path='schedule.collection']") == "channel-1"
        written = yaml.safe_load(server.config_path.read_text())
        assert written["collections"] == [{"name": "channel-1", "items": [
            {"source": "lib", "path": "*/Movies/Cafe Society (1999)/Cafe Society (1999).mp4"}]}]
        page.click("#save")
        page.locator("#status", has_text="Saved channel 1").wait_for()
        server.wait_for(
            lambda: server.get("/api/channels/1").json()["now"]["title"] == "Café Society",
            timeout=30)
        # Back up the path; the breadcrumb leads to the sources again.
        page.click("#library-path button >> text=Sources")
        page.locator("#library-list li[data-source=clips]").wait_for()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUTPUT / "library-phone.png"))
