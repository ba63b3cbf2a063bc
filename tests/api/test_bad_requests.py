"""Bad requests: each is answered by the right 4xx as RFC 9457 ``application/problem+json``, with
``status`` equal to the HTTP status, a non-empty ``detail`` and, for validation errors, ``field``
naming the culprit as a dotted path. No error answer leaks a traceback or a file path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import OVER_BODY_LIMIT, app_client, load_npy, problem_of, tensor_request

OPERATIONS = ("/v1/tensors", "/v1/tensors/npy", "/v1/tensors/stats")
NO_FIELD = object()  # the problem has no ``field`` member (not a validation error of one field)


@dataclass(frozen=True)
class Case:
    """One bad request: a JSON value (``body``) or raw text (``raw``), sent to ``paths``."""

    id: str
    status: int | tuple[int, ...]
    culprit: object = NO_FIELD  # the expected dotted ``field``, or NO_FIELD
    body: Any = None
    raw: str | Callable[[], Iterator[bytes]] | None = None
    content_type: str | None = "application/json"
    method: str = "POST"
    paths: tuple[str, ...] = OPERATIONS
    xfail: str | None = None
    detail_has: tuple[str, ...] = ()


def init(scheme: str, **params: Any) -> dict[str, Any]:
    return tensor_request([4, 3], init={"scheme": scheme, **params})


def chunked(text: str) -> Callable[[], Iterator[bytes]]:
    """A body sent without Content-Length (a generator makes httpx use chunked transfer)."""

    def chunks() -> Iterator[bytes]:
        data = text.encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    return chunks


CASES: list[Case] = [
    # -- seeds
    Case("seed-true", 422, "seed", body=tensor_request(seed=True)),
    Case("seed-false", 422, "seed", body=tensor_request(seed=False)),
    Case("seed-string", 422, "seed", body=tensor_request(seed="3")),
    Case("seed-fraction", 422, "seed", body=tensor_request(seed=3.5)),
    Case("seed-negative", 422, "seed", body=tensor_request(seed=-1)),
    Case("seed-2**53", 422, "seed", body=tensor_request(seed=2**53)),
    Case("seed-2**64", 422, "seed", body=tensor_request(seed=2**64)),
    Case("seed-minus-infinity", 422, "seed", raw='{"shape":[2,2],"init":{"scheme":"he"},"seed":-Infinity}'),
    # -- shapes
    Case("shape-bool", 422, "shape.0", body=tensor_request([True])),
    Case("shape-string", 422, "shape.0", body=tensor_request(["3"])),
    Case("shape-zero-dim", 422, "shape.1", body=tensor_request([4, 0])),
    Case("shape-negative-dim", 422, "shape.0", body=tensor_request([-1])),
    Case("shape-fraction", 422, "shape.0", body=tensor_request([3.5, 2])),
    Case("shape-9-d", 422, "shape", body=tensor_request([1] * 9)),
    Case("shape-not-a-list", 422, "shape", body=tensor_request(3)),  # type: ignore[arg-type]
    Case("shape-null", 422, "shape", body={**tensor_request(), "shape": None}),
    Case("shape-missing", 422, "shape", body={"init": {"scheme": "he"}}),
    Case("shape-infinity", 422, "shape.0", raw='{"shape":[Infinity],"init":{"scheme":"he"}}'),
    Case("shape-huge", 413, "shape", body=tensor_request([1 << 15, 1 << 15]), detail_has=("limit",)),
    Case("shape-dims-10**30", 413, "shape", body=tensor_request([10**30, 10**30])),
    Case("shape-many-big-dims", 413, "shape", body=tensor_request([1 << 20] * 8)),
    # -- numbers in init
    Case("scale-true", 422, "init.scale", body=init("variance_scaling", scale=True)),
    Case("scale-string", 422, "init.scale", body=init("variance_scaling", scale="3")),
    Case("scale-negative", 422, "init.scale", body=init("variance_scaling", scale=-1.0)),
    Case("scale-zero", 422, "init.scale", body=init("variance_scaling", scale=0)),
    Case("gain-string", 422, "init.gain", body=init("glorot", gain="1")),
    Case("negative-slope-true", 422, "init.negative_slope", body=init("he", negative_slope=True)),
    Case("std-nan", 422, "init.std", raw='{"shape":[2,2],"init":{"scheme":"normal","std":NaN}}'),
    Case(
        "slope-infinity",
        422,
        "init.negative_slope",
        raw='{"shape":[2,2],"init":{"scheme":"he","negative_slope":Infinity}}',
    ),
    Case("value-overflows-1e400", 422, "init.value", raw='{"shape":[2],"init":{"scheme":"constant","value":1e400}}'),
    Case("normal-std-negative", 422, "init.std", body=init("normal", std=-1.0)),
    Case("constant-missing-value", 422, "init.value", body=init("constant")),
    Case("constant-value-null", 422, "init.value", body=init("constant", value=None)),
    Case("constant-too-big-for-float32", 422, "init", body=init("constant", value=1e300)),
    Case(
        "constant-too-big-for-float16",
        422,
        "init",
        body=tensor_request(init={"scheme": "constant", "value": 1e5}, dtype="float16"),
    ),
    # -- schemes and names
    Case("unknown-scheme", 422, "init.scheme", body=init("foo")),
    Case("missing-scheme-tag", 422, "init.scheme", body=tensor_request(init={"distribution": "normal"})),
    Case("uppercase-scheme-HE", 422, "init.scheme", body=init("HE")),
    Case("init-missing", 422, "init", body={"shape": [2, 2]}),
    Case("init-not-an-object", 422, "init", body=tensor_request(init="he")),
    Case("unknown-top-level-field", 422, "foo", body=tensor_request(foo=1)),
    Case("unknown-init-field", 422, "init.foo", body=init("he", foo=1)),
    # an unknown field is named as sent, whatever its case (a capitalised key is a common slip)
    Case("capitalised-top-level-field", 422, "Seed", body=tensor_request(Seed=1), detail_has=("Seed",)),
    Case("capitalised-init-field", 422, "init.Mode", body=init("he", Mode="fan_in"), detail_has=("init.Mode",)),
    Case(
        "capitalised-fan-axes-field",
        422,
        "fan_axes.Batch_axis",
        body=tensor_request(fan_axes={"in_axis": 0, "out_axis": 1, "Batch_axis": [1]}),
    ),
    Case("misspelled-scheme", 422, "init.scheme", body=init("glorrot"), detail_has=("did you mean 'glorot'?",)),
    Case("capitalised-scheme-He", 422, "init.scheme", body=init("He"), detail_has=("did you mean 'he'?",)),
    Case("field-of-another-scheme", 422, "init.gain", body=init("lecun", gain=1.0)),
    Case("unknown-layout", 422, "layout", body=tensor_request(layout="tf")),
    Case("uppercase-layout-Keras", 422, "layout", body=tensor_request(layout="Keras")),
    Case("layout-null", 422, "layout", body=tensor_request(layout=None)),
    Case("unknown-dtype", 422, "dtype", body=tensor_request(dtype="int8")),
    Case("uppercase-dtype", 422, "dtype", body=tensor_request(dtype="Float32")),
    Case("uppercase-distribution", 422, "init.distribution", body=init("he", distribution="Normal")),
    Case("unknown-mode", 422, "init.mode", body=init("he", mode="avg")),
    # -- shapes a scheme or layout refuses
    Case("torch-1-d-he", 422, "shape", body=tensor_request([5], layout="torch")),
    Case("torch-scalar-glorot", 422, "shape", body=tensor_request([], "glorot", layout="torch")),
    Case("jax-1-d-he", 422, "shape", body=tensor_request([5], layout="jax")),
    Case("dirac-2-d", 422, "shape", body=init("dirac")),
    Case("dirac-6-d", 422, "shape", body=tensor_request([2, 2, 1, 1, 1, 1], "dirac", layout="torch")),
    Case(
        "dirac-groups-not-dividing",
        422,
        "init.groups",
        body=tensor_request([6, 3, 3], init={"scheme": "dirac", "groups": 4}, layout="torch"),
    ),
    Case(
        "dirac-groups-zero",
        422,
        "init.groups",
        body=tensor_request([6, 3, 3], init={"scheme": "dirac", "groups": 0}, layout="torch"),
    ),
    Case(
        "dirac-groups-fraction",
        422,
        "init.groups",
        body=tensor_request([6, 3, 3], init={"scheme": "dirac", "groups": 1.5}, layout="torch"),
    ),
    Case("sparse-without-sparsity", 422, "init.sparsity", body=init("sparse")),
    Case("sparsity-1.0", 422, "init.sparsity", body=init("sparse", sparsity=1.0)),
    Case("sparsity-negative", 422, "init.sparsity", body=init("sparse", sparsity=-0.1)),
    Case("sparse-3-d", 422, "shape", body=tensor_request([2, 2, 2], init={"scheme": "sparse", "sparsity": 0.1})),
    Case("uniform-low-equals-high", 422, "init.low", body=init("uniform", low=1.0, high=1.0)),
    Case("uniform-low-above-high", 422, "init.low", body=init("uniform", low=2.0, high=1.0)),
    Case("truncated-normal-std-zero", 422, "init.std", body=init("truncated_normal", std=0.0)),
    Case("truncated-normal-low-above-high", 422, "init.low", body=init("truncated_normal", low=1.0, high=-1.0)),
    Case("truncated-normal-far-interval", 422, "init.high", body=init("truncated_normal", mean=100.0)),
    Case("identity-3-d", 422, "shape", body=tensor_request([2, 2, 2], "identity")),
    Case("orthogonal-1-d", 422, "shape", body=tensor_request([2], "orthogonal")),
    # -- schemes computed whole, in memory: at most 2^25 elements, under the 2^28 limit of .npy and stats
    # (/v1/tensors refuses more than 2^22 elements anyway)
    Case(
        "orthogonal-over-2**25",
        413,
        "shape",
        body=tensor_request([1, (1 << 25) + 1], "orthogonal"),
        paths=("/v1/tensors/npy", "/v1/tensors/stats"),
        detail_has=("computed whole", "2^25"),
    ),
    Case(
        "sparse-over-2**25",
        413,
        "shape",
        body=tensor_request([1 << 13, (1 << 12) + 1], init={"scheme": "sparse", "sparsity": 0.5}),
        paths=("/v1/tensors/npy", "/v1/tensors/stats"),
        detail_has=("computed whole", "2^25"),
    ),
    Case(
        "orthogonal-qr-work",
        413,
        "shape",
        body=tensor_request([4096, 8192], "orthogonal"),
        paths=("/v1/tensors/npy", "/v1/tensors/stats"),
        detail_has=("QR factorisation", "limit"),
    ),
    # -- fan_axes
    Case(
        "fan-axes-with-layout",
        422,
        "fan_axes",
        body=tensor_request(layout="keras", fan_axes={"in_axis": 0, "out_axis": 1}),
    ),
    Case(
        "fan-axes-with-orthogonal",
        422,
        "fan_axes",
        body=tensor_request(init={"scheme": "orthogonal"}, fan_axes={"in_axis": 0, "out_axis": 1}),
    ),
    Case("fan-axes-out-of-range", 422, "fan_axes.in_axis", body=tensor_request(fan_axes={"in_axis": 5, "out_axis": 1})),
    Case("fan-axes-repeated", 422, "fan_axes.out_axis", body=tensor_request(fan_axes={"in_axis": 0, "out_axis": -2})),
    Case("fan-axes-missing-out", 422, "fan_axes.out_axis", body=tensor_request(fan_axes={"in_axis": 0})),
    Case("fan-axes-empty-in", 422, "fan_axes.in_axis", body=tensor_request(fan_axes={"in_axis": [], "out_axis": 1})),
    Case(
        "fan-axes-unknown-field", 422, "fan_axes.x", body=tensor_request(fan_axes={"in_axis": 0, "out_axis": 1, "x": 1})
    ),
    Case("fan-axes-bool-axis", 422, "fan_axes.in_axis", body=tensor_request(fan_axes={"in_axis": True, "out_axis": 1})),
    # -- the body itself
    Case("body-is-a-list", 422, NO_FIELD, body=[1, 2]),
    Case("body-is-null", 422, NO_FIELD, raw="null"),
    Case("malformed-json", 400, NO_FIELD, raw='{"shape": [2, 2], "init": ', detail_has=("JSON",)),
    Case("malformed-json-trailing-comma", 400, NO_FIELD, raw='{"shape": [2, 2],}'),
    Case("json-nested-too-deep", 400, NO_FIELD, raw='{"shape":' + "[" * 20000 + "]" * 20000 + "}"),
    Case("empty-body", (400, 422), NO_FIELD, raw=""),
    Case(
        "text-plain",
        415,
        NO_FIELD,
        raw=json.dumps(tensor_request()),
        content_type="text/plain",
        detail_has=("application/json",),
    ),
    Case("form-urlencoded", 415, NO_FIELD, raw="shape=2", content_type="application/x-www-form-urlencoded"),
    Case("no-content-type", 415, NO_FIELD, raw=json.dumps(tensor_request()), content_type=None),
    Case("body-over-limit", 413, NO_FIELD, body=tensor_request(pad=OVER_BODY_LIMIT), detail_has=("bytes",)),
    Case("body-over-limit-chunked", 413, NO_FIELD, raw=chunked(json.dumps(tensor_request(pad=OVER_BODY_LIMIT)))),
    # -- routing
    Case("unknown-path", 404, NO_FIELD, method="GET", paths=("/v1/nope", "/v2/tensors")),
    Case(
        "npy-bfloat16",
        422,
        "dtype",
        body=tensor_request(dtype="bfloat16"),
        paths=("/v1/tensors/npy",),
        detail_has=("JSON",),
    ),
]


def send(client: TestClient, case: Case, path: str) -> Any:
    headers = {"content-type": case.content_type} if case.content_type else {}
    if case.raw is not None:
        content = case.raw() if callable(case.raw) else case.raw.encode()
        return client.request(case.method, path, content=content, headers=headers)
    if case.body is not None:
        return client.request(case.method, path, content=json.dumps(case.body).encode(), headers=headers)
    return client.request(case.method, path, headers=headers)


def assert_no_leak(text: str) -> None:
    """No traceback, source file, path or internal name in an answer meant for a client."""
    assert "Traceback" not in text
    assert not re.search(r"\.py\b|/work/|site-packages|File \"", text), text


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """Server errors come back as answers (500 problem+json), not as exceptions in the test."""
    with app_client(raise_server_exceptions=False) as c:
        yield c


def _params() -> list[Any]:
    params = []
    for case in CASES:
        for path in case.paths:
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
            params.append(pytest.param(case, path, id=f"{case.id}-{path}", marks=marks))
    return params


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 35
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "path"), _params())
def test_bad_request(client: TestClient, case: Case, path: str) -> None:
    response = send(client, case, path)
    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert response.status_code in expected, response.text
    problem = problem_of(response)
    assert problem["title"] and problem["type"] == "about:blank"
    assert problem["request_id"] == response.headers["x-request-id"]
    if case.culprit is NO_FIELD:
        assert problem.get("field") is None, problem
    else:
        assert problem["field"] == case.culprit, problem
        assert problem["errors"][0]["field"] == case.culprit
    for needle in case.detail_has:
        assert needle in problem["detail"], problem
    assert_no_leak(response.text)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/tensors", "POST"),
        ("PUT", "/v1/tensors/npy", "POST"),
        ("DELETE", "/v1/tensors/stats", "POST"),
        ("POST", "/v1/schemes", "GET"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    problem_of(response)
    assert_no_leak(response.text)


def test_every_validation_error_is_listed(client: TestClient) -> None:
    body = {"shape": [0, -1], "init": {"scheme": "he", "mode": "x"}, "seed": -1, "dtype": "int8"}
    response = client.post("/v1/tensors", json=body)
    problem = problem_of(response)
    assert response.status_code == 422
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"shape.0", "shape.1", "init.mode", "seed", "dtype"}
    assert all(error["message"] and error["type"] for error in problem["errors"])
    assert problem["field"] in fields
    assert "more" in problem["detail"]


def test_bad_input_never_takes_the_service_down(client: TestClient) -> None:
    for case in CASES[:20]:
        send(client, case, "/v1/tensors")
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/tensors", json=tensor_request()).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field_if_refused"),
    [
        pytest.param(tensor_request(init={"scheme": "variance_scaling", "scale": 1e-320}), 200, None, id="tiny-scale"),
        pytest.param(tensor_request(init={"scheme": "truncated_normal", "std": 1e-300}), 200, None, id="tiny-std"),
        pytest.param(tensor_request(init={"scheme": "he", "negative_slope": 1e200}), 422, "init", id="huge-slope"),
        pytest.param(tensor_request(init={"scheme": "normal", "std": 1e30}), 200, None, id="std-1e30-float32"),
        pytest.param(
            tensor_request(init={"scheme": "uniform", "low": -1e200, "high": 1e200}, dtype="float64"),
            422,
            "init",
            id="uniform-1e200-float64",
        ),
        pytest.param(
            tensor_request(init={"scheme": "normal", "std": 1e150}, dtype="float64"),
            422,
            "init",
            id="std-1e150-float64",  # reaches 1e151 (10 std): over the 1e150 served in float64
        ),
        pytest.param(
            tensor_request(init={"scheme": "glorot", "gain": 0.0, "distribution": "uniform"}), 200, None, id="gain-0"
        ),
        pytest.param(
            tensor_request(init={"scheme": "normal", "std": 1e100}, dtype="float64"), 200, None, id="std-1e100-float64"
        ),
        pytest.param(
            tensor_request(init={"scheme": "identity", "gain": 1e100}, dtype="float64"),
            200,
            None,
            id="identity-gain-1e100-float64",
        ),
        pytest.param(
            tensor_request(init={"scheme": "glorot", "gain": 0.0, "distribution": "truncated_normal"}),
            200,
            None,
            id="gain-0-truncated",
        ),
    ],
)
def test_extreme_parameters_are_answered_or_refused_by_field(
    client: TestClient, body: dict[str, Any], status: int, field_if_refused: str | None
) -> None:
    """Never a 5xx: a tensor with finite statistics, or a 422 naming a field of the request."""
    for path in OPERATIONS:
        response = send(client, Case("extreme", 422, body=body), path)
        assert response.status_code == status, response.text
        if status == 422:
            problem = problem_of(response)
            assert problem["field"] == field_if_refused
            assert "Numerical result" not in problem["detail"]  # no errno tuple of an OverflowError
        elif path != "/v1/tensors/npy":
            stats = response.json()["stats"]
            assert all(value is not None for value in stats["empirical"].values()), stats
        assert_no_leak(response.text)


@pytest.mark.parametrize("path", OPERATIONS)
def test_narrow_truncated_normal_is_answered(path: str) -> None:
    """A truncated normal on [-1e-20, 1e-20] (std 1) is, to rounding, U(-1e-20, 1e-20): variance 1e-40 / 3."""
    with app_client(raise_server_exceptions=False) as c:
        response = c.post(path, json=init("truncated_normal", low=-1e-20, high=1e-20))
    assert response.status_code == 200, response.text
    if path == "/v1/tensors/npy":
        variance = float(response.headers["x-init-theoretical-variance"])
        values = load_npy(response.content)
        assert (values >= -1e-20).all() and (values <= 1e-20).all()
    else:
        theoretical = response.json()["stats"]["theoretical"]
        assert theoretical["mean"] == 0.0
        assert (theoretical["low"], theoretical["high"]) == (-1e-20, 1e-20)
        variance = theoretical["variance"]
        if path == "/v1/tensors":
            assert all(-1e-20 <= value <= 1e-20 for value in response.json()["data"])
    assert variance == pytest.approx(1e-40 / 3.0, rel=1e-14)


def test_body_limit_is_a_setting() -> None:
    body = json.dumps(tensor_request(pad="x" * 2000)).encode()
    with app_client(max_body_bytes=1024) as c:
        for content in (body, iter([body[:1000], body[1000:]])):
            response = c.post("/v1/tensors", content=content, headers={"content-type": "application/json"})
            assert response.status_code == 413
            assert "1024" in problem_of(response)["detail"]
        small = json.dumps(tensor_request()).encode()
        ok = c.post("/v1/tensors", content=small, headers={"content-type": "application/json"})
        assert ok.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field", "suggestion"),
    [
        ("/v1/tensors", tensor_request(init={"scheme": "glorrot"}), "init.scheme", "'glorot'"),
        ("/v1/tensors/npy", tensor_request(init={"scheme": "HE"}), "init.scheme", "'he'"),
        (
            "/v1/tensors",
            tensor_request(init={"scheme": "torch.kaiming_uniform"}),
            "init.scheme",
            "'torch.kaiming_uniform_'",
        ),
        (
            "/v1/models/stats",
            {"entries": [{"preset": "torch.Linaer", "in_features": 2, "out_features": 3}], "seed": 1},
            "entries.0.preset",
            "'torch.Linear'",
        ),
        (
            "/v1/diagnostics/propagation",
            {"depth": 2, "width": 4, "activation": "relu", "compare": [{"scheme": "he"}, {"scheme": "lecunn"}]},
            "compare.1.scheme",
            "'lecun'",
        ),
        ("/v1/tensors", tensor_request(init={"scheme": "x" * 5000}), "init.scheme", None),
    ],
)
def test_an_unknown_name_gets_a_short_detail_with_the_closest_names(
    client: TestClient, path: str, body: dict[str, Any], field: str, suggestion: str | None
) -> None:
    """Not the ~90 valid tags (1,700 characters) but the closest ones, and where the full list is."""
    problem = problem_of(client.post(path, json=body))
    assert problem["field"] == field
    assert len(problem["detail"]) <= 300 and len(problem["errors"][0]["message"]) <= 300, problem
    assert "GET /v1/schemes" in problem["detail"]
    if suggestion:
        assert f"did you mean {suggestion}" in problem["detail"], problem
    else:
        assert "did you mean" not in problem["detail"]
