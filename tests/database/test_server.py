"""The database in a running server: health, backup API and token, reload, start-up cases."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exstreamtv.database.migrate import head_revision
from tests.helpers import Server, base_config, channel, free_port, write_config

TOKEN = "s3cret-token"


def _database(server: Server) -> dict[str, Any]:
    component: dict[str, Any] = server.get("/api/health").json()["components"]["database"]
    return component


def test_health_backup_api_and_resize_on_reload(
        db_url: str, tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    config = base_config(tmp_path, clips, database={"url": db_url})
    config["server"]["api_token"] = TOKEN
    server = make_server(config)
    db = server.wait_for(lambda: (d := _database(server))["state"] == "ok" and d)
    assert db["status"] == "ok"
    assert db["pool_size"] == 12 and db["channels"] == 1
    assert db["latency_ms"] is not None and db["latency_ms"] >= 0
    assert 0 <= db["saturation"] <= 1
    assert db["schema"] == head_revision()
    assert TOKEN not in server.get("/api/health").text

    for call in (lambda: server.get("/api/backups"), lambda: server.post("/api/backups"),
                 lambda: server.get("/api/database"),
                 lambda: server.post("/api/backups/anything/restore")):
        response = call()
        assert response.status_code == 401
        assert "token" in response.json()["error"]

    auth = {"Authorization": f"Bearer {TOKEN}"}
    live = server.get("/api/database", headers=auth).json()
    assert live["state"] == "ok" and live["latency_ms"] is not None
    server.wait_for(lambda: server.get("/api/database", headers=auth).json()["rows"]["items"] == 3)
    created = server.post("/api/backups", headers=auth, timeout=60)
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    listed = server.get("/api/backups", headers=auth).json()
    assert [b["name"] for b in listed] == [name]
    assert listed[0]["sha256"] and listed[0]["schema_version"] == head_revision()
    assert listed[0]["app_version"] and listed[0]["size"] > 0

    for bad in ("..%2F..%2Fetc", "a%2Fb", "a%5Cb", "x..y"):
        response = server.post(f"/api/backups/{bad}/restore", headers=auth)
        assert response.status_code == 400, (bad, response.text)
        assert "invalid backup name" in response.json()["error"]
    assert server.post("/api/backups/nope/restore", headers=auth).status_code == 404

    restored = server.post(f"/api/backups/{name}/restore", headers=auth, timeout=60)
    assert restored.status_code == 200, restored.text
    assert restored.json()["pre_restore_backup"]["kind"] == "pre-restore"
    assert _database(server)["state"] == "ok"
    assert server.get("/api/health").json()["components"]["library"]["status"] == "ok"

    # Hot reload to five channels: the pool grows to int(5 * 2.5) + 10 = 22.
    config["channels"] = [channel(n, f"Clips {n}", "clips") for n in range(1, 6)]
    write_config(server.config_path, config)
    server.wait_for(lambda: _database(server)["pool_size"] == 22, timeout=20)
    assert _database(server)["status"] == "ok"


def test_library_is_loaded_from_the_database_at_start(
        tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    media = tmp_path / "media"
    shutil.copytree(clips, media)
    config = base_config(tmp_path, media)
    server = make_server(config)
    server.wait_for(lambda: server.get("/api/health").json()["components"]["library"]
                    ["sources"]["clips"]["state"] == "ok")
    db_file = tmp_path / "data" / "test.db"

    def saved() -> int:
        conn = sqlite3.connect(db_file)
        try:
            return int(conn.execute("SELECT count(*) FROM media_items").fetchone()[0])
        finally:
            conn.close()

    server.wait_for(lambda: saved() == 3)
    assert server.stop() == 0
    # The media folder is gone: the rescan fails, yet the channel still has its items.
    shutil.rmtree(media)
    again = make_server(config, name="again.yaml")
    now = again.get("/api/channels/1").json()["now"]
    assert now is not None and now["item_id"], now
    library = again.get("/api/health").json()["components"]["library"]["sources"]["clips"]
    assert library["items"] == 3


def test_unreachable_database_is_reported_not_fatal(
        tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    url = f"postgresql+asyncpg://postgres:pw@127.0.0.1:{free_port()}/nothing"
    server = make_server(base_config(tmp_path, clips, database={"url": url}))
    db = server.wait_for(lambda: (d := _database(server))["attempts"] >= 2 and d)
    assert db["status"] == "error" and db["state"] == "error"
    assert db["error"]
    assert "pw" not in server.get("/api/health").text
    assert server.get("/api/health").json()["status"] == "error"
    assert "Database" in server.log and "retrying" in server.log


def test_database_from_a_newer_version_refuses_to_start(tmp_path: Path, clips: Path) -> None:
    config = base_config(tmp_path, clips)
    db_file = tmp_path / "data" / "test.db"
    db_file.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_file)
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    conn.execute("INSERT INTO alembic_version VALUES ('ffff0099')")
    conn.commit()
    conn.close()
    server = Server(write_config(tmp_path / "exstreamtv.yaml", config))
    with pytest.raises(RuntimeError) as caught:
        server.start()
    assert server.proc is not None and server.proc.returncode == 1
    assert "written by a newer version" in str(caught.value)


def test_locked_database_at_start_is_retried(
        tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    db_file = tmp_path / "data" / "test.db"
    db_file.parent.mkdir(parents=True)
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE squatter (x INTEGER)")
    try:
        server = make_server(base_config(tmp_path, clips))
        db = _database(server)
        assert db["status"] == "error" and db["state"] != "ok"
        assert server.get("/api/health").status_code == 200
    finally:
        holder.execute("COMMIT")
        holder.close()
    db = server.wait_for(lambda: (d := _database(server))["state"] == "ok" and d, timeout=40)
    assert db["schema"] == head_revision()


def test_backup_without_pg_dump_says_what_to_install(
        pg_url: str, tmp_path: Path, clips: Path, make_server: Callable[..., Server]) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with ffmpeg and ffprobe but no PostgreSQL client
    bin_dir.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    server = make_server(base_config(tmp_path, clips, database={"url": pg_url}),
                         env={"PATH": str(bin_dir)})
    server.wait_for(lambda: _database(server)["state"] == "ok")
    response = server.post("/api/backups", timeout=60)
    assert response.status_code == 503, response.text
    assert "need pg_dump on PATH" in response.json()["error"]
    assert "apt install postgresql-client" in response.json()["error"]
    assert server.get("/api/backups").json() == []  # nothing half-written is listed
