"""The repository's Dockerfile and .dockerignore, read by a small parser (no Docker engine is needed).

The parser knows what these tests use: line continuations, comments, ``ARG`` defaults in ``FROM``,
stages, ``ENV`` pairs, flags (``COPY --from``, ``HEALTHCHECK --interval``) and exec (JSON) form.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(text: str, variables: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``variables`` (unknown names become empty, as in Docker)."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    value: str  # the arguments, continuation lines joined
    line: int  # where it starts, 1-based

    def flags(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` flags and the rest."""
        found: dict[str, str] = {}
        rest = self.value
        while m := re.match(r"--([\w-]+)(?:=(\S*))?\s+", rest):
            found[m.group(1)] = m.group(2) or ""
            rest = rest[m.end() :]
        return found, rest

    def exec_form(self, text: str | None = None) -> list[str] | None:
        """The JSON list of an exec-form instruction, or None for shell form."""
        text = self.flags()[1] if text is None else text
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        ok = isinstance(parsed, list) and parsed and all(isinstance(a, str) for a in parsed)
        return parsed if ok else None

    def env_pairs(self) -> dict[str, str]:
        """``ENV``/``LABEL`` pairs: ``K=V K2="V 2"``, or the legacy ``ENV K V``."""
        words = shlex.split(self.value)
        if words and "=" not in words[0]:
            return {words[0]: self.value.split(None, 1)[1] if len(words) > 1 else ""}
        return dict(word.split("=", 1) for word in words)


@dataclass
class Stage:
    base: str  # image reference, ARGs expanded
    name: str | None
    index: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for instruction in self.all("ENV"):
            pairs.update(instruction.env_pairs())
        return pairs


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage named {name!r} in {self.path}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first line number, instruction text): comments dropped, ``\\`` continuations joined."""
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        yield start, " ".join(p for p in parts if p)
        parts = []
    if parts:
        yield start, " ".join(p for p in parts if p)


def parse_dockerfile(path: Path) -> Dockerfile:
    instructions = []
    for number, text in logical_lines(path.read_text()):
        keyword, _, value = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip(), number))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.flags()[1].split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(expand(words[0], global_args), name, len(stages)))
        elif not stages:
            if instruction.keyword == "ARG":
                key, _, default = instruction.value.partition("=")
                global_args[key.strip()] = default.strip().strip("\"'")
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, instructions, global_args, stages)


class DockerIgnore:
    """``.dockerignore`` rules as BuildKit applies them: the last matching pattern wins; a pattern
    that matches a directory matches everything under it; ``*`` stays within one path segment."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = line[1:].strip() if keep else line
            self.rules.append((keep, re.compile(self._regex(pattern.strip("/")))))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return out + r"\Z"

    def excluded(self, relative: str) -> bool:
        parts = relative.strip("/").split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for keep, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not keep
        return result


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(REPO / "Dockerfile")


@pytest.fixture(scope="session")
def dockerignore() -> DockerIgnore:
    return DockerIgnore((REPO / ".dockerignore").read_text())
