"""POST /v1/diagnostics/propagation (JSON) and /v1/diagnostics/propagation/svg over HTTP."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import runtime as runtime_module
from service.core import STREAM_VERSION
from service.main import create_app
from service.settings import Settings

from .helpers import OLD_HEURISTIC

PROBLEM = "application/problem+json"
JSON_PATH, SVG_PATH = "/v1/diagnostics/propagation", "/v1/diagnostics/propagation/svg"
SVG_NS = "{http://www.w3.org/2000/svg}"
#: Small enough to keep the tests quick; the textbook-size network is tested in the core (test_textbook.py).
SMALL = {"depth": 12, "width": 64, "batch": 32, "seed": 5}
COMPARE = {**SMALL, "activation": "relu", "compare": [{"scheme": "he"}, {"scheme": "glorot"}, {"scheme": "lecun"}]}


@contextmanager
def app_client(**overrides: Any) -> Iterator[TestClient]:
    app = create_app(Settings(**{"threads": 2, "access_log": False, "warm_streams": False, **overrides}))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with app_client() as c:
        yield c


def problem_of(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == PROBLEM, response.text
    body = json.loads(response.content)
    assert body["status"] == response.status_code and body["detail"], body
    return body


# -- the JSON answer --------------------------------------------------------------------------------


def test_compare_answer(client: TestClient) -> None:
    response = client.post(JSON_PATH, json=COMPARE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["widths"] == [64] * 13 and body["depth"] == 12
    assert (body["activation"], body["negative_slope"], body["batch"], body["seed"]) == ("relu", None, 32, 5)
    assert body["dtype"] == "float32" and body["stream_version"] == STREAM_VERSION
    assert body["thresholds"] == {"vanishing_below": 0.9, "exploding_above": 1.1}
    assert [run["init"]["scheme"] for run in body["runs"]] == ["he", "glorot", "lecun"]
    he_init = {"scheme": "he", "distribution": "normal", "mode": "fan_in", "negative_slope": 0.0}
    assert body["runs"][0]["init"] == he_init
    assert body["recommendation"] == {"index": 0, "init": body["runs"][0]["init"]}
    he, glorot, _ = body["runs"]
    assert he["forward"]["verdict"] == "stable" and glorot["forward"]["verdict"] == "vanishing"
    assert glorot["backward"]["verdict"] == "vanishing"
    assert he["distance"] < glorot["distance"]
    layer = he["layers"][0]
    assert set(layer) == {
        "layer",
        "fan_in",
        "fan_out",
        "seed",
        "pre_activation",
        "activation",
        "pre_activation_grad",
        "weight_grad",
    }
    for key in ("pre_activation", "activation", "pre_activation_grad", "weight_grad"):
        assert set(layer[key]) == {"mean", "variance", "relative"}
        assert layer[key]["relative"] == 1.0
    assert [layer["layer"] for layer in he["layers"]] == list(range(1, 13))


def test_the_layer_seed_fetches_the_same_weights(client: TestClient) -> None:
    """A layer's seed, with POST /v1/tensors, gives the weights the diagnostics used."""
    body = {"widths": [6, 5, 4], "activation": "linear", "init": {"scheme": "glorot"}, "batch": 3, "seed": 9}
    answer = client.post(JSON_PATH, json=body).json()
    layer = answer["runs"][0]["layers"][0]
    tensor = client.post("/v1/tensors", json={"shape": [6, 5], "init": {"scheme": "glorot"}, "seed": layer["seed"]})
    import numpy as np

    from service.core.diagnostics import data_generator

    x = data_generator(9, 0).standard_normal((3, 6))
    w = np.array(tensor.json()["data"], dtype=np.float32).reshape(6, 5).astype(np.float64)
    assert layer["pre_activation"]["variance"] == pytest.approx((x @ w).var(), rel=1e-12)


def test_one_scheme_has_no_recommendation_and_echoes_the_slope(client: TestClient) -> None:
    body = {**SMALL, "activation": "leaky_relu", "init": {"scheme": "kaiming", "negative_slope": 0.2}}
    answer = client.post(JSON_PATH, json=body).json()
    assert answer["recommendation"] is None
    assert answer["negative_slope"] == 0.01  # the activation's default slope; the init's is its own
    assert answer["runs"][0]["init"]["scheme"] == "he" and answer["runs"][0]["init"]["negative_slope"] == 0.2
    body["negative_slope"] = 0.2
    assert client.post(JSON_PATH, json=body).json()["negative_slope"] == 0.2


def test_same_request_same_answer_and_a_seed_is_picked_when_absent(client: TestClient) -> None:
    first = client.post(JSON_PATH, json=COMPARE)
    again = client.post(JSON_PATH, json=COMPARE)
    assert first.content == again.content
    unseeded = {k: v for k, v in COMPARE.items() if k != "seed"}
    picked = client.post(JSON_PATH, json=unseeded).json()
    assert isinstance(picked["seed"], int)
    replay = client.post(JSON_PATH, json={**unseeded, "seed": picked["seed"]}).json()
    assert replay == picked


