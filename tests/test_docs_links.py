"""The documentation's links lead somewhere, and the tuner page names only real URLs.

Every relative markdown link in README.md and docs/*.md points to an existing file (and,
with ``#anchor``, to a heading of that file); every URL path in docs/tuners.md is a route
of the app.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exstreamtv.app import create_app
from exstreamtv.config import validate_config
from exstreamtv.plugins import PluginHost
from exstreamtv.registry import collect_registry

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
#: Paths in docs/tuners.md that are files on a machine, not URLs.
FILE_PREFIXES = ("/dev/", "/etc/", "/srv/", "/usr/", "/var/", "/data", "/config")


def prose(text: str) -> str:
    """``text`` without code blocks and inline code (links there are examples)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", path.read_text()), re.M):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: ...


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_headings(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    missing = [p.name for p in PAGES if p.parent.name == "docs" and p.name != "README.md"
               and f"({p.name})" not in index]
    assert not missing, f"docs/README.md does not list {missing}"


def tuner_page_paths() -> set[str]:
    text = (ROOT / "docs" / "tuners.md").read_text()
    paths = set(re.findall(r"https?://HOST:\d+(/[^\s`)\"'<>]*)", text))
    paths |= set(re.findall(r"`(?:GET |POST )?(/[^`\s]*)`", text))
    return {p.rstrip(".,;:") for p in paths if not p.startswith(FILE_PREFIXES)}


def route_patterns() -> list[re.Pattern[str]]:
    host = PluginHost()
    host.load_plugins(entrypoints=False)
    registry = collect_registry(host)
    app = create_app(validate_config({}, registry), host, registry, watch_config=False)
    patterns = []
    for rule in app.url_map.iter_rules():
        regex = re.sub(r"<int:[^>]+>", r"\\d+", re.escape(rule.rule).replace(r"\<", "<")
                       .replace(r"\>", ">").replace(r"\:", ":"))
        regex = re.sub(r"<path:[^>]+>", ".+", regex)
        regex = re.sub(r"<[^>]+>", "[^/]+", regex)
        patterns.append(re.compile(f"^{regex}$"))
    return patterns


def test_every_url_path_on_the_tuner_page_is_a_route() -> None:
    paths = tuner_page_paths()
    assert {"/discover.json", "/lineup.json", "/api/channels.m3u", "/api/xmltv.xml"} <= paths
    patterns = route_patterns()
    unknown = []
    for path in sorted(paths):
        concrete = re.sub(r"\{[^}]+\}|(?<=/)N(?=[/.]|$)", "1", path.partition("?")[0])
        if not any(p.match(concrete) for p in patterns):
            unknown.append(path)
    assert not unknown, f"docs/tuners.md names URLs the server does not have: {unknown}"
