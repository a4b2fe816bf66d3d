"""Running the server: plugins, config, app, Hypercorn, signals, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import faulthandler
import io
import logging
import os
import signal
import socket
import sys
from functools import partial
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets

from exstreamtv import secrets
from exstreamtv.app import create_app, hub_of
from exstreamtv.config.loader import load_config, plugin_settings, read_config_file
from exstreamtv.config.model import Config
from exstreamtv.errors import ConfigError, ExStreamTVError
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry, collect_registry

log = logging.getLogger("exstreamtv")
GRACEFUL_SECONDS = 3.0
SHUTDOWN_DEADLINE = GRACEFUL_SECONDS + 5.0


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    secrets.install()


def load_everything(path: str | Path) -> tuple[Config, PluginHost, Registry]:
    """Plugins (from the file's ``plugins`` section), then the validated config."""
    path = Path(path)
    raw = read_config_file(path)
    settings = plugin_settings(raw)
    host = PluginHost()
    host.load_plugins(settings.directories, settings.disabled)
    registry = collect_registry(host)
    config = load_config(path, registry)
    return config, host, registry


class _Config(HypercornConfig):
    """Hypercorn's config, with listening sockets that drop clients which stopped reading.

    A viewer that never reads would otherwise keep its connection (and a graceful
    shutdown) waiting forever on a full send buffer. ``TCP_USER_TIMEOUT`` (Linux; the
    accepted sockets inherit it) makes the kernel abort a connection whose sent data
    stays unacknowledged, zero-window probes included, for ``stalled_seconds``.
    """

    def __init__(self, stalled_seconds: float) -> None:
        super().__init__()
        self.stalled_seconds = stalled_seconds

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        option = getattr(socket, "TCP_USER_TIMEOUT", None)
        if option is not None:
            for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, option, int(self.stalled_seconds * 1000))
        return sockets


def _quiet_dropped_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: a client whose connection died (a viewer that stopped
    reading and was aborted after ``stalled_viewer_seconds``, a reset) is one log line, not
    a traceback from inside Hypercorn; everything else goes to the default handler."""
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ETIMEDOUT, errno.ECONNRESET, errno.EPIPE)
    ):
        transport = context.get("transport")
        peer = transport.get_extra_info("peername") if transport is not None else None
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
        log.info("Dropped the connection of %s: it stopped reading (%s)", where,
                 exc.strerror or type(exc).__name__)
        return
    loop.default_exception_handler(context)


async def _end_streams_on(stop: asyncio.Event, app: Any) -> None:
    """The shutdown trigger: on the signal, end every live stream before Hypercorn's
    graceful shutdown, so no endless response keeps a connection (and the exit) waiting."""
    await stop.wait()
    asyncio.get_running_loop().call_later(SHUTDOWN_DEADLINE, _force_exit)
    hub = hub_of(app)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(GRACEFUL_SECONDS):
            await hub.channels.stop_all()  # closes the buffers: TS responses end cleanly
            await hub.sessions.stop()  # cancels what is still stuck in a send


def _log_tasks() -> None:
    """Log where every asyncio task of the server waits (``kill -USR1``; SIGUSR2 gives the
    threads' stacks): what a stuck channel is waiting for, without a debugger."""
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        task.print_stack(limit=12, file=out)
    log.warning("%d asyncio tasks:\n%s", len(tasks), secrets.mask(out.getvalue()))


def _force_exit() -> None:
    """Backstop: Hypercorn's graceful shutdown can wait forever on a connection whose
    cancellation was lost (``asyncio.wait_for`` on Python 3.11); ffmpeg and the streams are
    already stopped by then, so leave instead of hanging."""
    log.warning("HTTP connections did not close within %.0fs of the stop signal; exiting",
                SHUTDOWN_DEADLINE)
    logging.shutdown()
    os._exit(0)


async def _serve(config: Config, host: PluginHost, registry: Registry) -> None:
    app = create_app(config, host, registry)
    hc = _Config(config.streaming.stalled_viewer_seconds)
    hc.bind = [f"{config.server.host}:{config.server.port}"]
    hc.accesslog = None
    hc.errorlog = None  # hypercorn.error propagates to our root handler: one line each
    hc.graceful_timeout = GRACEFUL_SECONDS
    hc.keep_alive_timeout = 5  # idle keep-alive connections (and their tasks) go after 5 s
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_dropped_connections)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _log_tasks)  # where every task waits, for support
    log.info("Serving on http://%s:%d (playlist: /api/channels.m3u)", config.server.host,
             config.server.port)
    try:
        await serve(app, hc, shutdown_trigger=partial(_end_streams_on, stop, app))
    except Exception:
        startup_error = app.extensions.get("exstreamtv_startup_error")
        if startup_error is not None:
            raise startup_error from None
        raise
    log.info("Stopped cleanly")


def run(config_path: str, host: str | None = None, port: int | None = None, *,
        node_id: str | None = None, advertise_url: str | None = None) -> int:
    """``exstreamtv serve``: returns the process exit code."""
    setup_logging()
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # stacks on demand, for support
    try:
        config, plugin_host, registry = load_everything(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(secrets.mask(f"{config_path}: {problem}"), file=sys.stderr)
        print("Fix the config (check it with: exstreamtv config check PATH)", file=sys.stderr)
        return 1
    except ExStreamTVError as exc:
        print(secrets.mask(str(exc)), file=sys.stderr)
        return 1
    from dataclasses import replace

    server = replace(config.server, host=host or config.server.host,
                     port=port or config.server.port)
    cluster = replace(config.cluster, node_id=node_id or config.cluster.node_id,
                      advertise_url=advertise_url or config.cluster.advertise_url)
    config = replace(config, server=server, cluster=cluster)
    try:
        asyncio.run(_serve(config, plugin_host, registry))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"port {server.port} on {server.host} is already in use: stop the other "
                  "server or pass --port", file=sys.stderr)
            return 1
        raise
    except ExStreamTVError as exc:
        print(secrets.mask(f"cannot start: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
