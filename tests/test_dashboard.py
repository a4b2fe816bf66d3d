"""The dashboard in a real headless Chromium, and the management API's token checks."""

from __future__ import annotations

import contextlib
import functools

import httpx
import pytest

from exstreamtv.app import create_app
from exstreamtv.config import validate_config
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry
from exstreamtv.web.openapi import ROUTES
from tests.browser import browser_page
from tests.helpers import channel, make_clip

HOSTILE = "<img src=x onerror=alert(1)>"


def wait_in_page(page, condition, seconds: float) -> None:
    """Poll ``condition`` (the page's CSP forbids Playwright's eval-based waiting)."""
    for _ in range(int(seconds * 4)):
        if condition():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"condition not met in the page within {seconds}s")
TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def hostile_media(tmp_path):
    folder = tmp_path / "hostile"
    make_clip(folder / f"{HOSTILE}.mp4", 65.0)  # long enough to get its own guide block
    return folder


def test_page_lists_channels_and_guide_and_escapes_titles(make_server, config_for, hostile_media):
    config = config_for()
    config["sources"].append({"id": "hostile", "type": "local", "path": str(hostile_media)})
    config["channels"].append(channel(2, "<script>alert('x')</script>", "hostile"))
    server = make_server(config)
    server.wait_for(lambda: server.get("/api/channels/2").json()["now"]["kind"] == "program")
    with browser_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url + "/")
        names = page.locator("#channels .channel-name").all_text_contents()
        assert names == ["Clips", "<script>alert('x')</script>"]
        now_titles = page.locator("#channels .now .title").all_text_contents()
        assert HOSTILE in now_titles[1]
        assert page.locator("img[src=x]").count() == 0
        assert page.locator(".guide-block").count() >= 2
        guide_text = " ".join(page.locator(".guide-block").all_text_contents())
        assert HOSTILE in guide_text
        assert "short items" in guide_text  # the 4-second clips of channel 1, grouped
        page.wait_for_timeout(1200)  # the progress bar ticks once a second
        progress = page.eval_on_selector("#channels progress", "bar => bar.value")
        assert 0 < progress <= 1
        assert dialogs == []
        # Without a token configured the management panels are there and filled.
        page.wait_for_selector("#plugins li")
        assert "sources.local" in page.locator("#plugins").text_content()


def test_management_needs_the_token_in_the_browser(make_server, config_for):
    server = make_server(config_for(server={**config_for()["server"], "api_token": TOKEN}))
    with browser_page() as page:
        page.goto(server.url + "/")
        assert page.locator("#login form").count() == 1
        assert page.locator("#manage").count() == 0
        status = page.evaluate("fetch('/api/sessions').then(r => r.status)")
        assert status == 401
        status = page.evaluate("fetch('/api/config/reload', {method: 'POST'}).then(r => r.status)")
        assert status == 401
        page.fill("input[name=token]", "wrong")
        page.click("#login button")
        page.wait_for_selector("#login-error")
        page.fill("input[name=token]", TOKEN)
        page.click("#login button")
        page.wait_for_selector("#manage")
        page.wait_for_selector("#config-status dd")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["exstreamtv_token"]["httpOnly"] is True
        assert cookies["exstreamtv_token"]["sameSite"] == "Strict"
        assert page.evaluate("document.cookie").find("exstreamtv_token") == -1
        # Logged in: reads work; a write without the CSRF header is refused, with it accepted.
        assert page.evaluate("fetch('/api/sessions').then(r => r.status)") == 200
        no_csrf = page.evaluate("fetch('/api/config/reload', {method: 'POST'}).then(r => r.status)")
        assert no_csrf == 403
        with_csrf = page.evaluate("""() => {
            const t = document.cookie.match(/exstreamtv_csrf=([^;]+)/)[1];
            return fetch('/api/config/reload', {method: 'POST', headers: {'X-CSRF-Token': t}})
              .then(r => r.status);
        }""")
        assert with_csrf == 200


def test_every_management_route_is_401_without_token_and_ok_with_it(make_server, config_for):
    server = make_server(config_for(server={**config_for()["server"], "api_token": TOKEN}))
    for route in ROUTES:
        if not route.token or "{" in route.path or route.content == "text/event-stream":
            continue
        call = functools.partial(httpx.request, route.method.upper())
        denied = call(server.url + route.path, timeout=10)
        assert denied.status_code == 401, route.path
        assert "token" in denied.json()["error"]
        wrong = call(server.url + route.path, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401, route.path
        allowed = call(server.url + route.path, headers={"Authorization": f"Bearer {TOKEN}"},
                       timeout=10)
        if route.body:  # authorised, and refused only for the missing body
            assert allowed.status_code == 400 and "JSON" in allowed.json()["error"], route.path
            continue
        assert allowed.status_code < 400, (route.path, allowed.text)
    # IPTV endpoints stay open.
    assert server.get("/api/channels.m3u").status_code == 200
    assert server.get("/api/health").status_code == 200
    # The token never appears in what the API returns.
    for path in ("/api/health", "/api/channels", "/api/config/status"):
        body = httpx.get(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert TOKEN not in body, path
    assert TOKEN not in server.log


def test_live_events_stream_over_sse(make_server, config_for):
    server = make_server(config_for())
    with httpx.stream("GET", server.url + "/api/events/stream", timeout=15) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith(": connected")
        server.post("/api/config/reload")
        for line in lines:
            if line.startswith("data:") and '"kind": "config"' in line:
                break


def test_openapi_lists_every_api_route():
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    registry = collect_registry(host)
    app = create_app(validate_config({}, registry), host, registry, watch_config=False)
    documented = {(r.method, r.path) for r in ROUTES}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<path:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method.lower(), path) in documented, f"{method} {path} missing from openapi.py"


def test_live_preview_plays_in_the_page(make_server, config_for):
    server = make_server(config_for())
    with browser_page() as page:
        page.goto(server.url + "/")
        page.click(".preview-button[data-number='1']")
        wait_in_page(page, lambda: page.eval_on_selector("#preview-video",
                                                         "v => v.currentTime") > 1.5, 45)
        assert page.eval_on_selector("#preview-video", "v => v.muted") is True
        page.click("#preview-close")
        assert page.locator("#preview").is_hidden()


def test_approving_a_pending_fix_updates_the_list(make_server, tmp_path):
    import os
    import signal

    from tests.helpers import base_config, clips_folder

    config = base_config(tmp_path, clips_folder("long", 3, 12.0))
    config["ai_auto_heal"] = {"require_approval_above_risk": "SAFE"}
    config["server"]["api_token"] = TOKEN
    server = make_server(config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=20) as viewer:
        chunks = viewer.iter_bytes()
        next(chunks)

        def pending():
            return server.get("/api/healing/pending", headers=auth).json()

        def kill_and_wait():
            pid = server.get("/api/channels/1").json()["pipeline"]["pid"]
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for _ in range(20):
                next(chunks)
            return pending()

        server.wait_for(kill_and_wait, timeout=60, interval=1)
        with browser_page() as page:
            page.goto(server.url + "/")
            page.fill("input[name=token]", TOKEN)
            page.click("#login button")
            page.wait_for_selector("#pending li[data-id] button.approve")
            fix_id = page.get_attribute("#pending li[data-id]", "data-id")
            page.click(f"#pending li[data-id='{fix_id}'] button.approve")
            wait_in_page(page, lambda: page.locator(f"#pending li[data-id='{fix_id}']").count()
                         == 0, 15)
        assert fix_id not in [f["id"] for f in pending()]
        events = server.get("/api/healing/events", headers=auth).json()
        assert any(fix_id in str(e) for e in events)
