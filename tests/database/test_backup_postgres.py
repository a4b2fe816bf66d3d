"""PostgreSQL backups under attack: the password on a command line, a killed pg_dump.

pg_dump and pg_restore are made to wait on a table lock held by the test, so the check
happens while they really run: every process's ``/proc/PID/cmdline`` is read then.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.migrate import migrate
from tests.helpers import write_config


@contextmanager
def _table_lock(url: str, sql: str) -> Iterator[None]:
    """Hold ``LOCK TABLE ...`` (``sql``) in an open transaction for the block."""
    import asyncpg

    parsed = make_url(url)
    locked, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                     user=parsed.username, database=parsed.database)
        try:
            async with conn.transaction():
                await conn.execute(sql)
                locked.set()
                await asyncio.to_thread(release.wait)
        finally:
            await conn.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:
            failure.append(exc)
            locked.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert locked.wait(60) and not failure, failure
    try:
        yield
    finally:
        release.set()
        thread.join(60)


def _processes(tool: str, marker: str) -> list[int]:
    """Pids of ``tool`` processes whose command line mentions ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == tool and \
                marker.encode() in b" ".join(argv):
            found.append(int(entry))
    return found


def _every_cmdline() -> dict[int, bytes]:
    lines = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                lines[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
    return lines


def _wait_for(predicate: object, timeout: float = 90.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def _setup(pg_url: str, tmp_path: Path, password: str | None = None) -> tuple[str, Path, Path]:
    """A migrated database, and a config for it whose URL carries ``password``."""
    async def schema() -> None:
        manager = DatabaseConnectionManager(pg_url)
        await manager.open()
        await migrate(manager)
        await manager.close()

    asyncio.run(schema())
    url = make_url(pg_url).set(password=password).render_as_string(hide_password=False) \
        if password else pg_url
    folder = tmp_path / "saved"
    config = write_config(tmp_path / "exstreamtv.yaml", {
        "server": {"data_directory": str(tmp_path / "data")},
        "database": {"url": url},
        "database_backup": {"backup_directory": str(folder)},
    })
    return str(make_url(pg_url).database), config, folder


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "exstreamtv", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_password_is_never_on_a_command_line(pg_url: str, tmp_path: Path) -> None:
    secret = f"Zq-{uuid.uuid4().hex}"  # trust auth accepts any password
    dbname, config, _folder = _setup(pg_url, tmp_path, secret)
    seen: dict[str, bytes] = {}

    def watch(tool: str, args: list[str], lock: str) -> str:
        with _table_lock(pg_url, lock):
            cli = _cli(*args, "--config", str(config))
            pids = _wait_for(lambda: _processes(tool, dbname))
            lines = _every_cmdline()
            assert lines, "no process command line could be read"
            leaks = [pid for pid, line in lines.items() if secret.encode() in line]
            assert not leaks, [lines[p].replace(b"\0", b" ") for p in leaks]
            pid = pids[0]  # type: ignore[index]
            seen[tool] = Path(f"/proc/{pid}/environ").read_bytes()
            seen[f"{tool} argv"] = lines.get(pid, b"")
        out, err = cli.communicate(timeout=180)
        assert cli.returncode == 0, err
        return out

    created = watch("pg_dump", ["backup", "create"],
                    "LOCK TABLE media_items IN ACCESS EXCLUSIVE MODE")
    name = created.split()[0]
    watch("pg_restore", ["backup", "restore", name],
          "LOCK TABLE media_items IN ACCESS SHARE MODE")
    for tool in ("pg_dump", "pg_restore"):
        assert f"PGPASSWORD={secret}".encode() in seen[tool].split(b"\0")
        assert dbname.encode() in seen[f"{tool} argv"]


def test_killed_postgres_backup_leaves_nothing_after_the_next(pg_url: str,
                                                              tmp_path: Path) -> None:
    dbname, config, folder = _setup(pg_url, tmp_path)
    with _table_lock(pg_url, "LOCK TABLE media_items IN ACCESS EXCLUSIVE MODE"):
        cli = _cli("backup", "create", "--config", str(config))
        _wait_for(lambda: _processes("pg_dump", dbname))
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(60)
        left = sorted(p.name for p in folder.iterdir())
        assert left and all(n.endswith(".db.part") for n in left), left
    again = _cli("backup", "create", "--config", str(config))
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    name = out.split()[0]
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.json", f"{name}.tar.gz"]
