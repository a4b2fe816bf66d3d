"""What the bridge publishes: server and channel state, events without secrets, device id.

The self-healing subsystem and the backup manager are optional parts of the hub; they
are reached defensively (``getattr(hub, "healing", None)``) so the bridge works with
or without them.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any

from exstreamtv import Event, FixEvent, Hub, channel_summary, health_report

# -- device id ---------------------------------------------------------------------


def device_id(hub: Hub) -> str:
    """The server's stable id: ``server.device_id``, else ``<data_directory>/device_id``.

    The file is shared with the HDHomeRun emulation: whoever starts first writes it
    (8 hex digits, created atomically) and everyone else reads it.
    """
    configured = hub.config.server.device_id
    if configured:
        return str(configured)
    path = Path(hub.config.server.data_directory) / "device_id"
    with contextlib.suppress(OSError):
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    new = secrets.token_hex(4).upper()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip() or new
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new + "\n")
    return new


# -- events ------------------------------------------------------------------------


def event_payload(event: Event) -> dict[str, Any]:
    """An event as the JSON-ready mapping published on ``events/<kind>``.

    Secrets are masked by the bridge for every payload it publishes (``mask_secrets``).
    """
    return event.to_dict()


# -- self-healing, defensively -------------------------------------------------------


async def maybe_await(value: Any) -> Any:
    """``value``, awaited when it is awaitable (optional parts may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


def _field(item: Any, *names: str) -> Any:
    for name in names:
        if isinstance(item, dict) and name in item:
            return item[name]
        if hasattr(item, name):
            return getattr(item, name)
    return None


async def pending_fixes(hub: Hub) -> list[dict[str, Any]]:
    """Fixes waiting for approval, from ``hub.healing`` when it exists."""
    healing = getattr(hub, "healing", None)
    if healing is None:
        return []
    source = getattr(healing, "pending", None)
    try:
        items = await maybe_await(source() if callable(source) else source)
        items = list(items.values() if isinstance(items, dict) else items or [])
    except Exception:
        return []
    out = []
    for item in items:
        fix_id = _field(item, "id", "fix_id")
        if fix_id is None:
            continue
        out.append({
            "id": str(fix_id),
            "issue": str(_field(item, "issue", "issue_type") or ""),
            "strategy": str(_field(item, "strategy", "strategy_name") or ""),
            "channel": _field(item, "channel", "channel_number"),
            "risk": str(_field(item, "risk", "risk_level") or ""),
        })
    return out


# -- state ---------------------------------------------------------------------------


class FixCounter:
    """Applied fixes seen on the bus, for "fixes in the last hour"."""

    def __init__(self) -> None:
        self.applied: deque[float] = deque(maxlen=10000)

    def note(self, event: Event) -> None:
        if isinstance(event, FixEvent) and event.action == "applied":
            self.applied.append(event.timestamp)

    def last_hour(self, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - 3600
        while self.applied and self.applied[0] < cutoff:
            self.applied.popleft()
        return len(self.applied)


def server_state(hub: Hub, fixes: FixCounter, pending: list[dict[str, Any]],
                 selected: str) -> dict[str, Any]:
    """The server device's state topic payload."""
    report = health_report(hub)
    troubled = sorted(name for name, c in report["components"].items()
                      if c.get("status", "ok") != "ok")
    return {
        "channels_on_air": sum(1 for p in hub.channels.pipelines.values() if p.running),
        "viewers": len(hub.sessions.viewers()),  # a playlist fetch alone is no viewer
        "health": report["status"],
        "problem": report["status"] != "ok",
        "problems": troubled,
        "fixes_last_hour": fixes.last_hour(),
        "fixes_pending": len(pending),
        "pending": pending,
        "selected_fix": selected,
    }


def health_score(summary: dict[str, Any]) -> int:
    """0-100 for one channel: schedule health, pipeline state, failures, failing items."""
    pipeline = summary.get("pipeline") or {}
    schedule = (summary.get("schedule_health") or {}).get("status", "ok")
    items = (summary.get("health") or {}).get("status", "ok")
    if pipeline.get("state") == "error" or schedule == "error":
        return 0
    score = 100 - 25 * int(pipeline.get("failures") or 0)
    if "degraded" in (schedule, items):
        score = min(score, 50)
    return max(0, min(100, score))


def channel_state(hub: Hub, number: int) -> dict[str, Any]:
    """One channel's state topic payload: now playing, viewers, health, streaming.

    ``problem`` is true while the channel fails items repeatedly; ``failing_items``
    names them (title, failures, last error, whether it is left out of the playout).
    """
    summary = channel_summary(hub, number)
    health = summary["health"]
    pipeline = summary.get("pipeline") or {}
    now = summary.get("now")
    streaming = pipeline.get("state") == "running"
    title = (pipeline.get("title") if streaming else None) or (now or {}).get("title") or "Off air"
    return {
        "number": summary["number"],
        "name": summary["name"],
        "title": title,
        "now": now,
        "next": summary.get("next"),
        "viewers": summary["viewers"],
        "health_score": health_score(summary),
        "streaming": streaming,
        "state": pipeline.get("state", "stopped"),
        "restarts": pipeline.get("restarts", 0),
        "failures": pipeline.get("failures", 0),
        "health": health["status"],
        "problem": health["status"] != "ok",
        "health_reason": health["reason"],
        "failing_items": health["failing_items"],
    }
