"""Plex and Jellyfin sources against fakes speaking each product's wire format.

Scans run in-process through the same Library the server uses: metadata and streams,
collections, paging, incremental sync, failures that keep known items, location refresh,
path replacements, and secrets kept out of logs and error messages.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import voluptuous as vol
from exstreamtv_plugins.sources import emby, jellyfin, plex

from exstreamtv.config.model import SourceConfig
from exstreamtv.events import EventBus, HealthEvent
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.media.library import Library
from exstreamtv.media.remote import RemoteError, RemoteSource
from exstreamtv.media.source import SourceContext
from exstreamtv.secrets import SecretFilter
from tests.fakes.base import FakeServer, FakeSubtitle, catalogue
from tests.fakes.emby import FakeEmby
from tests.fakes.jellyfin import FakeJellyfin, guid
from tests.fakes.plex import FakePlex
from tests.helpers import ffmpeg_bin
from tests.media_files import dolby_vision

SECRET = "s3cr3t-token-4f9a0c"


@dataclass
class Product:
    name: str
    fake: FakeServer
    module: Any
    secret_key: str

    def source(self, tmp: Path, **options: Any) -> RemoteSource:
        raw = {"url": self.fake.url, self.secret_key: SECRET, **options}
        validated = vol.Schema(self.module.SCHEMA)(raw)
        tools = FFmpegTools("ffmpeg", "ffprobe", "test", "PATH")
        source: RemoteSource = self.module.factory(
            SourceConfig(self.name, self.name, validated), SourceContext(tools, tmp, EventBus()))
        return source


@pytest.fixture(params=["plex", "jellyfin", "emby"])
def product(request: pytest.FixtureRequest, clips: Path) -> Iterator[Product]:
    if request.param == "plex":
        p = Product("plex", FakePlex(SECRET, catalogue(clips)).start(), plex, "token")
    elif request.param == "emby":
        libs = catalogue(clips, guid("movies"), guid("shows"))
        p = Product("emby", FakeEmby(SECRET, libs).start(), emby, "api_key")
    else:
        libs = catalogue(clips, guid("movies"), guid("shows"))
        p = Product("jellyfin", FakeJellyfin(SECRET, libs).start(), jellyfin, "api_key")
    yield p
    p.fake.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def scan_once(source: RemoteSource) -> list[Any]:
    try:
        return sorted(await source.scan(), key=lambda i: i.sort_key)
    finally:
        await source.close()


def test_full_scan_metadata_streams_and_collections(product: Product, tmp_path: Path) -> None:
    source = product.source(tmp_path)
    items = run(scan_once(source))
    by_title = {i.title: i for i in items}
    assert set(by_title) == {"First Movie", "Second Movie", "Pilot", "Second Episode"}
    movie = by_title["Second Movie"].metadata
    assert movie["year"] == 2004 and movie["summary"] == "A second test movie."
    assert movie["genres"] == ["Comedy", "Drama"] and movie["rating"] == "PG"
    assert movie["thumb"].startswith(product.fake.url) and SECRET not in movie["thumb"]
    pilot = by_title["Pilot"]
    assert (pilot.metadata["show"], pilot.metadata["season"], pilot.metadata["episode"]) == \
        ("Test Show", 1, 1)
    assert pilot.metadata["genres"] == ["Sci-Fi"]  # Plex: inherited from the show record
    assert set(pilot.collections) == {product.name, f"{product.name}:library:TV Shows",
                                      f"{product.name}:show:Test Show",
                                      f"{product.name}:genre:Sci-Fi"}
    assert f"{product.name}:genre:Comedy" in by_title["Second Movie"].collections
    assert 3.5 < pilot.duration < 4.5
    info = pilot.info
    assert info is not None and info.path == pilot.location
    assert [s.codec for s in info.video_streams] == ["h264"]
    audio = info.audio_streams[0]
    assert (audio.codec, audio.language, audio.channels, audio.index) == ("aac", "eng", 2, 1)
    # The location carries no credential; the source gives it as headers for its own URLs.
    assert pilot.location.startswith(product.fake.url) and SECRET not in pilot.location
    assert httpx.get(pilot.location).status_code == 401
    headers = source.fetch_headers(pilot.location)
    assert headers and SECRET in "".join(headers.values())
    assert source.fetch_headers("http://elsewhere.example/file.mp4") is None
    # The part/stream URL serves the file, with Range (as ffmpeg asks).
    answer = httpx.get(pilot.location, headers={"Range": "bytes=10-19", **headers})
    assert answer.status_code == 206 and len(answer.content) == 10
    assert answer.headers["Content-Range"].startswith("bytes 10-19/")


def test_pages_and_library_selection(product: Product, tmp_path: Path) -> None:
    source = product.source(tmp_path, page_size=1, libraries=["TV Shows"])
    items = run(scan_once(source))
    assert [i.title for i in items] == ["Pilot", "Second Episode"]
    listing = [r for r in product.fake.requests
               if "/all" in r or r.startswith(("/Items?", "/emby/Items?"))]
    starts = {r for r in listing if "Start=1" in r or "StartIndex=1" in r}
    assert starts, f"no second page requested: {listing}"


def test_incremental_sync_fetches_only_changes(product: Product, tmp_path: Path) -> None:
    source = product.source(tmp_path)
    library = product.fake.libraries[0]

    async def scenario() -> tuple[Any, ...]:
        first = await source.scan()
        mode_first = source.last_sync["mode"]
        library.items[0].title = "First Movie (Director's Cut)"
        library.items[0].updated = 1_700_009_000
        product.fake.requests.clear()
        second = await source.scan()
        requests_second = list(product.fake.requests)
        mode_second, fetched = source.last_sync["mode"], source.last_sync["fetched"]
        del library.items[1]
        third = await source.scan()
        await source.close()
        return first, mode_first, second, requests_second, mode_second, fetched, third, \
            source.last_sync["mode"]

    first, mode1, second, reqs, mode2, fetched, third, mode3 = run(scenario())
    assert len(first) == 4 and mode1 == "full"
    assert mode2 == "incremental"
    assert any("updatedAt%3E=" in r or "MinDateLastSaved=" in r for r in reqs), reqs
    # The changed movie, plus one item per library at the watermark (the filter is >=).
    assert fetched == 3
    titles = {i.title for i in second}
    assert "First Movie (Director's Cut)" in titles and "First Movie" not in titles
    assert len(second) == 4
    assert {i.title for i in third} == titles - {"Second Movie"}  # a removal forces a full pass
    assert mode3 == "mixed"


@pytest.mark.parametrize("failure", ["401", "500", "html", "json-junk", "slow", "down"])
def test_failed_scan_keeps_items_and_says_why(product: Product, tmp_path: Path,
                                              failure: str) -> None:
    # Generous enough that the healthy first scan answers on a loaded machine.
    source = product.source(tmp_path, timeout=3)
    bus = source.context.bus
    events: list[Any] = []
    bus.subscribe(events.append)
    library = Library(bus)
    library.add_source(source)
    expected = {"401": "rejected the credentials (HTTP 401)", "500": "answered HTTP 500",
                "html": "not JSON (text/html", "slow": "did not answer within 3s",
                "down": "cannot reach", "json-junk": "MediaContainer" if product.name == "plex"
                else "lists no movie or show libraries"}[failure]

    async def scenario() -> tuple[Any, Any, Any]:
        ok = await library.scan(product.name)
        assert ok.state == "ok" and ok.items == 4
        if failure == "down":
            product.fake.stop()
        else:
            product.fake.fail = failure
            product.fake.slow_seconds = 6
        bad = await library.scan(product.name)
        bad_copy = (bad.state, bad.error, len(library.collection(product.name)))
        await source.close()
        return ok, bad_copy, [e for e in events if isinstance(e, HealthEvent)]

    _, (state, error, kept), health = run(scenario())
    assert state == "error" and expected in (error or ""), error
    assert kept == 4  # no library wipe
    assert SECRET not in (error or "")
    assert health and health[-1].status == "error" and health[-1].component == \
        f"source:{product.name}"


def test_recovers_after_failure(product: Product, tmp_path: Path) -> None:
    source = product.source(tmp_path)
    library = Library(source.context.bus)
    library.add_source(source)

    async def scenario() -> list[str]:
        states = []
        product.fake.fail = "500"
        states.append((await library.scan(product.name)).state)
        product.fake.fail = None
        states.append((await library.scan(product.name)).state)
        states.append(str(len(library.collection(f"{product.name}:show:Test Show"))))
        await source.close()
        return states

    assert run(scenario()) == ["error", "ok", "2"]


def test_refresh_location_uses_current_token(product: Product, tmp_path: Path) -> None:
    old = product.source(tmp_path)
    items = run(scan_once(old))
    pilot = next(i for i in items if i.title == "Pilot")
    product.fake.secret = "rotated-token-77aa"  # the server now rejects the old token
    assert httpx.get(pilot.location, headers=old.fetch_headers(pilot.location)).status_code == 401
    # A config edit gives the source the new token (hot reload builds it anew).
    raw = {"url": product.fake.url, product.secret_key: "rotated-token-77aa"}
    config = SourceConfig(product.name, product.name, vol.Schema(product.module.SCHEMA)(raw))
    fresh: RemoteSource = product.module.factory(config, old.context)
    events: list[Any] = []
    fresh.context.bus.subscribe(events.append)

    async def refresh() -> str:
        try:
            return await fresh.refresh_location(pilot)
        finally:
            await fresh.close()

    location = run(refresh())
    assert "rotated-token-77aa" not in location and SECRET not in location
    headers = {"Range": "bytes=0-99", **(fresh.fetch_headers(location) or {})}
    assert httpx.get(location, headers=headers).status_code == 206
    assert any(isinstance(e, HealthEvent) and e.status == "ok" for e in events)
    # With a token the server rejects, refreshing fails with the reason and an event.
    async def refresh_old() -> None:
        try:
            await old.refresh_location(pilot)
        finally:
            await old.close()

    old_events: list[Any] = []
    old.context.bus.subscribe(old_events.append)
    with pytest.raises(RemoteError, match="rejected the credentials"):
        run(refresh_old())
    assert any(isinstance(e, HealthEvent) and e.status == "error" for e in old_events)


def test_path_replacements_read_local_files(product: Product, tmp_path: Path,
                                            clips: Path) -> None:
    for library in product.fake.libraries:
        for item in library.items:
            item.server_path = f"/srv/media/{item.file.name}"
    source = product.source(tmp_path, path_replacements=[
        {"from": "/nowhere", "to": "/tmp"}, {"from": "/srv/media/", "to": str(clips)}])
    items = run(scan_once(source))
    assert all(i.location == str(clips / Path(i.location).name) for i in items)
    assert all(Path(i.location).is_file() for i in items)


def test_secret_filter_masks_tokens_in_log_lines(product: Product, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    product.source(tmp_path)  # registers the secret
    record = logging.LogRecord("ffmpeg", logging.WARNING, __file__, 1,
                               "%s: Server returned 401", (f"http://x/a?X-Plex-Token={SECRET}",),
                               None)
    SecretFilter().filter(record)
    assert SECRET not in record.getMessage() and "X-Plex-Token=***" in record.getMessage()


def multi_stream_clip(folder: Path) -> Path:
    """Video, English (default) and French audio, a forced French SRT subtitle, in MKV."""
    srt = folder / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,500\nBonjour\n")
    out = folder / "multi.mkv"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000", "-i", str(srt),
         "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-t", "2",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac:a:0", "2", "-ac:a:1", "6",
         "-c:s", "srt", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre",
         "-metadata:s:a:1", "title=Version française", "-metadata:s:s:0", "language=fre",
         "-disposition:a:0", "default", "-disposition:a:1", "0",
         "-disposition:s:0", "forced", str(out)],
        check=True, timeout=60,
    )
    return out


def test_streams_carry_languages_channels_and_dispositions(product: Product,
                                                           tmp_path: Path) -> None:
    clip = multi_stream_clip(tmp_path)
    for library in product.fake.libraries:
        for item in library.items:
            item.file = clip
    items = run(scan_once(product.source(tmp_path)))
    info = items[0].info
    assert info is not None
    audio = [(s.index, s.language, s.channels, s.default) for s in info.audio_streams]
    assert audio == [(1, "eng", 2, True), (2, "fre", 6, False)]
    assert info.audio_streams[1].title == "Version française"
    (sub,) = info.subtitle_streams
    assert (sub.index, sub.codec, sub.language, sub.forced, sub.is_text_subtitle) == \
        (3, "subrip", "fre", True, True)


def test_unknown_library_names_fail_the_scan(product: Product, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="lists no movie or show libraries named Cartoons"):
        run(scan_once(product.source(tmp_path, libraries=["Cartoons"])))


def test_libraries_selected_by_id(product: Product, tmp_path: Path) -> None:
    key = product.fake.libraries[0].key
    items = run(scan_once(product.source(tmp_path, libraries=[key])))
    assert {i.metadata["library"] for i in items} == {"Movies"}


def test_sidecar_subtitles_are_subtitle_streams(product: Product, tmp_path: Path) -> None:
    """A server's external subtitle file is a stream the pickers can choose, at a URL
    without the secret that answers with the file when the source's headers are sent."""
    clip = multi_stream_clip(tmp_path)
    srt = tmp_path / "It's a movie.en.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,500\nHello\n")
    for library in product.fake.libraries:
        for item in library.items:
            item.file = clip
            item.subtitles = (FakeSubtitle(srt, "eng", "srt", forced=False),)
    source = product.source(tmp_path)
    items = run(scan_once(source))
    info = items[0].info
    assert info is not None
    embedded, sidecar = info.subtitle_streams
    assert embedded.external_path is None and embedded.index == 3
    assert (sidecar.index, sidecar.codec, sidecar.language, sidecar.is_text_subtitle) == \
        (4, "srt", "eng", True)
    url = sidecar.external_path
    assert url is not None and url.startswith(product.fake.url) and SECRET not in url
    headers = source.fetch_headers(url)
    assert headers, "the source does not vouch for its own subtitle URL"
    assert httpx.get(url, headers=headers).text == srt.read_text()
    assert httpx.get(url).status_code == 401


