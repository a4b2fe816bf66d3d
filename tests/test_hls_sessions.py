"""HLS viewer accounting: playlists hold no slot, a viewer who stops fetching is released."""

from __future__ import annotations

import httpx

from tests.helpers import decode_errors
from tests.stream_tools import ffmpeg_children


def test_playlist_fetches_do_not_fill_the_viewer_limit(make_server, config_for):
    server = make_server(config_for(session_manager={"max_sessions_per_channel": 50}))
    with httpx.Client(timeout=60) as client:
        for _ in range(50):
            master = client.get(f"{server.url}/stream/channels/1.m3u8")
            assert master.status_code == 200, master.text
        media = master.text.strip().splitlines()[-1]
        assert client.get(f"{server.url}/stream/channels/{media}").status_code == 200
        # The next real viewers are served at once, over HLS and over TS.
        code, errors = decode_errors(f"{server.url}/stream/channels/1.m3u8", 4)
        assert code == 0, errors
        with client.stream("GET", f"{server.url}/stream/channels/1.ts") as response:
            assert response.status_code == 200
            assert next(response.iter_bytes())[:1] == b"\x47"
    # Clients that opened a playlist and never fetched a segment are forgotten quickly.
    server.wait_for(lambda: all(s["bytes_sent"] > 0 for s in server.get("/api/sessions").json()),
                    timeout=30)


def test_a_full_channel_refuses_the_first_segment_not_the_playlist(make_server, config_for):
    server = make_server(config_for(session_manager={"max_sessions_per_channel": 1}))
    with httpx.Client(timeout=60) as client:
        first = client.get(f"{server.url}/stream/channels/1.m3u8").text.strip().splitlines()[-1]
        base = f"{server.url}/stream/channels/{first.rsplit('/', 1)[0]}"
        playlist = client.get(f"{server.url}/stream/channels/{first}").text
        segment = [line for line in playlist.splitlines() if line.endswith(".ts")][-1]
        assert client.get(f"{base}/{segment}").status_code == 200  # the one viewer
        second = client.get(f"{server.url}/stream/channels/1.m3u8")
        assert second.status_code == 503 and "max_sessions_per_channel" in second.json()["error"]


def test_an_hls_viewer_who_leaves_frees_the_channel_in_seconds(make_server, config_for):
    # idle_timeout_seconds stays at its default (300 s): release must not wait for it.
    server = make_server(config_for())
    code, errors = decode_errors(f"{server.url}/stream/channels/1.m3u8", 4)
    assert code == 0, errors
    assert [s["output"] for s in server.get("/api/sessions").json()] == ["hls"]

    def tuner_free() -> bool:
        return (server.get("/api/sessions").json() == []
                and server.get("/api/health").json()["components"]["channels"]["running"] == {}
                and ffmpeg_children(server.proc.pid) == [])

    server.wait_for(tuner_free, timeout=30)  # issue: under 30 s, not idle_timeout_seconds
    assert "HLS viewer 127.0.0.1 left" in server.log
