"""A channel of awkward media, end to end through a running server: one uniform output.

The folder plays in order: the three-audio/three-subtitle MKV (French audio and English
subtitles wanted), a clip without audio, an audio file without video, a damaged MPEG-TS,
a clip with an unknown language tag, a clip with only image subtitles (text wanted).
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import base_config, decode_errors, timing_problems
from tests.media_files import (
    TONES,
    bad_input_folder,
    decode_audio,
    dominant_frequency,
    ffprobe_streams,
)


def record(url: str, seconds: float, out: Path) -> Path:
    """``seconds`` of wall-clock of a live stream into ``out``."""
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", url, timeout=15) as response, open(out, "wb") as sink:
        for chunk in response.iter_bytes():
            sink.write(chunk)
            if time.monotonic() > deadline:
                break
    return out


def packets(path: Path) -> list[dict[str, object]]:
    import json

    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "packet=stream_index,codec_type,pts_time,dts_time,flags", "-of", "json", str(path)],
        capture_output=True, check=True, timeout=60)
    result: list[dict[str, object]] = json.loads(out.stdout)["packets"]
    return result


@pytest.mark.slow
def test_awkward_media_plays_as_one_uniform_stream(tmp_path, make_server):
    folder = bad_input_folder()
    config = base_config(tmp_path, folder)
    config["ffmpeg"] = {**config["ffmpeg"],
                        "audio": {"languages": ["fr", "eng"], "bitrate_kbps": 64},
                        "subtitles": {"mode": "burn", "languages": ["eng"], "prefer": "text"}}
    server = make_server(config)
    stream = record(f"{server.url}/stream/channels/1.ts", 18, tmp_path / "channel.ts")

    streams = ffprobe_streams(stream)
    assert [(s["codec_name"], s.get("width"), s.get("height"))
            for s in streams if s["codec_type"] == "video"] == [("h264", 320, 180)]
    assert [(s["codec_name"], s.get("sample_rate"), s.get("channels"), s.get("channel_layout"))
            for s in streams if s["codec_type"] == "audio"] == [("aac", "48000", 2, "stereo")]
    assert len(streams) == 2

    pkts = packets(stream)
    video = [float(str(p["dts_time"])) for p in pkts if p["codec_type"] == "video"]
    assert video[-1] - video[0] > 14, "less than 14 s of the 15 s loop was played"
    assert timing_problems(pkts) == []
    # 25 fps throughout: every frame step is 40 ms, except the small re-alignment gaps
    # the splicer leaves at item boundaries (at most one per item played).
    steps = [round(b - a, 3) for a, b in itertools.pairwise(video)]
    odd = [s for s in steps if abs(s - 0.04) > 0.002]
    assert len(odd) <= 9 and all(0.04 < s < 0.5 for s in odd), odd
    # the recording ends mid-packet: decode all but its last second
    code, errors = decode_errors(str(stream), video[-1] - video[0] - 1.0)
    assert code == 0 and errors == "", errors

    # Which tracks were heard: French (600 Hz) from the multi-track file, never the English
    # 5.1 (300 Hz) or the commentary (1200 Hz); the audio-only file's 1 kHz tone.
    heard = set()
    t = 0.0
    while t < video[-1] - video[0] - 0.5:
        samples = decode_audio(stream, t, 0.4)
        half = len(samples) // 2
        first, second = dominant_frequency(samples[:half]), dominant_frequency(samples[half:])
        if first == second == 0 or (first and abs(first - second) / first < 0.03):
            heard.add(round((first + second) / 2 / 50) * 50)  # one steady tone (or silence)
        t += 0.4
    assert TONES["fre"] in heard
    assert TONES["eng"] not in heard and TONES["commentary"] not in heard
    assert 1000 in heard and 0 in heard  # the audio-only file, the silent clip

    log = server.log
    assert "'b-no-audio' from" in log and "no audio stream; playing silence" in log
    assert "'c-no-video' from" in log and "no video stream; showing a slate" in log
    assert "No audio track in" in log and "e-unknown-language.mkv (have qqq)" in log
    assert "text subtitles wanted in eng but only image ones exist" in log
    assert "'a-multitrack' from" in log and "audio: language fra" in log
    assert "subtitles: language eng, text" in log
    assert "'d-damaged' has damaged data; played what could be decoded (ffmpeg: " in log
    assert "'a-multitrack' has damaged" not in log and "'b-no-audio' has damaged" not in log


def test_failing_hardware_encoder_falls_back_to_software(tmp_path, make_server, clips):
    config = base_config(tmp_path, clips)
    config["ffmpeg"] = {**config["ffmpeg"], "encoder": "vaapi",
                        "encoder_options": {"device": "/dev/dri/no-such-device",
                                            "preset": "ultrafast"}}
    # The pipeline's own fallback (self-healing, which also does this, is tested elsewhere).
    config["ai_auto_heal"] = {"enabled": False}
    server = make_server(config)
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 4)
    assert code == 0 and errors == "", errors
    assert server.get("/api/channels/1").json()["pipeline"]["encoder"] == "software"
    assert "HARDWARE_ERROR: encoder vaapi failed to start" in server.log
    assert "no-such-device" in server.log


def test_auto_encoder_is_detected_at_start(tmp_path, make_server, clips):
    config = base_config(tmp_path, clips)
    config["ffmpeg"] = {**config["ffmpeg"], "encoder": "auto"}
    server = make_server(config)
    # detected by the plugin's startup hook, before any viewer
    chosen = server.wait_for(lambda: "Encoder auto: using" in server.log and server.log, 20)
    name = chosen.split("Encoder auto: using ")[1].split()[0]
    code, errors = decode_errors(f"{server.url}/stream/channels/1.ts", 2)
    assert code == 0 and errors == "", errors
    assert server.get("/api/channels/1").json()["pipeline"]["encoder"] == name


def test_copy_mode_splices_matching_sources(tmp_path, make_server, clips):
    # the clips are 320x180 25 fps H.264 with 48 kHz stereo AAC: the test profile exactly
    config = base_config(tmp_path, clips)
    config["ffmpeg"] = {**config["ffmpeg"], "copy": True}
    server = make_server(config)
    stream = record(f"{server.url}/stream/channels/1.ts", 10, tmp_path / "copy.ts")
    assert "copy: the source matches the channel profile" in server.log
    streams = ffprobe_streams(stream)
    assert [(s["codec_name"], s.get("width"), s.get("sample_rate"), s.get("channels"))
            for s in streams] == [("h264", 320, None, None), ("aac", None, "48000", 2)]
    pkts = packets(stream)
    video = [float(str(p["dts_time"])) for p in pkts if p["codec_type"] == "video"]
    assert video[-1] - video[0] > 8
    assert timing_problems(pkts) == []
    code, errors = decode_errors(str(stream), video[-1] - video[0] - 1.0)
    assert code == 0 and errors == "", errors
