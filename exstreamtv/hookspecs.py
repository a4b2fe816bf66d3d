"""Every extension point of ExStreamTV: the table of contents of the system.

A plugin is a module (or object) with functions named after these specs, decorated
with ``exstreamtv.hookimpl``. Contribution hooks receive a ``register`` callback; the
core validates what is registered, refuses duplicates and records which plugin gave
what. ``docs/plugin_hooks.md`` documents each hook with an example; a test fails when
one is missing there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from exstreamtv.events import Event
    from exstreamtv.hub import Hub
    from exstreamtv.registry import Register, RegisterRoutes, RegisterSection

hookspec = pluggy.HookspecMarker("exstreamtv")


@hookspec
def register_sources(register: Register) -> None:
    """Register media source types: ``register(type, factory, schema)``; factory builds a MediaSource."""


@hookspec
def register_schedulers(register: Register) -> None:
    """Register schedule types: ``register(type, factory, schema)``; factory builds a Scheduler."""


@hookspec
def register_audio_pickers(register: Register) -> None:
    """Register audio stream pickers: ``register(name, factory)``; factory builds an AudioPicker."""


@hookspec
def register_subtitle_pickers(register: Register) -> None:
    """Register subtitle stream pickers: ``register(name, factory)``; factory builds a SubtitlePicker."""


@hookspec
def register_encoders(register: Register) -> None:
    """Register encoder types: ``register(type, factory, schema)``; factory returns an EncoderPreset."""


@hookspec
def register_error_screens(register: Register) -> None:
    """Register error screen visuals: ``register(mode, factory, schema)``; factory gives an ffmpeg input."""


@hookspec
def register_error_audio(register: Register) -> None:
    """Register error screen audio: ``register(mode, factory, schema)``; factory gives an ffmpeg input."""


@hookspec
def register_healing_strategies(register: Register) -> None:
    """Register healing strategies: ``register(name, factory)``; factory builds a HealingStrategy."""


@hookspec
def register_config_sections(register: RegisterSection) -> None:
    """Register top-level config sections a plugin owns: ``register(name, schema)``."""


@hookspec
def register_routes(register: RegisterRoutes) -> None:
    """Register HTTP routes: ``register(blueprint)`` with a Quart Blueprint."""


@hookspec
def startup(hub: Hub) -> Any:
    """The server is starting; may be a coroutine. Start background work here."""


@hookspec
def shutdown(hub: Hub) -> Any:
    """The server is stopping; may be a coroutine. Stop background work and release resources."""


@hookspec
def on_event(event: Event, hub: Hub) -> Any:
    """An event was published on the bus; may be a coroutine. Must not block."""
