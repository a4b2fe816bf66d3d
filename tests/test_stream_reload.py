"""Config reload against a running server, and bad input that must not leak."""

from __future__ import annotations

import socket
import time

import httpx

from tests.helpers import channel, write_config
from tests.stream_tools import Reader, ffmpeg_children


def pid_of(server, number: int) -> int | None:
    return server.get(f"/api/channels/{number}").json()["pipeline"]["pid"]


def test_reload_restarts_changed_keeps_others_ends_removed(make_server, config_for):
    config = config_for(channels=[channel(1, "One", "clips"), channel(2, "Two", "clips"),
                                  channel(3, "Three", "clips")])
    server = make_server(config)
    readers = {n: Reader(f"{server.url}/stream/channels/{n}.ts", 60) for n in (1, 2, 3)}
    for r in readers.values():
        r.start()
    server.wait_for(lambda: all(r.marks for r in readers.values()), timeout=30)
    restarts_2 = server.get("/api/channels/2").json()["pipeline"]["restarts"]
    restarts_1 = server.get("/api/channels/1").json()["pipeline"]["restarts"]

    config["channels"][0]["name"] = "One, renamed"  # changed
    del config["channels"][2]  # removed
    write_config(server.config_path, config)
    server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"]["restarts"]
                    >= restarts_1 + 1, timeout=20)
    readers[3].join(15)
    assert readers[3].ended and readers[3].error is None, "a removed channel ends its stream"
    assert server.get("/api/channels/3").status_code == 404
    assert server.get("/api/channels/2").json()["pipeline"]["restarts"] == restarts_2
    # Both remaining viewers keep receiving after the reload.
    mark = time.monotonic()
    server.wait_for(lambda: all(readers[n].bytes_between(mark, time.monotonic()) > 20_000
                                for n in (1, 2)), timeout=15)
    sessions = {s["channel_number"]: s for s in server.get("/api/sessions").json()}
    assert set(sessions) == {1, 2}
    assert sessions[1]["restart_count"] == 1 and sessions[2]["restart_count"] == 0
    assert len(ffmpeg_children(server.proc.pid)) <= 4  # two channels, each maybe pre-started


def test_bad_input_leaks_nothing(make_server, config_for):
    server = make_server(config_for(streaming={"idle_stop_seconds": 1,
                                               "stalled_viewer_seconds": 3}))
    url = f"{server.url}/stream/channels/1.ts"
    assert server.get("/stream/channels/42.ts").status_code == 404
    assert "42" in server.get("/stream/channels/42.m3u8").json()["error"]
    head = httpx.head(url, timeout=5)
    assert head.status_code == 200 and head.headers["accept-ranges"] == "none"
    # A Range request on a live stream is ignored: 200 and the stream from a keyframe.
    with httpx.stream("GET", url, headers={"Range": "bytes=1000-2000"}, timeout=10) as ranged:
        assert ranged.status_code == 200
        chunks = ranged.iter_bytes()
        assert next(chunks)[0] == 0x47
    # A thousand connects and disconnects (loopback only), half of them mid-request.
    for i in range(1000):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            if i % 2:
                s.sendall(b"GET /stream/channels/1.ts HTTP/1.1\r\nHost: x\r\n\r\n")
                if i % 10 == 1:
                    s.recv(1024)
    # Everything settles: no sessions, no ffmpeg, tasks back to the baseline.
    server.wait_for(lambda: server.get("/api/sessions").json() == [], timeout=20)
    server.wait_for(lambda: ffmpeg_children(server.proc.pid) == [], timeout=20)
    # Our own tasks all end: no stream handler (beyond this health request), no pipeline,
    # packager or idle timer. (Hypercorn may keep a few of its per-connection tasks for a
    # while after abrupt disconnects; those are its own and are not counted here.)
    ours = ("handle_request", "ts_body", "ChannelPipeline", "HLSPackager", "_stop_when_idle",
            "FFmpegProcess")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        health = server.get("/api/health").json()["components"]["sessions"]
        mine = {k: v for k, v in health["task_kinds"].items() if any(o in k for o in ours)}
        if mine == {"ASGIHTTPConnection.handle_request": 1}:
            break
        time.sleep(0.5)
    assert mine == {"ASGIHTTPConnection.handle_request": 1}, health["task_kinds"]
    assert health["serving"] == 0
    assert server.get("/api/health").json()["components"]["channels"]["running"] == {}
