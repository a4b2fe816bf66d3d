"""The ``exstreamtv`` command line: serve, config check, plugins list, probe, backup."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exstreamtv import __version__
from exstreamtv.errors import ConfigError, ExStreamTVError
from exstreamtv.secrets import mask

if TYPE_CHECKING:
    from exstreamtv.config.model import Config
    from exstreamtv.plugins import PluginHost
    from exstreamtv.registry import Registry

DEFAULT_CONFIG = "config/exstreamtv.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exstreamtv", description="Self-hosted live TV server")
    parser.add_argument("--version", action="version", version=f"exstreamtv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server in the foreground")
    serve.add_argument("--config", default=DEFAULT_CONFIG)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--node-id", help="this node's id in a cluster (cluster.enabled); "
                       "default: cluster.node_id, else one kept in server.data_directory")
    serve.add_argument("--advertise-url", help="the URL other cluster nodes reach this one "
                       "at (default: cluster.advertise_url, else http://host:port)")

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("path")

    plugins = sub.add_parser("plugins", help="plugin tools")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", required=True)
    plist = plugins_sub.add_parser("list", help="list loaded and broken plugins")
    plist.add_argument("--config")
    plist.add_argument("--json", action="store_true")

    probe = sub.add_parser("probe", help="print the stream analysis of a media file as JSON")
    probe.add_argument("file")
    probe.add_argument("--config", help="use this config's ffmpeg.ffprobe_path / ffmpeg_path "
                       f"(default: {DEFAULT_CONFIG} when it exists, else PATH)")

    backup = sub.add_parser("backup", help="database backups")
    backup_sub = backup.add_subparsers(dest="backup_command", required=True)
    bcreate = backup_sub.add_parser("create", help="take a backup now")
    blist = backup_sub.add_parser("list", help="list backups, newest first")
    blist.add_argument("--json", action="store_true")
    brestore = backup_sub.add_parser("restore", help="restore a backup (stop the server first, "
                                     "or use POST /api/backups/NAME/restore)")
    brestore.add_argument("name")
    for p in (bcreate, blist, brestore):
        p.add_argument("--config", default=DEFAULT_CONFIG)
    return parser


def _load(path: str) -> tuple[Config, PluginHost, Registry] | None:
    """``load_everything(path)``, or None after printing each config problem."""
    from exstreamtv.server import load_everything

    try:
        return load_everything(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(mask(f"{path}: {problem}"), file=sys.stderr)
        return None


def _config_check(path: str) -> int:
    loaded = _load(path)
    if loaded is None:
        return 1
    config, host, _registry = loaded
    for info in host.plugins.values():
        if info.error:
            print(f"warning: plugin {info.name} failed to load: {info.error}", file=sys.stderr)
    print(f"{path}: valid ({len(config.sources)} sources, {len(config.channels)} channels)")
    return 0


def _plugins_list(path: str | None, as_json: bool) -> int:
    from exstreamtv.config.loader import plugin_settings, read_config_file
    from exstreamtv.plugins import PluginHost
    from exstreamtv.registry import collect_registry

    host = PluginHost()
    if path:
        settings = plugin_settings(read_config_file(path))
        host.load_plugins(settings.directories, settings.disabled)
    else:
        host.load_plugins()
    collect_registry(host)
    rows = host.describe()
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "ok" if row["loaded"] and not row["hook_errors"] else "BROKEN"
        print(f"{row['name']:<28} {row['origin']:<12} {status}")
        print(f"    from:  {row['location']}")
        if row["hooks"]:
            print(f"    hooks: {', '.join(row['hooks'])}")
        if row["provides"]:
            print(f"    gives: {', '.join(row['provides'])}")
        if row["error"]:
            print(f"    error: {row['error']}")
        for hook, message in row["hook_errors"].items():
            print(f"    error in {hook}: {message}")
    return 0


def _probe(file: str, config_path: str | None) -> int:
    from exstreamtv.ffmpeg.locate import find_ffmpeg
    from exstreamtv.media.probe import probe

    if "://" not in file and not Path(file).exists():
        print(f"no such file: {file}", file=sys.stderr)
        return 1
    if config_path is None and Path(DEFAULT_CONFIG).exists():
        config_path = DEFAULT_CONFIG
    paths: tuple[str | None, str | None] = (None, None)
    if config_path is not None:
        loaded = _load(config_path)
        if loaded is None:
            return 1
        config = loaded[0]
        paths = (config.ffmpeg.ffmpeg_path, config.ffmpeg.ffprobe_path)
    tools = find_ffmpeg(*paths)
    info = asyncio.run(probe(file, tools.ffprobe))
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def _backup(args: argparse.Namespace) -> int:
    from exstreamtv.database.backup import check_name
    from exstreamtv.database.inuse import DatabaseClaim
    from exstreamtv.database.migrate import migrate
    from exstreamtv.database.service import make_managers

    loaded = _load(args.config)
    if loaded is None:
        return 1
    manager, backups = make_managers(loaded[0])
    if args.backup_command == "list":
        rows = [b.to_dict() for b in backups.list_backups()]
        if args.json:
            print(json.dumps(rows, indent=2))
        for row in [] if args.json else rows:
            print(f"{row['name']:<52} {row['created_iso'][:19]}  {row['size']:>12}  "
                  f"{row['kind']:<11} schema {row['schema_version']}")
        return 0
    if args.backup_command == "restore":
        check_name(args.name)
        backups.get(args.name)

    async def create() -> str:
        await manager.open()
        try:
            await migrate(manager)  # a database the server never started on
            info = await backups.create_backup("manual")
            return f"{info.name} ({backups.directory / info.file}, {info.size} bytes)"
        finally:
            await manager.close()

    async def restore() -> str:
        # Refused while a server uses the database: it would keep writing to the old one.
        claim = DatabaseClaim(manager.url, exclusive=True)
        await claim.acquire()
        try:
            await manager.open()
            try:
                await migrate(manager)
                pre = await backups.restore_backup(args.name)
            finally:
                await manager.close()
        finally:
            await claim.release()
        return f"restored {args.name}; the previous database is in backup {pre.name}"

    backups.clean_partials()
    print(asyncio.run(create() if args.backup_command == "create" else restore()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0 on success, 1 on a user error, 2 on an internal error."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from exstreamtv.server import run

            return run(args.config, args.host, args.port, node_id=args.node_id,
                       advertise_url=args.advertise_url)
        if args.command == "config":
            return _config_check(args.path)
        if args.command == "plugins":
            return _plugins_list(args.config, args.json)
        if args.command == "probe":
            return _probe(args.file, args.config)
        if args.command == "backup":
            return _backup(args)
    except ExStreamTVError as exc:
        print(mask(str(exc)), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{exc.filename or ''}: {exc.strerror}".strip(": "), file=sys.stderr)
        return 1
    except Exception as exc:  # an internal error: say so, with the type
        print(mask(f"internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
