"""Editing the config file's channels without disturbing anything else in it.

The YAML file stays the source of truth, so an edit made through the API must read like
a person's edit: comments, key order, quoting, ``${ENV}`` references and every section
the edit does not touch stay exactly as they were. The steps:

1. the text is read twice with ruamel.yaml's round-trip loader (it keeps comments, key
   order, quoting and anchors on its nodes); one copy is edited, the other is not;
2. the edit is merged into the existing nodes key by key (an unchanged value keeps its
   node, so its comment and quoting stay; a shared anchored node is replaced, never
   changed in place, so the other users of the anchor keep their values);
3. both copies are dumped and compared line by line; only the lines that differ are
   spliced into the *original* text, so lines ruamel would merely re-indent are never
   rewritten (when a changed line falls where ruamel's dump differs from the original,
   the whole dump is used instead);
4. the result is parsed again with the loader's own parser (PyYAML, YAML 1.1) and must
   equal the expected data exactly: the old file's data with just this edit applied.
   Otherwise the edit is retried with the channel written fresh, then refused.

Nothing here reads the environment: ``${VAR}`` strings are data like any other, so a
secret is never resolved into the page nor written back resolved. Pure functions, no
I/O; see :mod:`exstreamtv.config.atomic` for writing the file.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from exstreamtv.config.files import parse_yaml
from exstreamtv.errors import ConfigError, ConfigProblem
from exstreamtv.secrets import MASK, is_secret_name

_STR_TAG = "tag:yaml.org,2002:str"


class EditKind(Enum):
    """What an edit does: to an item of a list section (``channels``, ``sources``), to
    the list's order, or to a whole mapping section (``server``, ``mqtt``, ...)."""

    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    REORDER = "reorder"
    SECTION = "section"


#: The key that names an item in each list section.
ITEM_KEYS = {"channels": "number", "sources": "id", "collections": "name"}

#: What the API sends instead of a secret (the mask used everywhere); sent back
#: unchanged, the file's value is kept (see :func:`redact` and :func:`restore`).
SECRET_KEPT = MASK


@dataclass(frozen=True)
class ChannelEdit:
    """One change: ``data`` is the item (or the section) in the YAML's own shape;
    ``number`` is the item's key (a channel number, a source id, a collection name)."""

    kind: EditKind
    number: int | str | None = None
    data: Mapping[str, Any] | None = None
    order: tuple[int | str, ...] = ()
    section: str = "channels"

    @property
    def key(self) -> str:
        return ITEM_KEYS.get(self.section, "number")


def revision(text: str) -> str:
    """The version of a config text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _yaml(text: str) -> tuple[YAML, Any]:
    """A round-trip loader/dumper set up like ``text`` (indentation guessed), and its data."""
    try:
        _data, indent, block_seq_indent = load_yaml_guess_indent(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem("", (
            f"the file cannot be edited here{where}: {problem} (the loader accepts it, the "
            "editor's YAML 1.2 reader does not; a tab after a colon is the usual cause: "
            "replace it with a space)"))]) from None
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    seq = indent or 2
    rt.indent(mapping=2, sequence=seq, offset=block_seq_indent or 0)
    return rt, rt.load(text)


def _dump(rt: YAML, data: Any) -> str:
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _is_anchored(node: Any) -> bool:
    anchor = getattr(node, "anchor", None)
    return bool(anchor is not None and getattr(anchor, "value", None))


def _fresh(value: Any) -> Any:
    """A plain JSON value as ruamel nodes; strings PyYAML would read as something else
    (``yes``, ``on``, ``1:30``, ``null``) are double-quoted so they stay strings."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _fresh(item)
        return node
    if isinstance(value, list):
        return CommentedSeq([_fresh(v) for v in value])
    if isinstance(value, str):
        resolved = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))
        if resolved != _STR_TAG or value != value.strip() or "\n" in value:
            return DoubleQuotedScalarString(value)
    return value


