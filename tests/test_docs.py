"""The docs' generated tables match their sources (the scheme table, the presets, Settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.docs import PAGES, SECTIONS, render

REPO = Path(__file__).resolve().parents[1]
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", sorted(set(PAGES.values())))
def test_generated_tables_are_current(page: str) -> None:
    text = (REPO / page).read_text()
    assert render(text) == text, f"{page} is out of date: run `python -m service.docs`"


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_table_is_in_its_page_only(name: str) -> None:
    """One source of truth, one place: each generated table appears in its own page and nowhere else."""
    holders = [path.relative_to(REPO).as_posix() for path in MARKDOWN if f"<!-- {name}:start -->" in path.read_text()]
    assert holders == [PAGES[name]]
    assert f"<!-- {name}:end -->" in (REPO / PAGES[name]).read_text()


def test_the_readme_is_a_front_door() -> None:
    """Short (issue 17: at most 250 lines), and linking the docs index and every page it names."""
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    index = (REPO / "docs" / "README.md").read_text()
    pages = {path.name for path in (REPO / "docs").glob("*.md")} - {"README.md"}
    missing = [name for name in sorted(pages) if f"]({name})" not in index]
    assert not missing, f"docs/README.md does not list {missing}"


def test_every_relative_link_resolves() -> None:
    import re

    for path in MARKDOWN:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links to a missing {target}"