def test_the_textbook_verdicts_over_http(client: TestClient) -> None:
    """docs/diagnostics.md's requests, at a smaller width and batch (the core tests hold the full-size claims)."""
    base = {"depth": 50, "width": 128, "batch": 32, "seed": 1}
    old_scheme, old_params = OLD_HEURISTIC
    cases = [
        ("relu", {"scheme": "he"}, "stable", "stable"),
        ("relu", {"scheme": "glorot"}, "vanishing", "vanishing"),
        ("tanh", {"scheme": "normal"}, "stable", "exploding"),
        ("tanh", {"scheme": old_scheme, **old_params}, "vanishing", "vanishing"),
        ("selu", {"scheme": "lecun"}, "stable", "stable"),
    ]
    for act, init, forward, backward in cases:
        run = client.post(JSON_PATH, json={**base, "activation": act, "init": init}).json()["runs"][0]
        verdicts = (run["forward"]["verdict"], run["backward"]["verdict"])
        assert verdicts == (forward, backward), (act, init, run["forward"], run["backward"])


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"activation": "softplus"}, "activation"),
        ({"activation": None}, "activation"),
        ({"negative_slope": 0.1}, "negative_slope"),
        ({"negative_slope": "0.1", "activation": "leaky_relu"}, "negative_slope"),
        ({"depth": 1}, "depth"),
        ({"depth": 1001}, "depth"),
        ({"depth": True}, "depth"),
        ({"width": 0}, "width"),
        ({"width": None}, "width"),
        ({"widths": [8, 8, 8]}, "widths"),
        ({"batch": 0}, "batch"),
        ({"seed": -1}, "seed"),
        ({"dtype": "int8"}, "dtype"),
        ({"color": "red"}, "color"),
        ({"compare": [{"scheme": "he"}]}, "compare"),
        ({"compare": [{"scheme": "he"}] * 9}, "compare"),
        ({"compare": [{"scheme": "he", "mode": "fan_sideways"}, {"scheme": "glorot"}]}, "compare.0.mode"),
        ({"compare": [{"scheme": "he"}, {"scheme": "glorot", "scale": 2}]}, "compare.1.scale"),
        ({"compare": [{"scheme": "he"}, {"name": "glorot"}]}, "compare.1.scheme"),
        ({"compare": [{"scheme": "he"}, {"scheme": "uniform", "low": 1, "high": 0}]}, "compare.1.low"),
        ({"compare": [{"scheme": "he"}, {"scheme": "dirac"}]}, "compare.1"),
        ({"init": {"scheme": "he"}}, "compare"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client: TestClient, change: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**COMPARE, **change}.items() if v is not None}
    response = client.post(JSON_PATH, json=body)
    assert response.status_code == 422, response.text
    assert problem_of(response)["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"activation": "relu", "init": {"scheme": "he"}}, "depth"),
        ({"activation": "relu", "depth": 4, "init": {"scheme": "he"}}, "width"),
        ({"activation": "relu", "depth": 4, "width": 8}, "init"),
        ({"activation": "relu", "depth": 4, "width": 8, "init": {"scheme": "sparse"}}, "init.sparsity"),
        ({"activation": "relu", "depth": 4, "width": 8, "init": {"scheme": "dirac"}}, "init"),
        ({"activation": "relu", "depth": 4, "width": 8, "init": {"scheme": "kaiming", "gain": 2}}, "init.gain"),
        ({"activation": "relu", "depth": 4, "width": 8, "init": {"scheme": "truncated_normal", "low": 3}}, "init.low"),
    ],
)
def test_shape_and_scheme_choices_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post(JSON_PATH, json=body)
    assert response.status_code == 422, response.text
    assert problem_of(response)["field"] == field


def test_cost_over_the_limit_is_413_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the request was measured despite its cost")

    cost = 12 * 64 * 64 * 32  # depth x width^2 x batch
    with app_client(max_diagnostics_cost=3 * cost) as client:
        assert client.post(JSON_PATH, json=COMPARE).status_code == 200  # exactly at the limit
        monkeypatch.setattr(runtime_module, "measure", no_work)
        for path in (JSON_PATH, SVG_PATH):
            response = client.post(path, json={**COMPARE, "batch": 33})
            assert response.status_code == 413
            problem = problem_of(response)
            assert f"over the limit of {3 * cost}" in problem["detail"]
            assert "field" not in problem  # the request as a whole, not one field
            assert [error["field"] for error in problem["errors"]] == [""]  # as FieldError documents it
        four = {**COMPARE, "compare": [*COMPARE["compare"], {"scheme": "orthogonal"}]}
        assert client.post(JSON_PATH, json=four).status_code == 413  # the schemes count
        huge = {"depth": 1000, "width": 8192, "batch": 65536, "activation": "relu", "init": {"scheme": "he"}}
        assert client.post(JSON_PATH, json=huge).status_code == 413


