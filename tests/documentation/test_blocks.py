"""Every fenced block of README.md and docs/*.md runs against one live server, and shows what it prints.

One server for all blocks, started as the README starts it (``python -m service --port P``) on a free port;
the blocks' ``127.0.0.1:8000`` becomes its address. The blocks of a page run in order in one scratch
directory (files a block writes are there for the next), which links every top-level entry of the repository
(``openapi/``, ``clients/``, ``bench/``, ...) but ``build/``. Shell blocks run in ``bash -e -o pipefail`` with
this Python's ``bin`` first on ``PATH`` (``python``, ``initserve``); Python blocks run in this Python as
``python block.py`` runs them, each in a process of its own forked from one that imported the block's imports
first (``forkserver.py``: a block costs its own work, not an interpreter start and imports of seconds);
TypeScript blocks are type-checked and compiled with the repository's ``tsconfig.json`` options (NodeNext)
next to the generated types (``./initserve.js``) and the NPY reader (``./npy.js``), then run with node; the
declaration files themselves (``initserve.d.ts``, node's and the DOM's) are not checked again here
(``skipLibCheck``): tests/clients checks the same generated file with those options. A
``text`` or ``json`` block must equal what the runnable block before it printed. A block that imports torch,
JAX, Flax or Keras skips where that is not installed, as TypeScript blocks skip without node (in CI, where
everything is installed, a missing tool fails).
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import free_port

from .blocks import REPO, Block, all_blocks, for_server, matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docs")]

BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.not_run is None]
IN_CI = os.environ.get("CI") == "true"
TIMEOUT = 120
NODE_BIN = REPO / "node_modules" / ".bin"


def unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is missing in CI")
    pytest.skip(f"{what} is not installed")


@dataclass
class Page:
    """What the blocks of one page have run so far, in their shared scratch directory."""

    workdir: Path
    done: int = 0  # blocks [0, done) have run
    printed: dict[int, str | None] = field(default_factory=dict)  # index -> stdout (None: skipped)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``python -m service --port P``: the README's start command, on a free port, for every block."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INITSERVE_")}
    env.update({"INITSERVE_ACCESS_LOG": "false", "INITSERVE_LOG_LEVEL": "warning"})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
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
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class PythonRunner:
    """``forkserver.py`` in this Python, with the blocks' environment: runs one Python block at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        command = [sys.executable, str(Path(__file__).with_name("forkserver.py"))]
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
        )

    def run(self, script: Path, block: Block) -> subprocess.CompletedProcess[str]:
        """``python script`` (in its directory); its exit status and what it printed."""
        stdout, stderr = script.with_suffix(".stdout"), script.with_suffix(".stderr")
        request = {"script": str(script), "stdout": str(stdout), "stderr": str(stderr), "imports": block.imports()}
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], TIMEOUT)
        if not ready:
            self.stop()
            pytest.fail(f"{block.id} did not finish within {TIMEOUT} s")
        line = self.process.stdout.readline()
        assert line, f"the Python block runner exited {self.process.wait()}"
        code = json.loads(line)["returncode"]
        return subprocess.CompletedProcess(script.name, code, stdout.read_text(), stderr.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the runner and a block it is running
        self.process.wait()


@pytest.fixture(scope="module")
def python_runner(server: str) -> Iterator[PythonRunner]:
    runner = PythonRunner(_env(server))
    try:
        yield runner
    finally:
        assert runner.process.stdin is not None
        runner.process.stdin.close()  # it exits at the end of its input
        try:
            runner.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.stop()
        if runner.process.stdout is not None:
            runner.process.stdout.close()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs")


@pytest.fixture(scope="module")
def page_state(scratch: Path) -> dict[str, Page]:
    return {}


def _workdir(scratch: Path, page: str) -> Path:
    """A directory for one page: links to the repository's top-level entries, so ``openapi/...`` resolves."""
    workdir = scratch / page.replace("/", "_")
    workdir.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", "build", ".venv", "__pycache__") and not entry.name.startswith(".pytest"):
            (workdir / entry.name).symlink_to(entry)
    return workdir


def _env(base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INITSERVE_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["INITSERVE_URL"] = base
    env["COLUMNS"] = "80"  # argparse's help, as the docs show it
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str], block: Block) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    return _printed(done, block)


