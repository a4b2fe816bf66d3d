"""Every hook in hookspecs.py is documented in docs/plugin_hooks.md, with an example."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from exstreamtv import hookspecs

DOC = Path(__file__).parent.parent / "docs" / "plugin_hooks.md"


def hook_names() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "exstreamtv_spec")]


def test_every_hook_is_documented_with_an_example():
    text = DOC.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    missing = [name for name in hook_names() if name not in sections]
    assert not missing, f"hooks missing from docs/plugin_hooks.md: {missing}"
    without_example = [name for name in hook_names() if "```python" not in sections[name]]
    assert not without_example, f"hooks without an example: {without_example}"


def test_every_hook_has_a_docstring_and_types():
    for name in hook_names():
        fn = getattr(hookspecs, name)
        assert fn.__doc__, name
        for param in inspect.signature(fn).parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}.{param.name}"
