"""Helpers of the HTTP tests: apps built from explicit ``Settings``, request bodies, answer checks,
and a real uvicorn server in a subprocess."""

from __future__ import annotations

import io
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

PROBLEM = "application/problem+json"
REPO = Path(__file__).resolve().parents[2]

#: Settings of every test app unless overridden: two generation threads (the pool path), no access log.
BASE_SETTINGS: dict[str, Any] = {"threads": 2, "access_log": False, "warm_streams": False}

#: ``verify=`` of the helpers' short-lived httpx clients (``httpx.get`` makes one per call). The test servers speak
#: plain HTTP on loopback, so no TLS is ever done; but a client made without a context builds a default one, loading
#: the CA bundle: ~50 ms of CPU, which a loop polling a server 10-20 times a second pays each time. (A context
#: without CAs: a TLS connection made with it would fail verification.)
PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

#: A pad that takes a request body over the default body limit.
OVER_BODY_LIMIT = "x" * (Settings.model_fields["max_body_bytes"].default + 1024)


def settings(**overrides: Any) -> Settings:
    """Explicit settings (the environment's INITSERVE_* variables never leak into a test)."""
    return Settings(**{**BASE_SETTINGS, **overrides})


@contextmanager
def app_client(*, raise_server_exceptions: bool = True, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient on a fresh app built with ``settings(**overrides)``, lifespan started and stopped."""
    app = create_app(settings(**overrides))
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def tensor_request(shape: list[int] | None = None, scheme: str = "he", **fields: Any) -> dict[str, Any]:
    """A request body with seed 7 unless given; ``init=`` replaces the whole init object."""
    body: dict[str, Any] = {"shape": [8, 4] if shape is None else shape, "init": {"scheme": scheme}, "seed": 7}
    body.update(fields)
    return body


def load_npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem+json body of an error answer, after checking its media type, status and detail."""
    assert response.headers["content-type"] == PROBLEM, response.text
    body = json.loads(response.content)
    assert body["status"] == response.status_code, body
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    return body


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    *,
    via_cli: bool = False,
    startup_timeout: float = 120.0,
    graceful: bool = True,
) -> Iterator[str]:
    """``server_process`` without the process: yields the base URL."""
    with server_process(env, via_cli=via_cli, startup_timeout=startup_timeout, graceful=graceful) as (base, _):
        yield base


@contextmanager
def server_process(
    env: Mapping[str, str] | None = None,
    *,
    via_cli: bool = False,
    startup_timeout: float = 120.0,
    graceful: bool = True,
    log_path: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real server of ``create_app`` on a free 127.0.0.1 port; yields its base URL and its process.

    ``python -m uvicorn service.main:create_app --factory``, or ``python -m service serve`` (the
    ``initserve serve`` command, configured by INITSERVE_* variables) when ``via_cli``. The process
    is always stopped: SIGTERM (SIGKILL after 10 s), or SIGKILL at once when ``graceful`` is false
    (for a server left busy on purpose). Its output goes to ``log_path`` when given.
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("INITSERVE_")}
    child_env.update({"INITSERVE_ACCESS_LOG": "false", "INITSERVE_THREADS": "2", "INITSERVE_LOG_LEVEL": "warning"})
    # no kernels loaded in the background: memory and CPU measurements see only the requests
    child_env.setdefault("INITSERVE_WARM_STREAMS", "false")
    child_env.update(env or {})
    if via_cli:
        child_env.update({"INITSERVE_HOST": "127.0.0.1", "INITSERVE_PORT": str(port)})
        command = [sys.executable, "-m", "service", "serve"]
    else:
        command = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the server did not answer /healthz (status {process.poll()}):\n{output}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1.0, verify=PLAIN_HTTP).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            yield base, process
        finally:
            if process.poll() is None:
                if graceful:
                    process.terminate()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                else:
                    process.kill()
            process.wait()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def high_water_mark(pid: int) -> int:
    """``VmHWM`` of a process (Linux), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class PeakRSS:
    """The peak RSS of a process while in the block: sampled every 5 ms on a thread, and the kernel's
    high-water mark, reset to the current RSS on entry (``clear_refs`` 5, our own child process)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sampled = 0
        self.hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.sampled = max(self.sampled, rss_bytes(self.pid))

    @property
    def peak(self) -> int:
        return max(self.sampled, self.hwm)

    def __enter__(self) -> PeakRSS:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.sampled = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm = high_water_mark(self.pid)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def metric_value(text: str, name: str) -> float:
    """The sum of a Prometheus series' samples in ``text`` (every label set)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name)
