"""A bounded load test of the service: mixed requests on loopback for a fixed time, every answer checked.

Usage (from the repository root)::

    python bench/load.py [--duration 60] [--concurrency 16] [--warmup S] [--seed N] [--url URL --pid PID]

Without ``--url`` it starts ``python -m service`` (one worker, the default settings, the environment's
INITSERVE_* variables) on a free 127.0.0.1 port and stops it at the end; with ``--url`` (loopback
only) it loads a running server, whose RSS it reads when ``--pid`` is given. ``--concurrency``
connections each send requests one after another, drawn with fixed weights from a mix of small and
large, JSON, ``.npy`` and stats, valid and invalid; it stops by itself after ``--duration`` seconds.

Every answer is checked: a 200 ``.npy`` must parse with ``numpy.load`` into the requested shape and
dtype with the declared Content-Length, a 200 JSON must parse with ``len(data)`` equal to the
element count (stats: no data), an invalid request must get its 4xx as problem+json. It prints
counts by kind and status, p50/p99 latency, and the server's RSS: the peak over the
``--warmup`` seconds after warm-up, and the peak over the last ``--warmup`` seconds of the run.
The exit status is 1 when any answer is a 5xx, is malformed or has an unexpected status, or when the
final RSS is more than ``--max-rss-growth`` (10%) above the one after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np

PROBLEM = "application/problem+json"
#: ``verify=`` of the start-up poll's clients: plain HTTP, so no CA bundle loaded (~50 ms of CPU) per poll.
PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@dataclass(frozen=True)
class Kind:
    """One kind of request of the mix."""

    name: str
    weight: int
    path: str
    shape: list[int] | None  # None: an invalid request
    init: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    content: bytes | None = None  # a raw body instead of JSON
    content_type: str = "application/json"
    expect: int = 200


MIX = [
    Kind("npy-small", 30, "/v1/tensors/npy", [64, 64], {"scheme": "he"}),
    Kind("npy-medium", 15, "/v1/tensors/npy", [512, 512], {"scheme": "glorot"}, "float64"),
    Kind("npy-16MiB", 4, "/v1/tensors/npy", [2048, 2048], {"scheme": "lecun", "distribution": "truncated_normal"}),
    Kind("npy-64MiB-streamed", 2, "/v1/tensors/npy", [4096, 4096], {"scheme": "uniform", "low": -1, "high": 1}),
    Kind("json-small", 15, "/v1/tensors", [32, 32], {"scheme": "orthogonal"}, "float16"),
    Kind("json-medium", 4, "/v1/tensors", [256, 256], {"scheme": "variance_scaling", "scale": 2}),
    Kind("stats-1Mi", 8, "/v1/tensors/stats", [1024, 1024], {"scheme": "normal", "std": 0.1}),
    Kind("bad-scheme", 5, "/v1/tensors", None, expect=422, content=b'{"shape": [4], "init": {"scheme": "nope"}}'),
    Kind(
        "bad-seed",
        4,
        "/v1/tensors/npy",
        None,
        expect=422,
        content=b'{"shape": [4], "init": {"scheme": "he"}, "seed": -1}',
    ),
    Kind(
        "too-large",
        4,
        "/v1/tensors/npy",
        None,
        expect=413,
        content=b'{"shape": [65536, 65536], "init": {"scheme": "he"}}',
    ),
    Kind("bad-json", 4, "/v1/tensors", None, expect=400, content=b'{"shape": [4,'),
    Kind("not-json", 3, "/v1/tensors/stats", None, expect=415, content=b"shape=4", content_type="text/plain"),
]


def body_of(kind: Kind, rng: random.Random) -> bytes:
    if kind.content is not None:
        return kind.content
    body = {"shape": kind.shape, "init": kind.init, "dtype": kind.dtype, "seed": rng.randrange(1 << 40)}
    return json.dumps(body).encode()


def check(kind: Kind, response: httpx.Response) -> str | None:
    """None when the answer is right, else what is wrong with it."""
    if response.status_code != kind.expect:
        return f"status {response.status_code}, expected {kind.expect}: {response.content[:200]!r}"
    length = response.headers.get("content-length")
    if length is None or int(length) != len(response.content):
        return f"Content-Length {length} but {len(response.content)} bytes"
    if kind.expect != 200:
        if response.headers.get("content-type") != PROBLEM:
            return f"content type {response.headers.get('content-type')} for a {kind.expect}"
        problem = json.loads(response.content)
        return None if problem.get("status") == kind.expect else f"problem {problem}"
    assert kind.shape is not None
    if kind.path.endswith("/npy"):
        array = np.load(io.BytesIO(response.content), allow_pickle=False)
        if array.shape != tuple(kind.shape) or array.dtype != np.dtype(kind.dtype):
            return f"array {array.shape} {array.dtype}"
        return None
    answer = json.loads(response.content)
    count = math.prod(kind.shape)
    if kind.path.endswith("/stats"):
        return None if "data" not in answer and answer["stats"]["empirical"]["count"] == count else "stats answer"
    return None if len(answer["data"]) == count else f"{len(answer['data'])} values, expected {count}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "INITSERVE_HOST": "127.0.0.1", "INITSERVE_PORT": str(port), "INITSERVE_ACCESS_LOG": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1, verify=PLAIN_HTTP).status_code == 200:
                return base, server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start")


async def run(args: argparse.Namespace, base: str, pid: int | None) -> int:
    rng = random.Random(args.seed)
    weights = [k.weight for k in MIX]
    statuses: Counter[tuple[str, int]] = Counter()
    errors: list[str] = []
    latencies: list[float] = []
    by_kind_latency: dict[str, list[float]] = {k.name: [] for k in MIX}
    rss: list[tuple[float, float]] = []
    start = time.monotonic()
    stop_at = start + args.duration

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            kind = rng.choices(MIX, weights)[0]
            sent = time.perf_counter()
            try:
                response = await http.post(
                    kind.path, content=body_of(kind, rng), headers={"content-type": kind.content_type}
                )
            except httpx.HTTPError as exc:
                statuses[(kind.name, -1)] += 1
                errors.append(f"{kind.name}: {type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - sent)
            by_kind_latency[kind.name].append(latencies[-1])
            statuses[(kind.name, response.status_code)] += 1
            problem = await asyncio.to_thread(check, kind, response)  # parsing 64 MiB would stall the loop
            if problem:
                errors.append(f"{kind.name}: {problem}")

    done = asyncio.Event()

    async def sample_rss() -> None:
        while pid is not None and not done.is_set():  # until the last answer is in
            rss.append((time.monotonic() - start, rss_mib(pid)))
            await asyncio.sleep(0.1)

    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        sampler = asyncio.create_task(sample_rss())
        await asyncio.gather(*(client(http) for _ in range(args.concurrency)))
        elapsed = time.monotonic() - start
        done.set()
        await sampler

    total = sum(statuses.values())
    print(f"{total} requests in {elapsed:.1f} s ({total / elapsed:.0f}/s), {args.concurrency} connections, {base}")
    by_kind: dict[str, Counter[int]] = {}
    for (name, status), n in sorted(statuses.items()):
        by_kind.setdefault(name, Counter())[status] = n
    for kind in MIX:
        counts = ", ".join(f"{status}: {n}" for status, n in sorted(by_kind.get(kind.name, Counter()).items()))
        times = sorted(by_kind_latency[kind.name])
        p99 = (
            f"p50 {times[len(times) // 2] * 1000:7.1f} ms, p99 {times[int(0.99 * (len(times) - 1))] * 1000:7.1f} ms"
            if times
            else ""
        )
        print(f"  {kind.name:20s} {counts or '-':24s} {p99}")
    by_status = Counter()
    for (_, status), n in statuses.items():
        by_status[status] += n
    print("by status:", dict(sorted(by_status.items())))
    server_errors = sum(n for status, n in by_status.items() if status >= 500 or status < 0)
    print(f"5xx or no answer: {server_errors}; malformed or unexpected: {len(errors)}")
    for error in errors[:10]:
        print("  ", error)
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    failed = bool(server_errors or errors or not latencies)
    if rss:
        warm = max((v for t, v in rss if args.warmup <= t < 2 * args.warmup), default=float("nan"))
        final = max((v for t, v in rss if t >= elapsed - args.warmup), default=float("nan"))
        growth = final / warm - 1
        print(f"server RSS: {warm:.1f} MiB after warm-up, {final:.1f} MiB at the end ({growth:+.1%}; peak per window)")
        failed = failed or not growth <= args.max_rss_growth
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (default 16)")
    parser.add_argument("--warmup", type=float, help="seconds (default: a sixth of the duration, at most 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix")
    parser.add_argument("--url", help="a running server on loopback (default: start one)")
    parser.add_argument("--pid", type=int, help="the running server's process id, for its RSS")
    parser.add_argument("--max-rss-growth", type=float, default=0.10, help="fail above this RSS growth (0.10)")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = min(10.0, args.duration / 6)
    server = None
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load only a server on loopback")
        base, pid = args.url.rstrip("/"), args.pid
    else:
        base, server = start_server()
        pid = server.pid
    try:
        return asyncio.run(run(args, base, pid))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
