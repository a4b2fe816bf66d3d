"""Dolby Vision on an SDR channel: real DV files (tests/dovi.py) probed, planned and played.

Each profile plays its base layer: 8.1 tone-mapped from PQ, 8.4 from HLG, 8.2 untouched;
profile 5 has no compatible base layer and plays tone-mapped as PQ with a warning. The
RPU NAL units the files carry must not make ffmpeg complain.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

import pytest

from exstreamtv.ffmpeg.locate import find_ffmpeg
from exstreamtv.media.models import DynamicRange, MediaItem
from exstreamtv.media.probe import probe
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.planner import ItemPlanner
from exstreamtv.web.library import describe
from tests.helpers import ffmpeg_bin
from tests.media_files import DV_PICTURE, dolby_vision, ffprobe_streams
from tests.test_picture import corner_color, load, registry

#: The 75% grey and red bars of :data:`DV_PICTURE` (x, y, w, h) at 320x180.
GREY_BAR = (10, 40, 24, 40)
RED_BAR = (238, 40, 24, 40)

EXPECTED = {  # name: (profile, compatibility id, dynamic range, tone-mapped from, told)
    "8.1": (8, 1, DynamicRange.PQ, "smpte2084", None),
    "8.4": (8, 4, DynamicRange.HLG, "arib-std-b67", None),
    "8.2": (8, 2, DynamicRange.SDR, None, None),
    "5": (5, 0, DynamicRange.DOLBY_VISION_ONLY, "smpte2084", "smpte2084"),
}


def item_of(path: Path) -> MediaItem:
    info = asyncio.run(probe(str(path), "ffprobe"))
    return MediaItem(f"dv:{path.name}", "dv", path.stem, str(path), info.duration, info)


def play(tmp_path: Path, item: MediaItem, name: str) -> tuple[list[str], Path, list[str]]:
    """The channel's argv for ``item``, the TS it made and its [warning]/[error] lines."""
    cfg = load(tmp_path)
    planner = ItemPlanner(cfg.channels[0], registry(), find_ffmpeg())
    argv = planner.media(ScheduledItem(item=item, start=0.0, duration=2.0), 0.0).argv
    proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / f"{name}.ts"
    out.write_bytes(proc.stdout)
    problems = [line for line in proc.stderr.decode(errors="replace").splitlines()
                if "[warning]" in line or "[error]" in line]
    return argv, out, problems


