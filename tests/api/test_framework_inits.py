"""Framework-named initializers over HTTP: accepted with their own fields, echoed, laid out as their framework."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.frameworks import FRAMEWORK_ALIASES, FRAMEWORK_INITS

#: Required fields and a shape each initializer accepts in its framework's layout.
REQUIRED: dict[str, dict[str, Any]] = {
    "torch.constant_": {"val": 0.5},
    "torch.sparse_": {"sparsity": 0.25},
    "jax.constant": {"value": 2.0},
    "jax.variance_scaling": {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
}
SHAPES: dict[str, list[int]] = {
    "torch.dirac_": [4, 4, 3],
    "jax.delta_orthogonal": [3, 4, 6],
    "keras.Identity": [3, 5],
    "torch.eye_": [3, 5],
    "keras.STFT": [8, 1, 5],
}


def _body(name: str, **extra: Any) -> dict[str, Any]:
    canonical = FRAMEWORK_ALIASES.get(name, name)
    init = {"scheme": name, **REQUIRED.get(canonical, {})}
    return {"shape": SHAPES.get(canonical, [12, 8]), "init": init, "seed": 3, **extra}


@pytest.mark.parametrize("name", [*FRAMEWORK_INITS, *FRAMEWORK_ALIASES])
def test_every_initializer_is_served_and_echoed(client: TestClient, name: str) -> None:
    answer = client.post("/v1/tensors", json=_body(name))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    requested = body["requested_init"]
    assert requested["scheme"] == FRAMEWORK_ALIASES.get(name, name)  # an alias is echoed canonical
    entry = FRAMEWORK_INITS[FRAMEWORK_ALIASES.get(name, name)]
    assert set(requested) == {"scheme", *(p.name for p in entry.params)}  # every default filled in
    assert body["init"]["scheme"] in {"glorot", "he", "lecun", "variance_scaling"} | {
        "orthogonal",
        "delta_orthogonal",
        "stft",
        "identity",
        "dirac",
        "sparse",
        "constant",
        "zeros",
        "ones",
        "normal",
        "uniform",
        "truncated_normal",
    }
    assert body["layout"] == entry.framework


def test_same_bytes_as_the_canonical_expansion(client: TestClient) -> None:
    """The .npy of a framework-named init equals the .npy of the canonical init it echoes."""
    for name, params, shape in [
        ("torch.kaiming_uniform_", {"a": 5**0.5}, [256, 784]),
        ("keras.GlorotNormal", {}, [3, 3, 16, 32]),
        ("jax.truncated_normal", {"stddev": 0.02}, [100]),
    ]:
        body = {"shape": shape, "init": {"scheme": name, **params}, "seed": 11}
        stats = client.post("/v1/tensors/stats", json=body).json()
        canonical = {"shape": shape, "init": stats["init"], "seed": 11, "layout": stats["layout"]}
        first = client.post("/v1/tensors/npy", json=body)
        second = client.post("/v1/tensors/npy", json=canonical)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert first.headers.get("X-Init-Fan-In") == second.headers.get("X-Init-Fan-In")


def test_torch_names_read_the_shape_as_torch_unless_told(client: TestClient) -> None:
    """torch.* default to the torch layout: (256, 784) is a Linear(784, 256) weight."""
    body = {"shape": [256, 784], "init": {"scheme": "torch.kaiming_uniform_", "a": 5**0.5}, "seed": 0}
    answer = client.post("/v1/tensors/stats", json=body).json()
    assert (answer["layout"], answer["fan_in"], answer["fan_out"]) == ("torch", 784, 256)
    assert answer["stats"]["theoretical"]["high"] == pytest.approx(1 / 28, abs=5e-7)  # anchors §7.4
    keras = client.post("/v1/tensors/stats", json={**body, "layout": "keras"}).json()
    assert (keras["layout"], keras["fan_in"]) == ("keras", 256)


def test_axis_parameters_give_fan_axes(client: TestClient) -> None:
    body = {"shape": [8, 3, 3, 64, 128], "init": {"scheme": "jax.he_normal", "batch_axis": [0]}, "seed": 0}
    answer = client.post("/v1/tensors/stats", json=body).json()
    assert answer["layout"] is None
    assert answer["fan_axes"] == {"in_axis": [-2], "out_axis": [-1], "batch_axis": [0]}
    assert (answer["fan_in"], answer["fan_out"]) == (576, 1152)  # anchors §3.2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shape": [8, 3], "layout": "torch", "init": {"scheme": "jax.he_normal", "in_axis": 1}}, "layout"),
        ({"shape": [8, 3], "init": {"scheme": "jax.he_normal", "in_axis": 5}}, "init.in_axis"),
        ({"shape": [8, 3], "init": {"scheme": "keras.HeNormal", "input_axes": [0]}}, "init.output_axes"),
        ({"shape": [8, 3], "init": {"scheme": "torch.kaiming_normal_", "mode": "fan_avg"}}, "init.mode"),
        ({"shape": [8, 3], "init": {"scheme": "torch.kaiming_normal_", "gain": 2}}, "init.gain"),
        ({"shape": [8, 3], "init": {"scheme": "keras.GlorotUniform", "seed": 1}}, "init.seed"),
        ({"shape": [8, 3], "init": {"scheme": "torch.xavier_uniform_", "gain": "2"}}, "init.gain"),
        ({"shape": [8], "init": {"scheme": "torch.xavier_uniform_"}}, "shape"),
        ({"shape": [8, 3], "init": {"scheme": "torch.nope_"}}, "init.scheme"),
    ],
)
def test_bad_framework_fields_are_422_naming_them(client: TestClient, body: dict[str, Any], field: str) -> None:
    answer = client.post("/v1/tensors/stats", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


def test_catalogue_lists_framework_initializers(client: TestClient) -> None:
    catalogue = client.get("/v1/schemes").json()
    entries = {entry["name"]: entry for entry in catalogue["initializers"]}
    assert set(entries) == set(FRAMEWORK_INITS)
    kaiming = entries["torch.kaiming_uniform_"]
    assert kaiming["layout"] == "torch"
    assert kaiming["default_expansion"] == {
        "scheme": "he",
        "distribution": "uniform",
        "mode": "fan_in",
        "negative_slope": 0.0,
    }
    assert [f["name"] for f in kaiming["fields"]] == ["a", "mode", "nonlinearity"]
    assert entries["jax.variance_scaling"]["default_expansion"] is None  # scale, mode, distribution are required
    assert "4 candidates" in entries["keras.TruncatedNormal"]["notes"]


def test_npy_of_a_framework_init_loads(client: TestClient) -> None:
    answer = client.post("/v1/tensors/npy", json=_body("keras.HeUniform"))
    array = np.load(io.BytesIO(answer.content))
    assert array.shape == (12, 8) and np.abs(array).max() <= (6 / 12) ** 0.5