def _plain(node: Any) -> Any:
    """Nodes loaded by ruamel as plain JSON values (for comparing with a new value)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if type(node) is str:  # a plain (unquoted) scalar: read it as the loader does (YAML 1.1)
        value = yaml.safe_load(node) if node else node
        if value is None or isinstance(value, bool | int | float):
            return value
    return str(node)


def _merge(old: Any, new: Any) -> Any:
    """``new`` as nodes, reusing ``old``'s nodes (comments, quoting) where they still fit."""
    if _plain(old) == new and type(_plain(old)) is type(new):
        return old
    if _is_anchored(old):  # shared with aliases elsewhere: never change it in place
        return _fresh(new)
    if isinstance(old, CommentedMap) and isinstance(new, Mapping) and not old.merge:
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else _fresh(value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        for i, value in enumerate(new):
            if i < len(old):
                old[i] = _merge(old[i], value)
            else:
                old.append(_fresh(value))
        del old[len(new):]
        return old
    return _fresh(new)


def _index(items: list[Any], key: str, value: int | str | None) -> int:
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and item.get(key) == value:
            return i
    raise KeyError(value)


def _apply_plain(data: dict[str, Any], edit: ChannelEdit) -> dict[str, Any]:
    """The expected parsed config after ``edit`` (what the new file must read back as)."""
    out = copy.deepcopy(data)
    if edit.kind is EditKind.SECTION:
        if edit.data:
            out[edit.section] = copy.deepcopy(dict(edit.data))
        else:
            out.pop(edit.section, None)
        return out
    channels = out.setdefault(edit.section, []) or []
    out[edit.section] = channels
    if edit.kind is EditKind.CREATE:
        channels.append(copy.deepcopy(dict(edit.data or {})))
    elif edit.kind is EditKind.REPLACE:
        channels[_index(channels, edit.key, edit.number)] = copy.deepcopy(dict(edit.data or {}))
    elif edit.kind is EditKind.DELETE:
        del channels[_index(channels, edit.key, edit.number)]
    else:
        out[edit.section] = [channels[_index(channels, edit.key, n)] for n in edit.order]
    return out


def _apply_nodes(doc: Any, edit: ChannelEdit, fresh: bool) -> None:
    if edit.kind is EditKind.SECTION:
        if not edit.data:
            doc.pop(edit.section, None)
        elif edit.section in doc and not fresh:
            doc[edit.section] = _merge(doc[edit.section], dict(edit.data))
        else:
            doc[edit.section] = _fresh(dict(edit.data))
        return
    channels = doc.get(edit.section)
    if channels is None or not isinstance(channels, CommentedSeq):
        channels = CommentedSeq()
        doc[edit.section] = channels
    if edit.kind is EditKind.CREATE:
        channels.append(_fresh(dict(edit.data or {})))
    elif edit.kind is EditKind.REPLACE:
        i = _index(channels, edit.key, edit.number)
        channels[i] = (_fresh(dict(edit.data or {})) if fresh
                       else _merge(channels[i], dict(edit.data or {})))
    elif edit.kind is EditKind.DELETE:
        del channels[_index(channels, edit.key, edit.number)]
    else:
        items = [channels[_index(channels, edit.key, n)] for n in edit.order]
        del channels[:]
        channels.extend(items)


def _splice(original: str, before: str, after: str) -> str | None:
    """``original`` with the line changes from ``before`` to ``after``; None when a changed
    line falls where ``before`` (ruamel's dump of the unchanged file) differs from it."""
    a_lines = original.splitlines(keepends=True)
    b_lines = before.splitlines(keepends=True)
    c_lines = after.splitlines(keepends=True)
    b_to_a = [op for op in difflib.SequenceMatcher(None, b_lines, a_lines, autojunk=False)
              .get_opcodes() if op[0] == "equal"]
    hunks = [op for op in difflib.SequenceMatcher(None, b_lines, c_lines, autojunk=False)
             .get_opcodes() if op[0] != "equal"]
    out = list(a_lines)
    for _tag, b1, b2, c1, c2 in reversed(hunks):
        for _eq, eb1, eb2, ea1, _ea2 in b_to_a:
            if eb1 <= b1 and b2 <= eb2:
                start = ea1 + (b1 - eb1)
                out[start:start + (b2 - b1)] = c_lines[c1:c2]
                break
        else:
            return None
    return "".join(out)


def _problem(message: str) -> ConfigError:
    return ConfigError([ConfigProblem("channels", message)])


def edit_channels(text: str, edit: ChannelEdit) -> str:
    """The config ``text`` with ``edit`` applied, changing as few lines as possible.

    Raises KeyError for an unknown channel number and ConfigError when the edit cannot
    be written so that the file reads back as intended (the caller validates the result
    with the loader before writing it).
    """
    old_data = parse_yaml(text)
    current = old_data.get(edit.section)
    wanted = dict if edit.kind is EditKind.SECTION else list
    if current is not None and not isinstance(current, wanted):
        raise ConfigError([ConfigProblem(edit.section, f"the section is not a "
                                         f"{'mapping' if wanted is dict else 'list'}; fix the "
                                         "file by hand first")])
    expected = _apply_plain(old_data, edit)
    for fresh in (False, True):
        rt, untouched = _yaml(text)
        _rt, doc = _yaml(text)
        _apply_nodes(doc, edit, fresh)
        before, after = _dump(rt, untouched), _dump(rt, doc)
        candidate = _splice(text, before, after)
        for result in (candidate, after):
            if result is not None and parse_yaml(result) == expected:
                return result
    raise _problem("this edit cannot be written without changing other parts of the file "
                   "(anchors or aliases shared with this channel?); edit the file by hand")


def channels_of(text: str, section: str = "channels") -> list[dict[str, Any]]:
    """The items of a list section in the YAML's own shape, ``${ENV}`` kept as written."""
    items = parse_yaml(text).get(section) or []
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def section_of(text: str, section: str) -> dict[str, Any]:
    """A mapping section as written (empty when absent)."""
    value = parse_yaml(text).get(section)
    return dict(value) if isinstance(value, dict) else {}


def redact(value: Any, key: str = "") -> Any:
    """``value`` with every string under a secret-named key (``password``, ``api_token``)
    replaced by :data:`SECRET_KEPT`, whether written literally or as ``${ENV}``."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str) and value and is_secret_name(key):
        return SECRET_KEPT
    return value


def restore(new: Any, old: Any) -> Any:
    """``new`` with each :data:`SECRET_KEPT` put back to the value at the same place in
    ``old``; KeyError with the key when there is none to keep."""
    if isinstance(new, Mapping):
        return {k: restore(v, old.get(k) if isinstance(old, Mapping) else None)
                if v != SECRET_KEPT else _kept(k, old) for k, v in new.items()}
    if isinstance(new, list):
        return [restore(v, old[i] if isinstance(old, list) and i < len(old) else None)
                for i, v in enumerate(new)]
    return new


def _kept(key: str, old: Any) -> Any:
    if isinstance(old, Mapping) and isinstance(old.get(key), str):
        return old[key]
    raise KeyError(key)


def diff(old: str, new: str, old_name: str = "based-on", new_name: str = "on-disk") -> str:
    """A unified diff between two config texts."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True), old_name, new_name))
