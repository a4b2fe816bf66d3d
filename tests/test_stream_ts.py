"""A channel as one endless MPEG-TS stream, decoded by real ffmpeg/ffprobe clients."""

from __future__ import annotations

import httpx

from tests.helpers import decode_errors, probe_packets, timing_problems


def test_ffmpeg_decodes_across_item_boundaries(make_server, config_for):
    server = make_server(config_for())
    # 4-second items: 10 seconds of stream crosses at least two boundaries.
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 10)
    assert code == 0, errors
    assert errors.strip() == "", errors


def test_timestamps_monotonic_without_gaps(make_server, config_for):
    server = make_server(config_for())
    packets = probe_packets(f"{server.url}/stream/channels/1.ts", 10)
    kinds = {p["codec_type"] for p in packets}
    assert kinds == {"video", "audio"}
    video = [float(p["dts_time"]) for p in packets if p["codec_type"] == "video"]
    assert video[-1] - video[0] >= 9.0, "less than 9 s of video was read"
    assert timing_problems(packets) == []


def test_unknown_channel_is_404_with_reason(make_server, config_for):
    server = make_server(config_for())
    response = server.get("/stream/channels/99.ts")
    assert response.status_code == 404
    assert "99" in response.json()["error"]


def test_head_request_starts_nothing(make_server, config_for):
    server = make_server(config_for())
    response = httpx.head(f"{server.url}/stream/channels/1.ts", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("video/mp2t")
    assert server.get("/api/sessions").json() == []
    assert server.get("/api/health").json()["components"]["channels"]["running"] == {}


def test_second_viewer_shares_the_pipeline_and_starts_on_a_keyframe(make_server, config_for):
    server = make_server(config_for())
    url = f"{server.url}/stream/channels/1.ts"
    with httpx.stream("GET", url, timeout=10) as first:
        it = first.iter_bytes()
        received = next(it)
        assert received[0] == 0x47
        packets = probe_packets(url, 2)
        assert packets and packets[0]["codec_type"] in ("video", "audio")
        first_video = next(p for p in packets if p["codec_type"] == "video")
        assert "K" in first_video["flags"], "a joining viewer must start on a keyframe"
        running = server.get("/api/health").json()["components"]["channels"]["running"]
        assert list(running) == ["1"]


def test_clean_shutdown_ends_ffmpeg(make_server, config_for):
    import subprocess

    server = make_server(config_for())
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=10) as response:
        next(response.iter_bytes())
        pid = server.get("/api/channels/1").json()["pipeline"]["pid"]
        assert pid
        assert server.stop() == 0
    alive = subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False)
    assert alive.returncode != 0, "ffmpeg outlived the server"


def test_a_stopped_ffmpeg_dies_with_a_killed_server(make_server, config_for):
    import os
    import signal
    import time
    from pathlib import Path

    from tests.helpers import base_config, clips_folder

    server = make_server(base_config(Path(config_for()["server"]["data_directory"]).parent,
                                     clips_folder("heal", 2, 20.0)))
    with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=10) as response:
        next(response.iter_bytes())
        for _ in range(50):  # an ffmpeg that already wrote its item may be gone: the next
            pid = server.wait_for(lambda: server.get("/api/channels/1").json()["pipeline"].get("pid"))
            try:
                os.kill(pid, signal.SIGSTOP)  # stopped, it ignores SIGTERM: only SIGKILL ends it
                break
            except ProcessLookupError:
                time.sleep(0.2)
        assert server.proc is not None
        server.proc.kill()  # kill -9: the server cannot stop its children
        server.proc.wait(10)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"  # dead, waiting for init to reap it

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = not gone()
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "a stopped ffmpeg outlived a kill -9 of the server"