def test_hdr_dolby_vision_and_interlacing_come_from_the_server(product: Product,
                                                                tmp_path: Path) -> None:
    """What the server says of the picture (its colour transfer, Dolby Vision record,
    interlacing) reaches the planner, so a media server's HDR10, Dolby Vision and
    interlaced items are tone-mapped and deinterlaced like local ones."""
    interlaced = tmp_path / "interlaced.mkv"
    subprocess.run([ffmpeg_bin(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=50",
                    "-t", "1", "-vf", "interlace=scan=tff", "-c:v", "libx264", "-flags",
                    "+ildct+ilme", "-x264opts", "tff=1", str(interlaced)], check=True, timeout=60)
    files = [dolby_vision("8.1"), interlaced]
    for library in product.fake.libraries:
        for n, item in enumerate(library.items):
            item.file = files[n % len(files)]
    items = run(scan_once(product.source(tmp_path)))
    videos = [i.info.video_streams[0] for i in items if i.info and i.info.video_streams]
    kinds = {(v.dynamic_range.value, v.dolby_vision, v.interlaced) for v in videos}
    # Emby's MediaStream does not carry the Dolby Vision record: its base layer's PQ tags
    # are what it says, which plays the same way.
    dovi = None if isinstance(product.fake, FakeEmby) else "8.1"
    assert ("pq", dovi, False) in kinds, kinds
    assert ("sdr", None, True) in kinds, kinds
