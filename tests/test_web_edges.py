"""Small HTTP edges: stalled viewers, HEAD on SSE, 405 Allow, Unicode digits, hostile bodies."""

from __future__ import annotations

import json
import socket
import time

import httpx


def test_a_dropped_slow_viewer_logs_one_line_not_a_traceback(make_server, config_for):
    server = make_server(config_for(streaming={"idle_stop_seconds": 2,
                                               "stalled_viewer_seconds": 2}))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(b"GET /stream/channels/1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
    try:  # never read: the server's send buffer fills and the kernel gives up on us
        server.wait_for(lambda: server.get("/api/sessions").json() != [], timeout=60)
        server.wait_for(lambda: server.get("/api/sessions").json() == [], timeout=90)
    finally:
        sock.close()
    time.sleep(1)  # let any late log line land
    assert "Traceback" not in server.log, server.log
    dropped = [line for line in server.log.splitlines() if "stopped reading" in line]
    assert len(dropped) == 1, server.log


def test_head_on_the_event_stream_answers_and_the_connection_stays_usable(make_server,
                                                                          config_for):
    server = make_server(config_for())
    with httpx.Client(timeout=10) as client:
        head = client.head(f"{server.url}/api/events/stream")
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        # The same keep-alive connection answers the next request at once.
        assert client.get(f"{server.url}/api/health").status_code == 200


def test_405_names_the_allowed_methods(make_server, config_for):
    server = make_server(config_for())
    response = httpx.delete(f"{server.url}/api/channels", timeout=10)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "HEAD"}
    assert "error" in response.json()


def test_only_ascii_digits_are_channel_numbers(make_server, config_for):
    server = make_server(config_for())
    with httpx.Client(timeout=10) as client:
        for path in ("/stream/channels/\u0661.ts", "/stream/channels/\u0661.m3u8",
                     "/api/channels/\u0661", "/stream/channels/\uff11.ts"):
            with client.stream("GET", server.url + path) as response:
                assert response.status_code == 404, path
    assert httpx.head(f"{server.url}/stream/channels/1.ts", timeout=10).status_code == 200


def test_a_line_break_in_a_backup_name_reaches_the_token_check(make_server, config_for):
    """Found by tests/test_schemathesis.py: ``/api/backups/0%0A/restore`` matched no route
    (404 to anyone) instead of 401 without the token and 400 with it."""
    config = config_for()
    config["server"]["api_token"] = "edge-token"
    server = make_server(config)
    for name in ("0%0A", "%0A", "a%0Db"):
        url = f"{server.url}/api/backups/{name}/restore"
        assert httpx.post(url, timeout=10).status_code == 401, name
        refused = httpx.post(url, headers={"Authorization": "Bearer edge-token"}, timeout=10)
        assert refused.status_code == 400, (name, refused.text)
        assert "invalid backup name" in refused.json()["error"]
    # The same "$ matches before a final newline" slip in the HLS session id pattern.
    hls = httpx.get(f"{server.url}/stream/channels/1/{'a' * 32}%0A/index.m3u8", timeout=30)
    assert hls.status_code == 404 and "not an HLS session id" in hls.json()["error"]


def test_huge_and_deeply_nested_json_bodies_are_refused_clearly(make_server, config_for):
    server = make_server(config_for())
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client:
        huge = client.post(f"{server.url}/api/config/reload", headers=headers,
                           content=b"[" + b"1," * 3_000_000 + b"1]")
        assert huge.status_code == 413, huge.text
        assert "too large" in huge.json()["error"]
        deep = client.post(f"{server.url}/api/config/reload", headers=headers,
                           content=b"[" * 20_000 + b"]" * 20_000)
        assert deep.status_code == 400, deep.text
        assert "nested" in deep.json()["error"]
        binary = client.post(f"{server.url}/api/config/channels", headers=headers,
                             content=b"\x15X\xff2RN")  # found by the schemathesis run
        assert binary.status_code == 400, binary.text
        assert "UTF-8" in binary.json()["error"]
        fine = client.post(f"{server.url}/api/config/reload", headers=headers,
                           content=json.dumps({"a": [[{"b": 1}]]}))
        assert fine.status_code == 200, fine.text
    assert "Traceback" not in server.log
