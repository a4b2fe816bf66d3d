"""Radio channels (``output: audio``): AAC only in TS and HLS, across items and failures.

A real server plays a folder of generated music files (MP3, FLAC, M4A) and a movie; what
it sends is probed and decoded with ffprobe/ffmpeg as a client would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.media.loudness import LoudnessCache
from exstreamtv.media.models import MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.server import load_everything
from exstreamtv.streaming.planner import ItemPlanner
from exstreamtv.streaming.ts import TSSplicer
from tests.helpers import (
    MEDIA_CACHE,
    base_config,
    channel,
    ffmpeg_bin,
    make_clip,
    probe_packets,
    timing_problems,
    write_config,
)
from tests.media_files import _lock, decode_audio, dominant_frequency, ffprobe_streams, peak

#: The music files: name -> (tone in Hz, ffmpeg audio codec).
MUSIC = {"01-a.mp3": (440, "libmp3lame"), "02-b.flac": (660, "flac"), "03-c.m4a": (880, "aac")}
MOVIE_TONE = 1100
ITEM_SECONDS = 3.0


def music_folder() -> Path:
    """Three sine-tone songs, 3 s each, as MP3, FLAC and M4A (cached across runs)."""
    folder = MEDIA_CACHE / "radio-music"
    with _lock("radio-music"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, (tone, codec) in MUSIC.items():
            out = folder / name
            if out.exists():
                continue
            part = folder / f".{name}.part{out.suffix}"
            subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                            "-i", f"sine=frequency={tone}:sample_rate=44100", "-t", str(ITEM_SECONDS),
                            "-ac", "2", "-c:a", codec, str(part)], check=True)
            part.replace(out)
    return folder


def movie_folder() -> Path:
    """One movie (H.264 picture, a 1100 Hz tone)."""
    folder = MEDIA_CACHE / "radio-movie"
    with _lock("radio-movie"):
        make_clip(folder / "movie.mp4", ITEM_SECONDS, tone=MOVIE_TONE)
    return folder


def tone_of(hz: float) -> int | None:
    """Which known tone ``hz`` is (within 15 Hz), or None."""
    known = [tone for tone, _ in MUSIC.values()] + [MOVIE_TONE]
    return next((tone for tone in known if abs(hz - tone) < 15), None)


def capture(url: str, path: Path, seconds: float) -> Path:
    """``seconds`` of a live stream, copied as it comes (ffmpeg as the client)."""
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", url, "-map", "0",
                    "-c", "copy", "-t", str(seconds), "-f", "mpegts", "-y", str(path)],
                   check=True, timeout=120)
    return path


def continuity_problems(packets: list[dict[str, Any]]) -> list[str]:
    """DTS steps back or holes over 50 ms (two AAC frames). The first packet a client reads
    may repeat the next one's DTS (ffmpeg's HLS demuxer at its first segment, the same
    allowance as tests/test_stream_hls.py); from then on every frame must follow the last."""
    return timing_problems(packets[1:], max_gap=0.05)


def only_aac(streams: list[dict[str, Any]]) -> None:
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("audio", "aac")], streams


def radio_config(tmp_path: Path) -> dict[str, Any]:
    config = base_config(tmp_path, music_folder())
    config["sources"].append({"id": "movies", "type": "local", "path": str(movie_folder())})
    config["channels"] = [
        channel(1, "Tones FM", "clips", output="audio"),
        channel(2, "Movie Radio", "movies", output="audio"),
        channel(3, "Movies", "movies"),
    ]
    # Two viewers at once on a loaded test machine: no refusal for sending capacity.
    config["session_manager"] = {"max_send_load": 1.0}
    return config


def packets_of(path: Path | str, *extra: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(streams, packets) as ffprobe reads them from a file or a live URL."""
    out = subprocess.run(["ffprobe", "-v", "error", *extra, "-i", str(path), "-show_streams",
                          "-show_entries", "packet=stream_index,codec_type,dts_time", "-of", "json"],
                         capture_output=True, check=True, timeout=120)
    data = json.loads(out.stdout)
    return data["streams"], data["packets"]


def tones_heard(path: Path, seconds: float) -> list[int]:
    """The known tones in ``path``, in the order heard (0.4 s windows); fails on silence."""
    samples = decode_audio(path, start=0.0, seconds=seconds)
    heard: list[int] = []
    window = 19_200
    for at in range(0, len(samples) - window, window):
        part = samples[at:at + window]
        assert peak(part) > 1000, f"silence at {at / 48_000:.1f}s"
        tone = tone_of(dominant_frequency(part))
        if tone and (not heard or heard[-1] != tone):
            heard.append(tone)
    return heard


