"""The plugin manager: loads built-ins, installed and drop-in plugins, and isolates them.

Plugins come from three places, in this order:

1. built-ins: the modules listed in ``exstreamtv_plugins.BUILTIN_PLUGINS``;
2. installed packages: entry points in the group ``exstreamtv``;
3. drop-in folders: every ``*.py`` file and package folder in ``plugins.directories``.
   A folder, file or package that every user may write to is refused (logged, and listed
   with its error): anyone on the machine could otherwise run code inside the server.

Nothing is loaded at import time: call :meth:`PluginHost.load_plugins`. A plugin that
fails to import, fails hook validation, or raises inside a hook is recorded with its
error and left out; every other plugin keeps working.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import stat
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from exstreamtv import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "exstreamtv"


@dataclass
class PluginInfo:
    """What the server knows about one plugin: origin, hooks, and any error."""

    name: str
    origin: str  # "built-in" | "entry point" | "directory"
    location: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    hook_errors: dict[str, str] = field(default_factory=dict)
    provides: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "location": self.location,
            "loaded": self.loaded,
            "hooks": self.hooks,
            "provides": self.provides,
            "error": self.error,
            "hook_errors": self.hook_errors,
        }


def _short_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


class PluginHost:
    """A pluggy manager plus a record of every plugin and the isolation of its hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("exstreamtv")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}

    # -- loading -------------------------------------------------------------

    def load_plugins(
        self,
        directories: Iterable[str | Path] = (),
        disabled: Iterable[str] = (),
        *,
        builtins: bool = True,
        entrypoints: bool = True,
    ) -> None:
        """Load built-in, entry-point and drop-in plugins, skipping ``disabled`` names."""
        skip = set(disabled)
        if builtins:
            from exstreamtv_plugins import BUILTIN_PLUGINS

            for dotted in BUILTIN_PLUGINS:
                name = dotted.removeprefix("exstreamtv_plugins.")
                if name in skip:
                    continue
                self._load(name, "built-in", dotted, lambda d=dotted: importlib.import_module(d))
        if entrypoints:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in skip:
                    continue
                self._load(ep.name, "entry point", ep.value, ep.load)
        for folder in directories:
            self._load_directory(Path(folder), skip)

    def register_object(self, plugin: object, name: str, origin: str = "built-in") -> None:
        """Register an already-imported plugin object (used by tests and embedders)."""
        self._load(name, origin, repr(plugin), lambda: plugin)

    def _load_directory(self, folder: Path, skip: set[str]) -> None:
        if not folder.is_dir():
            log.error(
                "Plugin directory %s does not exist; create it or remove it from "
                "plugins.directories",
                folder,
            )
            self.plugins[f"dir:{folder}"] = PluginInfo(
                f"dir:{folder}", "directory", str(folder), error="directory does not exist"
            )
            return
        unsafe = _world_writable(folder)
        if unsafe:
            self._refuse(f"dir:{folder}", str(folder), unsafe)
            return
        for path in sorted(folder.iterdir()):
            if path.name.startswith(("_", ".")):
                continue
            if path.suffix == ".py":
                target = path
            elif path.is_dir() and (path / "__init__.py").is_file():
                target = path / "__init__.py"
            else:
                continue
            name = path.stem
            if name in skip:
                continue
            unsafe = _world_writable(path) or _world_writable(target)
            if unsafe:
                self._refuse(name, str(path), unsafe)
                continue
            self._load(name, "directory", str(path), lambda t=target, n=name: _import_file(n, t))

    def _refuse(self, name: str, location: str, reason: str) -> None:
        """Record a drop-in plugin (or folder) that is not loaded because anyone may edit it."""
        self.plugins[name] = PluginInfo(name, "directory", location, error=reason)
        log.error("Plugin %s not loaded: %s", name, reason)

    def _load(self, name: str, origin: str, location: str, importer: Any) -> None:
        if name in self.plugins and self.plugins[name].loaded:
            info = PluginInfo(name, origin, location, error="a plugin with this name is loaded")
            self.plugins[f"{name} ({origin})"] = info
            log.error("Plugin %s from %s not loaded: the name is taken", name, location)
            return
        info = PluginInfo(name, origin, location)
        self.plugins[name] = info
        try:
            plugin = importer()
            self.pm.register(plugin, name=name)
        except BaseException as exc:  # a plugin may raise anything while importing
            if isinstance(exc, KeyboardInterrupt | SystemExit) and origin == "built-in":
                raise
            info.error = _short_error(exc)
            log.error(
                "Plugin %s (%s, %s) failed to load and is disabled: %s. Fix it or add it "
                "to plugins.disabled.",
                name,
                origin,
                location,
                info.error,
            )
            return
        info.hooks = sorted(
            impl_name
            for impl_name in dir(plugin)
            if hasattr(self.pm.hook, impl_name)
            and self.pm.parse_hookimpl_opts(plugin, impl_name) is not None
        )

    # -- calling -------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook_name``; one that raises is recorded and skipped."""
        results: list[tuple[str, Any]] = []
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            try:
                results.append((impl.plugin_name, impl.function(**args)))
            except Exception as exc:
                self.record_hook_error(impl.plugin_name, hook_name, exc)
        return results

    async def acall(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like :meth:`call`, awaiting implementations that return awaitables."""
        results: list[tuple[str, Any]] = []
        for plugin_name, result in self.call(hook_name, **kwargs):
            if inspect.isawaitable(result):
                try:
                    result = await result
                except Exception as exc:
                    self.record_hook_error(plugin_name, hook_name, exc)
                    continue
            results.append((plugin_name, result))
        return results

    def call_with_registrar(self, hook_name: str, make_register: Any) -> None:
        """Call a contribution hook, handing each plugin a register callback bound to it."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(register=make_register(impl.plugin_name))
            except Exception as exc:
                self.record_hook_error(impl.plugin_name, hook_name, exc)

    def record_hook_error(self, plugin_name: str, hook_name: str, exc: BaseException) -> None:
        """Note that ``plugin_name`` raised in ``hook_name``; logs once per hook."""
        info = self.plugins.get(plugin_name)
        message = _short_error(exc)
        if info is not None and hook_name not in info.hook_errors:
            info.hook_errors[hook_name] = message
            log.error(
                "Plugin %s raised in hook %s and its contribution is skipped: %s",
                plugin_name,
                hook_name,
                message,
                exc_info=exc,
            )

    def describe(self) -> list[dict[str, Any]]:
        """Every plugin as a JSON-ready mapping, in load order."""
        return [info.to_dict() for info in self.plugins.values()]


def _world_writable(path: Path) -> str | None:
    """Why loading code from ``path`` would let any local user run code in the server
    (it is writable by every user), or None when it is not."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & stat.S_IWOTH:
        return None
    return (f"{path} is writable by every user (mode {stat.S_IMODE(mode):04o}), so anyone on "
            f"this machine could run code inside the server; run 'chmod o-w {path}'")


def _import_file(name: str, path: Path) -> ModuleType:
    module_name = f"exstreamtv_dropin_{name}"
    spec = importlib.util.spec_from_file_location(
        module_name,
        path,
        submodule_search_locations=[str(path.parent)] if path.name == "__init__.py" else None,
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
