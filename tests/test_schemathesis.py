"""Schemathesis against every route of the running server's own /api/openapi.json.

Requests (path and query parameters, headers, methods) are generated from the document
the server publishes, once with the API token and once without. Every answer must be
below 500, carry no traceback, and match the document: a status it lists, the content
type it names, an ``Error`` body where it says so. Without the token, every route that
needs it answers 401. The rate limiter is set wide so the run measures the routes, not
the limiter (tests/test_rate_limit.py covers that).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from exstreamtv.web.openapi import ROUTES
from tests.helpers import Server, base_config, clips_folder, write_config

TOKEN = "schema-token"
#: Endless bodies (server-sent events): no example would ever finish.
ENDLESS = {r.path for r in ROUTES if r.content == "text/event-stream"}
NEEDS_TOKEN = {(r.method.upper(), r.path) for r in ROUTES if r.token}
BOUNDED = settings(max_examples=20, deadline=30_000, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    config = base_config(tmp, clips_folder("basic", 3, 4.0),
                         rate_limit={"requests_per_second": 100_000, "burst": 1_000_000})
    config["server"]["api_token"] = TOKEN
    with Server(write_config(tmp / "exstreamtv.yaml", config)) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(server):
    document = httpx.get(f"{server.url}/api/openapi.json", timeout=30).json()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=server.url)
    return loaded


OPERATIONS = [pytest.param(r.method.upper(), r.path, id=f"{r.method.upper()} {r.path}")
              for r in ROUTES if r.path not in ENDLESS]
#: Operations with parameters also get values that break the document (negative mode).
WITH_PARAMETERS = {(r.method.upper(), r.path) for r in ROUTES if r.params or r.query}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def no_traceback(response: Any) -> None:
    body = response.text[:20000]
    assert "Traceback" not in body and 'File "' not in body, (response.status_code, body[:500])
    assert response.status_code != 429, "the rate limiter answered; the run tested nothing"


def run(api_schema: Any, method: str, path: str, token: str | None) -> None:
    """Generated requests for one operation (schemathesis strategy driven by hypothesis)."""
    operation = api_schema[path][method]
    cases = operation.as_strategy()
    if (method, path) in WITH_PARAMETERS:
        cases = cases | operation.as_strategy(GenerationMode.NEGATIVE)

    @BOUNDED
    @given(case=cases)
    def example(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        response = case.call_and_validate(checks=CHECKS, timeout=30)
        no_traceback(response)
        if token:
            assert response.status_code != 401, case.as_curl_command()
        elif (method, path) in NEEDS_TOKEN:
            assert response.status_code == 401, (case.as_curl_command(), response.status_code)

    example()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_route_with_the_token(api_schema, method, path):
    run(api_schema, method, path, TOKEN)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_route_without_the_token(api_schema, method, path):
    run(api_schema, method, path, None)


def test_the_document_names_every_status_the_token_routes_answer(server):
    """Each token route documents 401 with an ``Error`` body, so the unauthenticated run
    checks bodies and not just status codes."""
    document = httpx.get(f"{server.url}/api/openapi.json", timeout=30).json()
    for method, path in NEEDS_TOKEN:
        answer = document["paths"][path][method.lower()]["responses"]["401"]
        assert "Error" in answer["content"]["application/json"]["schema"]["$ref"]


@pytest.mark.parametrize("path", sorted(ENDLESS))
def test_endless_routes_answer_their_headers(server, path):
    """The event stream never ends, so it is read up to its first line: 401 without the
    token, the documented content type with it."""
    denied = httpx.get(server.url + path, timeout=30)
    assert denied.status_code == 401 and "token" in denied.json()["error"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("GET", server.url + path, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert next(response.iter_lines()).startswith(":")
