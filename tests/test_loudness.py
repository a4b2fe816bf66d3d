"""Loudness normalisation: measured once per item, played as a constant gain to the target.

Real ffmpeg measures generated quiet, loud, silent and very short clips, and ffmpeg's
``ebur128`` measures what the channel's command outputs.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.media.loudness import (
    MAX_BOOST_DB,
    Loudness,
    LoudnessCache,
    gain_db,
    parse_loudnorm,
)
from exstreamtv.media.models import MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.planner import ItemPlanner
from tests.helpers import MEDIA_CACHE, ffmpeg_bin
from tests.media_files import _lock
from tests.test_picture import load, registry

TARGET = -23.0


def clip(name: str, audio: str, seconds: float = 6.0) -> Path:
    """A small clip whose audio is ``audio`` (a lavfi source with filters)."""
    path = MEDIA_CACHE / "loudness" / f"{name}.mkv"
    with _lock("loudness"):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{name}.{os.getpid()}.part.mkv")
            subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y",
                            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25",
                            "-f", "lavfi", "-i", audio, "-t", str(seconds),
                            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac",
                            str(tmp)], check=True, timeout=120)
            tmp.replace(path)
    return path


def quiet() -> Path:
    # Speech-like: a tone switching on and off, about 20 dB below the loud one.
    return clip("quiet", "sine=frequency=300:sample_rate=48000,volume=0.5*gt(mod(t\\,1)\\,0.3):eval=frame,volume=-10dB")


def loud() -> Path:
    return clip("loud", "anoisesrc=color=pink:sample_rate=48000:amplitude=0.5,volume=3dB")


def silent() -> Path:
    return clip("silent", "anullsrc=r=48000:cl=stereo")


def short() -> Path:
    return clip("short", "sine=frequency=500:sample_rate=48000", seconds=0.2)


def ebur128(path: Path) -> tuple[float, float]:
    """ffmpeg ebur128's integrated loudness (LUFS) and true peak (dBTP) of ``path``."""
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-nostats", "-i", str(path),
                           "-filter_complex", "[0:a]ebur128=peak=true[o]", "-map", "[o]",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    loudness = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert loudness and peak, proc.stderr[-2000:]
    return float(loudness.group(1)), float(peak.group(1))


def integrated(path: Path) -> float:
    return ebur128(path)[0]


def item_of(path: Path) -> MediaItem:
    info = asyncio.run(probe(str(path), "ffprobe"))
    return MediaItem(path.stem, "clips", path.stem, str(path), info.duration, info)


def play(tmp_path: Path, item: MediaItem, cache: LoudnessCache | None, **audio: Any) -> Path:
    """Run the channel's command for ``item`` (4 s) and keep its output."""
    cfg = load(tmp_path, ffmpeg={"audio": audio})
    planner = ItemPlanner(cfg.channels[0], registry(), _tools())
    planner.loudness = cache
    argv = planner.media(ScheduledItem(item=item, start=0.0, duration=min(item.duration, 4.0)),
                         0.0).argv
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / f"{item.id}-{len(list(tmp_path.glob('*.ts')))}.ts"
    out.write_bytes(proc.stdout)
    return out


def _tools() -> Any:
    from exstreamtv.ffmpeg.locate import find_ffmpeg

    return find_ffmpeg()


def test_gain_is_capped_and_none_for_silence():
    assert gain_db(Loudness(-30.0, -12.0), -23.0) == 7.0
    assert gain_db(Loudness(-10.0, -0.5), -23.0) == -13.0
    assert gain_db(Loudness(-60.5, -50.0), -23.0) is None  # silence: no gain
    assert gain_db(Loudness(None, None), -23.0) is None
    assert gain_db(None, -23.0) is None
    assert gain_db(Loudness(-58.0, -70.0), -16.0) == MAX_BOOST_DB  # never more than the cap
    assert gain_db(Loudness(-30.0, -4.0), -16.0) == 3.0  # true peak kept at -1 dBTP
    assert parse_loudnorm('{"input_i": "-inf", "input_tp": "-inf"}') == Loudness(None, None)
    assert parse_loudnorm("no summary") == Loudness(None, None)


def test_quiet_and_loud_items_come_out_at_the_target(tmp_path):
    cache = LoudnessCache(ffmpeg=ffmpeg_bin())
    items = [item_of(quiet()), item_of(loud())]
    before = [integrated(play(tmp_path, item, None, loudness_lufs=TARGET)) for item in items]
    assert before[1] - before[0] > 20, before  # the clips really differ
    for item in items:
        asyncio.run(cache.ensure(item, 1, None))
    after = [integrated(play(tmp_path, item, cache, loudness_lufs=TARGET)) for item in items]
    assert all(abs(value - TARGET) <= 1.0 for value in after), (before, after)
    # -16 LUFS: the same measurements, another gain. The loud clip reaches it; the quiet
    # one (peaky) is lifted only until its true peak is at -1 dBTP, never clipped.
    loud_16 = ebur128(play(tmp_path, items[1], cache, loudness_lufs=-16))
    quiet_16 = ebur128(play(tmp_path, items[0], cache, loudness_lufs=-16))
    assert abs(loud_16[0] + 16) <= 1.0, loud_16
    assert quiet_16[0] > after[0] + 2 and quiet_16[1] <= -0.5, quiet_16
    assert cache.measured == 2  # measured once per item
    # Off (null): no gain even with measurements at hand.
    assert integrated(play(tmp_path, items[0], cache)) == pytest.approx(before[0], abs=0.5)


def test_silent_and_too_short_items_get_no_gain(tmp_path):
    cache = LoudnessCache(ffmpeg=ffmpeg_bin())
    for make in (silent, short):
        item = item_of(make())
        measured = asyncio.run(cache.ensure(item, 1, None))
        assert measured.integrated is None or measured.integrated < -60, measured
        out = play(tmp_path, item, cache, loudness_lufs=-16)
        assert "volume=" not in " ".join(
            ItemPlanner(load(tmp_path, ffmpeg={"audio": {"loudness_lufs": -16}}).channels[0],
                        registry(), _tools()).media(
                ScheduledItem(item=item, start=0.0, duration=1.0), 0.0).argv)
        assert out.stat().st_size > 0


def test_a_changed_file_is_measured_again(tmp_path):
    source = quiet()
    copy = tmp_path / "copy.mkv"
    copy.write_bytes(source.read_bytes())
    item = item_of(copy)
    cache = LoudnessCache(ffmpeg=ffmpeg_bin())

    async def run() -> tuple[Loudness | None, Loudness | None, int]:
        await cache.ensure(item, 1, None)
        known = cache.lookup(item, 1, None)
        os.utime(copy, ns=(0, 10**9))  # the file changed on disk
        stale = cache.lookup(item, 1, None)  # queues a measurement
        for _ in range(600):
            if cache.lookup_known(item, 1, None) is not None:
                break
            await asyncio.sleep(0.1)
        return known, stale, cache.measured

    known, stale, measured = asyncio.run(run())
    assert known is not None and stale is None and measured == 2
