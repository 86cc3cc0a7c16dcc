"""The README and docs/ hold together: no broken relative link, a short README that starts with the two
set-up commands, and every page under docs/ listed in docs/index.md."""
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
INDEX = DOCS / "index.md"
PAGES = [README] + sorted(DOCS.rglob("*.md"))
SETUP = ['pip install -e . && relusim anneal --config configs/default.yaml',
         'pip install -e ".[test]" && python -m pytest -q']

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", flags=re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")


def links(text: str) -> list[str]:
    """The targets of the inline links and images of a markdown text, code blocks and spans left out."""
    return LINK.findall(CODE_SPAN.sub("", FENCE.sub("", text)))


def local_target(page: Path, target: str) -> Path | None:
    """The file a relative link points to, or None for a URL or an anchor on the same page."""
    if not target or target.startswith("#") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    return (page.parent / path).resolve()


def test_links_are_found():
    text = "[a](x.md) ![b](fig.png \"t\") [c](https://e.org) [d](#top)\n```\n[no](y.md)\n```\n`[no](z.md)`\n"
    assert links(text) == ["x.md", "fig.png", "https://e.org", "#top"]
    assert local_target(README, "docs/index.md#results") == INDEX
    assert local_target(README, "https://e.org") is None and local_target(README, "#top") is None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page):
    broken, outside = [], []
    for target in links(page.read_text()):
        path = local_target(page, target)
        if path is None:
            continue
        if ROOT not in path.parents and path != ROOT:
            outside.append(target)
        elif not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"
    assert not outside, f"{page.relative_to(ROOT)}: links outside the repository {outside}"


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= 150, f"README.md has {n} lines; at most 150"


def test_readme_first_block_is_the_two_setup_commands():
    first = re.search(r"^```[^\n]*\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    assert first, "README.md has no fenced block"
    assert first.group(1).splitlines() == SETUP


def test_every_docs_page_is_in_the_index():
    listed = {local_target(INDEX, t) for t in links(INDEX.read_text())}
    missing = [str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if p != INDEX and p.resolve() not in listed]
    assert not missing, f"docs/index.md does not list {sorted(missing)}"
