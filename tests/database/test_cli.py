"""``exstreamtv backup create|list|restore`` and a backup that fails for lack of space."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from tests.helpers import write_config


def _config(tmp_path: Path, compress: bool = True) -> Path:
    """A config whose database has the current schema."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tv.db'}"

    async def create_schema() -> None:
        manager = DatabaseConnectionManager(url)
        await manager.open()
        await migrate(manager)
        await manager.close()

    asyncio.run(create_schema())
    return write_config(tmp_path / "exstreamtv.yaml", {
        "server": {"data_directory": str(tmp_path / "data")},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tv.db'}"},
        "database_backup": {"backup_directory": "saved", "compress": compress},
    })


def _cli(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, timeout=120, check=False,
                          preexec_fn=limit_file_size if limit else None)


def _rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM healing_outcomes").fetchone()[0])
    finally:
        conn.close()


def _add_rows(db: Path, count: int, payload: int = 16) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO healing_outcomes (created_at, pattern, action, risk, success, details) "
        "VALUES (?, 'STALL', 'RESTART', 'LOW', 1, ?)",
        [(float(i), json.dumps({"noise": os.urandom(payload).hex()})) for i in range(count)])
    conn.commit()
    conn.close()


def test_backup_create_list_restore(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    created = _cli("backup", "create", "--config", config)
    assert created.returncode == 0, created.stderr
    name = created.stdout.split()[0]
    db = tmp_path / "data" / "tv.db"
    assert (tmp_path / "data" / "saved" / f"{name}.tar.gz").is_file()
    _add_rows(db, 5)
    listed = _cli("backup", "list", "--config", config, "--json")
    assert [b["name"] for b in json.loads(listed.stdout)] == [name]
    assert name in _cli("backup", "list", "--config", config).stdout

    restored = _cli("backup", "restore", name, "--config", config)
    assert restored.returncode == 0, restored.stderr
    assert "pre-restore" in restored.stdout
    assert _rows(db) == 0
    kinds = sorted(b["kind"] for b in json.loads(
        _cli("backup", "list", "--config", config, "--json").stdout))
    assert kinds == ["manual", "pre-restore"]

    bad = _cli("backup", "restore", "../tv", "--config", config)
    assert bad.returncode == 1 and "invalid backup name" in bad.stderr
    missing = _cli("backup", "restore", "nope", "--config", config)
    assert missing.returncode == 1 and "no backup named" in missing.stderr


def test_failed_backup_leaves_no_partial_file(tmp_path: Path) -> None:
    config = str(_config(tmp_path, compress=False))
    saved = tmp_path / "data" / "saved"
    saved.mkdir()
    db = tmp_path / "data" / "tv.db"
    _add_rows(db, 400, payload=1024)  # about 1 MB of incompressible data
    before = db.read_bytes()
    failed = _cli("backup", "create", "--config", config, limit=256 * 1024)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "backup failed" in failed.stderr, failed.stderr
    assert list(saved.iterdir()) == []
    assert _rows(db) == 400
    assert len(db.read_bytes()) == len(before)
