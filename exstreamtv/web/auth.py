"""Who may call the management API.

When ``server.api_token`` is set, management calls need the token, either as
``Authorization: Bearer <token>`` (scripts, Home Assistant) or as the HttpOnly,
SameSite=Strict cookie the dashboard's login form sets. Requests authenticated by that
cookie that change something must also carry the CSRF token (double submit: the
``exstreamtv_csrf`` cookie echoed in ``X-CSRF-Token`` or a ``csrf_token`` form field).
Comparisons are constant-time. Without a configured token the API is open (LAN use).

A running server never loses its token through a config reload: an edit that drops
``api_token`` is refused unless it also sets ``server.auth_disabled: true``
(:func:`exstreamtv.config.reload.replacement_problems`), so these checks always read a
token the operator meant to have, or its deliberate absence.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from quart import request

from exstreamtv.web.common import error, hub

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

TOKEN_COOKIE = "exstreamtv_token"
CSRF_COOKIE = "exstreamtv_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer() -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


def token_required() -> bool:
    return bool(hub().config.server.api_token)


def logged_in() -> bool:
    """True when the request carries the right token (header or cookie) or none is needed."""
    expected = hub().config.server.api_token
    if not expected:
        return True
    bearer = _bearer()
    if bearer is not None:
        return _equal(bearer, expected)
    cookie = request.cookies.get(TOKEN_COOKIE)
    return cookie is not None and _equal(cookie, expected)


async def csrf_ok() -> bool:
    """For cookie-authenticated writes: the CSRF cookie echoed in a header or form field."""
    if request.method in SAFE_METHODS or _bearer() is not None:
        return True
    if not token_required() or request.cookies.get(TOKEN_COOKIE) is None:
        return True
    cookie = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.mimetype in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        given = (await request.form).get("csrf_token")
    return bool(cookie and given) and _equal(str(given), str(cookie))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def require_token(view: F) -> F:
    """Decorator: 401 with a JSON reason unless authorised; 403 on a failed CSRF check."""

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not logged_in():
            return error(401, "this call needs the API token: send 'Authorization: Bearer "
                              "<token>' or log in on the dashboard")
        if not await csrf_ok():
            return error(403, "missing or wrong CSRF token; reload the dashboard and retry")
        return await view(*args, **kwargs)

    return cast(F, wrapper)


def token_ok() -> bool:
    """Kept for callers of the first version of this module."""
    return logged_in()
