"""Requests per client address, as token buckets (``rate_limit`` in the config).

Every request that does not carry the configured API token (as a bearer header or the
dashboard's login cookie) takes one token from its client address's bucket; an empty
bucket answers ``429`` with ``Retry-After``. A bucket holds ``burst`` tokens and refills at ``requests_per_second``. A stream is one request
however long it plays, so viewers are counted per connection, not per byte; an HLS
player costs one request per segment (one every few seconds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from quart import Response, request

from exstreamtv.config.model import RateLimitConfig
from exstreamtv.web.auth import logged_in, token_required
from exstreamtv.web.common import error, hub

#: Past this many tracked addresses, full (idle) buckets are forgotten.
MAX_TRACKED = 10_000


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by client address."""

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}

    def take(self, address: str, config: RateLimitConfig, now: float | None = None) -> float:
        """Take a token for ``address``: 0.0 when allowed, else seconds until one is due."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(address)
        if bucket is None:
            if len(self.buckets) >= MAX_TRACKED:
                self._forget_idle(config, now)
            bucket = self.buckets[address] = Bucket(float(config.burst), now)
        else:
            refill = (now - bucket.updated) * config.requests_per_second
            bucket.tokens = min(float(config.burst), bucket.tokens + refill)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / config.requests_per_second

    def _forget_idle(self, config: RateLimitConfig, now: float) -> None:
        full = config.burst / config.requests_per_second
        for address, bucket in list(self.buckets.items()):
            if now - bucket.updated >= full:
                del self.buckets[address]


def _authenticated() -> bool:
    """The request carries the configured API token (header or dashboard cookie)."""
    return token_required() and logged_in()


async def check(limiter: RateLimiter) -> tuple[Response, int] | None:
    """For ``before_request``: a 429 response when this client is over its rate."""
    config = hub().config.rate_limit
    if not config.enabled or _authenticated():
        return None
    wait = limiter.take(request.remote_addr or "unknown", config)
    if wait <= 0:
        return None
    response, status = error(429, f"too many requests from {request.remote_addr}; retry in "
                                  f"{math.ceil(wait)} s (rate_limit.requests_per_second)")
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response, status
