"""The image's install and start, run for real outside Docker.

The build stage's ``RUN`` is executed as written in the Dockerfile, on a copy of just the files the
build stage copies, with ``/tmp/wheels`` and ``/opt/venv`` moved under ``tmp_path``. Dependencies come
from the package index (pip's own cache may serve them; the Dockerfile's ``PIP_NO_CACHE_DIR`` is
dropped here only for speed; pip's byte-compiling is kept: without it, measured, the install saves the ~18
CPU-seconds of compiling the venv's ~3,400 modules, and the four server processes spend as much compiling the
~1,100 they import). Then the runtime stage's ``CMD`` starts the service with the runtime
stage's ``ENV`` (bound to 127.0.0.1 on a free port instead of 0.0.0.0:8000, its ``/tmp/...`` paths under a
directory of the module's: the container's tmpfs), the ``HEALTHCHECK`` command runs as Docker would run it, a
tensor comes over the socket, and SIGTERM stops the server.

numba's cache there (``NUMBA_CACHE_DIR``) starts with the kernels this checkout has compiled (tests/conftest.py
compiles them before the workers start), copied where the installed copy of the sources looks for them
(numba keys its cache by the source's directory and content): the service's start-up warm-up loads every
kernel instead of compiling all of them again, on a background thread, in every server process of the
module (seconds of CPU each, and a loaded 2-core machine's uvicorn worker can then miss its health ping).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 300  # seconds: wheel build plus a venv install from the index
START_TIMEOUT = 60
WHEELS, VENV = "/tmp/wheels", "/opt/venv"  # the Dockerfile's paths, moved under tmp_path here


def _copy_build_context(build, repo_root: Path, context: Path) -> None:
    """The files the build stage's COPY instructions take, placed as under its WORKDIR."""
    for copy in build.all("COPY"):
        *sources, destination = copy.flags()[1].split()
        target = context / destination
        for source in sources:
            origin = repo_root / source
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(origin, target if source.endswith("/") else target / origin.name, ignore=ignore)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INITSERVE_", "PYTHON", "VIRTUAL_ENV"))}
    env.pop("PIP_NO_CACHE_DIR", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(dockerfile, repo_root, tmp_path_factory) -> Path:
    """Runs the build stage's RUN; returns the venv it made."""
    root = tmp_path_factory.mktemp("image")
    build = dockerfile.stage("build")
    workdir = build.last("WORKDIR")
    assert workdir is not None
    context = root / "src"
    _copy_build_context(build, repo_root, context)
    (run,) = build.all("RUN")
    assert WHEELS in run.value and VENV in run.value
    script = run.value.replace(WHEELS, str(root / "wheels")).replace(VENV, str(root / "venv"))
    # `python` is the build image's interpreter; here, the one running the tests (3.11+ like the image).
    env = _clean_env(**{k: v for k, v in build.env().items() if k != "PIP_NO_CACHE_DIR"})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["/bin/sh", "-c", script], cwd=context, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert done.returncode == 0, f"build stage RUN failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert len(list((root / "wheels").glob("initserve-*.whl"))) == 1
    return root / "venv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runtime_env(dockerfile, venv: Path, port: int, workers: int, home: Path, tmp: Path) -> dict[str, str]:
    env = _clean_env(HOME=str(home))
    for key, value in dockerfile.final.env().items():
        if value.startswith("/tmp/"):  # the container's tmpfs
            env[key] = f"{tmp}/{value.removeprefix('/tmp/')}"
        else:
            env[key] = value.replace(VENV, str(venv)).replace("${PATH}", os.environ.get("PATH", ""))
    env.update(INITSERVE_HOST="127.0.0.1", INITSERVE_PORT=str(port), INITSERVE_WORKERS=str(workers))
    return env


def _get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _kernel_cache(source: Path) -> Path:
    """Where this process's numba keeps the compiled kernels of ``source`` (a module of this checkout)."""
    from numba.core.caching import UserProvidedCacheLocator

    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"], UserProvidedCacheLocator.get_suitable_cache_subpath(str(source)))
    return source.parent / "__pycache__"


@pytest.fixture(scope="module")
def container_tmp(installed: Path, dockerfile, repo_root: Path, tmp_path_factory) -> Path:
    """The container's /tmp, numba's cache in it seeded with this checkout's compiled kernels (module docstring)."""
    from numba.core.caching import UserProvidedCacheLocator

    tmp = tmp_path_factory.mktemp("container-tmp")
    numba_cache = Path(_runtime_env(dockerfile, installed, 0, 1, tmp / "home", tmp)["NUMBA_CACHE_DIR"])
    (site,) = installed.glob("lib/python3*/site-packages")
    for source in sorted((repo_root / "service").rglob("*.py")):
        compiled = sorted(_kernel_cache(source).glob(f"{source.stem}.*.nb[ic]"))
        if compiled:
            copy = site / source.relative_to(repo_root)
            target = numba_cache / UserProvidedCacheLocator.get_suitable_cache_subpath(str(copy))
            target.mkdir(parents=True, exist_ok=True)
            for path in compiled:
                shutil.copy2(path, target / path.name)
    return tmp


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("workers", [1, 2])
def test_installed_service_serves_and_stops(installed, container_tmp, dockerfile, repo_root, tmp_path, workers):
    venv = installed
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cwd = tmp_path / "cwd"  # stays empty: nothing is written at run time
    cwd.mkdir()
    home = tmp_path / "home"  # in the image HOME is /nonexistent; here it must stay absent
    scratch = tmp_path / "tmp"  # TMPDIR too: with --read-only, the container's /tmp is read-only as well
    scratch.mkdir()
    env = _runtime_env(dockerfile, venv, port, workers, home, container_tmp)
    env["TMPDIR"] = str(scratch)

    command = dockerfile.final.last("CMD").exec_form()
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable is not None and Path(executable).parent == venv / "bin", executable
    healthcheck = dockerfile.final.last("HEALTHCHECK").flags()[1].partition(" ")[2]
    check = json.loads(healthcheck)
    assert Path(shutil.which(check[0], path=env["PATH"])).parent == venv / "bin"

    before = _files(venv)
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, f"server exited with {server.returncode}:\n{log.read_text()}"
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /healthz within {START_TIMEOUT}s:\n{log.read_text()}"
            time.sleep(0.2)

        probe = subprocess.run(check, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0, probe.stderr
        assert _get(base + "/readyz")[0] == 200

        body = {"shape": [64, 32], "init": {"scheme": "he"}, "seed": 7}
        request = urllib.request.Request(
            base + "/v1/tensors/npy",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            headers, payload = answer.headers, answer.read()
        assert len(payload) == int(headers["Content-Length"])
        tensor = np.load(io.BytesIO(payload), allow_pickle=False)
        assert tensor.shape == (64, 32) and tensor.dtype == np.float32
        assert headers["X-Init-Seed"] == "7" and headers["X-Init-Fan-In"] == "64"
        variance = float(headers["X-Init-Theoretical-Variance"])
        assert variance == pytest.approx(2 / 64)
        assert float(tensor.var()) == pytest.approx(variance, rel=0.2)

        # the explorer's page and assets are in the wheel (issue 19)
        status, page = _get(base + "/")
        assert status == 200 and b'src="/explorer/app.js"' in page
        for asset in sorted((repo_root / "service" / "explorer").glob("*.[jc]s*")):
            assert _get(f"{base}/explorer/{asset.name}")[0] == 200, asset.name
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail(f"no exit within 40 s of SIGTERM:\n{log.read_text()}")

    logs = log.read_text()
    # uvicorn re-raises the signal after a graceful shutdown: -SIGTERM here, exit 0 as PID 1 in a container.
    assert code in (0, -signal.SIGTERM), f"exit {code}:\n{logs}"
    assert logs.count("Started server process") == workers, logs  # INITSERVE_WORKERS reached uvicorn
    assert logs.count("Application shutdown complete") == workers, logs
    assert "Traceback" not in logs, logs
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert records and not [r for r in records if r.get("level") in ("error", "critical")], logs
    assert list(cwd.iterdir()) == list(scratch.iterdir()) == [], "the service wrote files at run time"
    assert not home.exists(), "the service wrote files under HOME at run time"
    assert _files(venv) == before, "the service wrote into its venv at run time"

    down = subprocess.run(check, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1, "the health check must fail when nothing answers"
