"""The tensor operations: the JSON answer, the .npy answer and its headers, the stats answer, seeds,
dtypes, fan axes and the size limits (PRODUCT.md, "The request" and "The operations")."""

from __future__ import annotations

import json
import math
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core import DEFAULT_STREAM, MAX_SEED, SCHEMES, STREAM_VERSION

from .helpers import app_client, load_npy, problem_of, tensor_request

UINT = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}
ANSWER_FIELDS = {
    "requested_init",
    "shape",
    "full_shape",
    "slice",
    "dtype",
    "layout",
    "fan_axes",
    "seed",
    "init",
    "fan_in",
    "fan_out",
    "stream",
    "stream_version",
    "stats",
    "data",
}
ALWAYS_HEADERS = ("x-init-seed", "x-init-stream-version", "x-init-theoretical-variance")
EMPIRICAL_HEADERS = ("x-init-empirical-mean", "x-init-empirical-variance", "x-init-variance-ratio")


def post_json(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/tensors", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def post_npy(client: TestClient, body: dict[str, Any]) -> tuple[np.ndarray, Any]:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    return load_npy(response.content), response


def as_dtype(data: list[float], dtype: str) -> np.ndarray:
    """JSON numbers parsed to the answer's dtype (Python float -> dtype: one correctly rounded step)."""
    return np.array(data, dtype=ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype))


# -- the JSON answer ----------------------------------------------------------------------------------


def test_json_answer_has_every_field(client: TestClient) -> None:
    body = tensor_request([64, 32], init={"scheme": "he", "distribution": "normal", "mode": "fan_in"}, seed=42)
    answer = post_json(client, {**body, "layout": "keras", "dtype": "float32"})
    assert set(answer) == ANSWER_FIELDS
    assert answer["shape"] == [64, 32]
    assert answer["dtype"] == "float32"
    assert answer["layout"] == "keras"
    assert answer["fan_axes"] is None
    assert answer["seed"] == 42
    assert answer["init"] == {"scheme": "he", "distribution": "normal", "mode": "fan_in", "negative_slope": 0.0}
    assert answer["requested_init"] is None
    assert (answer["fan_in"], answer["fan_out"]) == (64, 32)
    assert answer["stream"] == DEFAULT_STREAM and answer["stream_version"] == STREAM_VERSION
    assert len(answer["data"]) == 64 * 32


def test_json_stats_describe_the_data(client: TestClient) -> None:
    answer = post_json(client, tensor_request([64, 32], init={"scheme": "he"}, seed=42))
    stats = answer["stats"]
    assert set(stats) == {"theoretical", "empirical", "variance_ratio", "variance_z"}
    theoretical, empirical = stats["theoretical"], stats["empirical"]
    assert set(theoretical) == {"mean", "variance", "std", "low", "high"}
    assert set(empirical) == {"count", "mean", "variance", "std", "min", "max"}
    assert theoretical["mean"] == 0.0
    assert theoretical["variance"] == pytest.approx(2.0 / 64, rel=1e-15)
    assert theoretical["std"] == pytest.approx(math.sqrt(2.0 / 64), rel=1e-15)
    assert theoretical["low"] is None and theoretical["high"] is None  # normal: unbounded
    data = np.array(answer["data"], dtype=np.float32).astype(np.float64)
    assert empirical["count"] == data.size
    assert empirical["mean"] == pytest.approx(data.mean(), rel=1e-9, abs=1e-12)
    assert empirical["variance"] == pytest.approx(data.var(), rel=1e-9)  # population variance (ddof=0)
    assert empirical["std"] == pytest.approx(data.std(), rel=1e-9)
    assert (empirical["min"], empirical["max"]) == (data.min(), data.max())
    assert stats["variance_ratio"] == pytest.approx(empirical["variance"] / theoretical["variance"], rel=1e-12)
    assert math.isfinite(stats["variance_z"])


