"""What the fake media servers share: the catalogue, file serving with Range, a thread runner.

A fake holds :class:`FakeLibrary` objects of :class:`FakeItem` records (a real media file
each, probed once with ffprobe) and renders them in its product's wire format. Knobs make
it misbehave the way real servers do: ``fail`` = ``"401"`` | ``"500"`` | ``"html"`` |
``"json-junk"`` (JSON of the wrong shape) | ``"slow"``; every request is recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@lru_cache(maxsize=64)
def probe_streams(path: str) -> tuple[float, tuple[dict[str, Any], ...]]:
    """(duration seconds, ffprobe streams) of a media file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
        capture_output=True, check=True, timeout=30,
    )
    data = json.loads(out.stdout)
    return float(data["format"]["duration"]), tuple(data["streams"])


@dataclass(frozen=True)
class FakeSubtitle:
    """A subtitle file next to an item's media file (the server lists it as an external stream)."""

    file: Path
    language: str = "eng"
    codec: str = "srt"  # as the server names it: srt | ass | subrip ...
    forced: bool = False
    server_path: str | None = None  # the path the server reports (default: file)

    @property
    def path(self) -> str:
        return self.server_path or str(self.file)


@dataclass
class FakeItem:
    """A movie or an episode: its file, metadata and change time."""

    id: str
    title: str
    file: Path
    kind: str = "movie"  # movie | episode
    show: str | None = None
    season: int | None = None
    episode: int | None = None
    year: int = 2020
    summary: str = ""
    genres: tuple[str, ...] = ()
    rating: str = "PG"
    updated: int = 1_700_000_000
    duration: float | None = None
    streams: tuple[dict[str, Any], ...] | None = None
    server_path: str | None = None  # the path the server reports (default: file)
    subtitles: tuple[FakeSubtitle, ...] = ()
    chapters: tuple[float, ...] = ()  # where chapters start after the first, seconds

    def probed(self) -> tuple[float, tuple[dict[str, Any], ...]]:
        if self.duration is not None and self.streams is not None:
            return self.duration, self.streams
        duration, streams = probe_streams(str(self.file))
        return (self.duration or duration), (self.streams or streams)

    @property
    def path(self) -> str:
        return self.server_path or str(self.file)


@dataclass
class FakeLibrary:
    key: str
    name: str
    kind: str  # movie | show
    items: list[FakeItem] = field(default_factory=list)


class FakeServer:
    """A fake media server on a free port, served from a thread."""

    def __init__(self, secret: str, libraries: list[FakeLibrary]) -> None:
        self.secret = secret
        self.libraries = libraries
        self.fail: str | None = None
        self.slow_seconds = 5.0
        self.requests: list[str] = []
        self.file_requests: list[tuple[str, str | None]] = []
        self._server: ThreadingHTTPServer | None = None
        self.connections: set[Any] = set()
        #: Benchmark speed-up: rendered records and filtered lists, when not None.
        self.cache: dict[Any, dict[str, Any]] | None = None
        self.lists: dict[Any, Any] = {}

    # -- to implement --
    def handle(self, handler: Handler, path: str, query: dict[str, str]) -> None:
        raise NotImplementedError

    # -- helpers --
    def item(self, item_id: str) -> FakeItem | None:
        for library in self.libraries:
            for item in library.items:
                if item.id == item_id:
                    return item
        return None

    def library(self, key: str) -> FakeLibrary | None:
        return next((lib for lib in self.libraries if lib.key == key), None)

    def start(self, port: int = 0) -> FakeServer:
        fake = self

        class BoundHandler(Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", port), BoundHandler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening and drop open connections (a server that went down)."""
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(2)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Handler(BaseHTTPRequestHandler):
    """Dispatches to the fake; answers JSON, errors and files (with Range)."""

    protocol_version = "HTTP/1.1"
    server_fake: FakeServer

    def setup(self) -> None:
        super().setup()
        self.server_fake.connections.add(self.connection)

    def finish(self) -> None:
        self.server_fake.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fake = self.server_fake
        fake.requests.append(self.path)
        if fake.fail == "slow" and not parts.path.startswith(("/library/parts", "/Videos")):
            time.sleep(fake.slow_seconds)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            fake.handle(self, parts.path, query)

    def send_json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_body(body, "application/json; charset=utf-8", status)

    def send_body(self, body: bytes, kind: str | None, status: int) -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_file(self, path: Path, kind: str = "video/mp4") -> None:
        """The file, honouring ``Range: bytes=a-b`` (ffmpeg seeks with ranges)."""
        self.server_fake.file_requests.append((str(path), self.headers.get("Range")))
        size = os.path.getsize(path)
        start, end = 0, size - 1
        match = re.match(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        status = 200
        if match and (match.group(1) or match.group(2)):
            if match.group(1):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else size - 1
            else:
                start = max(0, size - int(match.group(2)))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(end, size - 1)
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = f.read(min(65536, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def fail_now(self, unauthorized: tuple[bytes, str | None]) -> bool:
        """Answer a configured failure; True when the request was answered."""
        fail = self.server_fake.fail
        if fail == "401":
            self.send_body(unauthorized[0], unauthorized[1], 401)
        elif fail == "500":
            self.send_body(b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                           "text/html", 500)
        elif fail == "html":
            self.send_body(b"<!DOCTYPE html><html><head><title>Router login</title></head>"
                           b"<body>Please log in</body></html>", "text/html; charset=utf-8", 200)
        elif fail == "json-junk":
            self.send_json({"status": "maintenance", "message": "come back later"})
        else:
            return False
        return True


def catalogue(clips: Path, movies_key: str = "1", shows_key: str = "2") -> list[FakeLibrary]:
    """Two libraries over the test clips: two movies, and two episodes of one show."""
    files = sorted(clips.glob("*.mp4"))
    movies = FakeLibrary(movies_key, "Movies", "movie", [
        FakeItem(id="101", title="First Movie", file=files[0], year=1999, genres=("Drama",),
                 summary="A first test movie.", updated=1_700_000_100),
        FakeItem(id="102", title="Second Movie", file=files[1], year=2004,
                 genres=("Comedy", "Drama"), summary="A second test movie.",
                 updated=1_700_000_200),
    ])
    shows = FakeLibrary(shows_key, "TV Shows", "show", [
        FakeItem(id="201", title="Pilot", file=files[2], kind="episode", show="Test Show",
                 season=1, episode=1, genres=("Sci-Fi",), summary="It begins.",
                 updated=1_700_000_300),
        FakeItem(id="202", title="Second Episode", file=files[0], kind="episode",
                 show="Test Show", season=1, episode=2, genres=("Sci-Fi",),
                 summary="It goes on.", updated=1_700_000_400),
    ])
    return [movies, shows]


def poster_jpeg(width: int = 200, height: int = 300) -> bytes:
    """A small real JPEG, as a media server serves artwork."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()
