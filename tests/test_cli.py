"""The ``initserve`` command: generate, openapi, and serve as ``python -m service [OPTIONS]``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.cli import PORT_TAKEN, main
from service.core import make_tensor
from tests.api.helpers import PLAIN_HTTP, REPO, free_port


def test_generate_writes_the_core_tensor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.npy"
    code = main(
        [
            "generate",
            "--shape",
            "64",
            "32",
            "--scheme",
            "he",
            "--seed",
            "3",
            "--param",
            "mode=fan_out",
            "--layout",
            "torch",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    expected = make_tensor([64, 32], "he", seed=3, layout="torch", params={"mode": "fan_out"}).array
    assert np.load(out).tobytes() == expected.tobytes()
    assert "variance" in capsys.readouterr().out


def test_generate_with_fan_axes(tmp_path: Path) -> None:
    out = tmp_path / "w.npy"
    code = main(
        [
            "generate",
            "--shape",
            "4",
            "3",
            "3",
            "8",
            "--scheme",
            "lecun",
            "--seed",
            "1",
            "--in-axis",
            "-2",
            "--out-axis",
            "-1",
            "--batch-axis",
            "0",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert np.load(out).shape == (4, 3, 3, 8)


def test_generate_reports_invalid_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "generate",
            "--shape",
            "4",
            "4",
            "--scheme",
            "variance_scaling",
            "--seed",
            "1",
            "--param",
            "scale=-1",
            "-o",
            str(tmp_path / "w.npy"),
        ]
    )
    assert code == 2
    assert "init.scale" in capsys.readouterr().err


def test_openapi_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["title"] == "initserve"


def test_generate_takes_framework_named_initializers_in_their_layout(tmp_path: Path) -> None:
    """torch.kaiming_uniform_(a=sqrt(5)) on a (256, 784) torch weight: U(+-1/28) (anchors §7.2)."""
    out = tmp_path / "w.npy"
    args = ["generate", "--shape", "256", "784", "--scheme", "torch.kaiming_uniform_", "--seed", "1"]
    assert main([*args, "--param", f"a={5**0.5!r}", "-o", str(out)]) == 0
    weights = np.load(out)
    expected = make_tensor(
        [256, 784], "he", seed=1, layout="torch", params={"distribution": "uniform", "negative_slope": 5**0.5}
    )
    assert weights.tobytes() == expected.array.tobytes()
    assert 0.0357 < np.abs(weights).max() <= 1 / 28


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INITSERVE_")}
    env.update({"INITSERVE_ACCESS_LOG": "false", "INITSERVE_WARM_STREAMS": "false", "INITSERVE_THREADS": "1"})
    return env


@pytest.mark.parametrize("argv", [["--port"], ["serve", "--port"]], ids=["python -m service", "serve"])
def test_python_m_service_takes_the_serve_options(argv: list[str]) -> None:
    """``python -m service --port P`` is ``initserve serve --port P`` (the options of serve, no sub-command)."""
    port = free_port()
    command = [sys.executable, "-m", "service", *argv, str(port), "--host", "127.0.0.1", "--log-level", "warning"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO, env=_cli_env(), stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.seek(0) or log.read().decode(errors="replace")
                assert time.monotonic() < deadline, "no answer on /healthz within 60 s"
                try:
                    healthz = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0, verify=PLAIN_HTTP)
                    if healthz.status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_a_taken_port_says_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        command = [sys.executable, "-m", "service", "--port", str(port), "--host", "127.0.0.1"]
        done = subprocess.run(command, cwd=REPO, env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == PORT_TAKEN
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert f"--port {port + 1}" in done.stderr and "INITSERVE_PORT" in done.stderr


def test_python_m_service_help_is_the_serve_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        cwd=REPO,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "--port" in done.stdout and "--workers" in done.stdout and "generate --help" in done.stdout
