"""DatabaseBackupManager: consistent online backups, retention, restore and its refusals."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import sqlite3
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from exstreamtv.config.model import DatabaseBackupConfig
from exstreamtv.database.backup import (
    BackupError,
    BackupInfo,
    BackupNotFound,
    DatabaseBackupManager,
    InvalidBackupName,
    sha256_file,
)
from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import head_revision, migrate
from exstreamtv.database.models import BackupRow, PlayHistoryRow

DAY = 86400.0


async def _open(url: str) -> DatabaseConnectionManager:
    manager = DatabaseConnectionManager(url, 2)
    await manager.open()
    await migrate(manager)
    return manager


async def _ids(manager: DatabaseConnectionManager) -> list[int]:
    async with manager.session() as session:
        return list((await session.scalars(select(PlayHistoryRow.id).order_by(
            PlayHistoryRow.id))).all())


async def _insert(manager: DatabaseConnectionManager, channel: int = 1) -> int:
    async with manager.session() as session, session.begin():
        row = PlayHistoryRow(channel_number=channel, started_at=time.time(), duration=1.0)
        session.add(row)
        await session.flush()
        return row.id


def test_backup_while_writing_then_restore(db_url: str, tmp_path: Path) -> None:
    config_file = tmp_path / "exstreamtv.yaml"
    config_file.write_text("server: {port: 8409}\n")

    async def run() -> None:
        manager = await _open(db_url)
        backups = DatabaseBackupManager(manager, DatabaseBackupConfig(), tmp_path / "backups",
                                        config_file)
        committed: list[int] = []
        stop, reached = asyncio.Event(), asyncio.Event()
        target = [50]

        async def writer() -> None:
            while not stop.is_set():
                committed.append(await _insert(manager))
                if len(committed) >= target[0]:
                    reached.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        await reached.wait()
        before = list(committed)
        info = await backups.create_backup("manual")
        during = len(committed) - len(before)
        reached.clear()
        target[0] = len(committed) + 20
        await reached.wait()
        stop.set()
        await task
        assert during > 0, "the writer was blocked while the backup ran"

        assert info.kind == "manual" and info.schema_version == head_revision() and info.compressed
        assert info.sha256 == sha256_file(backups.directory / info.file)
        with tarfile.open(backups.directory / info.file) as tar:
            names = set(tar.getnames())
            assert tar.extractfile("config.yaml").read() == config_file.read_bytes()  # type: ignore[union-attr]
        assert {"backup.json", "config.yaml"} <= names
        assert [b.name for b in backups.list_backups()] == [info.name]
        async with manager.session() as session:
            recorded = (await session.scalars(select(BackupRow))).all()
        assert [(r.name, r.sha256, r.size) for r in recorded] == [(info.name, info.sha256,
                                                                   info.size)]

        pre = await backups.restore_backup(info.name)
        assert pre.kind == "pre-restore"
        restored = await _ids(manager)
        # A consistent snapshot: every row committed before the backup began, and the
        # rows form a prefix of what the writer committed (nothing half-written).
        assert set(before) <= set(restored)
        assert restored == committed[:len(restored)]
        assert len(restored) < len(committed)
        # The pool reconnected: writes work again.
        await _insert(manager)
        if manager.is_sqlite:
            async with manager.engine.connect() as conn:
                check = (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar()
            assert check == "ok"
        # The pre-restore backup holds everything committed before the restore.
        await backups.restore_backup(pre.name)
        assert await _ids(manager) == committed
        await manager.close()

    asyncio.run(run())


def _fake_backup(directory: Path, name: str, created: float, mtime: float) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"{name}.tar.gz"
    archive.write_bytes(gzip.compress(name.encode()))
    info = BackupInfo(name=name, created=created, size=archive.stat().st_size,
                      sha256=sha256_file(archive), schema_version="0001", app_version="0.1.0",
                      kind="scheduled", database="sqlite", compressed=True, file=archive.name)
    sidecar = directory / f"{name}.json"
    sidecar.write_text(json.dumps(info.to_dict()))
    for path in (archive, sidecar):
        os.utime(path, (mtime, mtime))


def _stamped(created: float, kind: str = "scheduled") -> str:
    """A backup name as the manager gives it, for a backup made at ``created``."""
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"exstreamtv-{stamp}-{kind}"


@pytest.mark.parametrize(("keep_count", "keep_days", "ages", "kept"), [
    (3, 10, [0.1, 1, 2, 5, 12, 40], [0.1, 1, 2]),   # count limits
    (10, 3, [0.1, 1, 2, 5, 12, 40], [0.1, 1, 2]),   # age limits
    (2, 30, [0.5, 10, 20], [0.5, 10]),
    (5, 30, [50, 60, 70], [50]),                    # all too old: the newest stays
])
def test_retention_uses_creation_time(tmp_path: Path, sqlite_url: str, keep_count: int,
                                      keep_days: int, ages: list[float],
                                      kept: list[float]) -> None:
    now = 2_000_000_000.0
    directory = tmp_path / "backups"
    for age in ages:
        # File mtimes run the other way round: only the metadata's time may count.
        _fake_backup(directory, _stamped(now - age * DAY), now - age * DAY,
                     now - (100 - age) * DAY)
    config = DatabaseBackupConfig(keep_count=keep_count, keep_days=keep_days)
    backups = DatabaseBackupManager(DatabaseConnectionManager(sqlite_url), config, directory)
    deleted = backups.cleanup_old_backups(now=now)
    remaining = backups.list_backups()
    assert [b.name for b in remaining] == [_stamped(now - a * DAY) for a in kept]
    assert len(deleted) == len(ages) - len(kept)
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        f"{b.name}{ext}" for b in remaining for ext in (".tar.gz", ".json"))


def _rewrite(backups: DatabaseBackupManager, info: BackupInfo, data: bytes) -> None:
    """Replace an archive's bytes and make its sidecar checksum match them."""
    archive = backups.directory / info.file
    archive.write_bytes(data)
    meta = info.to_dict()
    meta["sha256"] = sha256_file(archive)
    (backups.directory / f"{info.name}.json").write_text(json.dumps(meta))


