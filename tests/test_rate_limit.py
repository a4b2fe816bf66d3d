"""Requests without the API token are rate-limited per client address (token bucket)."""

from __future__ import annotations

import time

import httpx

from exstreamtv.config.model import RateLimitConfig
from exstreamtv.web.rate_limit import RateLimiter

TOKEN = "limit-token"


def test_bucket_refills_at_the_configured_rate():
    limiter, config = RateLimiter(), RateLimitConfig(requests_per_second=2.0, burst=3)
    assert [limiter.take("a", config, now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", config, now=0.0) == 0.5
    assert limiter.take("b", config, now=0.0) == 0.0  # another address has its own bucket
    assert limiter.take("a", config, now=0.5) == 0.0


def test_flooding_client_gets_429_with_retry_after_and_streams_count_once(make_server, config_for):
    config = config_for(rate_limit={"requests_per_second": 0.5, "burst": 6})
    config["server"]["api_token"] = TOKEN
    server = make_server(config)
    statuses = []
    with httpx.Client(timeout=10) as client:
        for _ in range(20):
            statuses.append(client.get(f"{server.url}/lineup.json"))
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert "too many requests" in limited[0].json()["error"]
        # The token holder is not limited.
        authed = client.get(f"{server.url}/api/channels",
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert authed.status_code == 200
        # After Retry-After, the client is served again.
        time.sleep(int(limited[-1].headers["Retry-After"]) + 0.5)
        assert client.get(f"{server.url}/lineup.json").status_code == 200


def test_a_stream_costs_one_request_however_long_it_plays(make_server, config_for):
    server = make_server(config_for(rate_limit={"requests_per_second": 0.05, "burst": 4}))
    with httpx.Client(timeout=30) as client:
        received = 0
        with client.stream("GET", f"{server.url}/stream/channels/1.ts") as response:
            assert response.status_code == 200
            for part in response.iter_bytes():
                received += len(part)
                if received > 200_000:  # hundreds of chunks, seconds of play
                    break
        # Start-up health checks and the stream took at most 2 of the 4 tokens.
        assert client.get(f"{server.url}/discover.json").status_code == 200
