"""Generated parts of the README: the scheme table and the configuration table.

Both are rendered from their single sources (``service.core.SCHEMES`` and
``service.settings.Settings``) between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers; ``python -m service.docs`` rewrites them and a
test fails when the README drifts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from service.core import SCHEMES
from service.settings import Settings


def schemes_markdown() -> str:
    rows = ["| scheme | fields (default) | formula | shapes |", "|---|---|---|---|"]
    for scheme in SCHEMES.values():
        name = f"`{scheme.name}`" + "".join(f" (`{alias}`)" for alias in scheme.aliases)
        fields = ", ".join(f"`{p.name}` ({'required' if p.required else p.default})" for p in scheme.params) or "—"
        rows.append(f"| {name} | {fields} | {scheme.formula} | {scheme.shapes} |")
    return "\n".join(rows)


def settings_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `INITSERVE_{name.upper()}` | `{field.default}` | {field.description} |")
    return "\n".join(rows)


SECTIONS = {"schemes": schemes_markdown, "settings": settings_markdown}


def render(text: str) -> str:
    """``text`` with every generated section replaced by its current rendering."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(path: str = "README.md") -> int:
    readme = Path(path)
    readme.write_text(render(readme.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
