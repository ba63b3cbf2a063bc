"""``initserve serve`` closes connections that do not deliver a whole request in time (idle from the start,
or trickling a head or a body: slowloris), keeps idle connections between answers for the keep-alive
timeout, and never cuts an answer, however long it takes to make or to read."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .helpers import load_npy, server_process, tensor_request

#: The timeouts are short so that the tests that wait for them wait little (the defaults, 10 s and 5 s, are
#: the settings' and are documented with them); the mechanisms do not depend on the values.
TIMEOUT = 0.5  # INITSERVE_REQUEST_READ_TIMEOUT_SECONDS in these tests
KEEP_ALIVE = 1.5  # INITSERVE_KEEP_ALIVE_SECONDS in these tests (above TIMEOUT, as by default)
CLOSED_WITHIN = 4.0  # seconds after which a connection that should be closed fails the test
#: A slow answer: 2^21 float32 (8 MiB) read in 64 KiB pieces with 10 ms pauses, 1.3 s or more: over twice TIMEOUT.
SLOW_SHAPE = [1024, 2048]


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("read-timeout") / "server.log"


@pytest.fixture(scope="module")
def port(log_path: Path) -> Iterator[int]:
    env = {
        "INITSERVE_REQUEST_READ_TIMEOUT_SECONDS": str(TIMEOUT),
        "INITSERVE_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "INITSERVE_BUFFERED_NPY_BYTES": str(1 << 20),
        "INITSERVE_LOG_LEVEL": "info",
    }
    with server_process(env, via_cli=True, log_path=log_path) as (base, _):
        yield int(base.rsplit(":", 1)[1])


def request_bytes(body: dict[str, object], path: str = "/v1/tensors/npy") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def closed_after(sock: socket.socket, trickle: bytes = b"", every: float = 0.25) -> float:
    """Seconds until the server closes ``sock``, sending it ``trickle`` a byte every ``every`` s meanwhile."""
    start = time.monotonic()
    sock.settimeout(every)
    sent = 0
    while time.monotonic() - start < CLOSED_WITHIN:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
            sent += 1
    raise AssertionError(f"still open after {CLOSED_WITHIN} s")


def read_answer(sock: socket.socket, pause: float = 0.0) -> tuple[bytes, bytes]:
    """(head, body) of one answer with a Content-Length, read in 64 KiB pieces with ``pause`` between them."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"closed after {len(data)} bytes of the answer's head"
        data += piece
    head, body = data.split(b"\r\n\r\n", 1)
    fields = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        piece = sock.recv(min(65536, length - len(body)))
        assert piece, f"closed after {len(body)} of {length} bytes"
        body += piece
        if pause:
            time.sleep(pause)
    return head, body


def test_a_connection_that_sends_nothing_is_closed_and_logged(port: int, log_path: Path) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        host, port_number = sock.getsockname()
        client = f"{host}:{port_number}"
        assert TIMEOUT * 0.9 < closed_after(sock) < CLOSED_WITHIN
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    (closed,) = [line for line in lines if line.get("client") == client]
    assert closed["logger"] == "initserve.connections" and closed["message"] == "closed: no whole request in time"
    assert closed["timeout_s"] == TIMEOUT and closed["answered"] == 0


def test_a_trickled_request_head_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert closed_after(sock, trickle=request_bytes(tensor_request())) < CLOSED_WITHIN


