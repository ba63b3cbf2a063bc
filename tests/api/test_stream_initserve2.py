"""``"stream": "initserve-2"`` over HTTP: each element is initserve's counter-based sampler's (Philox), the
distribution the scheme plans; the same bytes for any thread count, format or part; golden hashes pin it."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.streams import initserve2
from tests.api.helpers import app_client, load_npy


def npy(client: TestClient, body: dict[str, Any]) -> np.ndarray:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["X-Init-Stream"] == "initserve-2"
    assert response.headers["X-Init-Stream-Version"] == "2"
    return load_npy(response.content)


def test_he_normal_is_the_samplers_normal_with_hes_std(client: TestClient) -> None:
    body = {"shape": [784, 256], "init": {"scheme": "he"}, "seed": 7, "stream": "initserve-2"}
    expected = np.empty(784 * 256, dtype=np.float32)
    initserve2.normal(7, 0.0, math.sqrt(2.0 / 784), 0, expected.size, expected)
    assert npy(client, body).reshape(-1).tobytes() == expected.tobytes()


def test_the_same_bytes_for_any_thread_count_and_format() -> None:
    body = {"shape": [1500, 1000], "init": {"scheme": "glorot"}, "seed": 3, "stream": "initserve-2"}
    answers = []
    for threads in (1, 2, 4):
        with app_client(threads=threads) as client:
            answers.append(npy(client, body).tobytes())
    assert answers[0] == answers[1] == answers[2]
    with app_client() as client:
        small = {**body, "shape": [30, 20]}
        data = client.post("/v1/tensors", json=small).json()["data"]
        assert np.asarray(data, dtype=np.float32).tobytes() == npy(client, small).tobytes()


# SHA-256 of the tensor's bytes: pins the stream (docs/initserve-2.md is its definition). Key 42, (256, 784).
GOLDEN = {
    ("he", "float32"): "b24b211d02336c22fc38695910c4d1aba846f0621e10837350db6f6d1da08fad",
    ("he", "float64"): "cf049eaa83f4ababd82ed876c585a9c4876fc5da01d9e49df9bbb6bd8f19e087",
    ("glorot", "float32"): "d2939e097c1422fbaa2cebab1603e1c4b5d72199c913ec8f538d83eacc5bcf37",
    ("glorot", "float64"): "c45688eb2541383d1d183f9b5b799eec849d47f5d4d7db623c716c5cf5644d84",
    ("lecun", "float32"): "b13d17ea658c5918b9d03f4efd2abe57379ad8053df0c7c3f44654b20971e830",
    ("lecun", "float64"): "ed4c8e7da9879f77d444806cb42647d43d55a001a62447cf0332b9316b20574f",
}
INITS = {
    "he": {"scheme": "he"},
    "glorot": {"scheme": "glorot"},
    "lecun": {"scheme": "lecun", "distribution": "truncated_normal"},
}


@pytest.mark.parametrize(("scheme", "dtype"), sorted(GOLDEN))
def test_golden_hashes(client: TestClient, scheme: str, dtype: str) -> None:
    body = {"shape": [256, 784], "init": INITS[scheme], "seed": 42, "dtype": dtype, "stream": "initserve-2"}
    assert hashlib.sha256(npy(client, body).tobytes()).hexdigest() == GOLDEN[(scheme, dtype)]
