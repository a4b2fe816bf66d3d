"""The web dashboard at ``/``: channels, guide, live preview, and the management panels.

Server-rendered (Jinja2, autoescaped) with a small vanilla script; no build step. What
M3U/XMLTV already show (channels, now/next, the guide) is open; everything that acts or
shows viewers needs the API token, entered once in the login form and kept in an
HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, redirect, render_template, request
from quart.typing import ResponseReturnValue

from exstreamtv.secrets import mask
from exstreamtv.web.api import channel_summary, health_report
from exstreamtv.web.auth import (
    CSRF_COOKIE,
    SESSION_SECONDS,
    TOKEN_COOKIE,
    identify,
    logged_in,
    new_csrf_token,
    same_origin,
    sessions,
    token_required,
)
from exstreamtv.web.common import base_url, error, hub
from exstreamtv.web.grid import grid_blocks

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

GUIDE_HOURS = 3
#: Entries shorter than this (about 0.5% of the grid) are drawn as one "N short items" block,
#: so the page stays small however short the items are.
MIN_BLOCK_SECONDS = 60


def guide_rows(now: float, hours: int = GUIDE_HOURS) -> list[dict[str, Any]]:
    """Per channel, the entries of the next ``hours`` as percentages of the grid width."""
    h = hub()
    start = now - now % 1800
    end = start + hours * 3600
    rows = []
    for channel in h.config.channels:
        if not channel.enabled:
            continue
        try:
            blocks = grid_blocks(h.channels.scheduler(channel.number).entries(start),
                                 start, end, MIN_BLOCK_SECONDS)
        except Exception:
            blocks = []
        rows.append({"number": channel.number, "name": channel.name, "blocks": blocks})
    return rows


@bp.route("/")
async def index() -> Response:
    h = hub()
    now = time.time()
    channels = [channel_summary(h, c.number, now) for c in h.config.channels if c.enabled]
    start = now - now % 1800
    marks = [start + i * 1800 for i in range(GUIDE_HOURS * 2)]
    authorised = logged_in()
    html = await render_template(
        "dashboard.html",
        name=h.config.server.name,
        base=base_url(),
        health=health_report(h)["status"],
        channels=channels,
        guide=guide_rows(now),
        marks=marks,
        now=now,
        authorised=authorised,
        token_required=token_required(),
        login_error=request.args.get("login") == "failed",
    )
    response = Response(mask(html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: https: http:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    if authorised and token_required() and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, new_csrf_token(), samesite="Strict", httponly=False)
    return response


@bp.route("/login", methods=["POST"])
async def login() -> ResponseReturnValue:
    """The token, posted once, opens a new session (a fresh id, whatever cookie came in)."""
    if not same_origin():
        return error(403, "log in from the dashboard's own page")
    form = await request.form
    given = str(form.get("token", ""))
    identity = identify(given) if given else None
    if identity is None:
        return redirect("/?login=failed", 303)
    store = sessions()
    store.end(request.cookies.get(TOKEN_COOKIE))
    response = redirect("/", 303)
    secure = request.scheme == "https"
    response.set_cookie(TOKEN_COOKIE, store.create(identity, given), httponly=True,
                        samesite="Strict", secure=secure, max_age=SESSION_SECONDS)
    response.set_cookie(CSRF_COOKIE, new_csrf_token(), httponly=False, samesite="Strict",
                        secure=secure, max_age=SESSION_SECONDS)
    return response


@bp.route("/logout", methods=["POST"])
async def logout() -> ResponseReturnValue:
    if not same_origin():
        return error(403, "log out from the dashboard's own page")
    sessions().end(request.cookies.get(TOKEN_COOKIE))
    response = redirect("/", 303)
    response.delete_cookie(TOKEN_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