@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
@pytest.mark.parametrize(
    ("init", "variance"),
    [
        ({"scheme": "he"}, 2.0 / 64),
        ({"scheme": "he", "mode": "fan_out"}, 2.0 / 32),
        ({"scheme": "lecun"}, 1.0 / 64),
        ({"scheme": "glorot"}, 1.0 / 48),
        ({"scheme": "variance_scaling", "scale": 3.0, "mode": "fan_out"}, 3.0 / 32),
    ],
)
def test_theoretical_variance_is_the_formula_exactly(
    client: TestClient, init: dict[str, Any], variance: float, distribution: str
) -> None:
    """scale / fan carried exactly (not sqrt(variance)**2, which gives 0.03125000000000001 for 2/64)."""
    request = tensor_request([64, 32], init={**init, "distribution": distribution})
    answer = post_json(client, request)
    assert answer["stats"]["theoretical"]["variance"] == variance
    assert json.loads(client.post("/v1/tensors/stats", json=request).content)["stats"]["theoretical"]["variance"] == (
        variance
    )
    assert float(client.post("/v1/tensors/npy", json=request).headers["x-init-theoretical-variance"]) == variance


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        ({"scheme": "xavier"}, {"scheme": "glorot", "distribution": "uniform", "gain": 1.0}),
        (
            {"scheme": "xavier", "distribution": "normal", "gain": 2},
            {"scheme": "glorot", "distribution": "normal", "gain": 2.0},
        ),
        ({"scheme": "kaiming"}, {"scheme": "he", "distribution": "normal", "mode": "fan_in", "negative_slope": 0.0}),
        (
            {"scheme": "kaiming", "mode": "fan_out", "negative_slope": 0.2},
            {"scheme": "he", "distribution": "normal", "mode": "fan_out", "negative_slope": 0.2},
        ),
    ],
)
def test_aliases_are_echoed_canonical_and_make_the_same_tensor(
    client: TestClient, given: dict[str, Any], echoed: dict[str, Any]
) -> None:
    by_alias = post_json(client, tensor_request([16, 8], init=given))
    by_name = post_json(client, tensor_request([16, 8], init={**given, "scheme": echoed["scheme"]}))
    assert by_alias["init"] == echoed
    assert by_alias == by_name


def _request_for(scheme: str) -> dict[str, Any]:
    """A request every scheme accepts, with only its required fields."""
    shape = {"dirac": [4, 4, 3], "identity": [3, 5], "delta_orthogonal": [3, 4, 6], "stft": [8, 1, 5]}.get(
        scheme, [6, 4]
    )
    required = {"sparse": {"sparsity": 0.25}, "constant": {"value": 0.5}}.get(scheme, {})
    return tensor_request(shape, init={"scheme": scheme, **required}, layout="torch" if scheme == "dirac" else "keras")


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_init_is_echoed_with_every_default_filled_in(client: TestClient, scheme: str) -> None:
    request = _request_for(scheme)
    answer = post_json(client, request)
    expected = {"scheme": scheme, **{p.name: p.default for p in SCHEMES[scheme].params}}
    expected.update(request["init"])
    assert answer["init"] == expected
    assert list(answer["init"]) == list(expected)  # table order
    for param in SCHEMES[scheme].params:  # numbers echoed with the table's type
        if param.kind == "number":
            assert isinstance(answer["init"][param.name], float)


@pytest.mark.parametrize(
    ("shape", "layout", "scheme", "fans"),
    [
        ([3, 3, 8, 16], "keras", "he", (72, 144)),
        ([3, 3, 8, 16], "jax", "he", (72, 144)),
        ([16, 8, 3, 3], "torch", "he", (72, 144)),
        ([784, 256], "keras", "glorot", (784, 256)),
        ([256, 784], "torch", "glorot", (784, 256)),
        ([5], "keras", "lecun", (5, 5)),
        ([], "keras", "he", (1, 1)),
        ([5], "torch", "normal", (None, None)),  # fan-free scheme on a shape torch has no fans for
        ([5], "jax", "uniform", (None, None)),
        ([], "torch", "zeros", (None, None)),
    ],
)
def test_fans_by_layout(
    client: TestClient, shape: list[int], layout: str, scheme: str, fans: tuple[int | None, int | None]
) -> None:
    answer = post_json(client, tensor_request(shape, scheme, layout=layout))
    assert (answer["fan_in"], answer["fan_out"]) == fans
    assert answer["layout"] == layout
    assert len(answer["data"]) == math.prod(shape)


