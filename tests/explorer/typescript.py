"""The TypeScript of tests/clients and tests/explorer/test_snippets.py, type-checked and compiled by one ``tsc``.

``npm run generate`` (``node clients/ts/generate.mjs``) writes the client's types to
``build/clients/ts/initserve.d.ts``; the explorer's TypeScript snippet, made by the page's own
``service/explorer/snippets.js`` in node for the service at ``SNIPPET_BASE``, is written next to them
(``build/clients/ts/explorer/snippet.ts``); then one ``tsc -p build/clients/ts/tsconfig.json`` type-checks and
compiles them all: that file extends the repository's ``tsconfig.json`` (its options, its files:
``clients/ts/*.ts``, ``examples/*.ts``, the types) and adds the snippet, so the program and the example are
checked as ``npm run typecheck`` checks them and emitted as ``npm run build`` emits them (under
``build/clients/ts/js``, nothing emitted on an error). Checking the declaration files (``skipLibCheck``
false: node's, openapi-fetch's and the generated ones; TypeScript's own ES2022 and DOM lib files are not
re-checked, ``skipDefaultLibCheck``) is most of tsc's work: done once here for all three.

``build()`` runs once per process, on first use: tests/conftest.py's ``SHARED_SCOPES`` runs both modules in
one xdist worker, one after the other (they write ``build/clients/ts``).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_BIN = REPO / "node_modules" / ".bin"
TS_BUILD = REPO / "build" / "clients" / "ts"
TYPES = TS_BUILD / "initserve.d.ts"  # as package.json's "generate" script writes it
JS = TS_BUILD / "js"  # tsconfig.json's outDir
SNIPPET = TS_BUILD / "explorer" / "snippet.ts"
SNIPPET_BASE = "http://127.0.0.1:8000"  # the explorer served at the docs' address
SNIPPET_BODY = {
    "shape": [96, 64],
    "layout": "torch",
    "init": {"scheme": "torch.kaiming_uniform_", "a": 0},
    "seed": 9,
    "dtype": "float32",
    "histogram": {"bins": 16},
}
TIMEOUT = 300


def run(command: list[str], cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command from ``cwd``; with ``check``, a failure is an AssertionError with its output."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert not check or done.returncode == 0, (
        f"{command} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr}"
    )
    return done


def snippet_text(base: str, body: dict[str, object] = SNIPPET_BODY) -> str:
    """What the page shows as TypeScript for ``body`` sent to the service at ``base`` (its own snippets.js)."""
    module = (REPO / "service" / "explorer" / "snippets.js").as_uri()
    script = f'import {{ typescript }} from "{module}";\n'
    script += f'console.log(typescript({json.dumps(base)}, "/v1/tensors/stats", {json.dumps(body)}, false));\n'
    text = run(["node", "--input-type=module", "-e", script]).stdout
    assert 'from "./build/clients/ts/initserve.js"' in text  # it is written for the repository's root
    return text


def place_snippet(text: str, path: Path) -> Path:
    """The snippet at ``path`` (a directory under build/clients/ts), its import pointed at the generated types."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("./build/clients/ts/initserve.js", "../initserve.js"))
    return path


@dataclass(frozen=True)
class Build:
    tsc: subprocess.CompletedProcess[str]  # the one type check and emit, for the tests to assert on

    @staticmethod
    def js(source: Path) -> Path:
        """Where tsc wrote the JavaScript of ``source`` (rootDir is the repository)."""
        return JS / source.relative_to(REPO).with_suffix(".js")


@functools.cache
def build() -> Build:
    """The types generated afresh, the snippet written, everything type-checked and compiled (see the module
    docstring). Needs node and ``npm ci``'s packages: the callers check those first."""
    TYPES.unlink(missing_ok=True)
    run(["node", "clients/ts/generate.mjs", "openapi/openapi.json", str(TYPES)])
    shutil.rmtree(JS, ignore_errors=True)
    place_snippet(snippet_text(SNIPPET_BASE), SNIPPET)
    config = TS_BUILD / "tsconfig.json"
    base = Path("..", "..", "..", "tsconfig.json").as_posix()  # its "include" is kept: "files" adds to it
    config.write_text(json.dumps({"extends": base, "files": [SNIPPET.relative_to(TS_BUILD).as_posix()]}))
    return Build(run([str(NODE_BIN / "tsc"), "-p", str(config)], check=False))
