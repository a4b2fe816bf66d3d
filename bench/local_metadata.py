"""Local metadata at scale, and artwork served from cache.

1. A library of 20,000 media files laid out as Sonarr and Radarr lay it out (shows with
   tvshow.nfo, posters, fanart and season posters; episodes each with an NFO and a thumb;
   movies each in a folder with movie.nfo and a poster), scanned by the local source:
   cold (every NFO read, every name parsed, every image header checked) and unchanged
   (the rescan), each against a plain directory walk of the same tree. Probing is left
   out (the media files are empty; bench/probe.py measures probing), so the numbers are
   the metadata work alone. CPU seconds, as in the other benchmarks.
2. Artwork requests per second from the disk cache through a real server (one keep-alive
   client), against ``/discover.json`` on the same server.

    python bench/local_metadata.py [--files 20000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, result, timed

sys.path.insert(0, str(ROOT))
from exstreamtv_plugins.sources.local import DEFAULT_EXTENSIONS, LocalSource
from PIL import Image

from exstreamtv.config.model import SourceConfig
from exstreamtv.events import EventBus
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.media.models import MediaInfo, StreamInfo
from exstreamtv.media.source import SourceContext
from tests.helpers import Server, base_config, channel, clips_folder, write_config

EPISODE_NFO = ("<episodedetails><title>Episode {e}</title><showtitle>Show {s}</showtitle>"
               "<season>{season}</season><episode>{e}</episode><plot>Plot of {e}.</plot>"
               "<aired>2010-01-01</aired><runtime>22</runtime></episodedetails>")


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 180), (90, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def build(root: Path, files: int) -> None:
    """``files`` media files: three quarters episodes (25 per season, 4 seasons a show)."""
    image = jpeg()
    episodes = files * 3 // 4
    shows = max(1, episodes // 100)
    for s in range(shows):
        show = root / "TV" / f"Show {s} (2010)"
        show.mkdir(parents=True)
        (show / "tvshow.nfo").write_text(f"<tvshow><title>Show {s}</title><genre>Drama</genre>"
                                         "<mpaa>TV-14</mpaa></tvshow>")
        for name in ("poster.jpg", "fanart.jpg"):
            (show / name).write_bytes(image)
        for season in range(1, 5):
            (show / f"season{season:02d}-poster.jpg").write_bytes(image)
            folder = show / f"Season {season:02d}"
            folder.mkdir()
            for e in range(1, 26):
                stem = f"Show {s} - S{season:02d}E{e:02d} - Episode {e}"
                (folder / f"{stem}.mkv").write_bytes(b"")
                (folder / f"{stem}.nfo").write_text(EPISODE_NFO.format(s=s, season=season, e=e))
                (folder / f"{stem}-thumb.jpg").write_bytes(image)
    for m in range(files - shows * 100):
        folder = root / "Movies" / f"Movie {m} ({1950 + m % 70})"
        folder.mkdir(parents=True)
        (folder / f"Movie {m} ({1950 + m % 70}).mkv").write_bytes(b"")
        (folder / "movie.nfo").write_text(f"<movie><title>Movie {m}</title><year>1999</year>"
                                          "<genre>Comedy</genre></movie>")
        (folder / "poster.jpg").write_bytes(image)


def plain_walk(root: Path) -> int:
    """The baseline: every media file under ``root`` by extension, nothing more."""
    extensions = set(DEFAULT_EXTENSIONS)
    count = 0
    for _dirpath, _dirs, names in os.walk(root):
        count += sum(1 for n in names if os.path.splitext(n)[1].lower() in extensions)
    return count


def scan_benchmark(files: int) -> None:
    info = MediaInfo("x", 1320.0, "matroska", None,
                     (StreamInfo(0, "video", "h264"), StreamInfo(1, "audio", "aac")))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "library"
        started = time.monotonic()
        build(root, files)
        print(f"built {files} media files and their sidecars in {time.monotonic() - started:.1f} s")
        tools = FFmpegTools("ffmpeg", None, "bench", "PATH")
        source = LocalSource(SourceConfig("lib", "local", {"path": str(root)}),
                             SourceContext(tools, Path(tmp), EventBus()))

        def cold() -> int:
            source._known.clear()
            _unchanged, todo = source._plan()
            return len(source._describe([(path, sidecars, info) for path, sidecars, _ in todo]))

        def unchanged() -> int:
            items, todo = source._plan()
            assert not todo
            return len(items)

        walk_time, walked = timed(lambda: plain_walk(root), repeat=3)
        cold_time, described = timed(cold, repeat=2)
        rescan_time, kept = timed(unchanged, repeat=3)
        assert walked == described == kept == files, (walked, described, kept)
        print(f"plain walk {walk_time:.2f} s, cold metadata scan {cold_time:.2f} s, "
              f"unchanged rescan {rescan_time:.2f} s (CPU)")
        result(f"local metadata, cold scan of {files} files", f"{cold_time:.2f} s",
               f"walk {walk_time:.2f} s", cold_time / walk_time, "NFO + names + artwork; no probe")
        result(f"local metadata, unchanged rescan of {files} files", f"{rescan_time:.2f} s",
               f"walk {walk_time:.2f} s", rescan_time / walk_time, "stat of media and sidecars")


def rps(client: httpx.Client, url: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        answer = client.get(url)
        assert answer.status_code == 200, answer.status_code
    return count / (time.perf_counter() - started)


def artwork_benchmark(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        media = folder / "media" / "Movie (1999)"
        media.mkdir(parents=True)
        clip = clips_folder("basic", 1, 4.0) / "clip-01.mp4"
        (media / "Movie (1999).mp4").write_bytes(clip.read_bytes())
        Image.new("RGB", (1000, 1500), (20, 90, 160)).save(media / "poster.jpg", "JPEG")
        config = base_config(folder, folder / "media",
                             channels=[channel(1, "Movies", "clips")],
                             rate_limit={"enabled": False})
        with Server(write_config(folder / "c.yaml", config)) as server, httpx.Client(
                base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 120
            url = None
            while url is None and time.monotonic() < deadline:
                now = client.get("/api/channels/1").json().get("now") or {}
                url = (now.get("programme") or {}).get("icon")
                time.sleep(0.2)
            assert url, "the movie has no icon"
            path = url[url.index("/artwork/"):]
            client.get(path)  # resized once, then served from the cache
            ours = rps(client, path, requests)
            baseline = rps(client, "/discover.json", requests)
        print(f"artwork from cache {ours:.0f} req/s, /discover.json {baseline:.0f} req/s")
        result("artwork requests from cache", f"{ours:.0f} req/s",
               f"/discover.json {baseline:.0f} req/s", ours / baseline,
               "one keep-alive client; 480 px JPEG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    scan_benchmark(args.files)
    artwork_benchmark(args.requests)


if __name__ == "__main__":
    main()
