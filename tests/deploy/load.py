"""A bounded mixed load through a base URL, every answer checked: tests/deploy/test_nginx.py (seconds) and
bench/bench_deploy.py (60 s) use it.

``workers`` threads each keep one HTTP/1.1 connection (``http.client``: little client CPU, so that the 2
cores serve rather than parse) and send requests one after another until ``duration`` seconds have passed,
drawn with fixed weights from ``MIX``. An answer counts as an error when the connection fails, the status
is not the expected one, or the body is not what was asked for (a ``.npy`` that ``numpy.load`` does not
read into the requested shape and dtype, a JSON tensor whose data has the wrong length, a problem that is
not problem+json).
"""

from __future__ import annotations

import http.client
import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np


@dataclass(frozen=True)
class Kind:
    name: str
    weight: int
    path: str
    shape: list[int]
    init: dict[str, object]
    expect: int = 200


#: Small answers (the load is about requests, not bytes): .npy, JSON, stats, safetensors and a 422.
MIX = (
    Kind("npy", 40, "/v1/tensors/npy", [64, 64], {"scheme": "he"}),
    Kind("json", 20, "/v1/tensors", [16, 16], {"scheme": "glorot"}),
    Kind("stats", 15, "/v1/tensors/stats", [256, 256], {"scheme": "normal", "std": 0.1}),
    Kind("safetensors", 15, "/v1/tensors/safetensors", [32, 32], {"scheme": "lecun"}),
    Kind("bad", 10, "/v1/tensors", [4], {"scheme": "nope"}, expect=422),
)


@dataclass
class Result:
    """What a load run saw: answers by kind and status, errors with their reasons, latencies."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + len(self.errors)

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def check(kind: Kind, status: int, headers: http.client.HTTPMessage, body: bytes) -> str | None:
    """None when the answer is the one asked for, else what is wrong with it."""
    if status != kind.expect:
        return f"{kind.name}: status {status}: {body[:200]!r}"
    content_type = headers.get("content-type", "")
    if kind.expect != 200:
        ok = content_type == "application/problem+json" and json.loads(body)["status"] == status
        return None if ok else f"{kind.name}: not a problem: {content_type} {body[:200]!r}"
    if kind.name == "npy":
        array = np.load(io.BytesIO(body), allow_pickle=False)
        ok = array.shape == tuple(kind.shape) and array.dtype == np.float32
        return None if ok else f"npy: got {array.shape} {array.dtype}"
    if kind.name == "json":
        data = json.loads(body)["data"]
        return None if len(data) == int(np.prod(kind.shape)) else f"json: {len(data)} elements"
    if kind.name == "stats":
        return None if "empirical" in json.loads(body)["stats"] else f"stats: {body[:200]!r}"
    length = int.from_bytes(body[:8], "little")  # safetensors: u64 header length, JSON header, data
    header = json.loads(body[8 : 8 + length])
    ok = any(v.get("shape") == kind.shape for k, v in header.items() if k != "__metadata__")
    return None if ok else f"safetensors: {header}"


def body_of(kind: Kind, seed: int) -> bytes:
    return json.dumps({"shape": kind.shape, "init": kind.init, "seed": seed}).encode()


def run_load(
    base: str,
    duration: float,
    workers: int = 4,
    *,
    seed: int = 0,
    at: float | None = None,
    action: Callable[[], None] | None = None,
    timeout: float = 30.0,
) -> Result:
    """``workers`` connections loading ``base`` for ``duration`` seconds; ``action`` runs once, ``at``
    seconds after the start (a replica's SIGTERM, say), on its own thread."""
    url = urlparse(base)
    result = Result()
    kinds = list(MIX)
    weights = [k.weight for k in MIX]
    started = time.monotonic()
    stop_at = started + duration

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        try:
            while time.monotonic() < stop_at:
                kind = rng.choices(kinds, weights)[0]
                sent = time.perf_counter()
                try:
                    headers = {"Content-Type": "application/json"}
                    connection.request("POST", kind.path, body_of(kind, rng.randrange(1 << 31)), headers)
                    response = connection.getresponse()
                    body = response.read()
                    problem = check(kind, response.status, response.headers, body)
                    status = response.status
                except (OSError, http.client.HTTPException, ValueError) as error:
                    connection.close()
                    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
                    problem, status = f"{kind.name}: {type(error).__name__}: {error}", 0
                elapsed = time.perf_counter() - sent
                with result.lock:
                    result.latencies.append(elapsed)
                    if problem is None:
                        result.counts[kind.name, status] += 1
                    else:
                        result.errors.append(problem)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    timer = threading.Timer(at, action) if action is not None and at is not None else None
    for thread in threads:
        thread.start()
    if timer is not None:
        timer.start()
    for thread in threads:
        thread.join(duration + timeout + 10)
    if timer is not None:
        timer.join(duration + timeout)
    result.seconds = time.monotonic() - started
    return result


def warm(bases: list[str], timeout: float = 120.0) -> None:
    """One request of every kind to every replica directly: the first use of a stream compiles its kernels
    (seconds), which a load test must not count."""
    for base in bases:
        url = urlparse(base)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        try:
            for kind in MIX:
                connection.request("POST", kind.path, body_of(kind, 0), {"Content-Type": "application/json"})
                response = connection.getresponse()
                problem = check(kind, response.status, response.headers, response.read())
                if problem is not None:
                    raise RuntimeError(f"warm-up of {base}: {problem}")
        finally:
            connection.close()
