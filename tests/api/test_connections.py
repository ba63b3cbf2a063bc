"""``initserve serve``'s connection guard (``service/protocol.py``) on a real server: head limits (431),
Host and version rules, malformed requests (400), the connection limit (503), all problem+json, logged
with the client's address and counted in /metrics; no ``server`` header; answers to HEAD and pipelined
requests still counted right."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import PROBLEM, server_process

WAIT = 10.0  # seconds any single read may take before the test fails


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("connections") / "server.log"


@pytest.fixture(scope="module")
def base(log_path: Path) -> Iterator[str]:
    with server_process({"INITSERVE_LOG_LEVEL": "info"}, via_cli=True, log_path=log_path) as (url, _):
        yield url


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def exchange(port: int, data: bytes) -> tuple[bytes, str]:
    """Sends ``data`` on a new connection, reads until the server closes it; (answer bytes, client address)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        host, number = sock.getsockname()
        sock.settimeout(WAIT)
        with contextlib.suppress(OSError):  # the server stopped reading: its answer is still there to read
            sock.sendall(data)
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    return answer, f"{host}:{number}"


def split_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, body = answer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields, body


def refused_problem(answer: bytes, status: int) -> dict[str, object]:
    """The guard's answer: ``status``, problem+json, Connection: close, nothing after it."""
    got, fields, body = split_answer(answer)
    assert got == status, answer[:300]
    assert fields["content-type"] == PROBLEM and fields["connection"] == "close"
    assert int(fields["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"]
    return problem


def log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def refused_count(base: str, reason: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=WAIT).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("initserve_requests_refused_total{") and f'reason="{reason}"' in line
    )


def test_a_1_mib_header_is_refused_431_and_counted(base: str) -> None:
    before = refused_count(base, "header_bytes")
    answer = httpx.get(f"{base}/healthz", headers={"x-big": "a" * (1 << 20)}, timeout=WAIT)
    assert answer.status_code == 431 and answer.headers["content-type"] == PROBLEM
    assert "65536" in answer.json()["detail"]
    assert refused_count(base, "header_bytes") == before + 1


def test_100000_headers_are_refused_431(base: str) -> None:
    fields = b"".join(b"x-%d: 1\r\n" % i for i in range(100_000))
    answer, _ = exchange(port_of(base), b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert "100 header fields" in str(refused_problem(answer, 431)["detail"])


def test_101_headers_are_refused_and_100_accepted(base: str) -> None:
    def head(count: int) -> bytes:  # Host is one of the fields
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"x-a: 1\r\n" * (count - 2) + b"\r\n"

    assert split_answer(exchange(port_of(base), head(100))[0])[0] == 200
    refused_problem(exchange(port_of(base), head(101))[0], 431)


def test_a_long_url_is_refused_414(base: str) -> None:
    answer, _ = exchange(port_of(base), b"GET /" + b"a" * (1 << 17) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    refused_problem(answer, 414)


@pytest.mark.parametrize(
    ("request_head", "words"),
    [
        (b"GET /healthz HTTP/1.1\r\n\r\n", "Host"),
        (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Host"),
        (b"GET /healthz\r\n\r\n", "no HTTP version"),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/2.0"),
    ],
)
def test_no_host_and_no_version_are_refused_400(base: str, request_head: bytes, words: str) -> None:
    answer, _ = exchange(port_of(base), request_head)
    assert words in str(refused_problem(answer, 400)["detail"])


def test_http_1_0_without_host_is_answered(base: str) -> None:
    answer, _ = exchange(port_of(base), b"GET /healthz HTTP/1.0\r\n\r\n")
    assert split_answer(answer)[0] == 200


def test_a_malformed_request_is_a_problem_logged_with_the_client_and_counted(base: str, log_path: Path) -> None:
    before = refused_count(base, "malformed")
    answer, client = exchange(port_of(base), b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    assert "malformed" in str(refused_problem(answer, 400)["detail"])
    assert refused_count(base, "malformed") == before + 1
    deadline = time.monotonic() + WAIT
    while not (lines := [line for line in log_lines(log_path) if line.get("client") == client]):
        assert time.monotonic() < deadline, "no log line for the refused request"
        time.sleep(0.05)
    (line,) = lines
    assert line["logger"] == "initserve.connections" and line["message"] == "refused"
    assert line["status"] == 400 and line["reason"] == "malformed"


def test_no_server_header(base: str) -> None:
    answer = httpx.get(f"{base}/healthz", timeout=WAIT)
    assert answer.status_code == 200 and "server" not in answer.headers and "date" in answer.headers


def test_head_and_pipelined_answers_then_a_refusal_after_them(base: str) -> None:
    """HEAD (an answer without a body), GET, then a malformed request, in one write: the two answers come
    whole and in order, the refusal after them."""
    data = (
        b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.settimeout(WAIT)
        sock.sendall(data)
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2 or not answer.endswith(b'{"status":"ok"}'):
            piece = sock.recv(65536)
            assert piece, answer
            answer += piece
        sock.sendall(b"bad header line\r\n\r\n")
        while piece := sock.recv(65536):
            answer += piece
    first, second, third = (b"HTTP/1.1 " + part for part in answer.split(b"HTTP/1.1 ")[1:])
    assert split_answer(first)[0] in (200, 405) and split_answer(first)[2] == b""  # HEAD: no body
    assert split_answer(second)[0] == 200 and split_answer(second)[2] == b'{"status":"ok"}'
    refused_problem(third, 400)


def test_the_connection_limit_answers_503_and_frees_a_place_on_close() -> None:
    env = {"INITSERVE_MAX_CONNECTIONS": "3", "INITSERVE_KEEP_ALIVE_SECONDS": "60"}
    with server_process(env, via_cli=True) as (base, _), httpx.Client(base_url=base, timeout=WAIT) as pool:
        held = [socket.create_connection(("127.0.0.1", port_of(base))) for _ in range(3)]
        for sock in held:  # each answered once: the server holds all three
            sock.settimeout(WAIT)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        answer = pool.get("/healthz")
        assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM
        assert answer.headers["retry-after"] == "1" and "INITSERVE_MAX_CONNECTIONS" in answer.json()["detail"]
        held.pop().close()
        deadline = time.monotonic() + WAIT
        while (status := pool.get("/healthz").status_code) == 503:
            assert time.monotonic() < deadline, "the closed connection's place was never freed"
            time.sleep(0.05)
        assert status == 200
        for sock in held:
            sock.close()
