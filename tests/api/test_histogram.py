"""``POST /v1/tensors/stats`` with ``histogram``: edges and counts equal ``numpy.histogram`` of the tensor
the service serves (fetched as JSON data, every dtype), over several blocks, with and without a range; the
counts sum to the element count; bad options are a 422 naming the field."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
from fastapi.testclient import TestClient

from .helpers import problem_of, tensor_request

#: More than one block (16 chunks of 2^16 elements) of the engine, and a partial last chunk.
SHAPE = [1100, 1000]
DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def served(client: TestClient, body: dict[str, Any]) -> np.ndarray:
    """The tensor the service serves for ``body``, in its dtype (JSON data parses back exactly)."""
    response = client.post("/v1/tensors", json=body)
    assert response.status_code == 200, response.text
    return np.array(response.json()["data"], dtype=np.float64).astype(DTYPES[body.get("dtype", "float32")])


def histogram_of(client: TestClient, body: dict[str, Any], **options: Any) -> dict[str, Any]:
    response = client.post("/v1/tensors/stats", json={**body, "histogram": options})
    assert response.status_code == 200, response.text
    return response.json()["stats"]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("value_range", [None, [-0.03, 0.05]])
def test_bins_equal_numpy_histogram_of_the_served_tensor(
    client: TestClient, dtype: str, value_range: list[float] | None
) -> None:
    body = tensor_request(SHAPE, "he", dtype=dtype, seed=11)
    tensor = served(client, body)
    if dtype == "bfloat16":  # counted as its exact float32 widening (NumPy's histogram fails on bfloat16)
        tensor = tensor.astype(np.float32)
    options: dict[str, Any] = {"bins": 97} if value_range is None else {"bins": 97, "range": value_range}
    stats = histogram_of(client, body, **options)
    counts, edges = np.histogram(tensor, 97, None if value_range is None else tuple(value_range))
    assert stats["histogram"]["counts"] == counts.tolist()
    assert stats["histogram"]["edges"] == edges.astype(np.float64).tolist()
    if value_range is None:  # every value counted, the outer edges the served extremes
        assert sum(stats["histogram"]["counts"]) == stats["empirical"]["count"] == tensor.size
        assert stats["histogram"]["edges"][0] == stats["empirical"]["min"] == float(tensor.min())
        assert stats["histogram"]["edges"][-1] == stats["empirical"]["max"] == float(tensor.max())
    else:
        inside = np.count_nonzero((tensor >= edges[0]) & (tensor <= edges[-1]))
        assert sum(stats["histogram"]["counts"]) == inside < tensor.size


@pytest.mark.parametrize("bins", [1, 2, 1024])
def test_bin_counts_at_the_limits(client: TestClient, bins: int) -> None:
    body = tensor_request([300, 70], "glorot", init={"scheme": "glorot", "distribution": "uniform"})
    counts, edges = np.histogram(served(client, body), bins)
    histogram = histogram_of(client, body, bins=bins)["histogram"]
    assert histogram == {"edges": edges.astype(np.float64).tolist(), "counts": counts.tolist()}


def test_a_constant_tensor_widens_as_numpy_does(client: TestClient) -> None:
    body = tensor_request([64, 64], init={"scheme": "constant", "value": 0.25})
    counts, edges = np.histogram(served(client, body), 4)
    histogram = histogram_of(client, body, bins=4)["histogram"]
    assert histogram == {"edges": edges.astype(np.float64).tolist(), "counts": counts.tolist()}
    assert histogram["edges"][0] == -0.25 and histogram["edges"][-1] == 0.75


def test_a_slice_is_counted_as_served(client: TestClient) -> None:
    body = tensor_request([512, 300], slice=[[100, 228], [0, 300]], seed=3)
    part = served(client, body)
    assert part.shape == (128 * 300,)
    counts, edges = np.histogram(part, 16)
    histogram = histogram_of(client, body, bins=16)["histogram"]
    assert histogram == {"edges": edges.astype(np.float64).tolist(), "counts": counts.tolist()}


def test_without_histogram_the_answer_has_none(client: TestClient) -> None:
    response = client.post("/v1/tensors/stats", json=tensor_request())
    assert "histogram" not in response.json()["stats"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"bins": 0}, "histogram.bins"),
        ({"bins": 1025}, "histogram.bins"),
        ({"bins": True}, "histogram.bins"),
        ({"bins": "8"}, "histogram.bins"),
        ({}, "histogram.bins"),
        ({"bins": 8, "range": [1.0]}, "histogram.range"),
        ({"bins": 8, "range": [1.0, 0.0]}, "histogram.range"),
        ({"bins": 8, "range": [-1e300, 1e300]}, "histogram.range"),  # the edges overflow float32
        ({"bins": 1024, "range": [1.0, 1.0000001]}, "histogram.range"),  # 1024 bins in two float32 ulps
        ({"bins": 8, "extra": 1}, "histogram.extra"),
    ],
)
def test_bad_options_are_a_422_naming_the_field(client: TestClient, options: dict[str, Any], field: str) -> None:
    response = client.post("/v1/tensors/stats", json={**tensor_request(), "histogram": options})
    assert response.status_code == 422, response.text
    problem = problem_of(response)
    named = [problem.get("field")] + [e["field"] for e in problem.get("errors") or []]
    assert field in named, problem


def test_other_tensor_routes_refuse_a_histogram(client: TestClient) -> None:
    response = client.post("/v1/tensors", json={**tensor_request(), "histogram": {"bins": 4}})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "histogram"