def _printed(done: subprocess.CompletedProcess[str], block: Block) -> str:
    assert done.returncode == 0, (
        f"{block.id} exited {done.returncode}\n--- block\n{block.text}--- stdout\n{done.stdout[-3000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )
    return done.stdout


TS_OPTIONS = {  # tsconfig.json's compiler options (NodeNext), for a project of its own, but skipLibCheck
    "target": "ES2022",
    "lib": ["ES2022", "DOM"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "types": ["node"],
    "strict": True,
    "noUncheckedIndexedAccess": True,
    "verbatimModuleSyntax": True,
    "skipLibCheck": True,  # the declarations are checked by tests/clients (see the module docstring)
    "outDir": "js",
    "noEmitOnError": True,
}


@pytest.fixture(scope="module")
def typescript(scratch: Path, server: str) -> Path:
    """Every TypeScript block compiled at once, in a project as a user makes one (see the module docstring)."""
    if shutil.which("node") is None or not (NODE_BIN / "tsc").exists():
        unavailable("node and the npm packages (npm ci)")
    project = scratch / "ts"
    project.mkdir()
    (project / "node_modules").symlink_to(REPO / "node_modules")
    (project / "package.json").write_text('{"type": "module"}\n')
    shutil.copy(REPO / "clients" / "ts" / "npy.ts", project / "npy.ts")
    generate = ["node", str(REPO / "clients" / "ts" / "generate.mjs"), str(REPO / "openapi" / "openapi.json")]
    subprocess.run([*generate, str(project / "initserve.d.ts")], check=True, cwd=REPO, timeout=TIMEOUT)
    files = ["npy.ts", "initserve.d.ts"]
    for block in (b for b in RUN if b.kind == "ts"):
        name = _ts_name(block)
        (project / f"{name}.ts").write_text(for_server(block.text, server))
        files.append(f"{name}.ts")
    (project / "tsconfig.json").write_text(json.dumps({"compilerOptions": TS_OPTIONS, "files": files}))
    done = subprocess.run([str(NODE_BIN / "tsc"), "-p", "tsconfig.json"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, f"tsc failed:\n{done.stdout}{done.stderr}"
    return project


def _ts_name(block: Block) -> str:
    return "block_" + "".join(c if c.isalnum() else "_" for c in block.id)


def _execute(block: Block, request: pytest.FixtureRequest, base: str, page: Page) -> str | None:
    """Runs one block in its page's directory; its stdout, or None when it cannot run here."""
    missing = [name for name in block.needs() if importlib.util.find_spec(name) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"{block.id} needs {', '.join(missing)}, missing in CI")
        return None
    text, env = for_server(block.text, base), _env(base)
    if block.kind == "shell":
        return _run(["bash", "-e", "-o", "pipefail", "-c", text], page.workdir, env, block)
    if block.kind == "python":
        script = page.workdir / f"block{block.index}.py"
        script.write_text(text)
        return _printed(request.getfixturevalue("python_runner").run(script, block), block)
    if block.kind == "ts":
        try:
            project = request.getfixturevalue("typescript")
        except pytest.skip.Exception:
            return None
        return _run(["node", f"js/{_ts_name(block)}.js"], project, env, block)
    raise AssertionError(f"{block.id}: a {block.lang!r} block cannot run; mark it <!-- not-run: reason -->")


def _previous_runnable(block: Block) -> Block | None:
    before = [b for b in BLOCKS if b.page == block.page and b.index < block.index]
    return next((b for b in reversed(before) if b.kind != "output"), None)


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_block(
    block: Block, request: pytest.FixtureRequest, server: str, scratch: Path, page_state: dict[str, Page]
) -> None:
    if block.page not in page_state:
        page_state[block.page] = Page(_workdir(scratch, block.page))
    page = page_state[block.page]
    for earlier in [b for b in RUN if b.page == block.page and page.done <= b.index < block.index]:
        if earlier.kind != "output":  # the blocks before this one, when it runs alone (-k)
            page.printed[earlier.index] = _execute(earlier, request, server, page)
    page.done = block.index + 1
    if block.kind == "output":
        source = _previous_runnable(block)
        assert source is not None and source.not_run is None, f"{block.id}: an output block after no runnable block"
        printed = page.printed.get(source.index)
        if printed is None:
            pytest.skip(f"{source.id} did not run here")
        assert matches(block.text, printed), f"{block.id} shows\n{block.text}\nbut {source.id} printed\n{printed}"
        return
    printed = _execute(block, request, server, page)
    page.printed[block.index] = printed
    if printed is None:
        pytest.skip(f"{block.id} needs {', '.join(block.needs()) or 'node'}")


def test_nine_blocks_in_ten_run() -> None:
    """At least 90 % of the fenced blocks run; every other one says why not."""
    assert len(RUN) >= 0.9 * len(BLOCKS), [b.id for b in BLOCKS if b.not_run]
    for block in BLOCKS:
        assert block.not_run is None or len(block.not_run) > 5, f"{block.id}: give the reason it is not run"
        assert block.not_run is not None or block.kind != "other", f"{block.id}: no language, mark it not-run"


def test_the_output_check_compares_what_was_printed() -> None:
    assert matches('{"a": [1, 2.5]}', '{"a":[1,2.5]}\n')
    assert not matches('{"a": [1, 2.5]}', '{"a":[1,2.6]}')
    assert matches("x 1\n...\nz 3", "x 1\ny 2\ny 2\nz 3\n")
    assert not matches("x 1\nz 3", "x 1\ny 2\nz 3")


PROBES = {
    "probe.py": """\
import os, sys, threading
print(__name__, __file__, sys.argv, sys.path[0] == os.getcwd(), os.environ["INITSERVE_URL"], sys.stdin.read())
threading.Thread(target=lambda: print("a thread's line")).start()
os.write(2, b"stderr by its descriptor\\n")
sys.exit(3)
""",
    "failing.py": "import json\n\n\ndef f():\n    json.loads('{')\n\n\nf()\n",
}


def test_a_python_block_runs_as_python_runs_it(python_runner: PythonRunner, scratch: Path, server: str) -> None:
    """The forked runner gives a block what ``python block.py`` gives it: the same printed lines (its
    ``__name__``, ``__file__``, ``argv``, ``sys.path[0]``, cwd, environment, empty stdin), the same exit status
    and stderr (a traceback from the script's own frame)."""
    place = scratch / "probe"
    place.mkdir()
    for name, text in PROBES.items():
        script = place / name
        script.write_text(text)
        forked = python_runner.run(script, Block("probe.md", 0, 1, "python", text, None))
        alone = subprocess.run(
            [sys.executable, name], cwd=place, env=_env(server), stdin=subprocess.DEVNULL, capture_output=True
        )
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            alone.returncode,
            alone.stdout.decode(),
            alone.stderr.decode(),
        )
        assert forked.returncode in (1, 3) and forked.stderr
    assert forked.stderr.startswith("Traceback") and "json.decoder.JSONDecodeError" in forked.stderr
