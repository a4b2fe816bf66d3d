"""Reading a config file safely: bounded size, nesting and alias expansion.

A config file is text a person edits, so anything far beyond what a person writes is
refused with a clear error before it can cost memory or time:

* at most :data:`MAX_FILE_BYTES` (4 MiB) on disk;
* at most :data:`MAX_DEPTH` (64) levels of nested mappings and lists;
* at most :data:`MAX_VALUES` (1,000,000) values once YAML aliases are expanded, which stops
  "billion laughs" files (a few hundred bytes of nested ``*alias`` references that expand
  to billions of values) before anything is built from them;
* a regular file of UTF-8 text holding one YAML mapping, not empty or only comments.

Every refusal is a :class:`~exstreamtv.errors.ConfigError`, never another exception, so a
bad file on reload is reported like any invalid edit and the running config stays.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from exstreamtv.errors import ConfigError, ConfigProblem

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 1_000_000

def _event_source() -> type:
    """libyaml's parser (C, fast) when PyYAML has it, else the pure-Python one. Only the
    events come from it: composing stays in Python (below) so that depth is counted."""
    try:
        from yaml.cyaml import CParser  # type: ignore[attr-defined]

        return CParser
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        from yaml.parser import Parser
        from yaml.reader import Reader
        from yaml.scanner import Scanner

        class PythonParser(Reader, Scanner, Parser):
            def __init__(self, stream: str) -> None:
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)

        return PythonParser


_EventSource: Any = _event_source()


class _LimitExceeded(Exception):
    """Raised inside the YAML loader when a bound is crossed."""


class _BoundedLoader(Composer, _EventSource, SafeConstructor, Resolver):
    """PyYAML's safe loader with a nesting bound checked while composing."""

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _LimitExceeded(
                f"nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}; "
                "a config is a few levels deep, check the indentation and brackets")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def expanded_size(root: Node, limit: int = MAX_VALUES) -> int:
    """How many values ``root`` holds with every alias expanded; stops past ``limit``.

    Aliases make the node tree a graph that shares nodes, so each node's size is worked out
    once (memoised) and the sum grows without building anything. A node that contains
    itself (``&a [*a]``) is refused.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _LimitExceeded("an alias refers to a mapping or list that contains it")
        total = 1
        if isinstance(node, SequenceNode | MappingNode):
            open_nodes.add(key)
            children: list[Node] = (
                node.value if isinstance(node, SequenceNode)
                else [n for pair in node.value for n in pair]
            )
            for child in children:
                total += size(child)
                if total > limit:
                    raise _LimitExceeded(
                        f"more than {limit:,} values once aliases (*name) are expanded; "
                        "a config never needs that many, remove the repeated aliases")
            open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _problem(message: str, source: str) -> ConfigError:
    return ConfigError([ConfigProblem("", message)], source)


def parse_yaml(text: str, source: str = "") -> dict[str, Any]:
    """Parse config text into a mapping, within the bounds above; ConfigError otherwise."""
    if len(text) > MAX_FILE_BYTES:
        raise _problem(f"the config is larger than the {MAX_FILE_BYTES // 1048576} MiB limit",
                       source)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise _problem("the config file is empty or holds only comments; the server "
                           "needs at least its settings (write the whole file, or restore "
                           "it from a backup)", source)
        expanded_size(node)
        data = loader.construct_document(node)
    except _LimitExceeded as exc:
        raise _problem(f"refused: {exc}", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's own, lower-level bound
            raise _problem(f"refused: nesting deeper than {MAX_DEPTH} levels{where}; a config "
                           "is a few levels deep, check the indentation and brackets",
                           source) from None
        raise _problem(f"YAML syntax error{where}: {problem}", source) from None
    finally:
        with contextlib.suppress(Exception):
            loader.dispose()
    if not isinstance(data, dict):
        raise _problem("the file must be a YAML mapping (server:, channels:, ...)", source)
    return data


def read_text(path: Path) -> str:
    """The file's text, refusing what is not a regular UTF-8 file within the size limit."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the read
    except OSError as exc:
        raise _problem(f"cannot read the config file: {exc.strerror}", source) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _problem("the config path is not a regular file (a folder or device?); "
                           "point --config at the YAML file", source)
        if info.st_size > MAX_FILE_BYTES:
            raise _problem(f"the config file is {info.st_size:,} bytes, over the "
                           f"{MAX_FILE_BYTES // 1048576} MiB limit", source)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _problem(f"cannot read the config file: {exc.strerror}", source) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise _problem(f"the config file grew over the {MAX_FILE_BYTES // 1048576} MiB limit "
                       "while being read", source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _problem(f"the config file is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                       f"line {line}, offset {exc.start}); save it as UTF-8", source) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read and parse the config file at ``path`` (not yet validated)."""
    path = Path(path)
    return parse_yaml(read_text(path), str(path))
