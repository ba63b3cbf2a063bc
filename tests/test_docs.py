"""The README's generated tables match their sources (the scheme table and Settings)."""

from __future__ import annotations

from pathlib import Path

from service.docs import SECTIONS, render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tables_are_current() -> None:
    text = README.read_text()
    assert render(text) == text, "README.md is out of date: run `python -m service.docs`"


def test_every_section_is_present() -> None:
    text = README.read_text()
    for name in SECTIONS:
        assert f"<!-- {name}:start -->" in text and f"<!-- {name}:end -->" in text
