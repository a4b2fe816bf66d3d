"""No process's command line holds a secret while a backup and Plex playback run together.

The server runs on PostgreSQL with a password in ``database.url`` (trust auth ignores
it) and a Plex source whose token comes from the environment. A viewer (ffprobe) plays
the Plex channel through the media relay while ``POST /api/backups`` runs ``pg_dump``,
held open by a table lock so both really overlap. A sampler thread reads every
``/proc/*/cmdline`` in a loop from before playback until after both have ended.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.database.test_backup_postgres import _every_cmdline, _setup, _table_lock, _wait_for
from tests.fakes.plex import FakePlex
from tests.helpers import Server
from tests.test_secrets import API_TOKEN, AUTH, PLEX_TOKEN, plex, plex_config, scanned

__all__ = ["plex"]  # the fake Plex fixture, shared with tests/test_secrets.py


class Sampler(threading.Thread):
    """Reads every process's command line in a loop; records leaks and what ran together."""

    def __init__(self, secrets: list[str], dbname: str) -> None:
        super().__init__(daemon=True)
        self.dbname = dbname.encode()
        self.secrets = [s.encode() for s in secrets]
        self.stop = threading.Event()
        self.rounds = 0
        self.leaks: list[bytes] = []
        #: Rounds in which a pg_dump and an ffmpeg reading the relay both ran.
        self.together = 0

    def run(self) -> None:
        while not self.stop.is_set():
            lines = _every_cmdline()
            self.rounds += 1
            self.leaks += [line.replace(b"\0", b" ") for line in lines.values()
                           if any(secret in line for secret in self.secrets)]
            # Debian starts pg_dump through a perl wrapper: the tool is argv[0] or argv[1].
            dumping = any(self.dbname in line and any(
                Path(arg.decode(errors="replace")).name == "pg_dump"
                for arg in line.split(b"\0")[:2]) for line in lines.values())
            relayed = any(b"ffmpeg" in line and b"/relay/" in line for line in lines.values())
            self.together += dumping and relayed


def test_no_secret_on_a_command_line_during_backup_and_plex_playback(
        pg_url: str, plex: FakePlex, clips: Path, tmp_path: Path,
        make_server: Callable[..., Server]) -> None:
    password = f"pgSECRET-{uuid.uuid4().hex}"
    (tmp_path / "pg").mkdir()
    dbname, written, folder = _setup(pg_url, tmp_path / "pg", password)
    config: dict[str, Any] = plex_config(tmp_path, clips, plex)
    on_postgres = yaml.safe_load(written.read_text())
    config["database"] = on_postgres["database"]
    config["database_backup"] = on_postgres["database_backup"]
    assert password in config["database"]["url"]
    server = make_server(config, env={"PLEX_TOKEN": PLEX_TOKEN})
    server.wait_for(lambda: scanned(server), timeout=60)

    sampler = Sampler([password, PLEX_TOKEN, API_TOKEN], dbname)
    sampler.start()
    probe = subprocess.Popen(
        ["ffprobe", "-v", "error", "-i", f"{server.url}/stream/channels/1.ts",
         "-read_intervals", "%+15", "-show_entries", "packet=codec_type", "-of", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    backup: dict[str, httpx.Response] = {}
    try:
        _wait_for(lambda: sampler.rounds and any(
            b"/relay/" in line for line in _every_cmdline().values()))
        # pg_dump waits on the lock, so it runs while the channel plays.
        with _table_lock(pg_url, "LOCK TABLE healing_outcomes IN ACCESS EXCLUSIVE MODE"):
            poster = threading.Thread(target=lambda: backup.update(
                response=httpx.post(f"{server.url}/api/backups", headers=AUTH, timeout=180)))
            poster.start()
            start = sampler.together
            _wait_for(lambda: sampler.together >= start + 20)
        poster.join(180)
        out, err = probe.communicate(timeout=120)
    finally:
        sampler.stop.set()
        sampler.join(30)
        if probe.poll() is None:
            probe.kill()
            probe.wait()

    assert not sampler.leaks, sampler.leaks[:3]
    assert sampler.together >= 20 and sampler.rounds > sampler.together
    assert probe.returncode == 0, err.decode(errors="replace")
    assert {p["codec_type"] for p in json.loads(out)["packets"]} == {"video", "audio"}
    assert plex.file_requests, "the channel did not read the media server's file"
    assert backup["response"].status_code == 201, backup["response"].text
    assert [p.name for p in folder.glob("*.tar.gz")], f"no backup in {folder}"
    assert password not in server.log and PLEX_TOKEN not in server.log
