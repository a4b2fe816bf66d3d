"""The guide grid page in a real Chromium: programme titles and times, the now line,
paging by day, hostile names escaped; screenshots at phone and desktop widths."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tests.browser import browser_page
from tests.helpers import base_config, channel, clips_folder
from tests.library_layout import image
from tests.test_editor_browser import OUTPUT

HOSTILE = "<img src=x onerror=alert(1)> News & Co"


def test_guide_grid_by_day(make_server, tmp_path: Path, clips: Path):
    long_clips = clips_folder("guide-long", 1, 420.0)  # 7 minutes: drawn as its own block
    config = base_config(tmp_path, clips)
    config["sources"].append({"id": "long", "type": "local", "path": str(long_clips)})
    config["channels"] = [channel(1, "Shorts", "clips"), channel(2, HOSTILE, "long")]
    server = make_server(config)
    server.wait_for(lambda: server.get("/api/channels/2").json().get("now"), timeout=60)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        page.set_default_timeout(30_000)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url + "/guide")
        page.wait_for_selector("body[data-ready=yes]")
        rows = page.locator(".day-row[data-number]")
        assert rows.count() == 2
        assert rows.nth(1).locator(".day-label").text_content().strip() == f"2 {HOSTILE}"
        assert page.locator("img").count() == 0 and dialogs == []
        blocks = rows.nth(1).locator(".day-block")
        assert blocks.count() >= 200  # a 7-minute programme after another, all day
        first_title = blocks.nth(1).locator("b").text_content()
        assert first_title and "short items" not in first_title
        times = blocks.nth(1).locator("i").text_content()
        assert len(times) == 11 and times[2] == ":" and times[5] == "–", times
        # Four-second clips are grouped, so the page stays small.
        shorts = rows.nth(0).locator(".day-block")
        assert shorts.count() < 50
        assert "short items" in shorts.first.text_content()
        assert len(page.content()) < 2_000_000
        # The now line sits where now is in the day, and the grid is scrolled to it.
        line = page.locator("#now-line").first
        left = float(line.get_attribute("style").split(":")[1].strip(" %;"))
        local = time.localtime()
        expected = (local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec) / 86400 * 100
        assert abs(left - expected) < 1.0, (left, expected)
        assert page.evaluate("document.getElementById('day-grid').scrollLeft") > 0 or expected < 5
        page.screenshot(path=str(OUTPUT / "guide-desktop.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUTPUT / "guide-phone.png"))
        # Keyboard: the grid takes focus and scrolls with the arrow keys.
        page.focus("#day-grid")
        before = page.evaluate("document.getElementById('day-grid').scrollLeft")
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.getElementById('day-grid').scrollLeft") > before
        # Next day: another date, no now line; and back.
        today = page.locator("#day").text_content()
        page.click("#next-day")
        page.wait_for_selector("body[data-ready=yes]")
        assert page.locator("#day").text_content() != today
        assert page.locator("#now-line").count() == 0
        assert page.locator(".day-row[data-number='2'] .day-block").count() >= 200
        page.click("#today")
        page.wait_for_selector("#now-line")
    assert server.get("/guide?day=99").status_code == 200
    assert server.get("/guide?day=x").status_code == 200


def test_guide_posters_load_lazily(make_server, tmp_path: Path, clips: Path):
    film = tmp_path / "films" / "Long (2000)"
    film.mkdir(parents=True)
    shutil.copy(next(clips_folder("guide-long", 1, 420.0).glob("*.mp4")), film / "Long (2000).mp4")
    image(film / "poster.jpg", "purple")
    config = base_config(tmp_path, clips)
    config["sources"].append({"id": "films", "type": "local", "path": str(tmp_path / "films")})
    config["channels"] = [channel(1, "Films", "films"), channel(2, "Shorts", "clips")]
    server = make_server(config)
    server.wait_for(lambda: server.get("/api/channels/1").json().get("now"), timeout=60)
    with browser_page() as page:
        page.set_default_timeout(30_000)
        page.goto(server.url + "/guide?day=1")
        page.wait_for_selector("body[data-ready=yes]")
        posters = page.locator(".day-row[data-number='1'] .day-block img")
        assert posters.count() >= 200  # every 7-minute programme shows the film's poster
        assert page.locator(".day-row[data-number='2'] img").count() == 0  # no artwork
        last = posters.last
        assert last.get_attribute("loading") == "lazy"
        assert last.get_attribute("src").startswith("/artwork/items/")
        last.scroll_into_view_if_needed()
        # Polled from here: wait_for_function compiles its predicate in the page, which
        # the page's CSP (no 'unsafe-eval') refuses whenever the image is not loaded yet.
        deadline = time.monotonic() + 30
        while not last.evaluate("img => img.complete && img.naturalWidth > 0"):
            assert time.monotonic() < deadline, "the last poster did not load"
            page.wait_for_timeout(100)
