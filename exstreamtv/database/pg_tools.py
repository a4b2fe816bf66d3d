"""Running PostgreSQL's client tools (pg_dump, pg_restore) without exposing the password.

The password of ``database.url`` never goes on a command line, where every local user
could read it (``ps``, ``/proc/*/cmdline``): the tools get a URL without it and the
password in ``PGPASSWORD``, in the child's environment only (readable by the same user
and root, like the config file that holds it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from exstreamtv.errors import ExStreamTVError


class ToolError(ExStreamTVError):
    """A PostgreSQL client tool that is missing or failed; the message says why."""


def pg_env_and_url(url: str) -> tuple[dict[str, str], str]:
    """The child environment and a libpq URL for ``url``: the password (in the URL's
    user part or its ``password`` query parameter) is in ``PGPASSWORD``, not the URL."""
    parsed = make_url(url)
    env = dict(os.environ)
    password = parsed.password or parsed.query.get("password")
    if isinstance(password, tuple):
        password = password[-1]
    if password:
        env["PGPASSWORD"] = str(password)
    # Built afresh: URL.set(password=None) would keep the password (None means "unchanged").
    plain = URL.create("postgresql", username=parsed.username, host=parsed.host,
                       port=parsed.port, database=parsed.database,
                       query={k: v for k, v in parsed.query.items() if k != "password"})
    return env, plain.render_as_string(hide_password=False)


def pg_tool(name: str) -> str:
    """The path of PostgreSQL client tool ``name``; :class:`ToolError` saying what to
    install when it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        raise ToolError(
            f"PostgreSQL backups need {name} on PATH (Debian/Ubuntu: apt install "
            "postgresql-client, the same major version as the server)")
    return path


def run_tool(argv: list[str], env: dict[str, str]) -> None:
    """Run ``argv`` to the end; :class:`ToolError` with its last error line on failure."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolError(f"{Path(argv[0]).name} failed: {message[-1] if message else proc.returncode}")
