"""The TypeScript snippet the explorer shows is code for the generated client: made by the page's own
``snippets.js`` (run in node), it type-checks with ``tsc`` against the types ``npm run generate`` writes from
openapi/openapi.json (and a misspelt scheme does not), and compiled and run against a real server it prints
the statistics the service answers. (The curl and Python snippets are run by ``test_page.py``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api.helpers import REPO, server_process

pytestmark = pytest.mark.slow

NODE_BIN = REPO / "node_modules" / ".bin"
TYPES = REPO / "build" / "clients" / "ts" / "initserve.d.ts"
BODY = {
    "shape": [96, 64],
    "layout": "torch",
    "init": {"scheme": "torch.kaiming_uniform_", "a": 0},
    "seed": 9,
    "dtype": "float32",
    "histogram": {"bins": 16},
}


def run(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A directory under build/ with the generated client's types and node_modules in reach."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are not installed")
        pytest.skip("node and npm are not installed")
    if not (REPO / "node_modules" / ".package-lock.json").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"])
    if not TYPES.exists():
        run(["node", "clients/ts/generate.mjs", "openapi/openapi.json", str(TYPES)])
    place = REPO / "build" / f"explorer-snippet-{os.getpid()}"
    place.mkdir(parents=True, exist_ok=True)
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


def snippet(workdir: Path, base: str, body: dict[str, object]) -> Path:
    """The page's TypeScript for ``body``, its import pointed at the generated types from ``workdir``."""
    maker = workdir / "make.mjs"
    module = (REPO / "service" / "explorer" / "snippets.js").as_uri()
    maker.write_text(
        f'import {{ typescript }} from "{module}";\n'
        f'console.log(typescript({json.dumps(base)}, "/v1/tensors/stats", {json.dumps(body)}, false));\n'
    )
    text = run(["node", str(maker)]).stdout
    assert 'from "./build/clients/ts/initserve.js"' in text
    source = workdir / "snippet.ts"
    source.write_text(text.replace("./build/clients/ts/initserve.js", "../clients/ts/initserve.js"))
    config = {
        "extends": "../../tsconfig.json",
        "compilerOptions": {"rootDir": ".", "outDir": "js"},
        "include": ["snippet.ts", "../clients/ts/initserve.d.ts"],
    }
    (workdir / "tsconfig.json").write_text(json.dumps(config))
    return source


def test_the_typescript_snippet_type_checks_and_runs(workdir: Path) -> None:
    with server_process() as (base, _):
        source = snippet(workdir, base, BODY)
        tsc = str(NODE_BIN / "tsc")
        run([tsc, "-p", str(workdir / "tsconfig.json")])  # type check and emit js/snippet.js
        printed = run(["node", str(workdir / "js" / "snippet.js")]).stdout
        expected = httpx.post(f"{base}/v1/tensors/stats", json=BODY, timeout=60).json()["stats"]
    assert repr(expected["empirical"]["variance"]) in printed and repr(expected["theoretical"]["variance"]) in printed
    misspelt = source.read_text().replace('"torch.kaiming_uniform_"', '"torch.kaiming_uniform"')
    source.write_text(misspelt)
    refused = subprocess.run(
        [tsc, "--noEmit", "-p", str(workdir / "tsconfig.json")], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode != 0 and "torch.kaiming_uniform" in refused.stdout
