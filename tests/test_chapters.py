"""Chapter marks: read from the file (ffprobe) or the media server (Plex, Jellyfin, Emby), kept
with the item, and used as the places of a channel's mid-roll breaks.

Real ffmpeg writes the chapters, real ffprobe reads them, a real library scan and the
channel's real scheduler place the breaks; the fakes speak the servers' wire formats
(Jellyfin and Emby: ``Chapters`` with ``StartPositionTicks``, only when ``Fields`` asks for
them; Plex: ``Chapter`` with ``startTimeOffset`` in ms, with ``includeChapters=1``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import subprocess
import time
from pathlib import Path

import pytest
import voluptuous as vol
from exstreamtv_plugins.sources import emby, jellyfin, plex

from exstreamtv.config.model import SourceConfig
from exstreamtv.events import EventBus
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.media.models import MAX_CHAPTERS, chapter_marks
from exstreamtv.media.probe import probe_with_ffprobe, probe_with_pyav
from exstreamtv.media.source import SourceContext
from tests.fakes.base import catalogue
from tests.fakes.emby import FakeEmby
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.fakes.plex import FakePlex
from tests.helpers import base_config, ffmpeg_bin, make_clip, running_hub, until, write_config

SECRET = "chapters-secret"


def _with_chapters(source: Path, target: Path, starts: list[float], end: float) -> Path:
    """``source`` remuxed with chapters starting at ``starts`` (ffmetadata, milliseconds)."""
    lines = [";FFMETADATA1"]
    bounds = [*starts, end]
    for n, (a, b) in enumerate(itertools.pairwise(bounds)):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(a * 1000)}",
                  f"END={int(b * 1000)}", f"title=Part {n + 1}"]
    meta = source.with_suffix(".ffmeta")
    target.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text("\n".join(lines) + "\n")
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                    "-i", str(meta), "-map", "0", "-map_chapters", "1", "-c", "copy",
                    str(target)], check=True)
    return target


def test_chapter_marks_keep_only_usable_break_points() -> None:
    hostile: list[object] = [0.0, 0.4, "12.5", -3, math.nan, math.inf, "x", None, 12.9, 30.0,
                             99.0, 20.0]
    # Inside the item (a second from either end), sorted, a second apart, numbers only.
    assert chapter_marks(hostile, 30.0) == (12.5, 20.0)
    assert len(chapter_marks(range(1, 100_000), 200_000.0)) == MAX_CHAPTERS


def test_ffprobe_and_pyav_read_a_files_chapters(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", 12.0)
    marked = _with_chapters(plain, tmp_path / "film's cut [1].mkv", [0.0, 4.0, 8.0], 12.0)
    info = asyncio.run(probe_with_ffprobe("ffprobe", str(marked)))
    assert info.chapters == (4.0, 8.0)
    assert probe_with_pyav(str(marked)).chapters == (4.0, 8.0)  # without ffprobe
    assert asyncio.run(probe_with_ffprobe("ffprobe", str(plain))).chapters == ()


def test_a_files_chapters_place_its_mid_roll_breaks(tmp_path: Path) -> None:
    films, ads = tmp_path / "films", tmp_path / "ads"
    film = _with_chapters(make_clip(tmp_path / "src.mp4", 12.0), films / "Film.mkv",
                          [0.0, 4.0, 8.0], 12.0)
    make_clip(ads / "ad.mp4", 2.0, tone=880)
    config = base_config(tmp_path, films)
    config["sources"].append({"id": "ads", "type": "local", "path": str(ads)})
    config["channels"][0]["schedule"] = {
        "type": "ordered", "collection": "clips", "pad_to_minutes": 1,
        "fillers": [{"collection": "ads", "roles": ["mid_roll"]}]}
    path = write_config(tmp_path / "exstreamtv.yaml", config)

    async def scenario() -> None:
        async with running_hub(path) as hub:
            await until(lambda: hub.library.items.get("clips") and hub.library.items.get("ads"))
            item = hub.library.items["clips"][0]
            assert item.location == str(film) and item.metadata["chapters"] == [4.0, 8.0]
            t = time.time()
            window = hub.channels.scheduler(1).window(t, t + 180)
            loop = next(i for i, e in enumerate(window) if e.kind == "program" and e.seek == 0)
            pieces = window[loop:loop + 5]
            # The film in three parts cut at its chapters, an ad in each break.
            assert [(e.kind, e.seek if e.kind == "program" else e.slot) for e in pieces] == [
                ("program", 0.0), ("filler", "mid_roll"), ("program", 4.0),
                ("filler", "mid_roll"), ("program", 8.0)]

    asyncio.run(scenario())


@pytest.mark.parametrize("product", ["plex", "jellyfin", "emby"])
def test_a_media_servers_chapters_are_kept(product: str, clips: Path, tmp_path: Path) -> None:
    keys = ("1", "2") if product == "plex" else (guid("movies"), guid("shows"))
    libraries = catalogue(clips, *keys)
    movies = libraries[0]
    movies.items[1] = dataclasses.replace(movies.items[1], chapters=(1.5, 2.5))
    fake = {"plex": FakePlex, "jellyfin": FakeJellyfin, "emby": FakeEmby}[product](
        SECRET, libraries).start()
    module = {"plex": plex, "jellyfin": jellyfin, "emby": emby}[product]
    secret_key = "token" if product == "plex" else "api_key"
    try:
        validated = vol.Schema(module.SCHEMA)({"url": fake.url, secret_key: SECRET})
        tools = FFmpegTools("ffmpeg", "ffprobe", "test", "PATH")
        source = module.factory(SourceConfig(product, product, validated),
                                SourceContext(tools, tmp_path, EventBus()))

        async def scan() -> list[object]:
            try:
                return list(await source.scan())
            finally:
                await source.close()

        by_title = {i.title: i for i in asyncio.run(scan())}  # type: ignore[attr-defined]
    finally:
        fake.stop()
    assert by_title["Second Movie"].metadata["chapters"] == [1.5, 2.5]
    assert "chapters" not in by_title["First Movie"].metadata
