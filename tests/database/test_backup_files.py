"""Hostile backup folders: forged sidecars, symlinks, leftovers of killed backups, modes.

Each test does the attack on real files: retention and restore must touch nothing they
cannot prove is theirs, leftovers go at the next start or backup, and what a backup
writes is readable by its owner only, whatever the umask.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from exstreamtv.config.model import DatabaseBackupConfig
from exstreamtv.database.backup import (
    BackupInfo,
    BackupNotFound,
    DatabaseBackupManager,
    sha256_file,
)
from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from tests.helpers import write_config

OLD = 1_000_000_000.0  # 2001: older than any keep_days


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _forge(directory: Path, sidecar: str, name: str, file: str, created: float = OLD) -> None:
    """A sidecar claiming backup ``name`` lives in ``file``."""
    info = BackupInfo(name=name, created=created, size=1, sha256="0" * 64,
                      schema_version="0001", app_version="0.1.0", kind="scheduled",
                      database="sqlite", compressed=True, file=file)
    (directory / sidecar).write_text(json.dumps(info.to_dict()))


def test_forged_sidecars_and_symlinks_delete_nothing_outside(tmp_path: Path,
                                                            sqlite_url: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / f"victim-{i}.txt" for i in range(3)]
    for victim in victims:
        victim.write_text(f"precious {victim.name}")
    folder = tmp_path / "backups"

    async def run() -> tuple[list[str], list[str]]:
        manager = DatabaseConnectionManager(sqlite_url, 1)
        await manager.open()
        await migrate(manager)
        backups = DatabaseBackupManager(manager, DatabaseBackupConfig(keep_count=1), folder)
        first = await backups.create_backup()
        # Forged sidecars: valid-looking names, old enough for retention, whose "file"
        # points outside the folder, through it, or at another backup's archive.
        fake = "exstreamtv-20010101T000000000000Z-scheduled"
        _forge(folder, f"{fake}.json", fake, f"../outside/{victims[0].name}")
        _forge(folder, "evil.json", "evil", str(victims[1]))
        fake2 = "exstreamtv-20010102T000000000000Z-manual"
        _forge(folder, f"{fake2}.json", fake2, first.file)
        fake3 = "exstreamtv-20010103T000000000000Z-manual"
        _forge(folder, f"{fake3}.json", fake3, f"{fake3}.tar.gz/../../outside/{victims[0].name}")
        # A symlink inside pointing out, with a sidecar that matches it exactly.
        linked = "exstreamtv-20010104T000000000000Z-scheduled"
        (folder / f"{linked}.tar.gz").symlink_to(victims[2])
        _forge(folder, f"{linked}.json", linked, f"{linked}.tar.gz")
        meta = json.loads((folder / f"{linked}.json").read_text())
        meta["sha256"] = sha256_file(victims[2])
        (folder / f"{linked}.json").write_text(json.dumps(meta))
        # A symlinked sidecar, pointing at a sidecar outside that names a victim.
        outer = "exstreamtv-20010105T000000000000Z-manual"
        _forge(outside, "outer.json", outer, f"../outside/{victims[1].name}")
        (folder / f"{outer}.json").symlink_to(outside / "outer.json")

        listed = [b.name for b in backups.list_backups()]
        second = await backups.create_backup()  # retention runs: keep_count 1
        for name in (fake, "evil", fake2, fake3, linked, outer):
            with pytest.raises(BackupNotFound):
                await backups.restore_backup(name)
        remaining = [b.name for b in backups.list_backups()]
        await manager.close()
        assert remaining == [second.name]
        return listed, remaining

    listed, _remaining = asyncio.run(run())
    for victim in victims:
        assert victim.read_text() == f"precious {victim.name}", victim
    assert len(listed) == 1, f"forged sidecars were taken for backups: {listed}"
    assert (folder / "exstreamtv-20010104T000000000000Z-scheduled.tar.gz").is_symlink()
    assert (outside / "outer.json").is_file()


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exstreamtv", *args], capture_output=True,
                          text=True, timeout=180, check=False, **kwargs)  # type: ignore[call-overload]


def test_backups_and_a_new_database_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "data" / "tv.db"
    config = write_config(tmp_path / "exstreamtv.yaml", {
        "server": {"data_directory": str(tmp_path / "data")},
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
        "database_backup": {"backup_directory": "saved"},
    })
    created = _cli("backup", "create", "--config", str(config), preexec_fn=lambda: os.umask(0))
    assert created.returncode == 0, created.stderr
    assert _mode(db) == 0o600, oct(_mode(db))
    saved = tmp_path / "data" / "saved"
    assert _mode(saved) == 0o700, oct(_mode(saved))
    files = sorted(saved.iterdir())
    assert sorted(p.suffix for p in files) == [".gz", ".json"]
    assert all(_mode(p) == 0o600 for p in files), [(p.name, oct(_mode(p))) for p in files]


def _leftovers(folder: Path, live: Path) -> list[Path]:
    """What killed SQLite backups and restores leave, planted by name."""
    name = "exstreamtv-20260101T030000123456Z-scheduled"
    paths = [folder / f".{name}.db.part", folder / f".{name}.db.part-wal",
             folder / f".{name}.db.part-shm", folder / f".{name}.db.part-journal",
             folder / f".{name}.tar.gz.part", folder / f".{name}.json.part",
             live.with_name(f".{live.name}.restore"),
             live.with_name(f".{live.name}.restore-wal")]
    for path in paths:
        path.write_bytes(b"partial")
    work = folder / f".restore-{name}"
    work.mkdir()
    (work / "database.sqlite").write_bytes(b"partial")
    return [*paths, work]


def _decoys(folder: Path, outside: Path) -> list[Path]:
    """Files clean-up must not touch: other names, and symlinks named like leftovers."""
    name = "exstreamtv-20260101T040000123456Z-manual"
    target = outside / "kept.db"
    target.write_bytes(b"keep me")
    notes = folder / ".notes.part"
    notes.write_text("mine")
    link = folder / f".{name}.db.part"
    link.symlink_to(target)
    work_link = folder / f".restore-{name}"
    work_link.symlink_to(outside)
    return [notes, link, work_link, target]


def test_leftovers_of_killed_backups_go_at_start_and_next_backup(
        tmp_path: Path, sqlite_url: str) -> None:
    from exstreamtv.database.connection import sqlite_path

    folder = tmp_path / "backups"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    live = sqlite_path(sqlite_url)
    assert live is not None
    live.parent.mkdir(parents=True)

    async def run() -> None:
        manager = DatabaseConnectionManager(sqlite_url, 1)
        await manager.open()
        await migrate(manager)
        backups = DatabaseBackupManager(manager, DatabaseBackupConfig(), folder)
        decoys = _decoys(folder, outside)
        leftovers = _leftovers(folder, live)
        removed = backups.clean_partials()  # what Database.start and the CLI call
        assert sorted(removed) == sorted(p.name for p in leftovers)
        assert not any(p.exists() for p in leftovers)
        leftovers = [p for p in _leftovers(folder, live) if p.parent == folder]
        info = await backups.create_backup()  # the next backup cleans its folder too
        assert not any(p.exists() for p in leftovers)
        assert all(os.path.lexists(p) for p in decoys)
        assert (outside / "kept.db").read_bytes() == b"keep me"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [info.file, f"{info.name}.json", *(p.name for p in decoys[:3])])
        await manager.close()

    asyncio.run(run())
