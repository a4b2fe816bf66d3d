"""Probing: the typed model, languages, dispositions, sidecars, the CLI and probe_many."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exstreamtv.errors import MediaError
from exstreamtv.media.language import normalize_language
from exstreamtv.media.probe import probe, probe_many, probe_with_pyav
from tests.media_files import image_subtitled, multitrack
from tests.test_picture import hdr10_clip, interlaced_clip

FFPROBE = shutil.which("ffprobe")


@pytest.mark.parametrize(
    ("tag", "code"),
    [("de", "deu"), ("ger", "deu"), ("deu", "deu"), ("fr", "fra"), ("fre", "fra"),
     ("fra", "fra"), ("en-US", "eng"), ("EN", "eng"), ("chi", "zho"), ("dut", "nld"),
     ("French", "fra"), ("und", None), ("", None), (None, None), ("qaa", "qaa"),
     ("x1", None), ("english-sdh", "eng")],
)
def test_language_aliases_normalise_to_639_2t(tag, code):
    assert normalize_language(tag) == code


def test_multitrack_file_is_probed_into_the_model():
    info = asyncio.run(probe(str(multitrack()), FFPROBE))
    video, *audio = [s for s in info.streams if s.type in ("video", "audio")]
    assert (video.codec, video.width, video.height, video.fps) == ("h264", 320, 180, 25.0)
    assert [(a.language, a.channels, a.channel_layout) for a in audio] == [
        ("eng", 6, "5.1"), ("fra", 2, "stereo"), ("eng", 2, "stereo")]
    assert [a.default for a in audio] == [True, False, False]
    assert [a.comment for a in audio] == [False, False, True]
    subs = info.subtitle_streams
    assert [(s.language, s.forced, s.hearing_impaired) for s in subs] == [
        ("eng", True, False), ("eng", False, True), ("fra", False, False)]
    assert all(s.is_text_subtitle for s in subs)
    assert 3.9 < info.duration < 4.2


def test_image_subtitles_are_not_text():
    info = asyncio.run(probe(str(image_subtitled()), FFPROBE))
    (sub,) = info.subtitle_streams
    assert sub.codec == "dvd_subtitle"
    assert not sub.is_text_subtitle
    assert sub.to_dict()["text"] is False


def test_sdh_from_title_only(tmp_path):
    src = multitrack()
    out = tmp_path / "titled.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy",
                    "-disposition:s:1", "0", "-metadata:s:s:1", "title=English CC",
                    str(out)], check=True)
    for engine in ("ffprobe", "pyav"):
        info = asyncio.run(probe(str(out), FFPROBE, engine))
        assert [s.hearing_impaired for s in info.subtitle_streams] == [False, True, False]


def test_sidecar_subtitles_with_language_and_flags(tmp_path):
    movie = tmp_path / "Movie.mkv"
    shutil.copy(multitrack(), movie)
    (tmp_path / "Movie.en.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    (tmp_path / "Movie.fr.forced.ass").write_text("[Script Info]\n")
    (tmp_path / "Movie.ger.sdh.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHallo\n")
    (tmp_path / "Other.en.srt").write_text("not ours")
    info = asyncio.run(probe(str(movie), FFPROBE))
    sidecars = [s for s in info.subtitle_streams if s.external_path]
    assert [(Path(s.external_path or "").name, s.language, s.forced, s.hearing_impaired, s.codec)
            for s in sidecars] == [
        ("Movie.en.srt", "eng", False, False, "subrip"),
        ("Movie.fr.forced.ass", "fra", True, False, "ass"),
        ("Movie.ger.sdh.srt", "deu", False, True, "subrip")]
    assert [s.index for s in sidecars] == [7, 8, 9]


@pytest.mark.parametrize("clip", ["multitrack", "hdr10", "hlg", "interlaced"])
def test_pyav_probe_agrees_with_ffprobe(clip):
    """Also on what deinterlacing and tone mapping read: field order, transfer, primaries."""
    path = str({"multitrack": multitrack, "hdr10": hdr10_clip,
                "hlg": lambda: hdr10_clip("arib-std-b67"), "interlaced": interlaced_clip}[clip]())
    a = asyncio.run(probe(path, FFPROBE))
    b = probe_with_pyav(path)
    keys = ("type", "codec", "language", "channels", "channel_layout", "sample_rate", "width",
            "height", "fps", "pix_fmt", "default", "forced", "hearing_impaired", "comment",
            "field_order", "color_transfer", "color_primaries")
    assert abs(a.duration - b.duration) < 0.05
    assert [tuple(getattr(s, k) for k in keys) for s in a.streams] == \
        [tuple(getattr(s, k) for k in keys) for s in b.streams]
    video = b.video_streams[0]
    expected = {"multitrack": (None, None), "hdr10": ("smpte2084", "bt2020"),
                "hlg": ("arib-std-b67", "bt2020"), "interlaced": (None, None)}[clip]
    assert (video.color_transfer, video.color_primaries) == expected
    assert (video.field_order in ("tt", "tb")) == (clip == "interlaced")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_probe_prints_json():
    result = _cli("probe", str(multitrack()))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["type"] for s in data["streams"]] == ["video"] + ["audio"] * 3 + ["subtitle"] * 3
    assert data["streams"][1]["channels"] == 6
    assert data["streams"][3]["comment"] is True
    assert data["streams"][4]["forced"] is True and data["streams"][4]["text"] is True
    assert data["duration"] > 3.9


def test_cli_probe_missing_and_corrupt_files(tmp_path):
    missing = _cli("probe", str(tmp_path / "nope.mkv"))
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.strip() == f"no such file: {tmp_path / 'nope.mkv'}"
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"this is not a video" * 100)
    corrupt = _cli("probe", str(bad))
    assert corrupt.returncode == 1
    assert corrupt.stderr.startswith(f"cannot read {bad}"), corrupt.stderr
    assert len(corrupt.stderr.strip().splitlines()) == 1


def test_probe_many_is_bounded_and_reports_failures(tmp_path):
    good = multitrack()
    paths = []
    for i in range(6):
        link = tmp_path / f"f{i}.mkv"
        link.symlink_to(good)
        paths.append(str(link))
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"\0" * 1000)
    paths.append(str(bad))

    active = 0
    peak = 0
    import exstreamtv.media.probe as probe_module

    real = probe_module.probe_with_ffprobe

    async def counting(ffprobe: str, location: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await real(ffprobe, location, timeout)
        finally:
            active -= 1

    probe_module.probe_with_ffprobe = counting  # type: ignore[assignment]
    try:
        results = asyncio.run(probe_many(paths, FFPROBE, concurrency=3))
    finally:
        probe_module.probe_with_ffprobe = real  # type: ignore[assignment]
    assert set(results) == set(paths)
    assert isinstance(results[str(bad)], MediaError)
    assert all(not isinstance(results[p], MediaError) for p in paths[:-1])
    assert peak == 3


def test_probe_many_in_process(tmp_path):
    paths = []
    for i in range(4):
        link = tmp_path / f"f{i}.mkv"
        link.symlink_to(multitrack())
        paths.append(str(link))
    (tmp_path / "bad.mkv").write_bytes(b"\0" * 100)
    paths.append(str(tmp_path / "bad.mkv"))
    results = asyncio.run(probe_many(paths, FFPROBE, concurrency=2, engine="pyav"))
    assert isinstance(results[paths[-1]], MediaError)
    assert all(len(results[p].streams) == 7 for p in paths[:-1])  # type: ignore[union-attr]
