"""Plugin loading, isolation of broken plugins, disabling, and drop-in contributions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry
from tests.helpers import channel, decode_errors

PLUGIN_DIR = Path(__file__).parent / "plugins"


def test_builtins_are_ordinary_plugins():
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    registry = collect_registry(host)
    assert {"local", "demo"} <= set(registry.types("source"))
    assert "ordered" in registry.types("scheduler")
    assert "software" in registry.types("encoder")
    assert all(info.origin == "built-in" and info.loaded for info in host.plugins.values())
    assert registry.get("source", "local").plugin == "sources.local"


def test_broken_plugins_are_isolated_and_reported():
    host = PluginHost()
    host.load_plugins([PLUGIN_DIR], entrypoints=False)
    registry = collect_registry(host)
    broken = host.plugins["broken_import"]
    assert not broken.loaded and "broken on purpose" in (broken.error or "")
    raising = host.plugins["raises_in_hook"]
    assert raising.loaded and "register_sources" in raising.hook_errors
    # Everything else still works, including another drop-in's contribution.
    assert "reverse" in registry.types("scheduler")
    assert registry.get("scheduler", "reverse").plugin == "reverse_order"
    assert "local" in registry.types("source")


def test_disabled_plugins_are_not_loaded():
    host = PluginHost()
    host.load_plugins([PLUGIN_DIR], disabled=["broken_import", "sources.demo"], entrypoints=False)
    assert "broken_import" not in host.plugins
    assert "sources.demo" not in host.plugins
    assert "demo" not in collect_registry(host).types("source")


def test_duplicate_type_is_refused_and_first_wins():
    from exstreamtv import hookimpl

    class Dup:
        @hookimpl
        def register_sources(self, register):
            register("local", lambda *a: None)

    host = PluginHost()
    host.load_plugins(entrypoints=False)
    host.register_object(Dup(), "dup")
    registry = collect_registry(host)
    assert registry.get("source", "local").plugin == "sources.local"
    assert "already registered" in host.plugins["dup"].hook_errors["register_sources"]


def test_server_keeps_serving_with_broken_plugins(make_server, config_for, tmp_path):
    config = config_for(plugins={"directories": [str(PLUGIN_DIR)]})
    config["channels"].append(channel(2, "Backwards", "clips"))
    config["channels"][1]["schedule"]["type"] = "reverse"
    server = make_server(config)
    plugins = {p["name"]: p for p in server.get("/api/plugins").json()}
    assert plugins["broken_import"]["loaded"] is False
    assert "register_sources" in plugins["raises_in_hook"]["hook_errors"]
    health = server.get("/api/health").json()
    assert health["status"] == "degraded"
    assert "broken_import" in health["components"]["plugins"]["failed"]
    code, errors = decode_errors(f"{server.url}/stream/channels/2.ts", 3)
    assert code == 0 and not errors.strip(), errors
    assert "raised in hook on_event" in server.log or "on_event" in server.log


def test_plugins_list_cli_shows_origin_hooks_and_errors(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"plugins:\n  directories: [{PLUGIN_DIR}]\n")
    out = subprocess.run([sys.executable, "-m", "exstreamtv", "plugins", "list", "--config",
                          str(cfg), "--json"], capture_output=True, text=True, check=True)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["sources.local"]["origin"] == "built-in"
    assert rows["reverse_order"]["origin"] == "directory"
    assert rows["reverse_order"]["hooks"] == ["register_schedulers"]
    assert "broken on purpose" in rows["broken_import"]["error"]
    text = subprocess.run([sys.executable, "-m", "exstreamtv", "plugins", "list", "--config",
                           str(cfg)], capture_output=True, text=True, check=True).stdout
    assert "BROKEN" in text and "broken_import" in text


def test_world_writable_plugin_folders_and_files_are_refused(tmp_path, caplog):
    plugin = (PLUGIN_DIR / "reverse_order.py").read_text()
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    (open_folder / "reverse_order.py").write_text(plugin)
    open_folder.chmod(0o777)
    open_file = tmp_path / "closed"
    open_file.mkdir()
    (open_file / "reverse_order.py").write_text(plugin)
    (open_file / "reverse_order.py").chmod(0o666)
    (open_file / "safe_one.py").write_text(plugin.replace("reverse", "safe_reverse"))
    host = PluginHost()
    with caplog.at_level("ERROR"):
        host.load_plugins([open_folder, open_file], entrypoints=False)
    folder_info = host.plugins[f"dir:{open_folder}"]
    assert "writable by every user (mode 0777)" in folder_info.error
    assert f"chmod o-w {open_folder}" in folder_info.error
    assert "writable by every user (mode 0666)" in host.plugins["reverse_order"].error
    assert host.plugins["safe_one"].loaded
    registry = collect_registry(host)
    assert "reverse" not in registry.types("scheduler")
    assert "safe_reverse" in registry.types("scheduler")
    assert "writable by every user" in caplog.text
