"""The management API token: ``Authorization: Bearer <server.api_token>``."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from quart import request

from exstreamtv.web.common import error, hub

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def token_ok() -> bool:
    """True when no token is configured or the request carries the right one."""
    expected = hub().config.server.api_token
    if not expected:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and given:
        return hmac.compare_digest(given.strip().encode(), expected.encode())
    cookie = request.cookies.get("exstreamtv_token")
    return cookie is not None and hmac.compare_digest(cookie.encode(), expected.encode())


def require_token(view: F) -> F:
    """Decorator: 401 with a JSON reason unless the request is authorised."""

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not token_ok():
            return error(401, "this call needs the API token: send 'Authorization: Bearer <token>'")
        return await view(*args, **kwargs)

    return cast(F, wrapper)
