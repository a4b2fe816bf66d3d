"""Copying a live SQLite database for a backup, and checking such a copy.

The SQLite counterpart of :mod:`exstreamtv.database.pg_tools`: a consistent snapshot
through SQLite's online backup API while writers carry on, written owner-only, and the
check a restore makes first (``PRAGMA integrity_check`` and the schema revision).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from exstreamtv.database.backup_files import touch_private


class SQLiteCopyError(Exception):
    """A database copy that fails its check (the message says why)."""


def snapshot(live: Path, target: Path) -> None:
    """Copy ``live`` to ``target`` with SQLite's online backup API.

    One step (``pages=-1``) copies everything inside a single read transaction: a
    consistent snapshot, and in WAL mode writers carry on meanwhile.
    """
    src = sqlite3.connect(str(live), timeout=30)
    try:
        touch_private(target)  # SQLite would create it world-readable (0644 & ~umask)
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def verify(path: Path) -> str | None:
    """The schema revision of the SQLite database at ``path`` once it passed
    ``PRAGMA integrity_check``; :class:`SQLiteCopyError` when it does not."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            result = "; ".join(str(r[0]) for r in rows[:5])
            if result != "ok":
                raise SQLiteCopyError(f"the backup's database fails PRAGMA integrity_check: {result}")
            stamped = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                   "name = 'alembic_version'").fetchone()
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone() \
                if stamped else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise SQLiteCopyError(f"the backup's database is unreadable: {exc}") from None
    return str(row[0]) if row else None
