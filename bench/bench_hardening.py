"""Benchmark of issue 20 (part A): admission of all work, isolation of heavy work, abandoned work.

Usage (from the repository root)::

    python bench/bench_hardening.py [--parts latency abandoned worst] [--small N]

It starts ``python -m service`` (one worker, default settings) on a free loopback port and prints:

1. ``latency``: the median (and p90) latency of a 256 x 256 he-normal float32 ``.npy`` (``http.client``,
   keep-alive, a new seed each) alone, then while a 4096 x 4096 orthogonal ``.npy`` (a QR of seconds)
   and a float64 1 GiB stream are in flight (target <= 100 ms; before issue 20, about 6 s);
2. ``abandoned``: four clients post the issue's orthogonal diagnostics (2 orthogonal schemes, depth 2,
   width 4096, batch 128) and leave after 2 s: the server's CPU-seconds after they left, the seconds until
   it is idle again (target: within 2 s, but a QR already running finishes), its peak RSS over idle;
3. ``worst``: requests at the documented limits, one at a time on a fresh server: status, wall time,
   the server's CPU-seconds and peak RSS over idle (``VmHWM`` after ``clear_refs``), to find the worst.

CPU-seconds are the server process's (``/proc/PID/stat``), so they do not depend on the load; wall times
do: read them with the load average printed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

MiB = 1 << 20
ORTHOGONAL_PAIR = {
    "depth": 2,
    "width": 4096,
    "activation": "relu",
    "compare": [{"scheme": "orthogonal"}, {"scheme": "orthogonal"}],
    "batch": 128,
    "seed": 1,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(env: dict[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """``python -m service`` on a free port, once ready: yields (port, pid)."""
    port = free_port()
    full = {**os.environ, "INITSERVE_PORT": str(port), "INITSERVE_HOST": "127.0.0.1", "INITSERVE_ACCESS_LOG": "false"}
    full.update({"INITSERVE_WARM_STREAMS": "false", **(env or {})})
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"initserve-hardening-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "service"], env=full, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready in 30 s")
            time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def post(port: int, path: str, body: dict[str, Any], timeout: float = 600) -> tuple[int, int]:
    """POST and read the whole answer: (status, bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
        return response.status, size
    finally:
        connection.close()


def small(seed: int) -> dict[str, Any]:
    return {"shape": [256, 256], "init": {"scheme": "he", "distribution": "normal"}, "seed": seed}


def latencies(port: int, count: int, until: threading.Event | None = None) -> list[float]:
    """Sequential keep-alive 256 x 256 requests (ms), ``count`` of them or fewer when ``until`` is set."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times = []
    for seed in range(count):
        if until is not None and until.is_set():
            break
        start = time.perf_counter()
        connection.request("POST", "/v1/tensors/npy", json.dumps(small(seed)), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        times.append((time.perf_counter() - start) * 1000)
    connection.close()
    return times


def summary(times: list[float]) -> str:
    if not times:
        return "no requests"
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"median {statistics.median(times):.1f} ms, p90 {p90:.1f} ms, max {ordered[-1]:.1f} ms ({len(times)} requests)"
    )


def latency(count: int) -> None:
    print("\n== 256 x 256 .npy latency, alone and while heavy work is in flight ==")
    with server() as (port, _):
        latencies(port, 20)
        print(f"alone: {summary(latencies(port, count))}")
        big_done = threading.Event()
        finished: dict[str, float] = {}
        started = time.monotonic()

        def fetch(name: str, body: dict[str, Any]) -> None:
            status, size = post(port, "/v1/tensors/npy", body)
            finished[name] = time.monotonic() - started
            print(f"  {name}: {status}, {size / MiB:.0f} MiB in {finished[name]:.1f} s")
            if name == "orthogonal":
                big_done.set()

        orthogonal = {"shape": [4096, 4096], "init": {"scheme": "orthogonal"}, "seed": 1}
        stream = {"shape": [16384, 8192], "init": {"scheme": "he"}, "seed": 2, "dtype": "float64"}
        threads = [
            threading.Thread(target=fetch, args=("orthogonal", orthogonal)),
            threading.Thread(target=fetch, args=("1 GiB stream", stream)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        during = latencies(port, count, until=big_done)
        print(
            f"while a 4096^2 orthogonal and a 1 GiB stream are in flight: {summary(during)} (target median <= 100 ms)"
        )
        for thread in threads:
            thread.join()


def abandoned() -> None:
    print("\n== four abandoned orthogonal diagnostics (the issue's reproducer) ==")
    print("(before issue 20: 123 CPU-s after leaving, RSS 2.4 GB)")
    for leave_after, unit in ((2.0, "s"), (2.0, "CPU-s"), (12.0, "CPU-s")):
        abandon(leave_after, unit)


def abandon(leave_after: float, unit: str) -> None:
    """Four clients post the issue's request and leave after ``leave_after`` seconds of wall time (the
    issue's reproducer) or of the server's CPU time (so that a QR is under way whatever the load)."""
    with server() as (port, pid):
        idle_rss = proc_bytes(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        body = json.dumps(ORTHOGONAL_PAIR).encode()
        head = (
            f"POST /v1/diagnostics/propagation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sockets = []
        start, posted = cpu_seconds(pid), time.monotonic()
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(head + body)
            sockets.append(sock)
        while (time.monotonic() - posted if unit == "s" else cpu_seconds(pid) - start) < leave_after:
            time.sleep(0.05)
        before = cpu_seconds(pid)
        left = time.monotonic()
        for sock in sockets:
            sock.close()
        last, idle_at = before, None
        while time.monotonic() - left < 180:
            time.sleep(0.25)
            now = cpu_seconds(pid)
            if now - last < 0.03:  # under 12 % of a core over 0.25 s
                idle_at = time.monotonic() - left - 0.25
                break
            last = now
        burnt = cpu_seconds(pid) - before
        peak = proc_bytes(pid, "VmHWM") - idle_rss
        back = "never (180 s)" if idle_at is None else f"{idle_at:.1f} s"
        print(
            f"leaving after {leave_after:g} {unit}: {before - start:.1f} CPU-s before, {burnt:.1f} CPU-s after, "
            f"idle {back} after leaving; peak RSS +{peak / MiB:.0f} MiB"
        )


def tensor(shape: list[int], scheme: str, **fields: Any) -> dict[str, Any]:
    return {"shape": shape, "init": {"scheme": scheme}, "seed": 1, **fields}


def model(count: int, shape: list[int], scheme: str) -> dict[str, Any]:
    entries = [{"name": f"w{i}", "shape": shape, "init": {"scheme": scheme}} for i in range(count)]
    return {"entries": entries, "seed": 1}


def propagation(widths: list[int], activation: str, schemes: list[str], batch: int) -> dict[str, Any]:
    body: dict[str, Any] = {"widths": widths, "activation": activation, "batch": batch, "seed": 1}
    if len(schemes) == 1:
        body["init"] = {"scheme": schemes[0]}
    else:
        body["compare"] = [{"scheme": s} for s in schemes]
    return body


SPARSE = {"scheme": "sparse", "sparsity": 0.5}
NPY, JSON, NPZ, ST = "/v1/tensors/npy", "/v1/tensors", "/v1/models/npz", "/v1/models/safetensors"
DIAG, SVG = "/v1/diagnostics/propagation", "/v1/diagnostics/propagation/svg"
WORST: list[tuple[str, str, dict[str, Any]]] = [
    ("orthogonal 4096^2 float64 .npy", NPY, tensor([4096, 4096], "orthogonal", dtype="float64")),
    ("orthogonal 32768 x 1024 .npy (2^25 elements)", NPY, tensor([32768, 1024], "orthogonal")),
    ("sparse 8192 x 4096 .npy (2^25 elements)", NPY, {**tensor([8192, 4096], "sparse"), "init": SPARSE}),
    ("stft 8192 x 1 x 4096 .npy (2^25, planned on the loop)", NPY, tensor([8192, 1, 4096], "stft")),
    ("float64 1 GiB .npy (truncated normal)", NPY, tensor([16384, 8192], "truncated_normal", dtype="float64")),
    ("JSON at the element limit (2^22)", JSON, tensor([2048, 2048], "he")),
    ("model: 5 orthogonal 4096^2 (npz, under the flops limit)", NPZ, model(5, [4096, 4096], "orthogonal")),
    ("model: 6 orthogonal 4096^2 (npz, just over it: 413)", NPZ, model(6, [4096, 4096], "orthogonal")),
    ("model: 32 orthogonal 4096^2 (npz, over it: 413)", NPZ, model(32, [4096, 4096], "orthogonal")),
    ("model: 2^29 elements safetensors", ST, model(8, [8192, 8192], "he")),
    ("diagnostics: the orthogonal pair at width 4096", DIAG, ORTHOGONAL_PAIR),
    ("diagnostics: 8 orthogonal schemes at width 2048", DIAG, propagation([2048] * 3, "tanh", ["orthogonal"] * 8, 256)),
    ("diagnostics: widths 5790^3 batch 1 (memory reproducer)", DIAG, propagation([5790] * 3, "relu", ["he"], 1)),
    (
        "diagnostics: 2^33 multiply-adds, 3 schemes",
        DIAG,
        propagation([1024] * 9, "gelu", ["he", "glorot", "lecun"], 341),
    ),
    ("diagnostics: 1000 layers x 64, batch 2048, SVG", SVG, propagation([64] * 1001, "selu", ["lecun"], 2048)),
]


def worst() -> None:
    print("\n== requests at the documented limits, one at a time ==")
    print(f"{'request':58} {'status':>6} {'wall s':>7} {'CPU-s':>7} {'peak RSS':>10}")
    rows = []
    with server() as (port, pid):
        post(port, "/v1/tensors/npy", small(0))
        for name, path, body in WORST:
            time.sleep(1.0)
            idle = proc_bytes(pid, "VmRSS")
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            before = cpu_seconds(pid)
            start = time.monotonic()
            status, _ = post(port, path, body)
            wall = time.monotonic() - start
            time.sleep(0.3)
            cpu = cpu_seconds(pid) - before
            peak = proc_bytes(pid, "VmHWM") - idle
            rows.append((cpu, peak, name))
            print(f"{name:58} {status:>6} {wall:>7.1f} {cpu:>7.1f} {peak / MiB:>7.0f} MiB")
    cpu, _, name = max(rows)
    print(f"worst CPU: {name} ({cpu:.1f} CPU-s)")
    _, peak, name = max(rows, key=lambda r: r[1])
    print(f"worst peak RSS: {name} (+{peak / MiB:.0f} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["latency", "abandoned", "worst"])
    parser.add_argument("--small", type=int, default=200, help="256 x 256 requests per latency run")
    args = parser.parse_args()
    if "latency" in args.parts:
        latency(args.small)
    if "abandoned" in args.parts:
        abandoned()
    if "worst" in args.parts:
        worst()
    print(f"\nload average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
