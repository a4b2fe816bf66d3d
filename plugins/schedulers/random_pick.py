"""``type: random``: weighted random picks, planned per block from a seed.

Options: ``collection`` (one collection) or ``sources: [{collection, weight}]``;
``seed``, ``epoch``, ``block_hours`` (default 24) and ``filler`` (a collection for the
end of a block that no item fits; offline without one).
"""

from __future__ import annotations

from typing import Any

from exstreamtv import RANDOM_SCHEMA, RandomScheduler, hookimpl


@hookimpl
def register_schedulers(register: Any) -> None:
    register("random", RandomScheduler, RANDOM_SCHEMA, "weighted random picks")
