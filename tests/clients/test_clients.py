"""Generated clients and the examples, against a live server.

From openapi/openapi.json, the Python client (openapi-python-client) and the TypeScript types
(openapi-typescript, used through openapi-fetch) are generated into build/clients/ (build
artefacts, never committed), type-checked (mypy --strict; tsc with the repository's tsconfig.json, in
one run with the explorer's TypeScript snippet: tests/explorer/typescript.py), and their programs
(clients/python/program.py, clients/ts/program.ts) and every example in examples/ run against a
real uvicorn on a free 127.0.0.1 port.

A missing tool (node and npm, openapi-python-client, mypy, curl) skips its tests locally and fails
them in CI (CI=true). The PyTorch and JAX/Flax examples run wherever those are installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from explorer.typescript import NODE_BIN, REPO, TYPES, Build, build

pytestmark = pytest.mark.slow

BUILD = REPO / "build" / "clients"
PYTHON_CLIENT = BUILD / "python"  # the package is PYTHON_CLIENT / "initserve_client"
IN_CI = os.environ.get("CI") == "true"
TIMEOUT = 300


def require(available: bool, what: str) -> None:
    """Skip locally when a tool is missing; in CI that is a failure."""
    if not available:
        if IN_CI:
            pytest.fail(f"{what} is missing in CI")
        pytest.skip(f"{what} is not installed")


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command from the repository root; fails the test with its output when it fails."""
    done = subprocess.run(
        command, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr}"
    return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """uvicorn serving the app on a free 127.0.0.1 port, default limits; stopped after the module."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INITSERVE_")}
    env.update({"INITSERVE_ACCESS_LOG": "false", "INITSERVE_THREADS": "2"})
    command = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the server did not start:\n{log.read().decode(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- Python: openapi-python-client ---------------------------------------------------------------


@pytest.fixture(scope="module")
def python_client() -> Path:
    """The generated package, in build/clients/python/initserve_client (made afresh)."""
    require(importlib.util.find_spec("openapi_python_client") is not None, "openapi-python-client")
    shutil.rmtree(PYTHON_CLIENT, ignore_errors=True)
    generate = [sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi/openapi.json"]
    options = ["--meta", "none", "--config", "clients/python/config.yaml"]
    done = run([*generate, *options, "--output-path", str(PYTHON_CLIENT / "initserve_client")])
    # It warns (and still exits 0) about schemas it cannot represent, and skips them.
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    return PYTHON_CLIENT


def test_python_client_has_one_function_per_operation(python_client: Path) -> None:
    api = python_client / "initserve_client" / "api"
    modules = {path.stem for path in api.glob("*/*.py") if path.stem != "__init__"}
    assert modules == {
        "create_tensor",
        "create_tensor_npy",
        "create_tensor_stats",
        "create_tensor_safetensors",
        "create_model_safetensors",
        "create_model_npz",
        "create_model_stats",
        "list_schemes",
        "get_health",
        "get_readiness",
        "get_metrics",
        "diagnose_propagation",
        "diagnose_propagation_svg",
        "get_tensor_npy",
        "get_tensor_safetensors",
        "get_tensor_json",
        "get_model_safetensors",
        "get_model_npz",
    }


def test_python_client_and_program_type_check(python_client: Path) -> None:
    """mypy's ~28 CPU-seconds (no cache: a fresh clone has none) are nearly all the generated models' ``to_dict``:
    their ``isinstance`` chains over the 61 members of the ``init`` union (stats_answer, tensor_answer,
    propagation_request, ...), which mypy narrows member by member; with those chains collapsed (an experiment,
    not the generated code) the same run takes ~11 CPU-seconds. Typeshed, numpy, httpx, attrs and the program
    are ~3 of them.

    The generated package is named on the command line, not only reached through the program's imports: when the
    repository is on the interpreter's path (CI's editable install puts it there, as ``PYTHONPATH=.`` does), mypy
    takes a module it finds under it for an installed one, silences its errors and skips its function bodies: a
    type error planted in a generated model passed (in ~8 CPU-seconds)."""
    require(importlib.util.find_spec("mypy") is not None, "mypy")
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull]
    package = python_client / "initserve_client"
    done = run([*command, "clients/python/program.py", str(package)], env={"MYPYPATH": str(python_client)})
    checked = sum(1 for _ in package.rglob("*.py")) + 1
    assert f"no issues found in {checked} source files" in done.stdout, done.stdout  # the program, every module


def test_python_program(server: str, python_client: Path) -> None:
    done = run([sys.executable, "clients/python/program.py", server], env={"PYTHONPATH": str(python_client)})
    assert "python client: ok" in done.stdout


# -- TypeScript: openapi-typescript + openapi-fetch ----------------------------------------------


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The npm packages of package-lock.json (CI installs them with `npm ci` before the tests)."""
    require(shutil.which("node") is not None and shutil.which("npm") is not None, "node and npm")
    if not (REPO / "node_modules" / ".package-lock.json").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"])
    return REPO / "node_modules"


