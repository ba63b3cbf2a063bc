"""Floors of the speed targets: what the clients and uvicorn cost with no service behind them.

Usage (from the repository root)::

    python bench/floors.py [--repeats N] [--requests N]

It starts uvicorn (uvloop, httptools: as ``python -m service``) with a bare ASGI app in a subprocess
and measures, on the same machine as ``bench_service.py``:

1. reading 64 MiB of ready bytes (a 4096 x 4096 float32 body, sent in 1 MiB pieces) into memory with
   the httpx client of ``bench_service.py`` and with ``http.client`` reading into a NumPy array:
   wall time and client CPU (median of N);
2. sequential keep-alive POSTs with ``http.client`` answered by (a) 262,272 ready bytes (a 256 x 256
   float32 .npy) and (b) the same after drawing the 65,536 normals of chunk 0 on the event loop
   (``PCG64(SeedSequence(seed, spawn_key=(0, 0)))``, ``standard_normal(dtype=float32)``: our stream):
   requests per second with no framework, no validation, no thread hop and no statistics.

A target below a floor cannot be met by any server code on this machine with that client.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_service import free_port, start_server
from bench.clients import fetch_npy_httpx


def npy_file(shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, np.float32))
    return buffer.getvalue()


LARGE = npy_file((4096, 4096))
SMALL_HEADER = npy_file((256, 256))[:128]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any request: 64 MiB of zeros (a .npy file) for a 4096 x 4096 request, else a 256 x 256 one (drawn
    from our stream when the query is ``draw``): 200 to ``GET /readyz`` too."""
    if scope["type"] != "http":
        return
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = json.loads(raw) if raw else {}
    if request.get("shape") == [4096, 4096]:
        body = memoryview(LARGE)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        step = 1 << 20
        for start in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[start : start + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    values = np.zeros(256 * 256, np.float32)
    if scope["query_string"] == b"draw":
        generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence(request["seed"], spawn_key=(0, 0))))
        generator.standard_normal(dtype=np.float32, out=values)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % (128 + values.nbytes))]}
    )
    await send({"type": "http.response.body", "body": SMALL_HEADER + values.tobytes()})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def large(base: str, port: int, repeats: int) -> None:
    import http.client

    print("## 64 MiB of ready bytes into the client (median ms: wall, client CPU)")
    body = {"shape": [4096, 4096]}

    def with_stdlib(connection: http.client.HTTPConnection) -> None:
        connection.request("POST", "/v1/tensors/npy", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        array = np.empty(int(response.headers["content-length"]), np.uint8)
        view, done = memoryview(array), 0
        while done < len(view):
            done += response.readinto(view[done:])

    with httpx.Client(base_url=base, timeout=60) as client:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        runs = {
            "httpx (bench_service's fetch_npy_httpx)": lambda: fetch_npy_httpx(client, body),
            "http.client readinto a NumPy array": lambda: with_stdlib(connection),
        }
        for label, run in runs.items():
            run()
            walls, cpus = [], []
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), cpu_seconds()
                run()
                walls.append(time.perf_counter() - wall)
                cpus.append(cpu_seconds() - cpu)
            wall, cpu = 1000 * statistics.median(walls), 1000 * statistics.median(cpus)
            print(f"   {label}: {wall:.1f} ms, client CPU {cpu:.1f} ms")
        connection.close()


def small(port: int, requests: int) -> None:
    import http.client

    print(f"## sequential keep-alive POSTs, 256 x 256 float32 answers, http.client, {requests} requests")
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for label, path in (
        ("ready bytes", "/v1/tensors/npy"),
        ("65,536 normals drawn per request", "/v1/tensors/npy?draw"),
    ):
        for seed in range(-200, requests):
            if seed == 0:
                start = time.perf_counter()
            payload = json.dumps({"shape": [256, 256], "init": {"scheme": "he"}, "seed": max(seed, 0)})
            connection.request("POST", path, payload, {"Content-Type": "application/json"})
            connection.getresponse().read()
        seconds = time.perf_counter() - start
        print(f"   {label}: {requests / seconds:.0f} requests/s ({1e6 * seconds / requests:.0f} µs per request)")
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    print(f"# python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    port = free_port()
    repository = str(Path(__file__).resolve().parents[1])
    uvicorn = (
        "-m",
        "uvicorn",
        "--app-dir",
        repository,
        "bench.floors:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    )
    server = start_server(port, uvicorn)
    base = f"http://127.0.0.1:{port}"
    try:
        large(base, port, args.repeats)
        small(port, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"# load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
