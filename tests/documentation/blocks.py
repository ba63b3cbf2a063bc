"""The fenced blocks of README.md and docs/*.md, as the docs runner sees them.

A block is what sits between two fences (```` ```lang ```` ... ```` ``` ````). Its kind comes from the
language: ``bash``/``sh``/``shell`` blocks run in bash, ``python`` blocks in this Python, ``ts``/``typescript``
blocks are compiled with the repository's TypeScript toolchain and run with node, and ``text``/``json`` blocks
are the output of the runnable block before them. A block whose nearest non-blank line before the fence is
``<!-- not-run: REASON -->`` is not run, for that reason.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KINDS = {
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "python": "python",
    "py": "python",
    "ts": "ts",
    "typescript": "ts",
    "text": "output",
    "json": "output",
}
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.+?)\s*-->")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# Where the docs point: the runner's server listens elsewhere and these are replaced by its address.
DOCS_ADDRESSES = ("http://127.0.0.1:8000", "http://localhost:8000", "127.0.0.1:8000", "localhost:8000")
# Optional Python packages a block may need (a block that imports one is skipped where it is absent).
FRAMEWORKS = ("torch", "jax", "flax", "keras")


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository, e.g. "docs/models.md"
    index: int  # position among the page's blocks
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    not_run: str | None  # the reason, when marked

    @property
    def kind(self) -> str:
        return KINDS.get(self.lang, "other")

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}-{self.lang or 'plain'}"

    def needs(self) -> list[str]:
        """The optional frameworks this block imports (``import torch``, ``from safetensors.flax import ...``)."""
        found = re.findall(r"\b(?:import|from)\s+(?:[\w.]+\.)?(" + "|".join(FRAMEWORKS) + r")\b", self.text)
        return sorted(set(found))

    def imports(self) -> list[str]:
        """The modules a Python block imports (``import a.b`` and ``from a.b import c`` give ``a.b``), in order."""
        try:
            tree = ast.parse(self.text)
        except SyntaxError:
            return []
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
        return list(dict.fromkeys(names))


def pages() -> list[Path]:
    """README.md and every docs/*.md page."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def parse(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown text, with its not-run reason."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = FENCE.match(lines[i])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[i])
            i += 1
        i += 1
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marked = NOT_RUN.fullmatch(before)
        lang = info.split()[0].lower() if info else ""
        blocks.append(Block(page, len(blocks), start + 1, lang, "\n".join(body) + "\n", marked[1] if marked else None))
    return blocks


def all_blocks() -> list[Block]:
    return [b for path in pages() for b in parse(path.read_text(), str(path.relative_to(REPO)))]


def for_server(text: str, base: str) -> str:
    """The block with the documented address (``127.0.0.1:8000``) replaced by the live server's ``base``."""
    host_port = base.removeprefix("http://")
    for address in DOCS_ADDRESSES:
        text = text.replace(address, base if address.startswith("http") else host_port)
    return text


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return lines


def matches(expected: str, printed: str) -> bool:
    """Whether a shown output is what was printed.

    JSON is compared as values (the docs may format what curl prints on one line; every number must be the
    printed one); other text line by line, trailing spaces ignored, a line ``...`` standing for any lines.
    """
    try:
        return json.loads(expected) == json.loads(printed)
    except ValueError:
        pass
    want, got = _lines(expected), _lines(printed)
    pattern = "\n".join(".*?" if line == "..." else re.escape(line) for line in want)
    return re.fullmatch(pattern, "\n".join(got), re.DOTALL) is not None
