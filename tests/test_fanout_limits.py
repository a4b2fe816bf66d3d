"""Viewer limits that hold against a running server, and viewers that misbehave: a
total limit over all channels, the 503 at the measured sending capacity, a reconnect
storm, hundreds of connections from one address, and a slow reader."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from tests.helpers import channel
from tests.stream_tools import Reader, ffmpeg_children


def pipeline_bytes(server) -> int:
    return int(server.get("/api/channels/1").json()["pipeline"]["bytes"])


def sessions_health(server) -> dict:
    return server.get("/api/health", timeout=30).json()["components"]["sessions"]


def open_viewer(port: int, path: str = "/stream/channels/1.ts",
                rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def status_of(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        part = sock.recv(1024)
        if not part:
            return 0
        head += part
    return int(head.split(b" ", 2)[1])


def test_max_sessions_total_counts_every_channel(make_server, config_for):
    config = config_for(channels=[channel(1, "One", "clips"), channel(2, "Two", "clips")],
                        session_manager={"max_sessions_total": 2})
    config["server"]["tuner_count"] = 2
    server = make_server(config)
    one, two = open_viewer(server.port), open_viewer(server.port, "/stream/channels/2.ts")
    try:
        assert status_of(one) == 200 and status_of(two) == 200
        third = server.get("/stream/channels/1.ts", timeout=30)
        assert third.status_code == 503
        assert "max_sessions_total" in third.json()["error"]
        assert server.get("/stream/channels/2.m3u8").status_code == 503  # HLS counts too
    finally:
        one.close()
        two.close()
    server.wait_for(lambda: server.get("/api/sessions").json() == [], timeout=30)
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=30) as again:
        assert again.status_code == 200


def test_503_at_the_measured_sending_capacity(make_server, config_for):
    # A tiny budget: once the loop's load with one viewer is measured, a second viewer
    # would pass it.
    server = make_server(config_for(session_manager={"max_send_load": 0.01}))
    first = Reader(f"{server.url}/stream/channels/1.ts", 60)
    first.start()
    server.wait_for(lambda: first.marks, timeout=30)
    health = server.wait_for(lambda: (lambda h: h if h["viewers_measured"] >= 1
                                      and h["send_load"] > 0.005 else None)(
                                          sessions_health(server)), timeout=30)
    assert health["send_load"] <= 1.0
    second = server.get("/stream/channels/1.ts", timeout=30)
    assert second.status_code == 503
    reason = second.json()["error"]
    assert "sending capacity" in reason and "max_send_load" in reason
    assert first.error is None and first.status == 200  # the viewer already on stays on
    assert len(server.get("/api/sessions").json()) == 1


def test_a_reconnect_storm_leaves_no_sessions_and_the_channel_serving(make_server,
                                                                      config_for):
    server = make_server(config_for(session_manager={"max_sessions_per_channel": 400}))
    watcher = Reader(f"{server.url}/stream/channels/1.ts", 25)
    watcher.start()
    server.wait_for(lambda: watcher.marks, timeout=30)

    def storm() -> None:
        for i in range(60):
            sock = open_viewer(server.port)
            if i % 2:
                status_of(sock)  # half wait for the answer, half leave at once
            sock.close()

    threads = [threading.Thread(target=storm) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # Every stormed session ends; the watcher's stream goes on.
    server.wait_for(lambda: sessions_health(server)["serving"] == 1
                    and len(server.get("/api/sessions").json()) == 1, timeout=60)
    seen = len(watcher.data)
    server.wait_for(lambda: len(watcher.data) > seen + 50_000, timeout=30)
    assert len(ffmpeg_children(server.proc.pid)) <= 2
    watcher.join(60)
    assert watcher.error is None and watcher.status == 200


def test_hundreds_of_connections_from_one_address_get_the_limit_not_a_hang(
        make_server, config_for):
    server = make_server(config_for(session_manager={"max_sessions_per_channel": 150}))
    socks = [open_viewer(server.port, rcvbuf=8192) for _ in range(200)]
    try:
        statuses = [status_of(s) for s in socks]
        assert statuses.count(200) == 150 and statuses.count(503) == 50, statuses
        assert server.get("/api/health", timeout=30).status_code == 200
        assert len(server.get("/api/sessions", timeout=30).json()) == 150
    finally:
        for s in socks:
            s.close()
    server.wait_for(lambda: sessions_health(server)["sessions"] == 0
                    and sessions_health(server)["serving"] == 0, timeout=60)


def test_a_slow_reader_does_not_slow_the_others(make_server, config_for):
    server = make_server(config_for(streaming={"idle_stop_seconds": 2,
                                               "stalled_viewer_seconds": 60}))
    slow = open_viewer(server.port, rcvbuf=4096)
    assert status_of(slow) == 200
    stop = threading.Event()

    def trickle() -> None:  # about a third of the channel's rate
        while not stop.is_set():
            try:
                if not slow.recv(2048):
                    return
            except OSError:
                return
            time.sleep(0.1)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    reader = Reader(f"{server.url}/stream/channels/1.ts", 16)
    reader.start()
    server.wait_for(lambda: reader.marks, timeout=30)
    time.sleep(2)  # past the joining backlog
    t0, b0 = time.monotonic(), pipeline_bytes(server)
    server.wait_for(lambda: pipeline_bytes(server) - b0 > 150_000, timeout=60)
    t1, b1 = time.monotonic(), pipeline_bytes(server)
    assert reader.bytes_between(t0, t1) >= 0.85 * (b1 - b0)
    assert len(server.get("/api/sessions").json()) == 2  # the slow one is still served
    stop.set()
    trickler.join(10)
    slow.close()
    reader.join(30)
    assert reader.error is None