def test_radio_channels_stream_aac_only_across_items_and_for_movies(make_server, tmp_path):
    server = make_server(radio_config(tmp_path))
    with ThreadPoolExecutor(2) as pool:  # both channels at once: half the wall time
        movie_job = pool.submit(capture, f"{server.url}/stream/channels/2.ts",
                                tmp_path / "movie.ts", ITEM_SECONDS + 1)
        ts = capture(f"{server.url}/stream/channels/1.ts", tmp_path / "radio.ts", 8.0)
        movie = movie_job.result()
    streams, packets = packets_of(ts)
    only_aac(streams)
    assert packets and {p["codec_type"] for p in packets} == {"audio"}
    dts = [float(p["dts_time"]) for p in packets]
    assert dts[-1] - dts[0] > 2 * ITEM_SECONDS, "long enough to cross item boundaries"
    # Continuous: every AAC frame (21 ms) follows the last, no step back, no hole.
    assert continuity_problems(packets) == []
    heard = tones_heard(ts, dts[-1] - dts[0])
    assert len(heard) >= 2 and set(heard) <= {t for t, _ in MUSIC.values()}, heard
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(ts), "-f", "null", "-"],
                             capture_output=True, text=True, check=False)
    assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr

    # A movie on a radio channel: its sound only, across its own loop boundary.
    streams, packets = packets_of(movie)
    only_aac(streams)
    assert continuity_problems(packets) == []
    assert tones_heard(movie, ITEM_SECONDS) == [MOVIE_TONE]

    # HLS: the same audio-only stream, cut into segments that each start with PSI.
    streams, packets = packets_of(f"{server.url}/stream/channels/1.m3u8", "-read_intervals", "%+3")
    only_aac(streams)
    assert packets and {p["codec_type"] for p in packets} == {"audio"}
    assert continuity_problems(packets) == []
    master = server.get("/stream/channels/1.m3u8").text.strip().splitlines()[-1]
    media = httpx.get(f"{server.url}/stream/channels/{master}", timeout=40).text
    segment = next(line for line in media.splitlines() if line.endswith(".ts"))
    base = f"{server.url}/stream/channels/{master.rsplit('/', 1)[0]}"
    data = httpx.get(f"{base}/{segment}", timeout=10).content
    pids = [(data[i + 1] & 0x1F) << 8 | data[i + 2] for i in range(0, 188 * 4, 188)]
    assert 0 in pids, "a segment starts with its PAT/PMT"

    # The M3U marks radio channels; the HDHomeRun lineup (video for Plex/Jellyfin) leaves
    # them out, and the movie channel beside them keeps its picture.
    m3u = server.get("/api/channels.m3u").text
    entries = {line.split('tvg-chno="')[1].split('"')[0]: line
               for line in m3u.splitlines() if line.startswith("#EXTINF")}
    assert 'radio="true"' in entries["1"] and 'radio="true"' in entries["2"]
    assert "radio=" not in entries["3"]
    assert [e["GuideNumber"] for e in server.get("/lineup.json").json()] == ["3"]
    video = probe_packets(f"{server.url}/stream/channels/3.ts", 0.5)
    assert {p["codec_type"] for p in video} == {"audio", "video"}


def test_a_failing_item_keeps_a_radio_channel_audio_only(make_server, tmp_path):
    """A song deleted after the scan fails; its slot is filled with sound only, then the
    next song follows, all on one continuous timeline."""
    folder = tmp_path / "music"
    folder.mkdir()
    for name in ("01-a.mp3", "02-b.flac"):
        shutil.copy(music_folder() / name, folder / name)
    config = base_config(tmp_path, folder)
    config["channels"] = [channel(1, "Gone FM", "clips", output="audio")]
    server = make_server(config)
    server.wait_for(lambda: [(s["state"], s["items"]) for s in server.get("/api/sources").json()]
                    == [("ok", 2)], timeout=60)  # both songs scanned
    (folder / "02-b.flac").unlink()
    ts = capture(f"{server.url}/stream/channels/1.ts", tmp_path / "gone.ts", 3 * ITEM_SECONDS)
    ended = time.time()
    line = server.wait_for(lambda: next((line for line in server.log.splitlines()
                                         if "02-b.flac: No such file" in line
                                         or "exited (exit 1) after 0.0s of '02-b'" in line), None),
                           timeout=30)
    failed_at = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp()
    assert failed_at <= ended + 1, "the failure happened while the capture ran"
    streams, packets = packets_of(ts)
    only_aac(streams)
    assert {p["codec_type"] for p in packets} == {"audio"}
    assert continuity_problems(packets) == []
    assert float(packets[-1]["dts_time"]) - float(packets[0]["dts_time"]) > 2 * ITEM_SECONDS
    # The song before it is heard (440 Hz), the deleted one never (660 Hz); its slot is
    # silence (the error screen) for as long as the retries left of it.
    samples = decode_audio(ts, start=0.0, seconds=3 * ITEM_SECONDS)
    windows = [samples[at:at + 19_200] for at in range(0, len(samples) - 19_200, 19_200)]
    kinds = {"silence" if peak(w) == 0 else tone_of(dominant_frequency(w)) for w in windows}
    assert 440 in kinds and 660 not in kinds, kinds


