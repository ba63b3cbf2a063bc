"""Over a real socket: ``initserve serve`` in a subprocess (one for the module), answers compared bit for
bit with the in-process app."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from service.core import make_tensor

from .helpers import (
    OVER_BODY_LIMIT,
    PLAIN_HTTP,
    PROBLEM,
    REPO,
    app_client,
    load_npy,
    problem_of,
    running_server,
    tensor_request,
)

BUFFERED_NPY_BYTES = 64 << 10


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server({"INITSERVE_BUFFERED_NPY_BYTES": str(BUFFERED_NPY_BYTES)}, via_cli=True) as base:
        yield base


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30.0) as c:
        yield c


def test_he_normal_npy_equals_json_bit_for_bit(http: httpx.Client) -> None:
    request = tensor_request([128, 64], init={"scheme": "he", "distribution": "normal"}, seed=2024)
    npy = http.post("/v1/tensors/npy", json=request)
    answer = http.post("/v1/tensors", json=request)
    assert npy.status_code == answer.status_code == 200
    assert npy.headers["content-type"] == "application/octet-stream"
    assert int(npy.headers["content-length"]) == len(npy.content)
    array = load_npy(npy.content)
    body = answer.json()
    from_json = np.array(body["data"], dtype=np.float32).reshape(128, 64)
    np.testing.assert_array_equal(from_json.view(np.uint32), array.view(np.uint32))
    assert float(npy.headers["x-init-empirical-variance"]) == body["stats"]["empirical"]["variance"]
    assert (body["fan_in"], body["fan_out"]) == (128, 64)


def test_streamed_large_npy_arrives_whole(http: httpx.Client) -> None:
    request = tensor_request([4096, 1024], init={"scheme": "he"}, seed=11)
    received = bytearray()
    with http.stream("POST", "/v1/tensors/npy", json=request) as response:
        assert response.status_code == 200
        assert "transfer-encoding" not in response.headers  # a declared length, not chunks
        declared = int(response.headers["content-length"])
        assert "x-init-empirical-mean" not in response.headers  # streamed: no empirical headers
        assert response.headers["x-init-fan-in"] == "4096"
        for chunk in response.iter_raw():
            received += chunk
    assert len(received) == declared == 128 + 4096 * 1024 * 4
    array = load_npy(bytes(received))
    assert array.shape == (4096, 1024) and array.dtype == np.float32
    with app_client() as local:  # default settings: 16 MiB is buffered
        buffered = local.post("/v1/tensors/npy", json=request)
    assert "x-init-empirical-mean" in buffered.headers
    assert bytes(received) == buffered.content


def test_readme_standard_library_fetch_reads_the_core_bytes(server: str) -> None:
    """docs/tensors.md's recipe that reads a streamed .npy straight into the array gets the core's tensor."""
    readme = (REPO / "docs" / "tensors.md").read_text()
    start = readme.index("import ast\nimport http.client")
    code = readme[start : readme.index("```", start)]
    host, port = server.removeprefix("http://").split(":")
    code = code.replace('"127.0.0.1:8000"', f'"{host}:{port}"').replace("[4096, 4096]", "[1024, 512]")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    expected = make_tensor([1024, 512], "he", seed=42).array
    assert namespace["w"].dtype == expected.dtype and namespace["w"].shape == expected.shape
    assert namespace["w"].tobytes() == expected.tobytes()


def test_stats_over_the_socket_equal_the_in_process_json(http: httpx.Client) -> None:
    request = tensor_request([300, 200], init={"scheme": "glorot", "distribution": "truncated_normal"}, seed=5)
    remote = http.post("/v1/tensors/stats", json=request)
    with app_client() as local:
        answer = local.post("/v1/tensors", json=request).json()
    assert remote.status_code == 200
    assert remote.json() == {k: v for k, v in answer.items() if k != "data"}


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"json": tensor_request(seed=-1)}, 422, "seed"),
        ({"json": tensor_request(shape=[1 << 20, 1 << 20])}, 413, "shape"),
        ({"content": b'{"shape": [2,', "headers": {"content-type": "application/json"}}, 400, None),
        ({"content": b"shape=2", "headers": {"content-type": "text/plain"}}, 415, None),
        ({"json": tensor_request(pad=OVER_BODY_LIMIT)}, 413, None),
    ],
)
def test_errors_over_the_socket_are_problems(
    http: httpx.Client, kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    response = http.post("/v1/tensors", **kwargs)
    assert response.status_code == status
    assert problem_of(response).get("field") == field
    assert int(response.headers["content-length"]) == len(response.content)


def test_body_over_limit_without_content_length(http: httpx.Client) -> None:
    data = json.dumps(tensor_request(pad=OVER_BODY_LIMIT)).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    response = http.post("/v1/tensors", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    problem_of(response)
    assert http.get("/healthz").status_code == 200


def test_405_and_404_over_the_socket(http: httpx.Client) -> None:
    wrong_method = http.get("/v1/tensors/npy")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.headers["content-type"] == PROBLEM
    assert http.get("/v2").status_code == 404


def test_cli_serves_the_same_bytes(server: str) -> None:
    """``initserve serve`` (``python -m service serve``, the module's server) configured by INITSERVE_*
    variables."""
    request = tensor_request([64, 32], init={"scheme": "lecun"}, seed=3)
    remote = httpx.post(f"{server}/v1/tensors/npy", json=request, timeout=30.0)
    ready = httpx.get(f"{server}/readyz", timeout=5.0)
    with app_client() as local:
        expected = local.post("/v1/tensors/npy", json=request)
    assert ready.status_code == 200
    assert remote.status_code == 200
    assert remote.content == expected.content


@pytest.mark.parametrize(
    "shape",
    [
        [1 << 22, 1],  # 2^22 input units of one output: every weight zero
        [1 << 22, 2],  # 2^22 input units, one zero each among 2: the mask is drawn (vectorised, in blocks of units)
    ],
)
def test_one_sparse_request_does_not_stall_the_service(shape: list[int]) -> None:
    """A sparse tensor within every limit does not hold the generation pool for long: a small request sent
    meanwhile is answered within 2 s (the mask used to take ~20 s, one rng.permutation per input unit)."""
    heavy = tensor_request(shape, init={"scheme": "sparse", "sparsity": 0.5}, seed=0)

    def send_heavy(base: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            httpx.post(f"{base}/v1/tensors/stats", json=heavy, timeout=30.0)

    with running_server(graceful=False) as base:
        background = threading.Thread(target=send_heavy, args=(base,), daemon=True)
        background.start()
        deadline = time.monotonic() + 10.0
        # Planned (counted in the metrics) means its blocks are on the generation pool.
        while 'scheme="sparse"' not in httpx.get(f"{base}/metrics", timeout=5.0, verify=PLAIN_HTTP).text:
            assert time.monotonic() < deadline, "the sparse request never reached the generation pool"
            time.sleep(0.02)
        small = httpx.post(f"{base}/v1/tensors", json=tensor_request([4, 4]), timeout=2.0)
    background.join(timeout=10)
    assert small.status_code == 200
