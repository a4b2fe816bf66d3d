"""``create_app(config, plugin_host)``: the Quart app, wired and nothing more."""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from exstreamtv.config.model import Config
from exstreamtv.errors import ExStreamTVError
from exstreamtv.hub import Hub
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import Registry
from exstreamtv.web import (
    api,
    artwork,
    backups,
    bodies,
    cluster,
    config_edit,
    config_sections,
    dashboard,
    editor_page,
    guide,
    guide_page,
    hdhomerun,
    healing,
    iptv,
    library,
    live,
    openapi,
    rate_limit,
    sources,
    streams,
)
from exstreamtv.web.common import error
from exstreamtv.web.documents import DocumentCache
from exstreamtv.web.rate_limit import RateLimiter

log = logging.getLogger(__name__)


def create_app(
    config: Config, plugin_host: PluginHost, registry: Registry | None = None, *,
    watch_config: bool = True,
) -> Quart:
    """The server app for ``config`` with the plugins of ``plugin_host``."""
    app = Quart("exstreamtv", static_folder=None)  # the dashboard blueprint serves /static
    app.config["RESPONSE_TIMEOUT"] = None
    bodies.install(app)  # before the blueprints: their <int:...> must be ASCII-only
    hub = Hub(config, plugin_host, registry)
    app.extensions["exstreamtv"] = hub
    app.extensions["exstreamtv_documents"] = DocumentCache()
    limiter = RateLimiter()

    @app.before_request
    async def limit_rate() -> tuple[Response, int] | None:
        return await rate_limit.check(limiter) or await bodies.check_body()

    for blueprint in (iptv.bp, guide.bp, hdhomerun.bp, streams.bp, api.bp, backups.bp,
                      sources.bp, healing.bp, cluster.bp, live.bp, openapi.bp, artwork.bp,
                      config_edit.bp, config_sections.bp, editor_page.bp, guide_page.bp,
                      library.bp, dashboard.bp):
        app.register_blueprint(blueprint)
    for blueprint, plugin in hub.registry.blueprints:
        try:
            app.register_blueprint(blueprint)
        except Exception as exc:
            plugin_host.record_hook_error(plugin, "register_routes", exc)

    @app.before_serving
    async def start() -> None:
        try:
            await hub.start(watch=watch_config)
        except ExStreamTVError as exc:  # reported by the CLI as a user error (exit 1)
            app.extensions["exstreamtv_startup_error"] = exc
            raise

    @app.after_serving
    async def stop() -> None:
        app.extensions["exstreamtv_documents"].shutdown()
        await hub.stop()

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> tuple[Response, int]:
        response, status = error(exc.code or 500, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response, status

    @app.errorhandler(UnicodeDecodeError)
    async def not_utf8(exc: UnicodeDecodeError) -> tuple[Response, int]:
        # A JSON body that is not UTF-8, met where a route (after its token check) reads it.
        return error(400, "the request body is not valid UTF-8")

    @app.errorhandler(Exception)
    async def internal_error(exc: Exception) -> tuple[Response, int]:
        log.exception("Unhandled error in a request", exc_info=exc)
        return error(500, "internal error; the server log has the details")

    return app


def hub_of(app: Any) -> Hub:
    """The hub inside an app made by :func:`create_app`."""
    value: Hub = app.extensions["exstreamtv"]
    return value
