"""Backups and the database against a running server: a CLI restore while it runs, a
reloaded backup folder, a full disk, a database that takes no writes.

The full disk and the read-only file are real: a small tmpfs and a read-only bind mount
(both need root; without it these tests skip and say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from tests.database.conftest import _admin
from tests.helpers import Server, base_config, write_config


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, timeout=180, check=False)


def _database(server: Server) -> dict[str, Any]:
    component: dict[str, Any] = server.get("/api/health").json()["components"]["database"]
    return component


def _migrated(url: str) -> None:
    async def run() -> None:
        manager = DatabaseConnectionManager(url)
        await manager.open()
        await migrate(manager)
        await manager.close()

    asyncio.run(run())


@contextlib.contextmanager
def _mounted(*argv: str, target: Path) -> Iterator[Path]:
    """``mount argv... target`` for the block (skips the test when mounting is refused)."""
    done = subprocess.run(["mount", *argv, str(target)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (needs root): {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_cli_restore_refuses_while_a_server_uses_the_database(
        db_url: str, tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    config = base_config(tmp_path, clips, database={"url": db_url},
                         database_backup={"backup_directory": str(tmp_path / "saved")})
    server = make_server(config)
    server.wait_for(lambda: _database(server)["state"] == "ok", timeout=40)
    created = server.post("/api/backups", timeout=60)
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    path = str(server.config_path)

    refused = _cli("backup", "restore", name, "--config", path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "in use by a running ExStreamTV server" in refused.stderr
    assert "POST /api/backups/NAME/restore" in refused.stderr
    if "sqlite" in db_url:
        assert f"pid {server.proc.pid}" in refused.stderr  # type: ignore[union-attr]
    assert len(refused.stderr.strip().splitlines()) == 1
    # Nothing was done: no pre-restore backup, and the server still writes.
    assert [b["name"] for b in server.get("/api/backups").json()] == [name]
    assert server.post("/api/backups", timeout=60).status_code == 201
    assert _database(server)["status"] == "ok"

    assert server.stop() == 0
    restored = _cli("backup", "restore", name, "--config", path)
    assert restored.returncode == 0, restored.stderr

    # A killed server leaves no stale mark behind.
    again = make_server(config, name="again.yaml")
    again.wait_for(lambda: _database(again)["state"] == "ok", timeout=40)
    assert _cli("backup", "restore", name, "--config", path).returncode == 1
    assert again.proc is not None
    again.proc.send_signal(signal.SIGKILL)
    again.proc.wait(30)
    after_kill = _cli("backup", "restore", name, "--config", path)
    assert after_kill.returncode == 0, after_kill.stderr


def _add_rows(db: Path, count: int, payload: int) -> None:
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO healing_outcomes (created_at, pattern, action, risk, success, details) "
        "VALUES (?, 'STALL', 'RESTART', 'LOW', 1, ?)",
        [(float(i), json.dumps({"noise": os.urandom(payload).hex()})) for i in range(count)])
    conn.commit()
    conn.close()


def test_reloaded_backup_directory_and_a_full_disk(
        tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    full = tmp_path / "full"
    full.mkdir()
    with _mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", target=full):
        db = tmp_path / "data" / "test.db"
        _migrated(f"sqlite+aiosqlite:///{db}")
        _add_rows(db, 600, payload=1024)  # ~1.3 MB incompressible: more than the tmpfs
        first = tmp_path / "first"
        config = base_config(tmp_path, clips,
                             database_backup={"backup_directory": str(first)})
        server = make_server(config)
        server.wait_for(lambda: _database(server)["state"] == "ok", timeout=40)
        assert server.post("/api/backups", timeout=60).status_code == 201
        assert len(list(first.glob("*.tar.gz"))) == 1

        version = server.get("/api/config/status").json()["version"]
        config["database_backup"] = {"backup_directory": str(full)}
        write_config(server.config_path, config)
        server.wait_for(lambda: server.get("/api/config/status").json()["version"] > version,
                        timeout=30)
        answer = server.post("/api/backups", timeout=60)
        assert answer.status_code == 507, answer.text
        assert "full" in answer.json()["error"]
        assert sorted(p.name for p in full.iterdir()) == [], "a failed backup left files"
        health = server.get("/api/health").json()["components"]["backups"]
        assert health["status"] == "degraded" and "full" in health["last_error"]
        assert health["directory"] == str(full)

        # Room again: the backup lands in the reloaded folder, without a restart.
        subprocess.run(["mount", "-o", "remount,size=16m", str(full)], check=True)
        done = server.post("/api/backups", timeout=60)
        assert done.status_code == 201, done.text
        assert (full / done.json()["file"]).is_file()
        assert len(list(first.glob("*.tar.gz"))) == 1
        server.stop()


def _read_only(db_url: str, db: Path | None) -> contextlib.AbstractContextManager[Any]:
    """The database made read-only, for real: a read-only bind mount of the SQLite file
    (root writes through chmod), or PostgreSQL's default_transaction_read_only."""
    if db is not None:
        return _mounted("--bind", "-o", "ro", str(db), target=db)

    @contextlib.contextmanager
    def postgres() -> Iterator[None]:
        name = make_url(db_url).database
        asyncio.run(_admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield

    return postgres()


def test_read_only_database_is_not_reported_ok(
        db_url: str, tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    _migrated(db_url)
    db = Path(make_url(db_url).database or "") if "sqlite" in db_url else None
    with _read_only(db_url, db):
        server = make_server(base_config(tmp_path, clips, database={"url": db_url}))
        state = server.wait_for(lambda: (d := _database(server))["state"] == "ok" and d,
                                timeout=40)
        assert state["status"] == "degraded", state
        assert state["writable"] is False
        assert "takes no writes" in state["error"], state
        assert "read" in state["error"].lower() and "only" in state["error"].lower(), state
        health = server.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] != "ok"
        assert "takes no writes" in server.log
        server.stop()


def test_server_start_removes_leftovers_of_a_killed_backup(
        tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    name = "exstreamtv-20260101T030000123456Z-scheduled"
    leftovers = [saved / f".{name}{suffix}" for suffix in (
        ".db.part", ".db.part-wal", ".db.part-shm", ".tar.gz.part", ".json.part")]
    for path in leftovers:
        path.write_bytes(b"partial")
    (saved / f".restore-{name}").mkdir()
    (saved / f".restore-{name}" / "database.sqlite").write_bytes(b"partial")
    staged = tmp_path / "data" / ".test.db.restore"
    staged.parent.mkdir()
    staged.write_bytes(b"partial")
    keep = saved / "notes.txt"
    keep.write_text("mine")
    server = make_server(base_config(tmp_path, clips,
                                     database_backup={"backup_directory": str(saved)}))
    assert sorted(p.name for p in saved.iterdir()) == ["notes.txt"]
    assert not staged.exists()
    assert "interrupted backup" in server.log
