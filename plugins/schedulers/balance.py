"""``type: balance``: sources shared by weight with a cooldown per source (spec 3.2).

The weight calculator, cooldown tracker and source selector live in
``exstreamtv.scheduling.balance``; docs/scheduling.md describes every key.
"""

from __future__ import annotations

from typing import Any

from exstreamtv import BALANCE_SCHEMA, BalanceScheduler, hookimpl


@hookimpl
def register_schedulers(register: Any) -> None:
    register("balance", BalanceScheduler, BALANCE_SCHEMA, "weighted sources with cooldowns")
