"""Shared bench helpers: a real server on small test media, stream readers, /proc stats."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import Server, base_config, clips_folder, write_config  # noqa: E402


def start_server(**sections: object) -> Server:
    """A real ``exstreamtv serve`` on the three 4-second test clips."""
    tmp = Path(tempfile.mkdtemp(prefix="exstreamtv-bench-"))
    config = base_config(tmp, clips_folder("basic", 3, 4.0), **sections)
    return Server(write_config(tmp / "exstreamtv.yaml", config)).start()


def first_keyframe_offset(data: bytes) -> int | None:
    """Offset of the first TS packet with the random-access indicator set, if any."""
    for i in range(0, len(data) - 187, 188):
        if data[i] == 0x47 and data[i + 3] & 0x20 and data[i + 4] > 0 and data[i + 5] & 0x40:
            return i
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def http_stream(host: str, port: int, path: str) -> tuple[asyncio.StreamReader,
                                                                asyncio.StreamWriter]:
    """Open a GET and skip the response headers."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


class Counter:
    """Reads a stream as fast as it comes, counting bytes with timestamps."""

    def __init__(self) -> None:
        self.total = 0
        self.marks: list[tuple[float, int]] = []

    async def run(self, host: str, port: int, path: str, seconds: float) -> None:
        reader, writer = await http_stream(host, port, path)
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                data = await reader.read(65536)
                if not data:
                    break
                self.total += len(data)
                self.marks.append((time.monotonic(), self.total))
        finally:
            writer.close()

    def between(self, t0: float, t1: float) -> int:
        before = max((n for t, n in self.marks if t <= t0), default=0)
        upto = max((n for t, n in self.marks if t <= t1), default=0)
        return upto - before


def table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
