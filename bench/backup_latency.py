"""Request latency of a database-backed endpoint while a ~100 MB SQLite database is backed up.

Starts a real server on a SQLite database filled to ``--size-mb``, measures the latency of
``GET /api/database`` (a live query plus row counts through the pool) while idle, then
again while ``POST /api/backups`` runs, and prints the ratio of the medians (and p95s)
measured in the same run. Usage: ``python bench/backup_latency.py [--size-mb 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import result as report_row

from tests.helpers import Server, free_port, write_config


def fill(db: Path, size_mb: int) -> None:
    """Create the schema (via a short server-less migration) and add ~size_mb of rows."""
    import asyncio

    from exstreamtv.database.connection import DatabaseConnectionManager
    from exstreamtv.database.migrate import migrate

    async def schema() -> None:
        manager = DatabaseConnectionManager(f"sqlite+aiosqlite:///{db}")
        await manager.open()
        await migrate(manager)
        await manager.close()

    asyncio.run(schema())
    conn = sqlite3.connect(db)
    start = 0
    while db.stat().st_size < size_mb * 1_000_000:
        conn.executemany(
            "INSERT INTO healing_outcomes (created_at, pattern, action, risk, success, details)"
            " VALUES (?, 'STALL', 'RESTART', 'LOW', 1, ?)",
            [(float(i), json.dumps({"noise": os.urandom(600).hex()}))
             for i in range(start, start + 5000)])
        conn.commit()
        start += 5000
    conn.close()


def sample(client: httpx.Client, url: str, until: threading.Event | None, count: int,
           gap: float = 0.01) -> list[float]:
    """Latencies (ms) of sequential requests: ``count`` of them, or until ``until`` is set."""
    out: list[float] = []
    while (until is None and len(out) < count) or (until is not None and not until.is_set()):
        started = time.perf_counter()
        response = client.get(url)
        out.append(1000 * (time.perf_counter() - started))
        assert response.status_code == 200, response.text
        time.sleep(gap)
    return out


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exstreamtv-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "data" / "bench.db"
        db.parent.mkdir(parents=True)
        started = time.monotonic()
        fill(db, args.size_mb)
        print(f"database: {db.stat().st_size / 1e6:.0f} MB (filled in "
              f"{time.monotonic() - started:.1f}s)")
        config = write_config(tmp / "exstreamtv.yaml", {
            "server": {"port": free_port(), "data_directory": str(tmp / "data")},
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "database_backup": {"enabled": False, "compress": True},
        })
        with Server(config) as server, httpx.Client(timeout=60) as client:
            url = f"{server.url}/api/database"
            sample(client, url, None, 30)  # warm-up
            idle = sample(client, url, None, 200)
            done = threading.Event()
            result: dict[str, object] = {}

            def backup() -> None:
                t0 = time.perf_counter()
                response = httpx.post(f"{server.url}/api/backups", timeout=300)
                result["seconds"] = time.perf_counter() - t0
                result["status"] = response.status_code
                result["body"] = response.json()
                done.set()

            thread = threading.Thread(target=backup)
            thread.start()
            during = sample(client, url, done, 0)
            thread.join()
        assert result["status"] == 201, result
        body = result["body"]
        assert isinstance(body, dict)
    idle_median, during_median = statistics.median(idle), statistics.median(during)
    print(f"backup: {result['seconds']:.1f}s, archive {body['size'] / 1e6:.1f} MB")
    print(f"idle:   median {idle_median:.2f} ms, p95 {p95(idle):.2f} ms ({len(idle)} requests)")
    print(f"backup: median {during_median:.2f} ms, p95 {p95(during):.2f} ms "
          f"({len(during)} requests)")
    report_row("API latency while a backup runs, median", f"{during_median:.1f} ms",
           f"idle {idle_median:.1f} ms", during_median / idle_median,
           f"p95 {p95(during):.1f} vs {p95(idle):.1f} ms ({p95(during) / p95(idle):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