@pytest.fixture(scope="module")
def ts_build(node_modules: Path) -> Build:
    """The types generated afresh (`npm run generate`), then one tsc: type check and emit (`npm run build`)."""
    return build()


def test_typescript_types_are_the_pinned_generators(node_modules: Path) -> None:
    tsc = run([str(NODE_BIN / "tsc"), "--version"]).stdout
    assert tsc.startswith("Version 5."), tsc  # openapi-typescript 7 needs the TypeScript 5 API (not 7)


def test_typescript_binary_answer_is_a_blob(ts_build: Build) -> None:
    text = TYPES.read_text()
    assert '"application/octet-stream": Blob;' in text
    assert '"application/problem+json": components["schemas"]["Problem"];' in text


def test_typescript_program_and_example_type_check(ts_build: Build) -> None:
    tsc = ts_build.tsc
    assert tsc.returncode == 0, f"tsc exited {tsc.returncode}:\n{tsc.stdout[-4000:]}\n{tsc.stderr}"
    sources = [*REPO.glob("clients/ts/*.ts"), *REPO.glob("examples/*.ts")]  # tsconfig.json's "include"
    assert sources and all(Build.js(source).exists() for source in sources), sources  # each one checked, emitted


def test_typescript_program(server: str, ts_build: Build) -> None:
    done = run(["node", str(ts_build.js(REPO / "clients" / "ts" / "program.ts")), server])
    assert "typescript client: ok" in done.stdout


# -- examples/ -----------------------------------------------------------------------------------


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


EXAMPLES = {
    "numpy_httpx.py": ["numpy", "httpx"],
    "pytorch_linear.py": ["torch"],
    "pytorch_model.py": ["torch", "safetensors"],
    "jax_flax.py": ["jax", "flax"],
    "typescript_client.ts": [],
    "curl.sh": [],
}


def test_every_example_is_run_here() -> None:
    found = {p.name for p in (REPO / "examples").iterdir() if p.is_file() and not p.name.startswith(".")}
    assert found == set(EXAMPLES)


@pytest.mark.parametrize("name", [n for n in EXAMPLES if n.endswith(".py")])
def test_python_example(server: str, name: str) -> None:
    if not _has(*EXAMPLES[name]):
        pytest.skip(f"{', '.join(EXAMPLES[name])} not installed")
    done = run([sys.executable, f"examples/{name}", server])
    assert done.stdout.strip()


def test_typescript_example(server: str, ts_build: Build) -> None:
    done = run(["node", str(ts_build.js(REPO / "examples" / "typescript_client.ts")), server])
    assert "variance" in done.stdout and "422" in done.stdout


def test_curl_example(server: str) -> None:
    require(shutil.which("curl") is not None and shutil.which("bash") is not None, "curl and bash")
    done = run(["bash", "examples/curl.sh", server])
    assert "x-init-empirical-variance" in done.stdout and '"field":"init.mode"' in done.stdout
