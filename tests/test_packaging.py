"""Packaging: every package is listed, and the wheel ships the built-ins as exstreamtv_plugins."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("exstreamtv", "exstreamtv"), ("plugins", "exstreamtv_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found - listed == set(), f"add to pyproject [tool.setuptools] packages: {found - listed}"


def test_wheel_ships_builtins_without_claiming_plugins(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("exstreamtv-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "exstreamtv_plugins/sources/local.py" in names
    assert "exstreamtv/hookspecs.py" in names
    assert not any(n.startswith("plugins/") for n in names)
