"""Benchmark: syncing a 50,000-item library from a fake Plex or Jellyfin server.

The fake runs in a subprocess (its memory is not counted). Measured in this process:

* naive: one request for the whole library, parsed and turned into items in one go
  (the baseline: what a sync without paging does);
* full: the source's first scan, page by page (``page_size`` items per request);
* incremental: the next scan, which asks only for changes (here: none changed, so only the
  items at the newest-change watermark come back), plus one count request per library.

Naive and full+incremental each run in a fresh process: time is wall-clock, peak memory
is the growth of the process's peak RSS during the phase (the items kept plus the
transient JSON); the incremental scan's memory is tracemalloc's peak (a small number
that RSS cannot resolve after the full scan).
Prints one ratio line per product. Usage: ``python bench/source_sync.py [--items N]
[--product plex|jellyfin|both] [--page-size N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import voluptuous as vol  # noqa: E402
from common import result  # noqa: E402
from exstreamtv_plugins.sources import jellyfin, plex  # noqa: E402

from exstreamtv.config.model import SourceConfig  # noqa: E402
from exstreamtv.events import EventBus  # noqa: E402
from exstreamtv.ffmpeg.locate import FFmpegTools  # noqa: E402
from exstreamtv.media.remote import RemoteSource  # noqa: E402
from exstreamtv.media.source import SourceContext  # noqa: E402
from tests.helpers import clips_folder  # noqa: E402

SECRETS = {"plex": ("token", "bench-token"), "jellyfin": ("api_key", "bench-key")}


def start_fake(product: str, items: int, file: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", f"tests.fakes.{product}", str(file), "--items", str(items)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake {product} server did not start")
    return proc, url


def make_source(product: str, url: str, page_size: int) -> RemoteSource:
    module = plex if product == "plex" else jellyfin
    key, secret = SECRETS[product]
    options = vol.Schema(module.SCHEMA)({"url": url, key: secret, "page_size": page_size})
    context = SourceContext(FFmpegTools("ffmpeg", None, "-", "-"), Path("/tmp"), EventBus())
    source: RemoteSource = module.factory(SourceConfig(product, product, options), context)
    return source


async def naive(product: str, url: str) -> int:
    """One request for everything, parsed whole, converted whole."""
    source = make_source(product, url, 1)
    library = (await source.libraries())[0]
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        if product == "plex":
            answer = await client.get(f"/library/sections/{library.key}/all",
                                      params={"type": 1}, headers=source.headers())
            records = answer.json()["MediaContainer"]["Metadata"]
            items = [source.item(library, r) for r in records]  # type: ignore[attr-defined]
        else:
            answer = await client.get("/Items", headers=source.headers(), params={
                "ParentId": library.key, "Recursive": "true",
                "IncludeItemTypes": "Movie,Episode", "Fields": jellyfin.FIELDS})
            records = answer.json()["Items"]
            items = [source.item(library, r) for r in records]  # type: ignore[attr-defined]
    await source.close()
    return sum(1 for i in items if i)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def phase(product: str, url: str, page_size: int, name: str) -> dict[str, Any]:
    """One phase in this (fresh) process: time, and the peak RSS growth it caused."""
    gc.collect()
    before = rss_mb()
    row: dict[str, Any] = {}
    cpu = cpu_seconds()
    if name == "naive":
        started = time.perf_counter()
        row["items"] = await naive(product, url)
        row["seconds"] = time.perf_counter() - started
        row["cpu"] = cpu_seconds() - cpu
        row["peak_mb"] = rss_mb() - before
        return row
    source = make_source(product, url, page_size)
    started = time.perf_counter()
    items = await source.scan()
    row["seconds"] = time.perf_counter() - started
    row["cpu"] = cpu_seconds() - cpu
    row["peak_mb"] = rss_mb() - before
    row["items"] = len(items)
    del items
    gc.collect()
    started = time.perf_counter()
    row["incremental_items"] = len(await source.scan())
    row["incremental_seconds"] = time.perf_counter() - started
    row["incremental_fetched"] = source.last_sync["fetched"]
    row["incremental_requests"] = source.last_sync["requests"]
    tracemalloc.start()
    await source.scan()
    row["incremental_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    await source.close()
    return row


def run_phase(product: str, url: str, page_size: int, name: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--url", url, "--product", product,
         "--page-size", str(page_size)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench(product: str, items: int, page_size: int, file: Path) -> None:
    proc, url = start_fake(product, items, file)
    try:
        base = run_phase(product, url, page_size, "naive")
        sync = run_phase(product, url, page_size, "full")
    finally:
        proc.kill()
        proc.wait()
    print(f"{product:8s} naive        {base['items']:6d} items  {base['seconds']:7.2f} s  "
          f"(client CPU {base['cpu']:5.2f} s)  peak RSS +{base['peak_mb']:6.1f} MB  (one request, whole JSON at once)")
    print(f"{product:8s} full         {sync['items']:6d} items  {sync['seconds']:7.2f} s  "
          f"(client CPU {sync['cpu']:5.2f} s)  peak RSS +{sync['peak_mb']:6.1f} MB  (pages of {page_size})")
    print(f"{product:8s} incremental  {sync['incremental_items']:6d} items  "
          f"{sync['incremental_seconds']:7.2f} s  peak traced {sync['incremental_peak_mb']:6.1f} MB"
          f"  ({sync['incremental_fetched']} re-fetched in {sync['incremental_requests']} requests)")
    result(f"{product}: full sync of {items} items", f"{sync['seconds']:.2f} s",
           f"one naive request {base['seconds']:.2f} s", sync["seconds"] / base["seconds"],
           f"peak memory {sync['peak_mb']:.0f} vs {base['peak_mb']:.0f} MB "
           f"({sync['peak_mb'] / max(base['peak_mb'], 0.1):.2f}x)")
    result(f"{product}: incremental sync", f"{sync['incremental_seconds']:.2f} s",
           f"full sync {sync['seconds']:.2f} s", sync["incremental_seconds"] / sync["seconds"],
           f"{sync['incremental_fetched']} items re-fetched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--product", choices=["plex", "jellyfin", "both"], default="plex")
    parser.add_argument("--phase", choices=["naive", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(asyncio.run(phase(args.product, args.url, args.page_size, args.phase))))
        return
    file = next(iter(sorted(clips_folder("basic", 3, 4.0).glob("*.mp4"))))
    for product in (["plex", "jellyfin"] if args.product == "both" else [args.product]):
        bench(product, args.items, args.page_size, file)


if __name__ == "__main__":
    main()
