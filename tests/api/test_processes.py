"""Determinism across processes: the same request gives the same bytes from a server with two worker
processes, from two separately started servers, and across a restart, for every scheme family and
stream.

The three distributions are drawn over two blocks of 2^20 elements (split between the generation threads
differently by a pool of 2 and a pool of 1); the other requests over a few 65,536-element chunks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from .helpers import PLAIN_HTTP, server_process

SMALL = [300, 700]  # 210,000 elements: 4 chunks
INITS: list[tuple[list[int], dict[str, Any]]] = [
    (SMALL, {"scheme": "glorot", "distribution": "normal"}),
    (SMALL, {"scheme": "he", "distribution": "uniform", "mode": "fan_out"}),
    (SMALL, {"scheme": "lecun", "distribution": "truncated_normal"}),
    ([3, 3, 64, 128], {"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_avg"}),
    ([256, 300], {"scheme": "orthogonal", "gain": 1.5}),
    ([300, 200], {"scheme": "identity"}),
    ([3, 3, 16, 32], {"scheme": "dirac"}),
    ([500, 300], {"scheme": "sparse", "sparsity": 0.3}),
    (SMALL, {"scheme": "constant", "value": 0.25}),
    ([512, 2100], {"scheme": "normal", "mean": 0.5, "std": 2.0}),
    ([512, 2100], {"scheme": "uniform", "low": -1.0, "high": 3.0}),
    ([512, 2100], {"scheme": "truncated_normal", "std": 0.02}),
]
REQUESTS = [
    {"shape": shape, "init": init, "seed": 1234 + i, "dtype": dtype}
    for i, (shape, init) in enumerate(INITS)
    for dtype in ("float32", "float64")
] + [  # the torch streams: one generator per tensor, drawn whole on one thread, in compiled kernels
    {"shape": SMALL, "layout": "torch", "init": init, "seed": 99, "dtype": dtype, "stream": stream}
    for init in ({"scheme": "he"}, {"scheme": "glorot"}, {"scheme": "torch.trunc_normal_", "std": 0.5})
    for dtype in ("float32", "float16")
    for stream in ("torch", "torch-default")
]


def digests(base: str, repeats: int = 1) -> list[str]:
    """SHA-256 of every request's .npy answer; each repeat on a new connection."""
    out = []
    for body in REQUESTS:
        seen = set()
        for _ in range(repeats):
            response = httpx.post(f"{base}/v1/tensors/npy", json=body, timeout=60, verify=PLAIN_HTTP)
            assert response.status_code == 200, response.text
            assert int(response.headers["content-length"]) == len(response.content)
            seen.add(hashlib.sha256(response.content).hexdigest())
        assert len(seen) == 1, body
        out.append(seen.pop())
    return out


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_same_bytes_from_two_workers_two_servers_and_a_restart() -> None:
    """A server with a pool of 2 threads, stopped; then another, started separately after it (a restart:
    nothing is kept), with a pool of 1 and two worker processes, each request sent three times on new
    connections."""
    with server_process() as (base, _):
        first = digests(base)
    with server_process({"INITSERVE_WORKERS": "2", "INITSERVE_THREADS": "1"}, via_cli=True) as (base, supervisor):
        assert len(children(supervisor.pid)) >= 2  # uvicorn's worker processes share the socket
        assert digests(base, repeats=3) == first
