"""Named tokens with roles, browser sessions and who is recorded for each change, against a
running server."""

from __future__ import annotations

import httpx
import pytest
import yaml

from exstreamtv.config.loader import validate_config
from exstreamtv.errors import ConfigError
from tests.helpers import write_config

ADMIN = "admin-token-0123456789"
VIEWER = "viewer-token-0123456789"
BOB = "bob-admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server(make_server, config_for):
    config = config_for()
    config["server"].update(api_token=ADMIN, tokens=[
        {"name": "alice", "token": VIEWER, "role": "viewer"},
        {"name": "bob", "token": BOB, "role": "admin"},
    ])
    return make_server(config)


def new_channel(number: int) -> dict:
    return {"number": number, "name": f"C{number}",
            "schedule": {"type": "ordered", "collection": "clips"}}


def test_viewer_reads_admin_changes_and_the_change_names_who(server):
    listed = server.get("/api/config/channels", headers=bearer(VIEWER))
    assert listed.status_code == 200
    version = listed.json()["version"]
    for path in ("/api/sessions", "/api/plugins", "/api/config/status", "/api/backups"):
        assert server.get(path, headers=bearer(VIEWER)).status_code == 200, path
    denied = httpx.post(f"{server.url}/api/config/channels", json=new_channel(4), timeout=10,
                        headers={**bearer(VIEWER), "If-Match": version})
    assert denied.status_code == 403
    assert "'alice' has the viewer role" in denied.json()["error"]
    assert server.post("/api/config/reload", headers=bearer(VIEWER)).status_code == 403
    assert server.post("/api/backups", headers=bearer(VIEWER)).status_code == 403
    saved = httpx.post(f"{server.url}/api/config/channels", json=new_channel(4), timeout=30,
                       headers={**bearer(BOB), "If-Match": version})
    assert saved.status_code == 200, saved.text
    assert "Config edited by bob: create channel 4" in server.log
    [record] = server.get("/api/config/changes", headers=bearer(VIEWER)).json()
    assert record["who"] == "bob" and record["action"] == "create" and record["channel"] == 4
    assert record["timestamp"] > 0 and "+- number: 4" in record["diff"]
    # The classic API token keeps working, as an admin.
    assert server.post("/api/config/reload", headers=bearer(ADMIN)).status_code == 200
    for token in (ADMIN, VIEWER, BOB):
        assert token not in server.log


def test_tokens_are_not_accepted_in_a_url(server):
    for query in (f"token={ADMIN}", f"api_token={ADMIN}", f"access_token={ADMIN}"):
        assert server.get(f"/api/config/channels?{query}").status_code == 401
    assert server.get("/api/config/channels", headers=bearer("wrong-token-0123456789")) \
        .status_code == 401


def test_login_makes_a_fresh_session_and_csrf_guards_changes(server):
    planted = "attacker-chosen-session-id"
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    fixation = {"Cookie": f"exstreamtv_token={planted}"}
    assert client.get("/api/config/channels", headers=fixation).status_code == 401
    failed = client.post("/login", data={"token": "nope"}, headers=fixation)
    assert failed.headers["location"] == "/?login=failed"
    login = client.post("/login", data={"token": BOB}, headers=fixation)
    assert login.status_code == 303
    set_cookie = ", ".join(login.headers.get_list("set-cookie"))
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    sid = login.cookies["exstreamtv_token"]
    assert sid != planted and BOB not in set_cookie
    body = client.get("/api/config/channels")
    assert body.status_code == 200
    version = body.json()["version"]
    no_csrf = client.post("/api/config/channels", json=new_channel(6),
                          headers={"If-Match": version})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    csrf = client.cookies["exstreamtv_csrf"]
    ok = client.post("/api/config/channels", json=new_channel(6),
                     headers={"If-Match": version, "X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert "Config edited by bob: create channel 6" in server.log
    # A second login gets another id; the first one is over.
    again = client.post("/login", data={"token": BOB})
    assert again.status_code == 303 and client.cookies["exstreamtv_token"] != sid
    old = httpx.get(f"{server.url}/api/config/channels", cookies={"exstreamtv_token": sid},
                    timeout=10)
    assert old.status_code == 401
    current = client.cookies["exstreamtv_token"]
    client.post("/logout")
    after = httpx.get(f"{server.url}/api/config/channels",
                      cookies={"exstreamtv_token": current}, timeout=10)
    assert after.status_code == 401


def test_login_and_logout_from_another_site_are_refused(server):
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        login = httpx.post(f"{server.url}/login", data={"token": BOB}, headers=headers,
                           timeout=10, follow_redirects=False)
        assert login.status_code == 403 and "set-cookie" not in login.headers
    same = httpx.post(f"{server.url}/login", data={"token": BOB}, timeout=10,
                      headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
                      follow_redirects=False)
    assert same.status_code == 303 and "exstreamtv_token" in same.cookies
    forced = httpx.post(f"{server.url}/logout", headers={"Origin": "http://evil.example"},
                        cookies=same.cookies, timeout=10, follow_redirects=False)
    assert forced.status_code == 403
    assert httpx.get(f"{server.url}/api/sessions", cookies=same.cookies,
                     timeout=10).status_code == 200


def test_a_session_ends_when_its_token_leaves_the_config(server):
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    client.post("/login", data={"token": VIEWER})
    assert client.get("/api/sessions").status_code == 200
    config = yaml.safe_load(server.config_path.read_text())
    config["server"]["tokens"] = [t for t in config["server"]["tokens"] if t["name"] != "alice"]
    write_config(server.config_path, config)
    server.wait_for(lambda: client.get("/api/sessions").status_code == 401, timeout=30)
    assert server.get("/api/sessions", headers=bearer(BOB)).status_code == 200


def test_a_reload_may_not_drop_the_named_tokens(make_server, config_for):
    config = config_for()
    config["server"]["tokens"] = [{"name": "bob", "token": BOB, "role": "admin"}]
    server = make_server(config)
    assert server.get("/api/sessions").status_code == 401
    config["server"].pop("tokens")
    write_config(server.config_path, config)
    status = server.wait_for(
        lambda: (s := server.get("/api/config/status", headers=bearer(BOB)).json())
        ["last_error"] and s, timeout=30)
    assert "server.api_token" in status["last_error"]
    assert server.get("/api/sessions").status_code == 401


@pytest.mark.parametrize(("tokens", "path", "message"), [
    ([{"name": "a", "token": "short"}], "server.tokens[0].token", "at least 16"),
    ([{"name": "a", "token": VIEWER, "role": "owner"}], "server.tokens[0].role",
     "expected one of viewer, admin"),
    ([{"name": "a", "token": VIEWER}, {"name": "a", "token": BOB}], "server.tokens[1].name",
     "used twice"),
    ([{"name": "a", "token": ADMIN}], "server.tokens[0].token", "already used"),
    ([{"name": "a b", "token": VIEWER}], "server.tokens[0].name", "expected an id"),
])
def test_token_entries_are_validated_with_their_path(tokens, path, message):
    with pytest.raises(ConfigError) as info:
        validate_config({"server": {"api_token": ADMIN, "tokens": tokens}})
    assert any(p.path == path and message in p.message for p in info.value.problems), \
        info.value.problems


def test_a_viewer_by_default():
    config = validate_config({"server": {"tokens": [{"name": "a", "token": VIEWER}]}})
    assert config.server.tokens[0].role.value == "viewer"
