"""The configuration reference is generated from the schemas and documents every key."""

from __future__ import annotations

from pathlib import Path

from exstreamtv.config import schema
from exstreamtv.config.reference import example_comments, generate, rows
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry

ROOT = Path(__file__).parent.parent


def test_docs_configuration_md_is_up_to_date():
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    expected = generate(collect_registry(host))
    actual = (ROOT / "docs" / "configuration.md").read_text()
    assert actual == expected, (
        "docs/configuration.md is stale: run "
        "python -m exstreamtv.config.reference > docs/configuration.md"
    )


def test_example_config_shows_every_core_key():
    documented = set(example_comments())
    text = (ROOT / "config" / "exstreamtv.yaml").read_text()
    missing = []
    for name, validator in schema.CORE_SECTIONS.items():
        if validator is None:
            continue
        for path, _default, _accepts in rows(validator.fields, name):
            leaf = path.rsplit(".", 1)[-1]
            if path not in documented and f"{leaf}:" not in text:
                missing.append(path)
    assert not missing, f"add these keys to config/exstreamtv.yaml: {missing}"
