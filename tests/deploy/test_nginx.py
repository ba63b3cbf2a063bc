"""The shipped nginx configuration (deploy/nginx/initserve.conf), run for real in front of two replicas.

nginx listens on a free loopback port with the shipped site file (tests/deploy/proxy.py replaces only the
replicas' addresses, the listening address, the cache directory and the access log); the replicas are
``initserve serve`` processes (tests/api/helpers.py). What a replica saw is read from its /metrics, what
nginx did from its access log (``cache=`` and ``upstream=`` fields). Skipped only when nginx is not
installed (CI installs Debian's).
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.settings import Settings
from tests.api.helpers import PLAIN_HTTP, free_port
from tests.deploy.load import run_load
from tests.deploy.proxy import (
    SITE,
    Deployment,
    check_config,
    directive,
    nginx_binary,
    render_site,
    running_deployment,
    running_nginx,
    seconds,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (CI: apt-get install nginx)"),
]

PROBLEM = "application/problem+json"
TENSOR = {"shape": [64, 32], "init": {"scheme": "he"}, "seed": 11}

#: The module's deployment runs with the timeouts its tests wait for shortened, so that they wait a second or
#: two instead of 10 s; the mechanisms are the ones shipped, and so is the order of the two idle timeouts. The
#: shipped values are checked without waiting: ``nginx -t`` of the file as shipped, and the idle timeouts'
#: order in test_upstream_keepalive_closes_before_the_service_does (and tests/deploy/test_manifests.py).
HEADER_TIMEOUT = 2.0  # client_header_timeout (shipped: 10 s)
UPSTREAM_IDLE = 1.0  # the upstream's keepalive_timeout (shipped: 4 s)
REPLICA_KEEP_ALIVE = 2.5  # the replicas' INITSERVE_KEEP_ALIVE_SECONDS (default: 5 s), above UPSTREAM_IDLE
SHORTENED = {
    f"client_header_timeout {directive('client_header_timeout')};": f"client_header_timeout {HEADER_TIMEOUT:g}s;",
    # the first keepalive_timeout is the upstream block's (the server block's is the clients')
    f"keepalive_timeout {directive('keepalive_timeout')};": f"keepalive_timeout {UPSTREAM_IDLE:g}s;",
}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    env = {"INITSERVE_KEEP_ALIVE_SECONDS": str(REPLICA_KEEP_ALIVE)}
    with running_deployment(2, env, overrides=SHORTENED) as running:
        rendered = (running.nginx.prefix / "initserve.conf").read_text()
        upstream = rendered.split("upstream initserve {", 1)[1].split("}", 1)[0]
        assert seconds(directive("keepalive_timeout", upstream)) == UPSTREAM_IDLE < REPLICA_KEEP_ALIVE
        assert seconds(directive("client_header_timeout", rendered)) == HEADER_TIMEOUT
        yield running


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers
    body = json.loads(response.content)
    assert body["status"] == status and body["detail"], body
    return body


def _seen(deployment: Deployment) -> list[int]:
    return [replica.requests() for replica in deployment.replicas]


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    """``nginx -t`` passes, and the rendering changes only the five lines it says it changes."""
    replicas = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    checked = check_config(tmp_path, free_port(), replicas)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    shipped = SITE.read_text().splitlines()
    rendered = render_site(free_port(), replicas, tmp_path).splitlines()
    assert len(shipped) == len(rendered)
    assert sum(a != b for a, b in zip(shipped, rendered, strict=True)) == 5


def test_upstream_keepalive_closes_before_the_service_does() -> None:
    """nginx drops an idle upstream connection before the replica would (INITSERVE_KEEP_ALIVE_SECONDS),
    so it never sends a request on a connection the replica is closing; HTTP/1.1 without
    ``Connection: close`` is what lets it keep them at all."""
    upstream = SITE.read_text().split("upstream initserve {", 1)[1].split("}", 1)[0]
    assert seconds(directive("keepalive_timeout", upstream)) < Settings.model_fields["keep_alive_seconds"].default
    assert directive("proxy_http_version") == "1.1"
    assert directive("proxy_set_header Connection") == '""'
    assert "non_idempotent" in directive("proxy_next_upstream").split()


def _sockets(port: int) -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of the IPv4 TCP sockets with ``port`` at one end (/proc/net/tcp;
    state 01 ESTABLISHED, 06 TIME_WAIT)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        ends = int(local.split(":")[1], 16), int(remote.split(":")[1], 16)
        if port in ends:
            found.append((*ends, state))
    return found


def test_nginx_reuses_upstream_connections_and_closes_them_first(deployment: Deployment) -> None:
    """20 requests through nginx reuse a few upstream connections; once idle, nginx closes them (after
    its UPSTREAM_IDLE, before the replica's REPLICA_KEEP_ALIVE): the replica's side of a connection never
    ends in TIME_WAIT, the state of the side that closes first; nginx's side of each does."""
    replica = deployment.replicas[0]
    port = int(replica.address.rsplit(":", 1)[1])
    closed_by_replica = {s for s in _sockets(port) if s[0] == port and s[2] == "06"}
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        for seed in range(20):
            assert client.post("/v1/tensors/npy", json={**TENSOR, "seed": seed}).status_code == 200
    idle_since = time.monotonic()
    open_now = [s for s in _sockets(port) if s[0] == port and s[2] == "01"]
    assert 1 <= len(open_now) <= 4, open_now  # about 10 requests went to this replica over these
    # until every replica-side socket (the listening one, 0A, aside) is gone or in TIME_WAIT: whichever
    # side closed, both have by then (bounded: the replica's own timeout and some)
    deadline = idle_since + REPLICA_KEEP_ALIVE + 3
    while True:
        after = _sockets(port)
        if all(s[2] in ("06", "0A") for s in after if s[0] == port) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [s for s in after if s[0] == port and s[2] not in ("06", "0A")] == []
    assert {s for s in after if s[0] == port and s[2] == "06"} - closed_by_replica == set()
    nginx_closed = {s[0] for s in after if s[1] == port and s[2] == "06"}
    assert {s[1] for s in open_now} <= nginx_closed, (open_now, after)  # nginx's side of each: it closed


def test_load_is_split_across_replicas(deployment: Deployment) -> None:
    """A few seconds of mixed load: every answer right, both replicas answer a fair share, and the
    replicas' own counts agree with nginx's log."""
    before = _seen(deployment)
    result = run_load(deployment.base, duration=3.0, workers=4, seed=1)
    assert result.errors == [], result.errors[:5]
    assert result.total >= 40, result
    deadline = time.monotonic() + 10  # a replica counts an answer just after its last byte: let it
    while True:
        seen = [after - b for after, b in zip(_seen(deployment), before, strict=True)]
        if sum(seen) >= result.total or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sum(seen) == result.total, (seen, result.total)
    assert min(seen) >= 0.3 * result.total, seen
    upstream = deployment.upstream_counts()
    assert {r.address for r in deployment.replicas} == set(upstream), upstream


def test_post_answers_are_streamed_not_buffered(deployment: Deployment) -> None:
    """A 64 MiB POST answer goes through whole without nginx writing it to a temporary file
    (``proxy_buffering off``: with buffering, nginx logs "buffered to a temporary file")."""
    body = {"shape": [4096, 4096], "init": {"scheme": "uniform", "low": -1, "high": 1}, "seed": 3}
    with httpx.Client(base_url=deployment.base, timeout=60) as client:
        through = client.post("/v1/tensors/npy", json=body)
    direct = httpx.post(f"{deployment.replicas[0].base}/v1/tensors/npy", json=body, timeout=60)
    assert through.status_code == direct.status_code == 200
    assert through.content == direct.content and len(through.content) == 4096 * 4096 * 4 + 128
    assert "temporary file" not in deployment.nginx.error_log


def test_slowloris_is_cut_at_nginx(deployment: Deployment) -> None:
    """A client trickling a request head a line every 0.5 s is disconnected by nginx once
    client_header_timeout (the whole head's, not a line's) has passed, and no replica ever sees the request."""
    before = _seen(deployment)
    limit = HEADER_TIMEOUT
    port = int(deployment.base.rsplit(":", 1)[1])
    started = time.monotonic()
    closed_after = None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /v1/schemes HTTP/1.1\r\nHost: slow\r\n")
        for line in range(int(4 * limit)):  # trickles for twice the limit unless cut
            try:
                sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                sock.settimeout(0.5)
                if sock.recv(4096) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "nginx kept the trickling connection open"
    assert 0.9 * limit <= closed_after <= limit + 1.5, closed_after
    assert _seen(deployment) == before


def test_a_one_mebibyte_header_is_stopped_at_nginx(deployment: Deployment) -> None:
    """A 1 MiB header line: a 431 problem from nginx, the replicas never see it; a too-long request line
    is a 414 problem, a too-large body a 413 problem, the same way."""
    before = _seen(deployment)
    port = int(deployment.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # nginx may answer and close before the whole header is sent
            sock.sendall(b"GET /v1/schemes HTTP/1.1\r\nHost: big\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 431
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        _problem(client.get("/v1/tensors/" + "a" * 9000 + ".npy"), 414)
        json_type = {"content-type": "application/json"}
        too_large = client.post("/v1/tensors/npy", content=b" " * (2 << 20), headers=json_type)
        _problem(too_large, 413)
    assert _seen(deployment) == before


def test_no_replica_left_is_a_problem_not_a_page() -> None:
    """With every replica down, nginx answers 502 problem+json (no HTML error page)."""
    with running_nginx(free_port(), [f"127.0.0.1:{free_port()}"]) as nginx:
        body = _problem(httpx.post(f"{nginx.base}/v1/tensors/npy", json=TENSOR, timeout=30), 502)
        assert "retry" in str(body["detail"])


# --- the cache, on the permanent GET URLs (issue 18, items 1-3) ---


def _permanent_url(deployment: Deployment, path: str, body: dict[str, object]) -> str:
    """The Content-Location of a POST answer through nginx; skips when the service has no GET URLs."""
    answer = httpx.post(f"{deployment.base}{path}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    location = answer.headers.get("content-location")
    if location is None:
        pytest.skip("the service has no permanent GET URLs yet (issue 18 items 1-3): no Content-Location")
    return location


def test_second_get_is_a_cache_hit_no_replica_sees_it(deployment: Deployment) -> None:
    location = _permanent_url(deployment, "/v1/tensors/npy", TENSOR)
    route_counts = _seen(deployment)
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        first = client.get(location)
        after_first = _seen(deployment)
        second = client.get(location)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] == "MISS" and second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert sum(after_first) == sum(route_counts) + 1  # the miss went to one replica
    assert _seen(deployment) == after_first  # the hit to none
    expected = np.load(io.BytesIO(first.content), allow_pickle=False)
    assert expected.shape == tuple(TENSOR["shape"])  # type: ignore[arg-type]


def test_cached_answers_keep_validators_and_ranges(deployment: Deployment) -> None:
    """From the cache: If-None-Match is a 304 without a body, a byte range is those bytes of the file."""
    body = {**TENSOR, "seed": 12}
    location = _permanent_url(deployment, "/v1/tensors/npy", body)
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        full = client.get(location)
        before = _seen(deployment)
        not_modified = client.get(location, headers={"If-None-Match": full.headers["etag"]})
        part = client.get(location, headers={"Range": "bytes=100-1099"})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert part.status_code == 206 and part.content == full.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(full.content)}"
    assert part.headers["x-cache-status"] == "HIT"
    assert _seen(deployment) == before


def test_every_replica_names_and_answers_a_url_alike(deployment: Deployment) -> None:
    """Any replica decodes any URL (no server state): straight from each, the same bytes and ETag."""
    location = _permanent_url(deployment, "/v1/tensors/safetensors", {**TENSOR, "seed": 14})
    answers = [httpx.get(f"{replica.base}{location}", timeout=30) for replica in deployment.replicas]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1 and len({a.headers["etag"] for a in answers}) == 1


def test_head_and_bad_tokens_through_the_cache(deployment: Deployment) -> None:
    """HEAD is cached apart from GET and has GET's Content-Length; a tampered token is the replica's
    404 problem, never stored (each try reaches a replica)."""
    location = _permanent_url(deployment, "/v1/tensors/npy", {**TENSOR, "seed": 15})
    with httpx.Client(base_url=deployment.base, timeout=30) as client:
        heads = [client.head(location) for _ in range(2)]
        full = client.get(location)
        assert [h.headers["x-cache-status"] for h in heads] == ["MISS", "HIT"]
        assert heads[1].content == b"" and int(heads[1].headers["content-length"]) == len(full.content)
        assert full.headers["x-cache-status"] == "MISS"  # GET has its own entry
        token = location.rsplit("/", 1)[1].removesuffix(".npy")
        tampered = location.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        before = _seen(deployment)
        for _ in range(2):
            answer = client.get(tampered)
            _problem(answer, 404)
            assert answer.headers["x-cache-status"] == "MISS"
    assert sum(_seen(deployment)) - sum(before) == 2


def test_64_ranks_asking_at_once_cost_one_generation(deployment: Deployment) -> None:
    """64 concurrent GETs of one new URL (a multi-rank job's start): one reaches a replica, the other
    63 wait for it (proxy_cache_lock) and are served from the cache; all bytes identical."""
    location = _permanent_url(deployment, "/v1/models/safetensors", _MODEL)
    before = _seen(deployment)
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(64)

    def rank() -> None:
        start.wait(timeout=30)
        answer = httpx.get(f"{deployment.base}{location}", timeout=60, verify=PLAIN_HTTP)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=rank) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert len(answers) == 64 and {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    statuses = sorted(a.headers["x-cache-status"] for a in answers)
    assert statuses.count("MISS") == 1 and statuses.count("HIT") == 63, statuses
    assert sum(_seen(deployment)) - sum(before) == 1


_MODEL = {
    "entries": [
        {"preset": "torch.Embedding", "prefix": "embed", "num_embeddings": 512, "embedding_dim": 64},
        {"preset": "torch.Linear", "prefix": "proj", "in_features": 64, "out_features": 64},
    ],
    "seed": 5,
}


def test_sigterm_of_one_replica_mid_load_loses_no_answer(deployment: Deployment) -> None:
    """SIGTERM to one replica while 6 connections load nginx: the replica drains and exits, nginx sends
    what it refuses to the other one, and every client gets its answer. (The module's last test: it
    leaves the deployment with one replica.)"""
    victim, survivor = deployment.replicas
    before = [victim.requests(), survivor.requests()]
    logged = deployment.upstream_counts()
    result = run_load(deployment.base, duration=4.0, workers=6, seed=2, at=1.5, action=victim.process.terminate)
    # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is over: -15 is a clean exit
    assert victim.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert result.errors == [], result.errors[:5]
    assert result.total >= 50, result
    # nginx writes a request's access-log line once its answer has gone out, so the client may have the last
    # answer before its line is written: the log is read until it has them all (bounded)
    deadline = time.monotonic() + 10
    while True:
        upstream = deployment.upstream_counts() - logged
        if upstream.total() >= result.total or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert upstream[victim.address] > 0 and upstream[survivor.address] > 0, upstream
    assert upstream[victim.address] + upstream[survivor.address] == result.total, (upstream, result.total)
    # after the SIGTERM the survivor answered the rest: more than its half of the whole run
    assert survivor.requests() - before[1] > result.total / 2, (upstream, result.total)
