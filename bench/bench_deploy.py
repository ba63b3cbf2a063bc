"""Two replicas behind nginx with the shipped configuration (deploy/nginx/initserve.conf), measured.

Usage (from the repository root; needs Debian's nginx)::

    python bench/bench_deploy.py [--duration 60] [--workers 8] [--sigterm-duration 30] [--ranks 64]

Three parts, each on a fresh deployment (tests/deploy/proxy.py: two ``initserve serve`` replicas on free
loopback ports, each warmed with one request of every kind, and nginx in a temporary prefix):

1. ``--duration`` seconds of mixed load (tests/deploy/load.py: .npy, JSON, stats, safetensors and a 422,
   every answer checked) on ``--workers`` keep-alive connections: requests, rate, p50/p99 latency, client
   errors, and the split between the replicas from nginx's access log.
2. The same load for ``--sigterm-duration`` seconds with a SIGTERM to one replica at half time: client
   errors (the target is 0), answers before and after, requests nginx retried on the other replica.
3. ``--ranks`` concurrent GETs (``curl`` processes, else httpx threads) of one new permanent URL of a 70 MB model (a
   multi-rank job's start): how many reached a replica, how many nginx served from its cache, the wall time
   of all of them, and for scale one GET of the URL straight from a replica. Skipped when the service has
   no GET URLs.

Prints one JSON object; the exit status is 1 when any client saw an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.deploy.load import Result, run_load
from tests.deploy.proxy import Deployment, running_deployment


def _summary(result: Result, deployment: Deployment) -> dict[str, object]:
    latencies = sorted(result.latencies)
    split = deployment.upstream_counts()
    total = sum(split.values()) or 1
    return {
        "requests": result.total,
        "seconds": round(result.seconds, 1),
        "rps": round(result.rate, 1),
        "errors": len(result.errors),
        "first_errors": result.errors[:5],
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "split": {address: round(count / total, 3) for address, count in sorted(split.items())},
        # $upstream_addr lists every replica tried: "a, b" for a request nginx sent again
        "retried": len(re.findall(r" upstream=[^ ]+, ", deployment.nginx.access_log)),
    }


def load_part(duration: float, workers: int) -> dict[str, object]:
    with running_deployment(2) as deployment:
        result = run_load(deployment.base, duration, workers, seed=1)
        return _summary(result, deployment)


def sigterm_part(duration: float, workers: int) -> dict[str, object]:
    with running_deployment(2) as deployment:
        victim = deployment.replicas[0]
        stopped: dict[str, float] = {}

        def terminate() -> None:
            stopped["at"] = time.monotonic()
            victim.process.terminate()

        result = run_load(deployment.base, duration, workers, seed=2, at=duration / 2, action=terminate)
        summary = _summary(result, deployment)
        summary["victim_exit"] = victim.process.wait(timeout=60)
        return summary


def ranks_part(ranks: int) -> dict[str, object]:
    body = {
        "entries": [
            {"preset": "torch.Embedding", "prefix": "embed", "num_embeddings": 32000, "embedding_dim": 512},
            {"preset": "torch.Linear", "prefix": "proj", "in_features": 512, "out_features": 2048},
        ],
        "seed": 2026,
    }
    with running_deployment(2) as deployment:
        answer = httpx.post(f"{deployment.base}/v1/models/safetensors", json=body, timeout=120)
        location = answer.headers.get("content-location")
        if location is None:
            return {"skipped": "the service has no permanent GET URLs (no Content-Location)"}
        direct = time.monotonic()
        httpx.get(f"{deployment.replicas[0].base}{location}", timeout=300).raise_for_status()
        direct = time.monotonic() - direct
        before = sum(r.requests() for r in deployment.replicas)
        statuses: list[str] = []
        sizes: set[int] = set()
        lock = threading.Lock()
        barrier = threading.Barrier(ranks)

        curl = shutil.which("curl")

        def rank() -> None:
            barrier.wait(timeout=60)
            if curl:  # a C client: the 2 cores go to nginx, not to 64 Python readers
                out = "%{http_code} %header{x-cache-status} %{size_download}"
                command = [curl, "-s", "-o", os.devnull, "-w", out, f"{deployment.base}{location}"]
                code, cache, size = subprocess.run(command, capture_output=True, text=True, timeout=300).stdout.split()
            else:
                got = httpx.get(f"{deployment.base}{location}", timeout=300)
                code, cache, size = str(got.status_code), got.headers.get("x-cache-status"), str(len(got.content))
            with lock:
                statuses.append(f"{code} {cache}")
                sizes.add(int(size))

        threads = [threading.Thread(target=rank) for _ in range(ranks)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        seconds = time.monotonic() - started
        return {
            "ranks": ranks,
            "bytes": sorted(sizes),
            "answers": {s: statuses.count(s) for s in sorted(set(statuses))},
            "reached_a_replica": sum(r.requests() for r in deployment.replicas) - before,
            "client": "curl" if curl else "httpx",
            "seconds": round(seconds, 2),
            "one_get_from_a_replica_seconds": round(direct, 2),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--sigterm-duration", type=float, default=30.0)
    parser.add_argument("--ranks", type=int, default=64)
    parser.add_argument("--parts", nargs="+", default=["load", "sigterm", "ranks"])
    args = parser.parse_args()
    report: dict[str, object] = {"load_average_at_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    if "load" in args.parts:
        report["load"] = load_part(args.duration, args.workers)
    if "sigterm" in args.parts:
        report["sigterm"] = sigterm_part(args.sigterm_duration, args.workers)
    if "ranks" in args.parts:
        report["ranks"] = ranks_part(args.ranks)
    report["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    failed = any(isinstance(part, dict) and part.get("errors") for part in report.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
