"""Who may call the management API, and what they may do.

Tokens come from the config: ``server.api_token`` (an admin, named ``api-token``) and
``server.tokens``, each with a name and a role (:class:`~exstreamtv.config.model.Role`):
a *viewer* may read (GET), an *admin* may change things too. A request names its token
in ``Authorization: Bearer <token>`` (scripts, Home Assistant) or carries the dashboard's
session cookie. Tokens are never accepted in a URL.

Browser sessions: the login form posts the token once; the server answers with a fresh,
random session id in an HttpOnly, SameSite=Strict cookie (the token itself never goes
into a cookie). A new id is made at every login and ids the server did not make are
ignored, so a planted cookie (session fixation) logs nobody in. A session ends at logout,
after :data:`SESSION_SECONDS`, at a server restart, or as soon as its token leaves the
config. Requests authenticated by the cookie that change something must also carry the
CSRF token (double submit: the ``exstreamtv_csrf`` cookie echoed in ``X-CSRF-Token`` or a
``csrf_token`` form field). Comparisons are constant-time.

Without any configured token the API is open (LAN use) and every caller is an admin named
``anonymous``. A running server never loses its tokens through a config reload (see
:func:`exstreamtv.config.reload.replacement_problems`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from quart import current_app, request

from exstreamtv.cluster.wire import PEER_HEADER, SECRET_HEADER
from exstreamtv.config.model import Role, ServerConfig
from exstreamtv.web.common import error, hub

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: The session cookie (its value is a random session id, never a token).
TOKEN_COOKIE = "exstreamtv_token"
CSRF_COOKIE = "exstreamtv_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 30 * 24 * 3600
MAX_SESSIONS = 1000


@dataclass(frozen=True)
class Identity:
    """Who is calling: the token's name (recorded with changes) and its role."""

    name: str
    role: Role

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN


ANONYMOUS = Identity("anonymous", Role.ADMIN)


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer() -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


def _tokens(server: ServerConfig) -> list[tuple[str, Identity]]:
    out = [(t.token, Identity(t.name, t.role)) for t in server.tokens]
    if server.api_token:
        out.insert(0, (server.api_token, Identity("api-token", Role.ADMIN)))
    return out


def identify(token: str) -> Identity | None:
    """The identity of ``token`` in the running config (every entry compared)."""
    found = None
    for expected, identity in _tokens(hub().config.server):
        if _equal(token, expected) and found is None:
            found = identity
    return found


@dataclass
class _Session:
    identity: Identity
    token_digest: str
    expires: float


class SessionStore:
    """Browser sessions of one app: random ids to the identity that logged in."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}

    def create(self, identity: Identity, token: str) -> str:
        now = time.time()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = _Session(identity, _digest(token), now + SESSION_SECONDS)
        return sid

    def end(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def identity(self, sid: str) -> Identity | None:
        """The session's identity while it lasts and its token is still configured."""
        session = self._sessions.get(sid)
        if session is None or session.expires <= time.time():
            return None
        for token, identity in _tokens(hub().config.server):
            if hmac.compare_digest(_digest(token), session.token_digest):
                return identity  # the role as configured now
        self._sessions.pop(sid, None)
        return None


def sessions() -> SessionStore:
    store = current_app.extensions.get("exstreamtv_sessions")
    if store is None:
        store = current_app.extensions["exstreamtv_sessions"] = SessionStore()
    assert isinstance(store, SessionStore)
    return store


def token_required() -> bool:
    return bool(_tokens(hub().config.server))


def current_identity() -> Identity | None:
    """Who the request comes from; None when a token is needed and none matches."""
    if not token_required():
        return ANONYMOUS
    bearer = _bearer()
    if bearer is not None:
        return identify(bearer)
    peer = _peer()
    if peer is not None:
        return peer
    sid = request.cookies.get(TOKEN_COOKIE)
    return sessions().identity(sid) if sid else None


def _peer() -> Identity | None:
    """Another node of the lineup asking for its part of a lineup-wide view: a read-only
    identity, when it carries the cluster secret (see exstreamtv.cluster.peers)."""
    name = request.headers.get(PEER_HEADER)
    node = hub().cluster
    if not name or node is None or not node.secret:
        return None
    if not _equal(request.headers.get(SECRET_HEADER, ""), node.secret):
        return None
    return Identity(f"node {name[:64]}", Role.VIEWER)


def logged_in() -> bool:
    """True when the request carries a valid token or session (or none is needed)."""
    return current_identity() is not None


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


def same_origin() -> bool:
    """False when the browser says the request comes from another site (``Origin`` or
    ``Sec-Fetch-Site``): the login and logout forms, which have no session yet to hold a
    CSRF token, refuse those (login CSRF, forced logout). Scripts send neither header."""
    origin = request.headers.get("Origin")
    # The host only (not the scheme): behind a TLS proxy the page is https, the hop http.
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def require_token(view: F) -> F:
    """Decorator: 401 unless authorised; 403 for a viewer's change or a failed CSRF check.

    GET/HEAD need any role; every other method needs an admin.
    """

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        identity = current_identity()
        if identity is None:
            return error(401, "this call needs the API token: send 'Authorization: Bearer "
                              "<token>' or log in on the dashboard")
        if request.method not in SAFE_METHODS and not identity.admin:
            return error(403, f"the token '{identity.name}' has the {identity.role.value} role, "
                              "which may only read; changes need a token with role: admin")
        if not await csrf_ok():
            return error(403, "missing or wrong CSRF token; reload the dashboard and retry")
        return await view(*args, **kwargs)

    return cast(F, wrapper)


def token_ok() -> bool:
    """Kept for callers of the first version of this module."""
    return logged_in()
