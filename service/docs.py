"""Generated parts of the docs: the scheme, framework-initializer, preset and configuration tables.

Each is rendered from its single source (``service.core.SCHEMES``,
``service.core.frameworks``, ``service.core.presets``, ``service.settings.Settings``)
between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers in its page (``PAGES``);
``python -m service.docs`` rewrites them and a test fails when a page drifts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from service.core import SCHEMES
from service.core.frameworks import FRAMEWORK_INITS
from service.core.params import Param
from service.core.presets import PRESETS, expand
from service.settings import Settings


def _name(name: str, aliases: tuple[str, ...]) -> str:
    return f"`{name}`" + "".join(f" (`{alias}`)" for alias in aliases)


def _fields(params: tuple[Param, ...]) -> str:
    return ", ".join(f"`{p.name}` ({'required' if p.required else p.default})" for p in params) or "—"


def schemes_markdown() -> str:
    rows = ["| scheme | fields (default) | formula | shapes |", "|---|---|---|---|"]
    for scheme in SCHEMES.values():
        rows.append(
            f"| {_name(scheme.name, scheme.aliases)} | {_fields(scheme.params)} | {scheme.formula} | {scheme.shapes} |"
        )
    return "\n".join(rows)


def initializers_markdown() -> str:
    rows = ["| name (aliases) | fields (default) | resolves to | notes |", "|---|---|---|---|"]
    for entry in FRAMEWORK_INITS.values():
        name, fields = _name(entry.name, entry.aliases), _fields(entry.params)
        rows.append(f"| {name} | {fields} | {entry.expansion} | {entry.notes or ''} |")
    return "\n".join(rows)


def presets_markdown() -> str:
    rows = ["| preset | arguments (default) | tensors of the example |", "|---|---|---|"]
    for preset in PRESETS.values():
        args = ", ".join(f"`{a.name}`" + ("" if a.required else f" ({a.default})") for a in preset.args)
        made = ", ".join(f"`{t.name}` {list(t.shape)} {t.init}" for t in expand(preset.name, preset.example))
        rows.append(f"| `{preset.name}` | {args} | {made} |")
    return "\n".join(rows)


def settings_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `INITSERVE_{name.upper()}` | `{field.default}` | {field.description} |")
    return "\n".join(rows)


SECTIONS = {
    "schemes": schemes_markdown,
    "initializers": initializers_markdown,
    "presets": presets_markdown,
    "settings": settings_markdown,
}
# The page that holds each generated table (relative to the repository); each table is in exactly one page.
PAGES = {
    "schemes": "docs/schemes.md",
    "initializers": "docs/initializers.md",
    "presets": "docs/presets.md",
    "settings": "docs/configuration.md",
}


def render(text: str) -> str:
    """``text`` with every generated section replaced by its current rendering."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(root: str = ".") -> int:
    """Rewrites the generated tables of every page under ``root`` (the repository)."""
    for page in sorted(set(PAGES.values())):
        path = Path(root) / page
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