def _rebuild_with_database(original: bytes, database: bytes) -> bytes:
    """The archive with its database member replaced (inner checksum updated to match)."""
    import hashlib

    with tarfile.open(fileobj=io.BytesIO(original)) as tar:
        inner = json.loads(tar.extractfile("backup.json").read())  # type: ignore[union-attr]
    inner["database_sha256"] = hashlib.sha256(database).hexdigest()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("backup.json", json.dumps(inner).encode()),
                           (inner["database_member"], database)):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return out.getvalue()


def test_restore_refusals_leave_the_live_database_untouched(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    async def run() -> dict[str, str]:
        manager = await _open(sqlite_url)
        for _ in range(30):
            await _insert(manager)
        backups = DatabaseBackupManager(manager, DatabaseBackupConfig(), tmp_path / "backups")
        good = await backups.create_backup()
        archive = backups.directory / good.file
        original = archive.read_bytes()
        await _insert(manager)
        live_rows = await _ids(manager)
        reasons: dict[str, str] = {}

        async def refused(label: str, name: str) -> None:
            count = len(backups.list_backups())
            with pytest.raises(BackupError) as caught:
                await backups.restore_backup(name)
            reasons[label] = str(caught.value)
            assert await _ids(manager) == live_rows, label
            assert len(backups.list_backups()) == count, f"{label}: a pre-restore backup was taken"

        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        archive.write_bytes(bytes(flipped))
        await refused("checksum", good.name)

        _rewrite(backups, good, original[: len(original) // 2])
        await refused("truncated", good.name)

        snapshot = tmp_path / "snapshot.db"
        with tarfile.open(fileobj=io.BytesIO(original)) as tar:
            snapshot.write_bytes(tar.extractfile("database.sqlite").read())  # type: ignore[union-attr]
        corrupt = bytearray(snapshot.read_bytes())
        page = 4096
        for offset in range(2 * page, len(corrupt), page):
            corrupt[offset:offset + 64] = b"\x07" * 64  # smash every b-tree page header
        _rewrite(backups, good, _rebuild_with_database(original, bytes(corrupt)))
        await refused("integrity", good.name)

        _rewrite(backups, good, _rebuild_with_database(original, b"not a database" * 100))
        await refused("not a database", good.name)

        newer = sqlite3.connect(snapshot)
        newer.execute("UPDATE alembic_version SET version_num = 'ffff0099'")
        newer.commit()
        newer.close()
        _rewrite(backups, good, _rebuild_with_database(original, snapshot.read_bytes()))
        await refused("newer", good.name)

        for name in ("../exstreamtv", "a/b", "a\\b", "..", "x..y", ""):
            with pytest.raises(InvalidBackupName):
                await backups.restore_backup(name)
        with pytest.raises(BackupNotFound):
            await backups.restore_backup("exstreamtv-none")
        _rewrite(backups, good, original)
        await backups.restore_backup(good.name)  # the intact backup still restores
        assert len(await _ids(manager)) == 30
        await manager.close()
        return reasons

    reasons = asyncio.run(run())
    assert "SHA-256" in reasons["checksum"]
    assert "truncated or corrupt" in reasons["truncated"]
    assert "integrity_check" in reasons["integrity"] or "unreadable" in reasons["integrity"]
    assert "unreadable" in reasons["not a database"] or "integrity" in reasons["not a database"]
    assert "newer version" in reasons["newer"]


def test_postgres_backup_without_pg_dump_says_what_to_install(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_url = pg_url

    async def run() -> str:
        manager = await _open(db_url)
        backups = DatabaseBackupManager(manager, DatabaseBackupConfig(), tmp_path / "backups")
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        try:
            with pytest.raises(BackupError) as caught:
                await backups.create_backup()
            return str(caught.value)
        finally:
            await manager.close()

    message = asyncio.run(run())
    assert "pg_dump" in message and "postgresql-client" in message
    assert not list((tmp_path / "backups").iterdir())