def planner_for(tmp_path: Path, **ffmpeg: Any) -> ItemPlanner:
    config = radio_config(tmp_path)
    config["channels"][1]["ffmpeg"] = ffmpeg
    cfg, _host, registry = load_everything(write_config(tmp_path / "exstreamtv.yaml", config))
    return ItemPlanner(cfg.channels[1], registry, find_ffmpeg())


def run(argv: list[str], out: Path) -> Path:
    proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out.write_bytes(proc.stdout)
    return out


@pytest.mark.parametrize(("audio", "tone"), [("silent", 0), ("sine", 440)])
def test_radio_error_screen_is_sound_only(tmp_path, audio, tone):
    planner = planner_for(tmp_path, error_screen={"visual": "text", "audio": audio})
    plan = planner.error_screen("Movie Radio: technical difficulties", 1.5)
    assert not any("drawtext" in arg or "color=" in arg for arg in plan.argv)
    out = run(plan.argv, tmp_path / "error.ts")
    only_aac(ffprobe_streams(out))
    samples = decode_audio(out, start=0.2, seconds=1.0)
    if tone:
        assert abs(dominant_frequency(samples) - tone) < 15
    else:
        assert peak(samples) == 0


def test_loudness_applies_to_a_radio_channel(tmp_path):
    planner = planner_for(tmp_path, audio={"loudness_lufs": -16}, encoder="vaapi")
    assert not planner.preset.hardware  # no picture: no GPU opened, none to fall back from
    cache = LoudnessCache(ffmpeg=ffmpeg_bin())
    planner.loudness = cache
    item = asyncio.run(_movie_item())
    audio, _video, stream = planner.streams(item.info)
    assert isinstance(stream, int)
    asyncio.run(cache.ensure(item, stream, audio.filter if audio else None))
    plan = planner.media(ScheduledItem(item=item, start=0.0, duration=ITEM_SECONDS), 0.0)
    assert any("volume=" in arg for arg in plan.argv) and "-vn" in plan.argv
    assert "-init_hw_device" not in plan.argv
    out = run(plan.argv, tmp_path / "loud.ts")
    only_aac(ffprobe_streams(out))
    measured = subprocess.run(
        [ffmpeg_bin(), "-hide_banner", "-i", str(out), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    integrated = float(measured.rsplit("I:", 1)[1].split("LUFS")[0])
    assert abs(integrated + 16) <= 1.5, integrated


def test_an_item_without_sound_is_silence_for_its_slot(tmp_path):
    planner = planner_for(tmp_path)
    item = asyncio.run(_movie_item(make_clip(MEDIA_CACHE / "radio-mute" / "mute.mp4",
                                             ITEM_SECONDS, audio=False)))
    plan = planner.media(ScheduledItem(item=item, start=0.0, duration=ITEM_SECONDS), 0.0)
    out = run(plan.argv, tmp_path / "mute.ts")
    only_aac(ffprobe_streams(out))
    _streams, packets = packets_of(out)
    assert float(packets[-1]["dts_time"]) - float(packets[0]["dts_time"]) > ITEM_SECONDS - 0.1
    assert peak(decode_audio(out, start=0.0, seconds=ITEM_SECONDS)) == 0


async def _movie_item(path: Path | None = None) -> MediaItem:
    path = path or movie_folder() / "movie.mp4"
    info = await probe(str(path), "ffprobe")
    return MediaItem(path.stem, "movies", path.stem, str(path), info.duration, info)


def test_splicer_marks_access_points_in_audio_only_streams(tmp_path):
    """Without video, pieces start at audio PES about once a second (joins and HLS cuts)."""
    planner = planner_for(tmp_path)
    segment = subprocess.run(planner.error_screen("x", 3.0).argv, capture_output=True,
                             check=True).stdout
    splicer = TSSplicer()
    pieces = []
    for _ in range(2):
        splicer.start_segment()
        pieces += splicer.feed(segment) + splicer.flush_hold()
    marks = [p.clock for p in pieces if p.keyframe]
    assert 5 <= len(marks) <= 8, marks  # 6 s of sound: one a second
    spliced = tmp_path / "spliced.ts"
    spliced.write_bytes(b"".join(p.data for p in pieces))
    packets = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,dts_time", "-of", "json",
         str(spliced)], capture_output=True, check=True).stdout)["packets"]
    assert timing_problems(packets, max_gap=0.05) == []
    assert float(packets[-1]["dts_time"]) - float(packets[0]["dts_time"]) > 5.8


def test_output_banana_is_a_clear_config_error(tmp_path):
    config = radio_config(tmp_path)
    config["channels"][0]["output"] = "banana"
    path = write_config(tmp_path / "bad.yaml", config)
    proc = subprocess.run([sys.executable, "-m", "exstreamtv", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "channels[0].output: expected one of video, audio, got 'banana'" in proc.stderr + proc.stdout