def sdr_reference(tmp_path: Path) -> Path:
    """The bars the DV files were made from, as SDR BT.709 H.264."""
    out = tmp_path / "sdr.ts"
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    DV_PICTURE, "-frames:v", "5", "-c:v", "libx264", "-preset", "ultrafast",
                    str(out)], check=True, timeout=60)
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dolby_vision_files_are_probed_with_their_configuration_record(name):
    path = dolby_vision(name)
    profile, compat, dynamic_range, transfer, told = EXPECTED[name]
    raw = ffprobe_streams(path)[0]
    (record,) = [s for s in raw["side_data_list"]
                 if s["side_data_type"] == "DOVI configuration record"]
    assert (record["dv_profile"], record["dv_bl_signal_compatibility_id"]) == (profile, compat)
    assert (record["rpu_present_flag"], record["bl_present_flag"]) == (1, 1)
    video = item_of(path).info.video_streams[0]  # type: ignore[union-attr]
    assert (video.dv_profile, video.dv_compatibility_id) == (profile, compat)
    assert video.dolby_vision == (name if compat else "5")
    assert (video.dynamic_range, video.tonemap_transfer, video.assumed_transfer) == \
        (dynamic_range, transfer, told)
    assert video.to_dict()["dynamic_range"] == dynamic_range.value
    # The RPUs are real: ffmpeg 5.1 parses them into frame metadata, without a complaint.
    frames = subprocess.run(["ffprobe", "-v", "warning", "-select_streams", "v", "-show_frames",
                             "-read_intervals", "%+#3", str(path)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert frames.stdout.count("Dolby Vision Metadata") == 3 and not frames.stderr, frames.stderr
    decoded = subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "warning", "-i", str(path),
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_matroska_carries_the_record_too():
    video = item_of(dolby_vision("8.1", "mkv")).info.video_streams[0]  # type: ignore[union-attr]
    assert (video.dv_profile, video.dv_compatibility_id, video.dynamic_range) == \
        (8, 1, DynamicRange.PQ)


@pytest.mark.parametrize("name", ["8.1", "8.4"])
def test_profile_8_hdr_base_is_tone_mapped_like_the_same_file_without_dolby_vision(
        tmp_path, name, caplog):
    caplog.set_level(logging.INFO)
    argv, out, problems = play(tmp_path, item_of(dolby_vision(name)), "dv")
    assert "tonemap=tonemap=mobius" in " ".join(argv) and "setparams=color_primaries=bt2020" \
        not in " ".join(argv)  # tagged: zscale reads the transfer from the frames
    assert problems == []
    assert f"Dolby Vision {name}: its" in caplog.text and "HDR tone-mapped" in caplog.text
    video = ffprobe_streams(out)[0]
    assert (video["color_transfer"], video["color_primaries"], video["color_space"]) == \
        ("bt709", "bt709", "bt709")
    _, base, _ = play(tmp_path, item_of(dolby_vision(name, signalled=False)), "base")
    sdr = sdr_reference(tmp_path)
    for region in (GREY_BAR, RED_BAR):
        mapped, plain, reference = (corner_color(p, *region) for p in (out, base, sdr))
        # The same pixels as the plain HDR file: Dolby Vision changes nothing here ...
        assert all(abs(a - b) <= 2 for a, b in zip(mapped, plain, strict=True)), (mapped, plain)
        # ... and SDR values near the source's, not washed out (grey 191, red 191,0,0).
        assert all(abs(a - b) <= 25 for a, b in zip(mapped, reference, strict=True)), \
            (region, mapped, reference)
    grey = corner_color(out, *GREY_BAR)
    assert min(grey) >= 150 and max(grey) - min(grey) <= 12, grey


def test_profile_8_2_sdr_base_plays_untouched(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    argv, out, problems = play(tmp_path, item_of(dolby_vision("8.2")), "dv")
    assert "tonemap" not in " ".join(argv) and problems == []
    assert "Dolby Vision 8.2: its SDR base layer plays" in caplog.text
    _, base, _ = play(tmp_path, item_of(dolby_vision("8.2", signalled=False)), "base")
    assert corner_color(out, *GREY_BAR) == corner_color(base, *GREY_BAR)
    r, g, b = corner_color(out, *RED_BAR)
    assert r > 150 and g < 40 and b < 40, (r, g, b)


def test_profile_5_plays_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    item = item_of(dolby_vision("5"))
    argv, out, problems = play(tmp_path, item, "p5")
    graph = " ".join(argv)
    # Untagged: the frames are tagged PQ BT.2020 before zscale reads them.
    assert "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc," \
        "zscale=t=linear" in graph
    assert problems == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and "Dolby Vision profile 5 has no HDR10, HLG or SDR base layer" in r.message]
    assert len(warnings) == 1 and "'dolby-vision-5'" in warnings[0].message
    assert "warning: Dolby Vision profile 5" in caplog.text  # the plan's notes
    assert ffprobe_streams(out)[0]["color_transfer"] == "bt709"
    # Told PQ, the tone mapper gets the brightness right (played as untagged SDR, the grey
    # bar measured 112 instead of 184). Real profile 5 colours would still be wrong: our
    # base layer is YCbCr, not IPT.
    assert min(corner_color(out, *GREY_BAR)) >= 150
    listed = describe(item)
    assert (listed["dynamic_range"], listed["dolby_vision"]) == ("dolby_vision_only", "5")
    assert "wrong colours" in listed["warning"]
    plain = describe(item_of(dolby_vision("8.1")))
    assert (plain["dynamic_range"], plain["dolby_vision"], plain["warning"]) == ("pq", "8.1", None)
