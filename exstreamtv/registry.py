"""The component registry: which plugin provides which ``type:``.

Contribution hooks hand plugins a ``register`` callback bound to one kind of component
and to the plugin's name. The registry validates each registration, refuses a second
registration of the same type (the first wins, the second plugin gets an error), and
answers lookups with errors that list what is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import voluptuous as vol

from exstreamtv.errors import PluginError

#: Component kinds and the hook that registers each.
KIND_HOOKS: Mapping[str, str] = {
    "source": "register_sources",
    "scheduler": "register_schedulers",
    "audio_picker": "register_audio_pickers",
    "subtitle_picker": "register_subtitle_pickers",
    "encoder": "register_encoders",
    "error_screen": "register_error_screens",
    "error_audio": "register_error_audio",
    "healing_strategy": "register_healing_strategies",
}


class Register(Protocol):
    """The callback contribution hooks receive."""

    def __call__(
        self,
        type_name: str,
        factory: Callable[..., Any],
        schema: Mapping[Any, Any] | vol.Schema | None = None,
        description: str = "",
    ) -> None: ...


class RegisterSection(Protocol):
    """The callback ``register_config_sections`` receives."""

    def __call__(self, name: str, schema: Mapping[Any, Any] | vol.Schema) -> None: ...


class RegisterRoutes(Protocol):
    """The callback ``register_routes`` receives."""

    def __call__(self, blueprint: Any) -> None: ...


@dataclass(frozen=True)
class Component:
    """One registered component: its kind, type name, factory, option schema and plugin."""

    kind: str
    type: str
    factory: Callable[..., Any]
    schema: vol.Schema
    plugin: str
    description: str = ""


@dataclass
class Registry:
    """Everything plugins registered, by kind and type name."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KIND_HOOKS}
    )
    sections: dict[str, tuple[vol.Schema, str]] = field(default_factory=dict)
    blueprints: list[tuple[Any, str]] = field(default_factory=list)

    def registrar(self, kind: str, plugin: str) -> Register:
        """A ``register`` callback that records components of ``kind`` from ``plugin``."""

        def register(
            type_name: str,
            factory: Callable[..., Any],
            schema: Mapping[Any, Any] | vol.Schema | None = None,
            description: str = "",
        ) -> None:
            if not isinstance(type_name, str) or not type_name.strip():
                raise PluginError(f"a {kind} needs a non-empty type name, got {type_name!r}")
            if not callable(factory):
                raise PluginError(f"{kind} '{type_name}': factory is not callable")
            known = self.components[kind]
            if type_name in known:
                raise PluginError(
                    f"{kind} type '{type_name}' is already registered by plugin "
                    f"'{known[type_name].plugin}'"
                )
            compiled = schema if isinstance(schema, vol.Schema) else vol.Schema(dict(schema or {}))
            known[type_name] = Component(kind, type_name, factory, compiled, plugin, description)

        return register

    def section_registrar(self, plugin: str) -> RegisterSection:
        """A callback that records a top-level config section owned by ``plugin``."""

        def register(name: str, schema: Mapping[Any, Any] | vol.Schema) -> None:
            if name in self.sections:
                raise PluginError(
                    f"config section '{name}' is already registered by '{self.sections[name][1]}'"
                )
            compiled = schema if isinstance(schema, vol.Schema) else vol.Schema(dict(schema))
            self.sections[name] = (compiled, plugin)

        return register

    def routes_registrar(self, plugin: str) -> RegisterRoutes:
        """A callback that records a Quart blueprint from ``plugin``."""

        def register(blueprint: Any) -> None:
            self.blueprints.append((blueprint, plugin))

        return register

    def types(self, kind: str) -> list[str]:
        """Known type names of ``kind``, sorted."""
        return sorted(self.components[kind])

    def get(self, kind: str, type_name: str) -> Component:
        """The component of ``kind`` named ``type_name``; KeyError lists the known ones."""
        try:
            return self.components[kind][type_name]
        except KeyError:
            known = ", ".join(self.types(kind)) or "none"
            raise KeyError(f"unknown {kind} type '{type_name}' (known: {known})") from None

    def provided_by(self, plugin: str) -> list[str]:
        """Human-readable list of what ``plugin`` registered."""
        out = [
            f"{comp.kind}:{comp.type}"
            for kind in self.components.values()
            for comp in kind.values()
            if comp.plugin == plugin
        ]
        out += [f"config_section:{name}" for name, (_, p) in self.sections.items() if p == plugin]
        out += [f"routes:{bp.name}" for bp, p in self.blueprints if p == plugin]
        return out


def collect_registry(host: Any) -> Registry:
    """Ask every loaded plugin (a PluginHost) for its contributions; isolate failures."""
    registry = Registry()
    for kind, hook_name in KIND_HOOKS.items():
        host.call_with_registrar(hook_name, lambda plugin, k=kind: registry.registrar(k, plugin))
    host.call_with_registrar("register_config_sections", registry.section_registrar)
    host.call_with_registrar("register_routes", registry.routes_registrar)
    for name, info in host.plugins.items():
        info.provides = registry.provided_by(name)
    return registry