def test_a_trickled_request_body_is_closed(port: int) -> None:
    data = request_bytes(tensor_request())
    head_end = data.index(b"\r\n\r\n") + 4
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data[:head_end])
        assert closed_after(sock, trickle=data[head_end:]) < CLOSED_WITHIN


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(port: int) -> None:
    """After an answer, idle time is the keep-alive's (longer here than the read timeout), not the read timeout's."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_bytes(tensor_request([3, 2], seed=1)))
        head, _ = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200")
        assert KEEP_ALIVE * 0.9 < closed_after(sock) < CLOSED_WITHIN


def test_a_request_after_an_idle_time_between_the_two_timeouts_is_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for seed in range(2):
            if seed:
                time.sleep((TIMEOUT + KEEP_ALIVE) / 2)
            sock.sendall(request_bytes(tensor_request([3, 2], seed=seed)))
            head, body = read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200") and load_npy(body).shape == (3, 2)


def test_requests_on_a_kept_alive_connection_within_the_timeout_are_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for seed in range(3):
            time.sleep(TIMEOUT / 2)
            sock.sendall(request_bytes(tensor_request([3, 2], seed=seed)))
            head, body = read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200") and load_npy(body).shape == (3, 2)


def test_an_answer_read_for_longer_than_the_timeout_arrives_whole(port: int, client: TestClient) -> None:
    """8 MiB streamed in 64 KiB pieces with 10 ms pauses: ~1.3 s, over twice the timeout."""
    body = tensor_request(SLOW_SHAPE, init={"scheme": "uniform"}, seed=4)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(request_bytes(body))
        start = time.monotonic()
        head, data = read_answer(sock, pause=0.01)
        seconds = time.monotonic() - start
    assert head.startswith(b"HTTP/1.1 200") and seconds > 2 * TIMEOUT
    assert data == client.post("/v1/tensors/npy", json=body).content  # the in-process app's (conftest.py)


def test_a_late_pipelined_request_does_not_cut_the_answer_before_it(port: int, client: TestClient) -> None:
    """A slow 8 MiB answer, with the head of a second request (its body never comes) pipelined behind
    it: the answer arrives whole, then the connection is closed for the late request."""
    first = tensor_request(SLOW_SHAPE, init={"scheme": "uniform"}, seed=5)
    late = request_bytes(tensor_request([3, 2]))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(request_bytes(first) + late[: late.index(b"\r\n\r\n") + 4])
        start = time.monotonic()
        head, data = read_answer(sock, pause=0.01)
        assert head.startswith(b"HTTP/1.1 200") and time.monotonic() - start > 2 * TIMEOUT
        assert closed_after(sock) < CLOSED_WITHIN
    assert data == client.post("/v1/tensors/npy", json=first).content


def test_empty_lines_trickled_after_an_answer_are_closed(port: int) -> None:
    """Bytes that start no request (the empty lines HTTP allows between requests) stop uvicorn's keep-alive
    timer: the read timeout takes over."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_bytes(tensor_request([3, 2], seed=1)))
        head, _ = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200")
        assert closed_after(sock, trickle=b"\r\n" * 40) < CLOSED_WITHIN


def test_a_request_that_came_while_the_server_was_stopped_is_answered() -> None:
    """A request whose bytes all arrived in time, while the server's process was stopped past the deadline
    (SIGSTOP: a starved or paused process), is answered, not closed: the guard reads them before it closes.
    libuv runs due timers before it reads the sockets: without the guard's late check, this test failed 3 runs
    in 4 (a fresh server's first stopped connection was closed most often)."""
    data = request_bytes(tensor_request([3, 2], seed=1))
    env = {"INITSERVE_REQUEST_READ_TIMEOUT_SECONDS": str(TIMEOUT)}
    with server_process(env, via_cli=True) as (base, process):
        address = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
        for _ in range(3):
            with socket.create_connection(address) as sock:
                sock.sendall(data[:10])  # the request has begun: its deadline is TIMEOUT from now
                time.sleep(TIMEOUT / 5)
                os.kill(process.pid, signal.SIGSTOP)
                try:
                    sock.sendall(data[10:])  # the rest arrives in time, while the server is stopped
                    time.sleep(TIMEOUT * 1.6)  # the deadline passes
                finally:
                    os.kill(process.pid, signal.SIGCONT)
                head, _ = read_answer(sock)
                assert head.startswith(b"HTTP/1.1 200")
