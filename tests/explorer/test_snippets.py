"""The TypeScript snippet the explorer shows is code for the generated client: made by the page's own
``snippets.js`` (run in node), it type-checks with ``tsc`` against the types ``npm run generate`` writes from
openapi/openapi.json (and a misspelt scheme does not), and compiled and run against a real server it prints
the statistics the service answers. (The curl and Python snippets are run by ``test_page.py``.)

The snippet is type-checked and compiled in the one ``tsc`` run it shares with tests/clients
(``typescript.py``), made for the service at the docs' address; the one run here is that snippet with a real
server's address, which is what the page makes for that server (checked)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from api.helpers import server_process

from .typescript import (
    NODE_BIN,
    REPO,
    SNIPPET,
    SNIPPET_BASE,
    SNIPPET_BODY,
    Build,
    build,
    place_snippet,
    run,
    snippet_text,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built() -> Build:
    """The one type check and compile (typescript.py), with node and the npm packages in reach."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are not installed")
        pytest.skip("node and npm are not installed")
    if not (REPO / "node_modules" / ".package-lock.json").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"])
    return build()


def test_the_typescript_snippet_type_checks_and_runs(built: Build) -> None:
    tsc = built.tsc
    assert tsc.returncode == 0, f"tsc exited {tsc.returncode}:\n{tsc.stdout[-4000:]}\n{tsc.stderr}"
    compiled = built.js(SNIPPET)
    with server_process() as (base, _):
        made = snippet_text(base)
        assert made == snippet_text(SNIPPET_BASE).replace(json.dumps(SNIPPET_BASE), json.dumps(base))
        here = compiled.with_name(f"snippet-{base.rsplit(':', 1)[1]}.js")  # the compiled snippet for this server
        javascript = compiled.read_text()
        assert javascript.count(json.dumps(SNIPPET_BASE)) == 1, javascript
        here.write_text(javascript.replace(json.dumps(SNIPPET_BASE), json.dumps(base)))
        printed = run(["node", str(here)]).stdout
        expected = httpx.post(f"{base}/v1/tensors/stats", json=SNIPPET_BODY, timeout=60).json()["stats"]
    assert repr(expected["empirical"]["variance"]) in printed and repr(expected["theoretical"]["variance"]) in printed


def test_a_misspelt_scheme_does_not_type_check(built: Build) -> None:
    """The same snippet with ``torch.kaiming_uniform`` for ``torch.kaiming_uniform_``: tsc refuses it, naming it.
    (The declaration files are not checked again here: ``skipLibCheck``; the build above checked them.)"""
    text = snippet_text(SNIPPET_BASE)
    misspelt = text.replace('"torch.kaiming_uniform_"', '"torch.kaiming_uniform"')
    assert misspelt != text
    source = place_snippet(misspelt, SNIPPET.parent.with_name("explorer-misspelt") / "snippet.ts")
    config = {
        "extends": Path("..", "..", "..", "..", "tsconfig.json").as_posix(),
        "compilerOptions": {"rootDir": ".", "noEmit": True, "skipLibCheck": True},
        "include": ["snippet.ts"],
    }
    (source.parent / "tsconfig.json").write_text(json.dumps(config))
    refused = run([str(NODE_BIN / "tsc"), "-p", str(source.parent / "tsconfig.json")], check=False)
    assert refused.returncode != 0 and "'\"torch.kaiming_uniform\"'" in refused.stdout, refused.stdout
    assert "snippet.ts(" in refused.stdout and "error TS" in refused.stdout
