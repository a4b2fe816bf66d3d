"""The library API against a running server: sources, shows and folders, items, page by
page, with search and posters; the collections it names play on a channel; playlists are
written to the config file through /api/config/collections; any role reads, only admins
write, and no token in a URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import base_config, channel
from tests.library_layout import build_library

ADMIN = "library-admin-token-0123456"
VIEWER = "library-viewer-token-0123456"


@pytest.fixture
def server(make_server, tmp_path: Path, clips: Path):
    root = build_library(tmp_path / "library")
    config = base_config(tmp_path, clips)
    config["sources"].append({"id": "lib", "type": "local", "path": str(root)})
    config["server"].update(api_token=ADMIN, tokens=[
        {"name": "vera", "token": VIEWER, "role": "viewer"}])
    config["channels"] = [channel(1, "One", "clips")]
    srv = make_server(config)
    srv.wait_for(lambda: _get(srv, "/api/library/sources").json()["sources"][1]["state"] == "ok",
                 timeout=120)
    return srv


def _get(server, path: str, token: str = VIEWER, **params) -> httpx.Response:
    return httpx.get(server.url + path, params=params,
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_browse_sources_groups_and_items(server):
    sources = {s["id"]: s for s in _get(server, "/api/library/sources").json()["sources"]}
    assert set(sources) == {"clips", "lib"}
    assert sources["clips"]["items"] == 3 and sources["clips"]["collection"] == "clips"
    assert sources["lib"]["poster"].startswith("/artwork/items/")

    groups = _get(server, "/api/library/sources/lib/groups").json()
    by_name = {g["name"]: g for g in groups["groups"]}
    assert groups["total"] == len(groups["groups"])
    show = by_name["Show One"]
    assert show["kind"] == "show" and show["count"] == 3
    assert show["collection"] == "lib:show:Show One"
    assert show["poster"].startswith("/artwork/items/") and show["poster"].endswith("?w=160")
    assert by_name["Movies/Cafe Society (1999)"]["collection"] == \
        "lib:folder:Movies/Cafe Society (1999)"
    assert httpx.get(server.url + show["poster"], timeout=30).status_code == 200

    # Pages: two at a time cover every group once.
    seen = []
    for offset in range(0, groups["total"], 2):
        page = _get(server, "/api/library/sources/lib/groups", offset=offset, limit=2).json()
        assert page["total"] == groups["total"] and len(page["groups"]) <= 2
        seen += [g["name"] for g in page["groups"]]
    assert seen == [g["name"] for g in groups["groups"]]

    items = _get(server, "/api/library/items", source="lib", group="show:Show One").json()
    assert items["total"] == 3
    assert {i["show"] for i in items["items"]} == {"Show One"}
    pilot = next(i for i in items["items"] if i["title"] == "The Pilot")
    assert pilot["poster"] and pilot["season"] == 1 and pilot["episode"] == 1
    assert "location" not in pilot and not pilot["query"]["path"].startswith("/")

    # Search: every word, in the title, show or path, case-insensitive.
    found = _get(server, "/api/library/items", source="lib", q="CAFE society").json()
    assert [i["path"] for i in found["items"]] == ["Movies/Cafe Society (1999)/Cafe Society (1999).mp4"]
    assert _get(server, "/api/library/items", source="lib", q="pilot nothing").json()["total"] == 0
    assert [g["name"] for g in _get(server, "/api/library/sources/lib/groups",
                                    q="movies/huge").json()["groups"]] == ["Movies/Huge (2001)"]


def test_bad_requests_and_roles(server):
    assert httpx.get(server.url + "/api/library/sources", timeout=30).status_code == 401
    assert httpx.get(server.url + "/api/library/items", params={"source": "lib", "token": VIEWER},
                     timeout=30).status_code == 401
    assert _get(server, "/api/library/items", group="show:Show One").status_code == 400
    everything = _get(server, "/api/library/items", q="clip").json()
    assert {i["source"] for i in everything["items"]} == {"clips", "lib"}  # the whole library
    missing = _get(server, "/api/library/items", source="nope")
    assert missing.status_code == 404 and "known: clips, lib" in missing.json()["error"]
    assert _get(server, "/api/library/sources/nope/groups").status_code == 404
    for params in ({"limit": "0"}, {"limit": "201"}, {"offset": "-1"}, {"limit": "x"}):
        answer = _get(server, "/api/library/items", source="lib", **params)
        assert answer.status_code == 400, params
    # A viewer reads the collections but may not write one.
    listed = _get(server, "/api/config/collections")
    assert listed.status_code == 200
    refused = httpx.post(server.url + "/api/config/collections",
                         json={"name": "x", "items": [{"source": "lib"}]},
                         headers={"Authorization": f"Bearer {VIEWER}",
                                  "If-Match": listed.json()["version"]}, timeout=30)
    assert refused.status_code == 403


def test_a_group_and_a_playlist_play_on_a_channel(server):
    # The show's collection, put on channel 1, plays the show.
    headers = {"Authorization": f"Bearer {ADMIN}"}
    channels = httpx.get(server.url + "/api/config/channels", headers=headers, timeout=30).json()
    one = channels["channels"][0]
    one["schedule"] = {"type": "ordered", "collection": "lib:show:Show One"}
    saved = httpx.put(server.url + "/api/config/channels/1", json=one, timeout=30,
                      headers={**headers, "If-Match": channels["version"]})
    assert saved.status_code == 200 and saved.json()["applied"], saved.text
    now = server.get("/api/channels/1").json()["now"]
    assert now["title"] in {"The Pilot", "Double Trouble", "Fifth"}, now

    # A playlist of two items picked by their queries, written to the file, then played.
    items = _get(server, "/api/library/items", source="lib", q="movies").json()["items"]
    picks = [i for i in items if i["title"] in ("Blade Runner", "Café Society")]
    assert len(picks) == 2, [i["title"] for i in items]
    version = saved.json()["version"]
    bad = httpx.post(server.url + "/api/config/collections", timeout=30,
                     json={"name": "evening", "items": [{"source": "lib", "year": "x"}]},
                     headers={**headers, "If-Match": version})
    assert bad.status_code == 422 and bad.json()["problems"][0]["path"].startswith("collections[0]")
    created = httpx.post(server.url + "/api/config/collections", timeout=30,
                         json={"name": "evening", "items": [p["query"] for p in picks]},
                         headers={**headers, "If-Match": version})
    assert created.status_code == 200, created.text
    written = yaml.safe_load(server.config_path.read_text())
    assert written["collections"] == [{"name": "evening", "items": [p["query"] for p in picks]}]
    one["schedule"] = {"type": "ordered", "collection": "evening"}
    saved = httpx.put(server.url + "/api/config/channels/1", json=one, timeout=30,
                      headers={**headers, "If-Match": created.json()["version"]})
    assert saved.status_code == 200 and saved.json()["applied"], saved.text
    guide = server.get("/api/channels/1").json()
    assert guide["now"]["title"] in {"Blade Runner", "Café Society"}, guide
    gone = httpx.delete(server.url + "/api/config/collections/nope", timeout=30,
                        headers={**headers, "If-Match": saved.json()["version"]})
    assert gone.status_code == 404
