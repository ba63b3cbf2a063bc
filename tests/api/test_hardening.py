"""Issue 20, part A, over a real socket: every costly request is admitted (diagnostics included), heavy
work cannot starve small requests, clients that leave stop their work, and clients that stop reading are
dropped after the send timeout. Each test is bounded in time; they assert mechanisms (statuses, order,
budgets back to zero, CPU back to idle), the timings go to ``bench/bench_hardening.py``."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import PLAIN_HTTP, PeakRSS, load_npy, metric_value, rss_bytes, server_process, tensor_request

MiB = 1 << 20
GiB = 1 << 30

#: The issue's reproducers (issue 20, finding 1), at half (reproducer 1) and about a third (reproducer 2) of
#: their widths, on servers whose budgets are scaled down with them (``SCALED_FLOPS``, ``SCALED_BUDGET``): the
#: same requests in proportion to the limits, a QR of 1-2 s instead of 10-40 s. The issue's widths are
#: ``bench/bench_hardening.py``'s.
ORTHOGONAL_PAIR = {
    "depth": 2,
    "width": 2048,
    "activation": "relu",
    "compare": [{"scheme": "orthogonal"}, {"scheme": "orthogonal"}],
    "batch": 128,
    "seed": 1,
}
DIAGNOSTICS = "/v1/diagnostics/propagation"
AT_THE_MEMORY_LIMIT = {
    "widths": [2048, 2048, 2048],
    "activation": "relu",
    "init": {"scheme": "he"},
    "batch": 1,
    "seed": 1,
}
#: INITSERVE_MAX_REQUEST_FLOPS of reproducer 1's server: one request (2 schemes x 2 layers of a 2048 x 2048 QR,
#: about 1.1e11 flops) fills most of the work budget, as the 4096-wide one (7.6e11) fills the default 1.1e12.
SCALED_FLOPS = 1 << 37
#: INITSERVE_GENERATION_BUDGET_BYTES of reproducer 2's server: a 2048-wide diagnostics holds about 96 MiB, 3/4
#: of it, as a 5790-wide one (0.75 GiB) does of the default 1 GiB.
SCALED_BUDGET = 128 * MiB
#: A QR of 2048 x 2048 float64 on one core: 1-2 CPU-s on our machines.
QR_SECONDS = 2.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ = 100)


def wait_until_idle(pid: int, timeout: float, window: float = 1.0, busy: float = 0.15) -> float:
    """Seconds until the process burns less than ``busy`` CPU-s over ``window`` seconds (raises after
    ``timeout``)."""
    start = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - start < timeout:
        time.sleep(window)
        now = cpu_seconds(pid)
        if now - before < busy:
            return time.monotonic() - start - window
        before = now
    raise AssertionError(f"the server still burns CPU {timeout} s after its clients left")


def metric(base: str, name: str) -> float:
    return metric_value(httpx.get(f"{base}/metrics", timeout=10, verify=PLAIN_HTTP).text, name)  # polled


def wait_for(read: Callable[[], float], target: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    value = read()
    while value != target and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def raw_post(port: int, path: str, body: dict[str, Any], rcvbuf: int | None = None) -> socket.socket:
    """A socket that has sent one POST and read nothing."""
    data = json.dumps(body).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    sock.sendall(head.encode() + data)
    return sock


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def clean_log(log: Path) -> str:
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "without completing response" not in text, text[-3000:]
    return text


@pytest.fixture(scope="module")
def heavy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    """The server of reproducer 1 (its work budget scaled down), shared by the two tests of heavy work: the
    abandoned diagnostics (first: it measures the server idle) and the small requests beside heavy work
    (the 2048 x 2048 QR it runs is admitted on this budget too). (base URL, process, log)."""
    log = tmp_path_factory.mktemp("heavy") / "server.log"
    env = {"INITSERVE_MAX_REQUEST_FLOPS": str(SCALED_FLOPS)}
    with server_process(env, log_path=log) as (base, process):
        yield base, process, log


def test_abandoned_orthogonal_diagnostics_stop(heavy_server: tuple[str, Any, Path]) -> None:
    """Reproducer 1: four clients post two orthogonal 2048 x 2048 schemes and leave (here once the server
    has worked half a CPU-s on them: its first QR is under way, whatever the machine's load). Before (4096
    wide): 123 CPU-s burnt after they left, RSS 2.4 GB. Now one is admitted (its flops fill most of the work
    budget), the others wait in line and leave it with their clients; the measured one stops at its next
    layer (the QR already running finishes), and the server is idle again with its budgets at zero."""
    base, process, log = heavy_server
    idle = rss_bytes(process.pid)
    start = cpu_seconds(process.pid)
    sockets = [raw_post(port_of(base), "/v1/diagnostics/propagation", ORTHOGONAL_PAIR) for _ in range(4)]
    with PeakRSS(process.pid) as rss:
        deadline = time.monotonic() + 60
        while cpu_seconds(process.pid) - start < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(base, "initserve_work_budget_in_use_flops") > 0  # admitted, under way
        left = cpu_seconds(process.pid)
        for sock in sockets:
            sock.close()
        assert wait_for(lambda: metric(base, "initserve_work_budget_in_use_flops"), 0, 120) == 0
        burnt = cpu_seconds(process.pid) - left
        back = wait_until_idle(process.pid, timeout=30)
    assert metric(base, "initserve_generation_budget_in_use_bytes") == 0
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    small = httpx.post(f"{base}/v1/tensors/npy", json=tensor_request([256, 256]), timeout=30)
    assert small.status_code == 200 and load_npy(small.content).shape == (256, 256)
    growth = rss.peak - idle
    print(f"abandoned diagnostics: {burnt:.1f} CPU-s after leaving, idle {back:.1f} s later, +{growth / MiB:.0f} MiB")
    assert growth < 384 * MiB  # 2.4 GB at 4096 wide: a quarter of it at 2048 would be 0.6 GB
    assert burnt < 3 * QR_SECONDS  # at most the QR already running (one heavy thread), not the 16 QRs asked for
    clean_log(log)


def test_six_diagnostics_at_the_memory_limit(tmp_path: Path) -> None:
    """Reproducer 2: six concurrent diagnostics of 3/4 of the generation budget each. Before (5790 wide,
    0.8 GB each): 4.4 GB RSS and no 503. Now each is admitted with its measured peak: they run one after
    another, complete or 503."""
    log = tmp_path / "server.log"
    env = {"INITSERVE_ADMISSION_TIMEOUT": "1", "INITSERVE_GENERATION_BUDGET_BYTES": str(SCALED_BUDGET)}
    with server_process(env, log_path=log) as (base, process), httpx.Client(base_url=base, timeout=120) as http:
        http.post("/v1/tensors/npy", json=tensor_request([512, 512]))  # the pools' threads up
        idle = rss_bytes(process.pid)
        with PeakRSS(process.pid) as rss, ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: http.post(DIAGNOSTICS, json=AT_THE_MEMORY_LIMIT), range(6)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {200, 503}, [a.text[:200] for a in answers]
        assert 200 in statuses
        for answer in answers:
            if answer.status_code == 200:
                assert len(answer.json()["runs"][0]["layers"]) == 2
            else:
                assert answer.headers["retry-after"] == "1"
        assert metric_value(http.get("/metrics").text, "initserve_generation_budget_in_use_bytes") == 0
    growth = rss.peak - idle
    print(f"six at the memory limit: {statuses.count(200)} x 200, {statuses.count(503)} x 503, +{growth / MiB:.0f} MiB")
    assert growth < 1.5 * SCALED_BUDGET  # two at once would hold 1.5 budgets, six 4.5
    clean_log(log)


def test_small_requests_complete_while_heavy_work_runs(heavy_server: tuple[str, Any, Path]) -> None:
    """A 2048 x 2048 orthogonal .npy (a QR of a second or two) and a 1 GiB stream in flight: small .npy
    requests complete before the orthogonal one (before: they waited for its QR, which held every
    generation thread), and while the stream is still being sent (its client then leaves)."""
    base, _, log = heavy_server
    with httpx.Client(base_url=base, timeout=120) as http:
        http.post("/v1/tensors/npy", json=tensor_request([256, 256]))
        done: dict[str, float] = {}
        smalls_done = threading.Event()
        streamed: list[int] = []

        def orthogonal() -> None:
            response = http.post("/v1/tensors/npy", json=tensor_request([2048, 2048], "orthogonal"))
            assert response.status_code == 200 and load_npy(response.content).shape == (2048, 2048)
            done["orthogonal"] = time.monotonic()

        def stream() -> None:
            body = tensor_request([1 << 28], init={"scheme": "uniform"})  # 1 GiB of float32
            with http.stream("POST", "/v1/tensors/npy", json=body) as response:
                assert response.status_code == 200
                got, size = 0, int(response.headers["content-length"])
                for piece in response.iter_raw(1 << 20):
                    got += len(piece)
                    if smalls_done.is_set():
                        break
                streamed.append(size - got)  # what was left to send when the small requests were done
            done["stream"] = time.monotonic()

        threads = [threading.Thread(target=orthogonal), threading.Thread(target=stream)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while metric(base, "initserve_work_budget_in_use_flops") == 0 or not streamed_started(base):
            assert time.monotonic() < deadline, "the heavy requests never started"
            time.sleep(0.05)
        smalls = []
        for seed in range(10):
            response = http.post("/v1/tensors/npy", json=tensor_request([256, 256], seed=seed))
            assert response.status_code == 200 and load_npy(response.content).shape == (256, 256)
            smalls.append(time.monotonic())
        smalls_done.set()
        for thread in threads:
            thread.join(timeout=120)
        assert set(done) == {"orthogonal", "stream"}
    assert max(smalls) < done["orthogonal"], "small requests waited for the QR"
    assert streamed[0] > 0, "the stream was over before the small requests"
    clean_log(log)


def streamed_started(base: str) -> bool:
    """Whether the server has made any block of a streamed answer yet."""
    return metric(base, "initserve_blocks_generated_total") > 0


def test_stalled_readers_are_released_after_the_send_timeout(tmp_path: Path) -> None:
    """25 clients that stop reading a float64 1 GiB .npy held 1000 of the 1024 MiB budget for good. Now
    they are dropped after the send timeout (3 s here): the budget is back to 0 and the next large
    request is admitted; while a request waits for room, /readyz says 503. (Zeros: the values are not
    the point, the blocks and the budget they hold are.)"""
    log = tmp_path / "server.log"
    env = {"INITSERVE_SEND_TIMEOUT_SECONDS": "3", "INITSERVE_ADMISSION_TIMEOUT": "1"}
    body = tensor_request([16384, 8192], init={"scheme": "zeros"}, dtype="float64")
    with server_process(env, log_path=log) as (base, _), httpx.Client(base_url=base, timeout=60) as http:
        stalled = [raw_post(port_of(base), "/v1/tensors/npy", body, rcvbuf=64 << 10) for _ in range(25)]
        held = 0.0
        deadline = time.monotonic() + 2.5
        while held < 900 * MiB and time.monotonic() < deadline:
            held = metric(base, "initserve_generation_budget_in_use_bytes")
        assert held > 900 * MiB  # 25 x (4 blocks ahead + 1) x 8 MiB
        waiting = threading.Thread(target=lambda: http.post("/v1/tensors/npy", json=body).close())
        waiting.start()
        ready = http.get("/readyz")
        while ready.status_code == 200 and waiting.is_alive():  # until the request waits for room
            ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
        waiting.join(timeout=30)
        assert wait_for(lambda: metric(base, "initserve_generation_budget_in_use_bytes"), 0, 30) == 0
        for sock in stalled:  # the server closed them: what was buffered, then the end
            while sock.recv(1 << 20):
                pass
            sock.close()
        with http.stream("POST", "/v1/tensors/npy", json=body) as response:
            assert response.status_code == 200  # admitted
        # the last refusal is over a Retry-After ago within a second or two
        assert wait_for(lambda: http.get("/readyz").status_code, 200, 10) == 200
    text = clean_log(log)
    assert text.count("read nothing for the send timeout") >= 25
