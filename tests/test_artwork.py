"""Artwork served by ExStreamTV: stable URLs, resized, cached with a bound, never a 500."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from exstreamtv.media.artwork import ArtworkCache, ArtworkError, pick_width, resize
from tests.fakes.base import catalogue
from tests.fakes.emby import FakeEmby
from tests.fakes.jellyfin import FakeJellyfin
from tests.fakes.jellyfin import guid as jelly_guid
from tests.fakes.plex import FakePlex
from tests.helpers import MEDIA_CACHE, channel, ffmpeg_bin, make_clip
from tests.library_layout import build_library, image

TOKEN = "plexTOKEN-artwork-5f3e"
BASE = "http://tv.example:8409"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` pixels in a few bytes (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("data", [
    b"", b"not an image at all", b"\xff\xd8\xff\xe0garbage-jpeg", _png_header_only(30000, 30000),
    _png_header_only(200_000, 1),
])
def test_corrupt_enormous_or_non_images_are_refused(data):
    with pytest.raises(ArtworkError):
        resize(data, 320)


def test_resize_keeps_aspect_and_transparency():
    out = io.BytesIO()
    Image.new("RGB", (1000, 1500), "blue").save(out, "JPEG")
    body, kind = resize(out.getvalue(), 320)
    assert kind == "image/jpeg" and Image.open(io.BytesIO(body)).size == (320, 480)
    out = io.BytesIO()
    Image.new("RGBA", (400, 200), (0, 0, 0, 0)).save(out, "PNG")
    body, kind = resize(out.getvalue(), 160)
    assert kind == "image/png" and Image.open(io.BytesIO(body)).size == (160, 80)


def test_widths_are_rounded_to_a_few_sizes():
    assert [pick_width(w) for w in (None, "x", 1, 300, 481, 99999)] == [480, 480, 80, 320, 640, 1280]


def test_cache_stays_within_its_bound(tmp_path):
    cache = ArtworkCache(tmp_path / "cache", max_bytes=50_000, memory_bytes=20_000)
    for n in range(40):
        cache.put(ArtworkCache.key(f"file:{n}", 320), b"x" * 2000, "image/jpeg")
        cache.put(ArtworkCache.key(f"file:{n}", 640), b"y" * 2000, "image/jpeg")
    assert cache.size() <= 50_000
    in_memory = [cache.recent(ArtworkCache.key(f"file:{n}", w)) for n in range(40)
                 for w in (320, 640)]
    assert 0 < sum(len(r.data) for r in in_memory if r) <= 20_000
    last = ArtworkCache.key("file:39", 320)
    assert cache.get(last) is not None  # the newest survive
    assert cache.get(ArtworkCache.key("file:0", 320)) is None  # the oldest went


def _scanned(server: Any, source: str = "lib") -> bool:
    states = {s["id"]: s.get("state") for s in server.get("/api/sources").json()}
    return states.get(source) == "ok"


def _local(url: str, _server: Any) -> str:
    return url.replace(BASE, "")


def test_every_icon_in_m3u_and_xmltv_is_served(make_server, config_for, tmp_path):
    root = build_library(tmp_path / "library")
    logo = image(tmp_path / "config-logos" / "one.png", "white", "400x400")
    config = config_for(
        sources=[{"id": "lib", "type": "local", "path": str(root)}],
        channels=[channel(1, "Library", "lib", logo=str(logo)),
                  channel(2, "Remote logo", "lib", logo="http://img.example/two.png")],
        guide={"days_ahead": 1})
    config["server"]["base_url"] = BASE
    server = make_server(config)
    server.wait_for(lambda: _scanned(server), timeout=180)
    m3u = server.get("/api/channels.m3u").text
    assert f'tvg-logo="{BASE}/artwork/channels/1"' in m3u
    assert 'tvg-logo="http://img.example/two.png"' in m3u
    guide = ET.fromstring(server.get("/api/xmltv.xml").content)
    icons = {i.get("src") for i in guide.iter("icon")}
    ours = {u for u in icons if u.startswith(BASE)}
    assert f"{BASE}/artwork/channels/1" in ours
    items = {u for u in ours if "/artwork/items/" in u}
    assert len(items) >= 4, icons  # pilot thumb, the show's episodes' posters, the movie poster
    for url in sorted(ours):
        answer = server.get(_local(url, server))
        assert answer.status_code == 200, (url, answer.text)
        assert answer.headers["content-type"] in ("image/jpeg", "image/png")
        Image.open(io.BytesIO(answer.content)).verify()
        etag = answer.headers["etag"]
        assert "max-age" in answer.headers["cache-control"]
        again = server.get(_local(url, server), headers={"If-None-Match": etag})
        assert again.status_code == 304
    logo_answer = server.get("/artwork/channels/1?w=160")
    assert Image.open(io.BytesIO(logo_answer.content)).size == (160, 160)
    summary = server.get("/api/channels/1").json()
    assert summary["logo_url"] == f"{BASE}/artwork/channels/1"
    assert any((tmp_path / "data" / "artwork").iterdir())  # resized copies on disk


def test_unknown_ids_bad_files_and_paths_outside_the_library_are_404(make_server, config_for,
                                                                     tmp_path):
    root = build_library(tmp_path / "library")
    config = config_for(sources=[{"id": "lib", "type": "local", "path": str(root)}],
                        channels=[channel(1, "Library", "lib", logo="/etc/passwd"),
                                  channel(2, "No logo", "lib")])
    server = make_server(config)
    server.wait_for(lambda: _scanned(server), timeout=180)
    guide = server.get("/api/xmltv.xml").text
    ids = set(re.findall(r"/artwork/items/([^/\"]+)/", guide))
    statuses = {server.get(f"/artwork/items/{i}/{kind}").status_code
                for i in ids for kind in ("thumb", "poster", "fanart", "banner")}
    assert statuses <= {200, 404}, statuses
    for path in ("/artwork/items/nope/thumb", "/artwork/items/nope/../../etc/passwd",
                 "/artwork/items/..%2F..%2Fetc%2Fpasswd/thumb", "/artwork/channels/1",
                 "/artwork/channels/2", "/artwork/channels/99"):
        answer = server.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        if answer.headers.get("content-type", "").startswith("application/json"):
            assert "error" in answer.json()
    # A poster that turns corrupt or enormous after the scan: 404, never a 500.
    cafe = root / "Movies" / "Cafe Society (1999)" / "poster.jpg"
    poster_id = next(i for i in ids if server.get(f"/artwork/items/{i}/poster").status_code == 200
                     and server.get(f"/artwork/items/{i}/thumb").status_code == 404
                     and server.get(f"/artwork/items/{i}/fanart").status_code == 404)
    for bad in (b"not an image", _png_header_only(30000, 30000), b"\xff\xd8\xff" + b"\0" * 99):
        cafe.write_bytes(bad)
        answer = server.get(f"/artwork/items/{poster_id}/poster")
        assert answer.status_code == 404, answer.text
    cafe.unlink()
    cafe.symlink_to("/etc/passwd")
    assert server.get(f"/artwork/items/{poster_id}/poster").status_code == 404
    # A rescan leaves out artwork that is not an image or lies outside the library.
    assert server.post("/api/sources/lib/scan", timeout=120).status_code == 200
    guide = server.get("/api/xmltv.xml").text
    assert f"/artwork/items/{poster_id}/" not in guide
    assert server.get("/api/health").status_code == 200
    assert "Traceback" not in server.log


@pytest.fixture(params=["plex", "jellyfin", "emby"])
def remote(request: pytest.FixtureRequest, clips: Path):
    if request.param == "plex":
        fake: FakePlex | FakeJellyfin = FakePlex(TOKEN, catalogue(clips)).start()
        source = {"id": "remote", "type": "plex", "url": fake.url, "token": "${MEDIA_TOKEN}"}
    elif request.param == "emby":
        fake = FakeEmby(TOKEN, catalogue(clips, jelly_guid("movies"),
                                         jelly_guid("shows"))).start()
        source = {"id": "remote", "type": "emby", "url": fake.url, "api_key": "${MEDIA_TOKEN}"}
    else:
        fake = FakeJellyfin(TOKEN, catalogue(clips, jelly_guid("movies"),
                                             jelly_guid("shows"))).start()
        source = {"id": "remote", "type": "jellyfin", "url": fake.url,
                  "api_key": "${MEDIA_TOKEN}"}
    yield fake, source
    fake.stop()


def test_media_server_artwork_is_fetched_with_the_token_never_shown(remote, make_server,
                                                                     config_for):
    fake, source = remote
    config = config_for(sources=[source], channels=[channel(1, "Remote", "remote")],
                        guide={"days_ahead": 1})
    server = make_server(config, env={"MEDIA_TOKEN": TOKEN})
    server.wait_for(lambda: _scanned(server, "remote"), timeout=180)
    guide = server.get("/api/xmltv.xml").text
    m3u = server.get("/api/channels.m3u").text
    api = server.get("/api/channels/1").text
    for text in (guide, m3u, api):
        assert TOKEN not in text
    icons = set(re.findall(r'<icon src="([^"]+/artwork/items/[^"]+)"', guide))
    assert icons, "programmes of a media server have icons served by ExStreamTV"
    assert not re.search(r'<icon src="' + re.escape(fake.url), guide)
    for url in sorted(icons)[:3]:
        path = url[url.index("/artwork/"):]
        answer = server.get(path)
        assert answer.status_code == 200, answer.text
        assert Image.open(io.BytesIO(answer.content)).size[0] <= 480
        assert TOKEN.encode() not in answer.content
    assert TOKEN not in server.log


def test_a_cover_embedded_in_the_file_is_its_poster(make_server, config_for, tmp_path):
    folder = tmp_path / "covers"
    cover = image(tmp_path / "cover.jpg", "orange", "200x300")
    plain = folder / "Plain (2001).mp4"
    plain.parent.mkdir(parents=True)
    shutil.copy(make_clip(MEDIA_CACHE / "library" / "two-seconds.mp4", 2.0), plain)
    subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(plain),
                    "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy",
                    "-disposition:v:1", "attached_pic", str(folder / "Covered (2003).mp4")],
                   check=True)
    config = config_for(sources=[{"id": "lib", "type": "local", "path": str(folder)}],
                        channels=[channel(1, "Covers", "lib")], guide={"days_ahead": 1})
    server = make_server(config)
    server.wait_for(lambda: _scanned(server), timeout=180)
    guide = ET.fromstring(server.get("/api/xmltv.xml").content)
    icons = {p.findtext("title"): p.find("icon") for p in guide.iter("programme")}
    assert icons["Plain"] is None
    src = icons["Covered"].get("src")
    answer = server.get(src[src.index("/artwork/"):] + "?w=80")
    assert answer.status_code == 200, answer.text
    picture = Image.open(io.BytesIO(answer.content))
    assert picture.size == (80, 120)
    assert picture.convert("RGB").getpixel((40, 60))[0] > 200  # orange, the cover
