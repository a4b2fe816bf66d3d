"""HTTP fuzzing of every route in the OpenAPI table against a running server.

Random path parameters, query strings, methods, headers and bodies: no response may be a
5xx, contain a traceback, or serve a file from outside its folder.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exstreamtv.web.openapi import ROUTES
from tests.helpers import Server, base_config, clips_folder, write_config

TOKEN = "fuzz-token"
SEGMENT = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12),
    st.sampled_from(["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%00", "1.ts", "-1", "9" * 30,
                     "%ff", "etc/passwd", "<script>"]),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    config = base_config(tmp, clips_folder("basic", 3, 4.0))
    config["server"]["api_token"] = TOKEN
    with Server(write_config(tmp / "exstreamtv.yaml", config)) as running:
        yield running


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.status_code, response.text[:300])
    body = response.text[:20000] if "mp2t" not in response.headers.get("content-type", "") else ""
    assert "Traceback" not in body and 'File "' not in body, response.request.url
    assert "root:x:0:0" not in body, f"path escape at {response.request.url}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        assert isinstance(response.json().get("error"), str)


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _m: quote(next(it, "x"), safe=""), path)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    values=st.lists(SEGMENT, min_size=2, max_size=2),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=16), max_size=3),
    body=st.one_of(st.none(), st.binary(max_size=256), st.text(max_size=64)),
    auth=st.sampled_from([None, TOKEN, "wrong"]),
)
def test_routes_never_fail_with_a_5xx(server, route, values, method, query, body, auth):
    if route.content in ("text/event-stream",):
        return
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    url = server.url + fill(route.path, values)
    with httpx.Client(timeout=10) as client:
        response = client.request(method, url, params=query, content=body, headers=headers)
        check(response)


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2f..%2fconfig%2f__init__.py",
    "/static/vendor/../../app.py", "/static//etc/passwd", "/stream/channels/..%2f1.ts",
    "/stream/channels/1.ts/../../etc/passwd", "/api/channels/1%00", "/api/../etc/passwd",
])
def test_paths_never_escape_their_folder(server, path):
    with httpx.Client(timeout=10) as client:
        response = client.get(server.url + path)
    check(response)
    assert "def create_app" not in response.text and "import " not in response.text[:200]


def test_stream_urls_ignore_extra_query_strings(server):
    with httpx.stream("GET", server.url + "/stream/channels/1.ts?transcode=heavy&x=%ff",
                      timeout=10) as response:
        assert response.status_code == 200
        assert next(response.iter_bytes())[0] == 0x47
