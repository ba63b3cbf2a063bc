"""A short run of bench/load.py, so that the load script does not rot (the real run is 60 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_load_script_smoke_run() -> None:
    command = [sys.executable, "bench/load.py", "--duration", "5", "--concurrency", "8", "--max-rss-growth", "1.0"]
    env = {"PATH": "/usr/bin:/bin", "INITSERVE_THREADS": "2"}
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5xx or no answer: 0; malformed or unexpected: 0" in run.stdout
    assert "npy-small            200: " in run.stdout and "bad-json             400: " in run.stdout
    assert "MiB at the end" in run.stdout and "nan" not in run.stdout  # the server's RSS was read