@pytest.mark.parametrize(
    ("init", "low", "high"),
    [
        ({"scheme": "normal", "std": 0.0}, None, None),
        ({"scheme": "uniform", "low": -1.5, "high": 0.5}, -1.5, 0.5),
        ({"scheme": "truncated_normal", "low": -1.0, "high": 3.0}, -1.0, 3.0),
        ({"scheme": "glorot"}, -math.sqrt(3 * 1.0 / 10), math.sqrt(3 * 1.0 / 10)),  # fan_avg (16 + 4) / 2
        ({"scheme": "constant", "value": -2.5}, -2.5, -2.5),
        ({"scheme": "zeros"}, 0.0, 0.0),
        ({"scheme": "ones"}, 1.0, 1.0),
        ({"scheme": "identity", "gain": 3.0}, 0.0, 3.0),
        ({"scheme": "orthogonal"}, None, None),
        ({"scheme": "sparse", "sparsity": 0.5}, None, None),
    ],
)
def test_theoretical_bounds(client: TestClient, init: dict[str, Any], low: float | None, high: float | None) -> None:
    answer = post_json(client, tensor_request([16, 4], init=init))
    theoretical, empirical = answer["stats"]["theoretical"], answer["stats"]["empirical"]
    if low is None:
        assert theoretical["low"] is None and theoretical["high"] is None
    else:
        assert theoretical["low"] == pytest.approx(low, rel=1e-15)
        assert theoretical["high"] == pytest.approx(high, rel=1e-15)
        assert theoretical["low"] <= empirical["min"] <= empirical["max"] <= theoretical["high"]


@pytest.mark.parametrize("scheme", ["zeros", "ones"])
def test_ratio_and_z_are_null_where_the_theoretical_variance_is_zero(client: TestClient, scheme: str) -> None:
    answer = post_json(client, tensor_request([4, 4], scheme))
    assert answer["stats"]["theoretical"]["variance"] == 0.0
    assert answer["stats"]["variance_ratio"] is None
    assert answer["stats"]["variance_z"] is None


def test_scalar_shape(client: TestClient) -> None:
    answer = post_json(client, tensor_request([], "normal"))
    array, _ = post_npy(client, tensor_request([], "normal"))
    assert answer["shape"] == [] and len(answer["data"]) == 1
    assert array.shape == ()
    assert np.float32(answer["data"][0]).view(np.uint32) == array.view(np.uint32)


# -- the .npy answer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize(
    "init",
    [
        {"scheme": "he"},
        {"scheme": "glorot"},
        {"scheme": "variance_scaling", "scale": 2, "mode": "fan_avg", "distribution": "truncated_normal"},
        {"scheme": "normal", "mean": 1e-3, "std": 1e-4},
        {"scheme": "uniform", "low": -1e-8, "high": 1e3},
        {"scheme": "orthogonal", "gain": 1.5},
    ],
)
def test_npy_equals_json_bit_for_bit(client: TestClient, dtype: str, init: dict[str, Any]) -> None:
    request = tensor_request([24, 20], init=init, dtype=dtype)
    answer = post_json(client, request)
    array, _ = post_npy(client, request)
    assert array.dtype == np.dtype(dtype) and array.shape == (24, 20)
    assert array.flags.c_contiguous
    from_json = as_dtype(answer["data"], dtype).reshape(24, 20)
    np.testing.assert_array_equal(from_json.view(UINT[dtype]), array.view(UINT[dtype]))


