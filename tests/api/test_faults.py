"""Over a real socket, under load and faults: admission keeps memory bounded, clients that leave or
read slowly cost a bounded amount, SIGTERM lets in-flight answers finish."""

from __future__ import annotations

import gc
import json
import signal
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from service.core import engine
from service.main import create_app

from .helpers import (
    PLAIN_HTTP,
    PeakRSS,
    free_port,
    load_npy,
    metric_value,
    problem_of,
    rss_bytes,
    server_process,
    settings,
    tensor_request,
    thread_count,
)

MiB = 1 << 20
LOOKAHEAD = 4  # 2 x INITSERVE_THREADS (2 in every test server)


def raw_request(
    port: int, body: dict[str, Any], path: str = "/v1/tensors/npy", rcvbuf: int | None = None
) -> socket.socket:
    """A socket that has sent one POST and not read anything yet."""
    data = json.dumps(body).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    sock.sendall(head.encode() + data)
    return sock


def read_some(sock: socket.socket, nbytes: int, pause: float = 0.0) -> int:
    got = 0
    while got < nbytes:
        chunk = sock.recv(min(64 << 10, nbytes - got))
        if not chunk:
            break
        got += len(chunk)
        if pause:
            time.sleep(pause)
    return got


def abort(sock: socket.socket) -> None:
    """Close at once with a reset (SO_LINGER 0), as a killed client would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def blocks_generated(base: str) -> float:
    metrics = httpx.get(f"{base}/metrics", timeout=10, verify=PLAIN_HTTP).text  # polled by settle()
    return metric_value(metrics, "initserve_blocks_generated_total")


def settle(read: Callable[[], float], seconds: float = 5.0) -> float:
    """``read()`` once it stops changing (the pool has finished what it had started)."""
    value = read()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        again = read()
        if again == value:
            return value
        value = again
    return value


def check_answer(response: httpx.Response, shape: tuple[int, ...], dtype: str) -> None:
    if response.status_code == 503:
        assert response.headers["retry-after"] == "1"
        problem_of(response)
        return
    assert response.status_code == 200, response.text[:300]
    assert int(response.headers["content-length"]) == len(response.content)
    array = load_npy(response.content)
    assert array.shape == shape and array.dtype == np.dtype(dtype)


def test_admission_bounds_memory_under_16_requests_at_the_limit() -> None:
    """16 concurrent .npy requests at the element limit (2^22: 16 MiB float32, buffered; 32 MiB float64,
    streamed) with the default budget (4 x 2^22 bytes = 16 MiB): every answer is a whole 200 or a 503,
    and the server's peak RSS stays within 4 budgets (64 MiB) of its idle RSS. The budget bounds the live
    bytes; RSS also keeps memory freed into the allocator's per-thread arenas, hence the factor. Without
    admission the buffered ones alone would hold 8 x 16 MiB at once."""
    env = {"INITSERVE_MAX_ELEMENTS": str(1 << 22), "INITSERVE_ADMISSION_TIMEOUT": "0.5"}
    requests = [
        (tensor_request([2048, 2048], init={"scheme": "he"}, seed=i, dtype=dtype), dtype)
        for i in range(8)
        for dtype in ("float32", "float64")
    ]
    with server_process(env) as (base, process), httpx.Client(base_url=base, timeout=60) as http:
        for request, _ in requests[:2]:  # warm up: the pool's threads and their work spaces
            http.post("/v1/tensors/npy", json=request)
        idle = rss_bytes(process.pid)
        with PeakRSS(process.pid) as rss, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda r: (http.post("/v1/tensors/npy", json=r[0]), r[1]), requests))
        for response, dtype in answers:
            check_answer(response, (2048, 2048), dtype)
        statuses = [response.status_code for response, _ in answers]
        metrics = http.get("/metrics").text
        assert process.poll() is None
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 2
    assert metric_value(metrics, "initserve_admission_rejected_total") == statuses.count(503)
    assert metric_value(metrics, "initserve_generation_budget_in_use_bytes") == 0
    growth = rss.peak - idle
    print(f"16 at the limit: {statuses.count(200)} x 200, {statuses.count(503)} x 503, RSS +{growth / MiB:.1f} MiB")
    assert growth < 64 * MiB, f"RSS grew {growth / MiB:.1f} MiB"


@pytest.fixture(scope="module")
def streaming_server() -> Any:
    """Everything over 1 MiB streams: a 64 MiB tensor is 16 blocks of 4 MiB."""
    with server_process({"INITSERVE_BUFFERED_NPY_BYTES": str(MiB)}) as (base, process):
        yield base, process


def test_a_client_that_leaves_stops_its_generation(streaming_server: tuple[str, Any]) -> None:
    base, _ = streaming_server
    body = tensor_request([4096, 4096], init={"scheme": "he"}, seed=1)  # 16 blocks
    before = settle(lambda: blocks_generated(base))
    sock = raw_request(port_of(base), body)
    assert read_some(sock, 5 * MiB) == 5 * MiB  # the header and a block and a bit
    abort(sock)
    made = settle(lambda: blocks_generated(base)) - before
    assert made <= 2 + LOOKAHEAD + 2, f"{made} of 16 blocks made for a client that read 2"


@pytest.mark.parametrize("path", ["/v1/models/safetensors", "/v1/models/npz"])
def test_a_client_that_leaves_stops_its_model(streaming_server: tuple[str, Any], path: str) -> None:
    """A model (4 tensors of 16 blocks) stops as a single tensor does: within the look-ahead."""
    base, _ = streaming_server
    entries = [{"name": f"w{i}", "shape": [4096, 4096], "init": {"scheme": "he"}} for i in range(4)]
    before = settle(lambda: blocks_generated(base))
    sock = raw_request(port_of(base), {"entries": entries, "seed": 1}, path)
    assert read_some(sock, 5 * MiB) == 5 * MiB
    abort(sock)
    made = settle(lambda: blocks_generated(base)) - before
    assert made <= 2 + LOOKAHEAD + 2, f"{made} of 64 blocks made for a client that read 2"


def test_200_aborted_downloads_leak_nothing(streaming_server: tuple[str, Any]) -> None:
    base, process = streaming_server
    body = tensor_request([4096, 4096], init={"scheme": "constant", "value": 0.5}, seed=1)
    port = port_of(base)

    def aborted(count: int) -> None:
        for i in range(count):
            sock = raw_request(port, body)
            read_some(sock, (64 << 10) * (1 + i % 40))
            abort(sock)

    aborted(50)  # warm up
    settle(lambda: blocks_generated(base))
    threads, idle = thread_count(process.pid), rss_bytes(process.pid)
    start = blocks_generated(base)
    trend = []
    for _ in range(4):
        aborted(50)
        settle(lambda: blocks_generated(base))
        trend.append(rss_bytes(process.pid))
    made = blocks_generated(base) - start
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200
    assert metric_value(httpx.get(f"{base}/metrics").text, "initserve_generation_budget_in_use_bytes") == 0
    # RSS wanders by a few 4 MiB blocks (glibc keeps memory freed into its per-thread arenas; that no block
    # outlives its answer is tested exactly below); a leak of one block per download would add 200 x 4 MiB.
    print(
        f"200 aborted: RSS {idle / MiB:.1f}, then every 50 {[round(r / MiB, 1) for r in trend]} MiB; {made:.0f} blocks"
    )
    assert thread_count(process.pid) == threads
    assert max(trend) - idle < 96 * MiB, trend
    assert made <= 200 * (2 + LOOKAHEAD + 2)


@contextmanager
def server_in_this_process(**overrides: Any) -> Iterator[str]:
    """The app under uvicorn on a thread of the test's process (so the test can look at its memory)."""
    config = uvicorn.Config(create_app(settings(**overrides)), host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


#: NumPy reports its array memory to tracemalloc in this domain.
NUMPY_DOMAIN = 389047


def live_blocks() -> list[int]:
    """Sizes of the NumPy allocations of 2 MiB or more alive now: tensor blocks (4 MiB of float32), not the
    pool threads' 1 MiB work spaces."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, NUMPY_DOMAIN)])
    return [trace.size for trace in snapshot.traces if trace.size >= 2 * MiB]


def test_the_blocks_of_a_client_that_left_are_freed_without_the_cyclic_gc() -> None:
    """Clients that leave mid-download, for each streamed format: once the server is idle, every block
    of their answers has been freed by reference counting, none is left for the cyclic garbage collector
    (which an idle server may not run for minutes). Starlette's StreamingResponse failed this: the
    traceback of its cancelled sending task kept the last block sent and the look-ahead's blocks alive
    (62 blocks, 248 MiB, after these 30 downloads)."""
    tensor = tensor_request([4096, 4096], init={"scheme": "he"}, seed=1)
    model = {"entries": [{"name": f"w{i}", "shape": [2048, 2048], "init": {"scheme": "he"}} for i in range(4)]}
    answers = [("/v1/tensors/npy", tensor), ("/v1/models/safetensors", model), ("/v1/models/npz", model)]
    gc.collect()
    gc.disable()
    try:
        with server_in_this_process(buffered_npy_bytes=MiB) as base:
            port = port_of(base)
            # one whole download first, untraced: tracing the kernels' loading and the app's first answer
            # took two thirds of the test's time; every block of the downloads below is traced
            warm = httpx.post(f"{base}/v1/tensors/npy", json=tensor_request([1024, 1024], seed=2), timeout=60)
            assert warm.status_code == 200
            tracemalloc.start()
            for i in range(30):
                path, body = answers[i % 3]
                sock = raw_request(port, body, path)
                read_some(sock, (256 << 10) * (1 + i % 20))
                abort(sock)
            settle(lambda: blocks_generated(base))
            metrics = httpx.get(f"{base}/metrics").text
            left = live_blocks()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert metric_value(metrics, "initserve_generation_budget_in_use_bytes") == 0
    assert metric_value(metrics, "initserve_answers_cut_total") == 30
    assert left == [], f"{len(left)} blocks ({sum(left) / MiB:.0f} MiB) outlived their answers"


def test_a_failure_mid_stream_cuts_the_connection_and_the_server_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A block that fails after the answer has started (a bug, say): the client cannot mistake the answer for
    a whole one (the connection closes before Content-Length), the failure is counted as a cut answer and
    logged, the budget is given back, and the next answer is whole."""
    fill_block = engine.fill_block

    def failing(plan: Any, first_chunk: int, *args: Any, **kwargs: Any) -> Any:
        if plan.spec.seed == 666 and first_chunk >= 32:  # the third block of 16 chunks
            raise RuntimeError("a block failed")
        return fill_block(plan, first_chunk, *args, **kwargs)

    monkeypatch.setattr(engine, "fill_block", failing)
    with server_in_this_process(buffered_npy_bytes=MiB) as base, httpx.Client(base_url=base, timeout=60) as http:
        got = 0
        with (
            pytest.raises(httpx.RemoteProtocolError),
            http.stream("POST", "/v1/tensors/npy", json=tensor_request([4096, 4096], seed=666)) as answer,
        ):
            assert answer.status_code == 200
            for piece in answer.iter_raw():
                got += len(piece)
        assert 0 < got < int(answer.headers["content-length"])
        whole = http.post("/v1/tensors/npy", json=tensor_request([4096, 4096], seed=1))
        assert whole.status_code == 200 and load_npy(whole.content).shape == (4096, 4096)
        metrics = http.get("/metrics").text
    assert metric_value(metrics, "initserve_answers_cut_total") == 1
    assert metric_value(metrics, "initserve_generation_budget_in_use_bytes") == 0


def test_a_slow_reader_holds_a_bounded_buffer(streaming_server: tuple[str, Any]) -> None:
    """A 256 MiB tensor read at ~6 MiB/s for 2 s: the server holds its look-ahead, not the tensor."""
    base, process = streaming_server
    body = tensor_request([8192, 8192], init={"scheme": "uniform"}, seed=3)  # 64 blocks of 4 MiB
    before = settle(lambda: blocks_generated(base))
    idle = rss_bytes(process.pid)
    sock = raw_request(port_of(base), body, rcvbuf=64 << 10)
    with PeakRSS(process.pid) as rss:
        got = read_some(sock, 12 * MiB, pause=0.01)
        made = blocks_generated(base) - before
    abort(sock)
    growth = rss.peak - idle
    print(f"slow reader: read {got / MiB:.1f} MiB, {made:.0f} blocks made, RSS +{growth / MiB:.1f} MiB")
    assert made <= got / (4 * MiB) + 1 + LOOKAHEAD + 2
    assert growth < (LOOKAHEAD + 4) * 4 * MiB + 16 * MiB


def test_sigterm_lets_in_flight_answers_finish_and_refuses_new_ones() -> None:
    env = {"INITSERVE_GRACEFUL_SHUTDOWN_SECONDS": "30", "INITSERVE_BUFFERED_NPY_BYTES": str(MiB)}
    shapes = [(2048, 2048), (1024, 4096), (4096, 1024), (512, 512), (2048, 2048), (1024, 1024)]
    with server_process(env, via_cli=True) as (base, process):
        started = threading.Barrier(len(shapes) + 1, timeout=30)
        results: list[Any] = [None] * len(shapes)

        def download(i: int) -> None:
            body = tensor_request(list(shapes[i]), init={"scheme": "glorot"}, seed=i)
            try:
                with (
                    httpx.Client(timeout=60) as http,
                    http.stream("POST", f"{base}/v1/tensors/npy", json=body) as response,
                ):
                    started.wait()
                    data = bytearray()
                    for chunk in response.iter_raw(256 << 10):
                        data += chunk
                        time.sleep(0.02)  # slow enough to be in flight for a second or more
                    length = int(response.headers["content-length"])
                    results[i] = (response.status_code, length, bytes(data), time.monotonic())
            except Exception as exc:  # recorded, asserted below
                results[i] = exc

        workers = [threading.Thread(target=download, args=(i,)) for i in range(len(shapes))]
        for worker in workers:
            worker.start()
        started.wait()  # every answer has begun
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{base}/v1/tensors/npy", json=tensor_request(), timeout=5)
        for worker in workers:
            worker.join(60)
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    finished_after_the_signal = 0
    for shape, result in zip(shapes, results, strict=True):
        assert not isinstance(result, BaseException), repr(result)
        status, length, data, finished = result
        assert status == 200 and len(data) == length
        assert load_npy(data).shape == shape
        finished_after_the_signal += finished > signalled
    assert finished_after_the_signal >= 4  # the 16 MiB ones take a second or more to read


def test_serve_passes_the_grace_period_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from service import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("INITSERVE_GRACEFUL_SHUTDOWN_SECONDS", "7.5")
    assert cli.main(["serve", "--port", "0"]) == 0
    assert seen["timeout_graceful_shutdown"] == 7.5