def test_memory_over_the_limit_is_413() -> None:
    with app_client(max_diagnostics_bytes=1 << 20) as client:
        response = client.post(JSON_PATH, json={**COMPARE, "batch": 1024})  # 8 KiB of float64 per sample
        assert response.status_code == 413
        assert "bytes" in problem_of(response)["detail"]


# -- the SVG chart ---------------------------------------------------------------------------------


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()).strip() for element in root.iter(f"{SVG_NS}text")]


def test_svg_chart(client: TestClient) -> None:
    body = {**COMPARE, "depth": 20}
    response = client.post(SVG_PATH, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # well-formed XML
    assert root.tag == f"{SVG_NS}svg"
    assert float(root.get("width", "0").removesuffix("pt")) > 500
    texts = _texts(root)
    joined = "\n".join(texts)
    assert "Signal propagation: 20 layers of width 64, relu, batch 32, seed 5" in texts
    assert "Forward: variance of the pre-activations z" in texts
    assert "Backward: variance of the gradients ∂Loss/∂z" in texts
    assert "layer (input side to output side)" in texts
    assert "layer (from the output, layer L, back to layer 1)" in texts
    assert "variance relative to where the pass starts (log scale)" in texts
    assert "stable band: gain 0.9 to 1.1 per layer" in texts
    legend = [t for t in texts if t.startswith(("he (", "glorot (", "lecun ("))]
    assert len(legend) == 3, joined
    assert legend[0].startswith("he (normal, fan_in, negative_slope=0): forward \u00d7")
    assert legend[0].endswith("← recommended") and "stable" in legend[0]
    assert "vanishing" in legend[1] and "vanishing" in legend[2]
    assert len(root.findall(f".//{SVG_NS}path")) > 20  # lines, markers, axes


def test_svg_is_deterministic(client: TestClient) -> None:
    body = {**SMALL, "activation": "tanh", "compare": [{"scheme": "normal"}, {"scheme": "glorot"}]}
    first = client.post(SVG_PATH, json=body)
    assert first.status_code == 200
    assert client.post(SVG_PATH, json=body).content == first.content
    other = client.post(SVG_PATH, json={**body, "seed": 6})
    assert other.content != first.content


def test_svg_of_an_overflowing_network(client: TestClient) -> None:
    body = {"widths": [32] * 81, "batch": 8, "seed": 1, "activation": "relu", "init": {"scheme": "normal", "std": 100}}
    answer = client.post(JSON_PATH, json=body).json()
    assert answer["runs"][0]["forward"] == {"gain": None, "verdict": "exploding"}
    assert answer["runs"][0]["backward"] == {"gain": None, "verdict": None}
    assert answer["runs"][0]["distance"] is None
    response = client.post(SVG_PATH, json=body)
    assert response.status_code == 200
    legend = [t for t in _texts(ET.fromstring(response.content)) if t.startswith("normal (")]
    assert legend == ["normal (mean=0, std=100): forward exploding; backward not measured"]


def test_svg_without_matplotlib_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a read-only container without a writable /tmp, where matplotlib cannot start."""
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_svg", None)
    response = client.post(SVG_PATH, json=COMPARE)
    assert response.status_code == 503
    assert "JSON operation works" in problem_of(response)["detail"]
    assert client.post(JSON_PATH, json=COMPARE).status_code == 200


# -- OpenAPI ---------------------------------------------------------------------------------------


def test_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    json_op = spec["paths"][JSON_PATH]["post"]
    svg_op = spec["paths"][SVG_PATH]["post"]
    assert json_op["operationId"] == "diagnose_propagation"
    assert svg_op["operationId"] == "diagnose_propagation_svg"
    request = {"application/json": {"schema": {"$ref": "#/components/schemas/PropagationRequest"}}}
    assert json_op["requestBody"]["content"] == svg_op["requestBody"]["content"] == request
    assert json_op["responses"]["200"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/PropagationAnswer"}}
    }
    assert svg_op["responses"]["200"]["content"] == {"image/svg+xml": {"schema": {"type": "string"}}}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for op, statuses in ((json_op, {"400", "413", "415", "422"}), (svg_op, {"400", "413", "415", "422", "503"})):
        assert statuses <= set(op["responses"])
        assert all(op["responses"][s]["content"] == problem for s in statuses)
    schema = spec["components"]["schemas"]["PropagationRequest"]
    assert schema["additionalProperties"] is False and schema["required"] == ["activation"]
    compare = next(s for s in schema["properties"]["compare"]["anyOf"] if s.get("type") == "array")
    assert compare["items"]["discriminator"]["propertyName"] == "scheme"
    assert (compare["minItems"], compare["maxItems"]) == (2, 8)
    assert schema["properties"]["activation"]["enum"] == [
        "linear",
        "relu",
        "leaky_relu",
        "tanh",
        "sigmoid",
        "selu",
        "gelu",
        "swish",
    ]