def test_npy_answer_headers(client: TestClient) -> None:
    request = tensor_request([32, 16], init={"scheme": "he"}, seed=123)
    answer = post_json(client, request)
    array, response = post_npy(client, request)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="tensor.npy"'
    assert int(response.headers["content-length"]) == len(response.content)
    assert array.shape == (32, 16)
    h = response.headers
    assert int(h["x-init-seed"]) == 123
    assert (int(h["x-init-fan-in"]), int(h["x-init-fan-out"])) == (32, 16)
    assert h["x-init-stream-version"] == STREAM_VERSION
    stats = answer["stats"]
    # Each number parses back to the JSON value exactly (shortest round-tripping decimal).
    assert float(h["x-init-theoretical-variance"]) == stats["theoretical"]["variance"]
    assert float(h["x-init-empirical-mean"]) == stats["empirical"]["mean"]
    assert float(h["x-init-empirical-variance"]) == stats["empirical"]["variance"]
    assert float(h["x-init-variance-ratio"]) == stats["variance_ratio"]
    for name in ("x-init-theoretical-variance", *EMPIRICAL_HEADERS):
        assert h[name] == repr(float(h[name]))  # shortest round-tripping decimal of the float64


def test_npy_headers_leave_out_null_values(client: TestClient) -> None:
    _, fan_free = post_npy(client, tensor_request([5], "normal", layout="torch"))
    assert "x-init-fan-in" not in fan_free.headers and "x-init-fan-out" not in fan_free.headers
    assert all(name in fan_free.headers for name in (*ALWAYS_HEADERS, *EMPIRICAL_HEADERS))
    _, constant = post_npy(client, tensor_request([4, 4], "zeros"))
    assert "x-init-variance-ratio" not in constant.headers  # theoretical variance 0: ratio undefined
    assert float(constant.headers["x-init-theoretical-variance"]) == 0.0
    assert float(constant.headers["x-init-empirical-variance"]) == 0.0


@pytest.mark.parametrize(
    ("shape", "init", "dtype"),
    [
        ([2048, 1100], {"scheme": "he"}, "float32"),  # several blocks of chunks: the look-ahead path
        ([300, 700], {"scheme": "glorot"}, "float16"),
        ([128, 96], {"scheme": "orthogonal"}, "float64"),  # made whole, then streamed in blocks
        ([3, 3, 16, 32], {"scheme": "dirac", "groups": 2}, "float32"),
    ],
)
def test_streamed_npy_equals_buffered(shape: list[int], init: dict[str, Any], dtype: str) -> None:
    request = tensor_request(shape, init=init, dtype=dtype)
    with app_client() as buffered_client:
        buffered = buffered_client.post("/v1/tensors/npy", json=request)
    with app_client(buffered_npy_bytes=1024) as streamed_client:
        streamed = streamed_client.post("/v1/tensors/npy", json=request)
    assert buffered.status_code == streamed.status_code == 200
    assert streamed.content == buffered.content
    assert int(streamed.headers["content-length"]) == len(streamed.content)
    assert load_npy(streamed.content).shape == tuple(shape)
    # Statistics known before generation are sent either way; empirical ones only when buffered.
    for name in (*ALWAYS_HEADERS, "x-init-fan-in", "x-init-fan-out"):
        assert streamed.headers[name] == buffered.headers[name]
    for name in EMPIRICAL_HEADERS:
        assert name not in streamed.headers
        assert name in buffered.headers


def test_buffered_npy_bytes_boundary() -> None:
    """A tensor of exactly ``buffered_npy_bytes`` is buffered; one byte less of limit streams it."""
    request = tensor_request([16, 16])  # 1024 bytes of float32
    with app_client(buffered_npy_bytes=1024) as c:
        assert "x-init-empirical-mean" in c.post("/v1/tensors/npy", json=request).headers
    with app_client(buffered_npy_bytes=1023) as c:
        assert "x-init-empirical-mean" not in c.post("/v1/tensors/npy", json=request).headers


# -- /v1/tensors/stats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_body",
    [
        tensor_request([64, 32]),
        tensor_request([1500, 1000], init={"scheme": "glorot", "distribution": "truncated_normal"}),
        tensor_request([40, 30], init={"scheme": "sparse", "sparsity": 0.3}, dtype="float16"),
        tensor_request([7], "zeros", dtype="float64"),
        tensor_request([5], "normal", layout="torch", dtype="bfloat16"),
    ],
)
def test_stats_equals_json_answer_without_data(client: TestClient, request_body: dict[str, Any]) -> None:
    answer = post_json(client, request_body)
    stats = client.post("/v1/tensors/stats", json=request_body)
    assert stats.status_code == 200, stats.text
    assert json.loads(stats.content) == {k: v for k, v in answer.items() if k != "data"}


