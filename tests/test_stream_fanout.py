"""Fan-out with real HTTP clients: one pipeline for many viewers, slow viewers, limits."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx

from tests.helpers import channel
from tests.stream_tools import Reader, ffmpeg_children


def pipeline_bytes(server) -> int:
    return int(server.get("/api/channels/1").json()["pipeline"]["bytes"])


def test_twenty_viewers_share_one_pipeline_at_the_paced_rate(make_server, config_for):
    server = make_server(config_for())
    url = f"{server.url}/stream/channels/1.ts"
    readers = [Reader(url, 11) for _ in range(20)]
    for r in readers:
        r.start()
    server.wait_for(lambda: all(r.marks for r in readers), timeout=30)
    time.sleep(3)  # past the joining backlog
    t0, b0 = time.monotonic(), pipeline_bytes(server)
    pids = set()
    for _ in range(8):
        pids.update(ffmpeg_children(server.proc.pid))
        assert len(ffmpeg_children(server.proc.pid)) <= 2  # playing + the pre-started next
        sessions = server.get("/api/sessions").json()
        assert len(sessions) == 20
        time.sleep(0.5)
    t1, b1 = time.monotonic(), pipeline_bytes(server)
    for r in readers:
        r.join(30)
        assert r.status == 200 and r.error is None
    produced = b1 - b0
    assert produced > 0
    for r in readers:
        got = r.bytes_between(t0, t1)
        assert 0.75 * produced <= got <= 1.35 * produced, (got, produced)
    # The same content: a slice of every viewer's stream is in the first viewer's.
    reference = bytes(readers[0].data)
    for r in readers[1:]:
        middle = len(r.data) // 2 // 188 * 188
        assert bytes(r.data[middle : middle + 188 * 20]) in reference
    # One pipeline: items run one after another (4 s clips over 13 s), never in parallel.
    assert len(server.get("/api/health").json()["components"]["channels"]["running"]) == 1


def test_a_viewer_that_stops_reading_is_dropped_while_others_keep_their_rate(
        make_server, config_for):
    server = make_server(config_for(
        streaming={"idle_stop_seconds": 2, "stalled_viewer_seconds": 3}))
    url = f"{server.url}/stream/channels/1.ts"
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(b"GET /stream/channels/1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
    stalled_id = server.wait_for(lambda: [s["session_id"] for s in
                                          server.get("/api/sessions").json()])[0]
    reader = Reader(url, 14)
    reader.start()
    server.wait_for(lambda: reader.marks, timeout=20)
    time.sleep(1)
    t0, b0 = time.monotonic(), pipeline_bytes(server)
    # The stalled viewer fills its socket buffers; the kernel then drops its connection.
    server.wait_for(lambda: stalled_id not in
                    [s["session_id"] for s in server.get("/api/sessions").json()], timeout=12)
    time.sleep(1)
    t1, b1 = time.monotonic(), pipeline_bytes(server)
    assert reader.bytes_between(t0, t1) >= 0.85 * (b1 - b0)
    sessions = server.get("/api/sessions").json()
    assert [s["state"] for s in sessions] == ["active"]
    # The server dropped the stalled connection: reading it ends in EOF or a reset.
    stalled.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        while stalled.recv(65536):
            pass
    stalled.close()
    reader.join(20)
    assert reader.error is None
    health = server.get("/api/health").json()["components"]["sessions"]
    assert health["serving"] == 0 and health["sessions"] == 0


def test_idle_stop_ends_the_pipeline_after_the_grace_period(make_server, config_for):
    server = make_server(config_for(streaming={"idle_stop_seconds": 1}))
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=10) as response:
        chunks = response.iter_bytes()
        next(chunks)
        assert ffmpeg_children(server.proc.pid)
    left = time.monotonic()
    server.wait_for(lambda: server.get("/api/health").json()
                    ["components"]["channels"]["running"] == {}, timeout=10)
    assert time.monotonic() - left >= 0.9
    server.wait_for(lambda: ffmpeg_children(server.proc.pid) == [], timeout=5)
    assert server.get("/api/sessions").json() == []


def test_503_with_a_reason_past_the_session_limit(make_server, config_for):
    server = make_server(config_for(session_manager={"max_sessions_per_channel": 2}))
    url = f"{server.url}/stream/channels/1.ts"
    with httpx.stream("GET", url, timeout=10) as a, httpx.stream("GET", url, timeout=10) as b:
        ia, ib = a.iter_bytes(), b.iter_bytes()  # kept: a dropped iterator closes the stream
        next(ia)
        next(ib)
        third = server.get("/stream/channels/1.ts")
        assert third.status_code == 503
        assert "max_sessions_per_channel" in third.json()["error"]
        hls = server.get("/stream/channels/1.m3u8")
        assert hls.status_code == 503  # HLS viewers count against the same limit
    server.wait_for(lambda: server.get("/api/sessions").json() == [])
    with httpx.stream("GET", url, timeout=10) as again:
        assert again.status_code == 200


def test_tuner_count_limits_channels_running_at_once(make_server, config_for, clips):
    config = config_for(channels=[channel(1, "One", "clips"), channel(2, "Two", "clips")])
    config["server"]["tuner_count"] = 1
    server = make_server(config)
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=10) as one:
        chunks = one.iter_bytes()
        next(chunks)
        two = server.get("/stream/channels/2.ts")
        assert two.status_code == 503
        assert "tuner" in two.json()["error"]
    assert len(ffmpeg_children(server.proc.pid)) <= 2
