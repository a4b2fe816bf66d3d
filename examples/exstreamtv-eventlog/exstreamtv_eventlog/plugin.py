"""The plugin module named by the package's entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import voluptuous as vol

from exstreamtv import Event, VisualInput, hookimpl, mask_secrets

SECTION = "event_log"


@hookimpl
def register_config_sections(register: Any) -> None:
    register(SECTION, {
        vol.Optional("path", default="events.jsonl"): str,
        vol.Optional("kinds", default=[]): [str],   # empty: every kind
    })


@hookimpl
def on_event(event: Event, hub: Any) -> None:
    settings = hub.config.extra.get(SECTION) or {}
    kinds = settings.get("kinds") or []
    if kinds and event.kind not in kinds:
        return
    path = Path(settings.get("path", "events.jsonl"))
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(mask_secrets(event.to_dict()), default=str) + "\n")  # no tokens on disk


def clock(request: Any) -> VisualInput:
    """The local time, large, on a dark slate."""
    p = request.profile
    return VisualInput(
        ("-f", "lavfi", "-i", f"color=c=0x202020:s={p.width}x{p.height}:r={p.fps}"),
        f"drawtext=text='%{{localtime\\:%H\\\\\\:%M\\\\\\:%S}}':fontcolor=white:"
        f"fontsize={max(p.height // 6, 10)}:x=(w-tw)/2:y=(h-th)/2",
    )


@hookimpl
def register_error_screens(register: Any) -> None:
    register("clock", clock, None, "the time of day")