def test_stats_answer_is_application_json(client: TestClient) -> None:
    response = client.post("/v1/tensors/stats", json=tensor_request())
    assert response.status_code == 200
    assert response.headers.get("content-type") == "application/json"
    assert response.headers.get("content-type") == client.post("/v1/tensors", json=tensor_request()).headers.get(
        "content-type"
    )


# -- reproducibility and seeds ------------------------------------------------------------------------------


def test_same_request_gives_the_same_bytes(client: TestClient) -> None:
    request = tensor_request([300, 200], init={"scheme": "variance_scaling", "distribution": "uniform"}, seed=99)
    for path in ("/v1/tensors", "/v1/tensors/npy", "/v1/tensors/stats"):
        first, second = client.post(path, json=request), client.post(path, json=request)
        assert first.status_code == 200
        assert first.content == second.content


def test_different_seeds_give_different_tensors(client: TestClient) -> None:
    a, _ = post_npy(client, tensor_request(seed=1))
    b, _ = post_npy(client, tensor_request(seed=2))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1, MAX_SEED])
def test_seed_bounds_are_accepted(client: TestClient, seed: int) -> None:
    assert post_json(client, tensor_request(seed=seed))["seed"] == seed


def test_absent_seed_is_chosen_returned_and_reproduces(client: TestClient) -> None:
    request = tensor_request([20, 10])
    del request["seed"]
    answer = post_json(client, request)
    seed = answer["seed"]
    assert isinstance(seed, int) and 0 <= seed <= MAX_SEED
    assert post_json(client, {**request, "seed": seed}) == answer
    assert post_json(client, {**request, "seed": None})["seed"] != seed  # null is absent: a new seed

    array, response = post_npy(client, request)
    npy_seed = int(response.headers["x-init-seed"])
    assert 0 <= npy_seed <= MAX_SEED and npy_seed != seed
    again, again_response = post_npy(client, {**request, "seed": npy_seed})
    assert again_response.content == response.content
    assert np.array_equal(array, again)


# -- dtypes ------------------------------------------------------------------------------------------------


def test_bfloat16_as_json_is_the_float32_tensor_rounded(client: TestClient) -> None:
    request = tensor_request([30, 20], init={"scheme": "glorot", "distribution": "normal"})
    bf16 = post_json(client, {**request, "dtype": "bfloat16"})
    f32 = post_json(client, {**request, "dtype": "float32"})
    assert bf16["dtype"] == "bfloat16"
    values = as_dtype(bf16["data"], "bfloat16")
    expected = np.array(f32["data"], dtype=np.float32).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(values.view(np.uint16), expected.view(np.uint16))
    # written as the bfloat16 widened to float32: parsed as float32, each is exactly the bfloat16 value
    np.testing.assert_array_equal(np.array(bf16["data"], dtype=np.float32), values.astype(np.float32))


def test_npy_refuses_bfloat16_pointing_to_json(client: TestClient) -> None:
    response = client.post("/v1/tensors/npy", json=tensor_request(dtype="bfloat16"))
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["field"] == "dtype"
    assert "JSON" in problem["detail"] and "bfloat16" in problem["detail"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_dtype_is_echoed(client: TestClient, dtype: str) -> None:
    assert post_json(client, tensor_request(dtype=dtype))["dtype"] == dtype


def test_default_dtype_and_layout(client: TestClient) -> None:
    answer = post_json(client, {"shape": [4, 2], "init": {"scheme": "he"}, "seed": 1})
    assert (answer["dtype"], answer["layout"]) == ("float32", "keras")


# -- fan_axes ------------------------------------------------------------------------------------------------


def test_fan_axes_fans_and_echo(client: TestClient) -> None:
    request = tensor_request([2, 3, 4, 5], fan_axes={"in_axis": 1, "out_axis": [3], "batch_axis": [0]})
    answer = post_json(client, request)
    assert (answer["fan_in"], answer["fan_out"]) == (3 * 4, 5 * 4)  # axis 2 is receptive field
    assert answer["layout"] is None
    assert answer["fan_axes"] == {"in_axis": [1], "out_axis": [3], "batch_axis": [0]}
    expected_variance = 2.0 / 12
    assert answer["stats"]["theoretical"]["variance"] == pytest.approx(expected_variance, rel=1e-15)


def test_fan_axes_defaults_and_negative_axes(client: TestClient) -> None:
    keras = post_npy(client, tensor_request([3, 3, 8, 16]))[1]
    as_axes = post_npy(client, tensor_request([3, 3, 8, 16], fan_axes={"in_axis": -2, "out_axis": -1}))[1]
    positive = post_npy(client, tensor_request([3, 3, 8, 16], fan_axes={"in_axis": [2], "out_axis": 3}))[1]
    assert as_axes.content == keras.content == positive.content
    assert as_axes.headers["x-init-fan-in"] == "72" and as_axes.headers["x-init-fan-out"] == "144"


def test_fan_axes_with_several_in_axes(client: TestClient) -> None:
    answer = post_json(client, tensor_request([2, 3, 4], fan_axes={"in_axis": [0, 1], "out_axis": 2}))
    assert (answer["fan_in"], answer["fan_out"]) == (6, 4)


@pytest.mark.parametrize("layout", ["keras", "torch"])
def test_fan_axes_with_explicit_layout_is_refused(client: TestClient, layout: str) -> None:
    request = tensor_request([4, 4], layout=layout, fan_axes={"in_axis": 0, "out_axis": 1})
    response = client.post("/v1/tensors", json=request)
    assert response.status_code == 422
    assert problem_of(response)["field"] == "fan_axes"


@pytest.mark.parametrize(
    "init", [{"scheme": "orthogonal"}, {"scheme": "identity"}, {"scheme": "sparse", "sparsity": 0.5}]
)
def test_fan_axes_with_shape_aware_scheme_is_refused(client: TestClient, init: dict[str, Any]) -> None:
    response = client.post(
        "/v1/tensors", json=tensor_request([4, 4], init=init, fan_axes={"in_axis": 0, "out_axis": 1})
    )
    assert response.status_code == 422
    assert problem_of(response)["field"] == "fan_axes"


def test_fan_axes_with_dirac_is_refused(client: TestClient) -> None:
    request = tensor_request([4, 4, 3], init={"scheme": "dirac"}, fan_axes={"in_axis": 1, "out_axis": 0})
    response = client.post("/v1/tensors", json=request)
    assert response.status_code == 422
    assert problem_of(response)["field"] == "fan_axes"


# -- size limits ------------------------------------------------------------------------------------------------


def test_json_element_limit_is_413_while_npy_and_stats_work() -> None:
    with app_client(max_json_elements=100) as c:
        at_limit = c.post("/v1/tensors", json=tensor_request([10, 10]))
        assert at_limit.status_code == 200
        over = c.post("/v1/tensors", json=tensor_request([11, 10]))
        assert over.status_code == 413
        problem = problem_of(over)
        assert problem["field"] == "shape"
        assert "100" in problem["detail"]
        npy = c.post("/v1/tensors/npy", json=tensor_request([11, 10]))
        assert npy.status_code == 200 and load_npy(npy.content).shape == (11, 10)
        assert c.post("/v1/tensors/stats", json=tensor_request([11, 10])).status_code == 200


def test_element_limit_applies_to_every_operation() -> None:
    with app_client(max_elements=1000, max_json_elements=1000) as c:
        for path in ("/v1/tensors", "/v1/tensors/npy", "/v1/tensors/stats"):
            assert c.post(path, json=tensor_request([10, 100])).status_code == 200
            response = c.post(path, json=tensor_request([10, 101]))
            assert response.status_code == 413, path
            assert problem_of(response)["field"] == "shape"
