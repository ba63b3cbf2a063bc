"""GET /v1/schemes: the catalogue served equals the core's scheme table, and the table the contract."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.core import DTYPES, LAYOUTS, SCHEMES, STREAM_VERSION

DISTRIBUTIONS = ["uniform", "normal", "truncated_normal"]
MODES = ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
REQUIRED = object()

#: PRODUCT.md's table of schemes: field names and defaults, in order.
CONTRACT: dict[str, dict[str, Any]] = {
    "glorot": {"distribution": "uniform", "gain": 1.0},
    "he": {"distribution": "normal", "mode": "fan_in", "negative_slope": 0.0},
    "lecun": {"distribution": "normal"},
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
    "orthogonal": {"gain": 1.0},
    "identity": {"gain": 1.0},
    "dirac": {"groups": 1},
    "sparse": {"sparsity": REQUIRED, "std": 0.01},
    "constant": {"value": REQUIRED},
    "zeros": {},
    "ones": {},
    "normal": {"mean": 0.0, "std": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "truncated_normal": {"mean": 0.0, "std": 1.0, "low": -2.0, "high": 2.0},
}


@pytest.fixture(scope="module")
def catalogue(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/schemes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_top_level(catalogue: dict[str, Any]) -> None:
    assert set(catalogue) == {"schemes", "initializers", "presets", "layouts", "dtypes", "stream_version", "streams"}
    assert catalogue["streams"] == {
        "initserve-1": "1",
        "initserve-2": "2",
        "torch": "2.13.0",
        "torch-default": "2.13.0",
        "jax": "0.10.2",
        "keras": "3.15.1",
        "flax": "0.12.8",
    }
    assert catalogue["layouts"] == list(LAYOUTS) == ["keras", "jax", "torch"]
    assert catalogue["dtypes"] == list(DTYPES) == ["float32", "float64", "float16", "bfloat16"]
    assert catalogue["stream_version"] == STREAM_VERSION


def test_every_scheme_of_the_table_in_order(catalogue: dict[str, Any]) -> None:
    assert [entry["scheme"] for entry in catalogue["schemes"]] == list(SCHEMES)


@pytest.mark.parametrize("name", list(SCHEMES))
def test_entry_equals_the_table(catalogue: dict[str, Any], name: str) -> None:
    scheme = SCHEMES[name]
    entry = next(e for e in catalogue["schemes"] if e["scheme"] == name)
    assert entry == {
        "scheme": scheme.name,
        "aliases": list(scheme.aliases),
        "summary": scheme.summary,
        "formula": scheme.formula,
        "uses_fans": scheme.uses_fans,
        "shapes": scheme.shapes,
        "fields": [
            {
                "name": p.name,
                "type": p.kind,
                "required": p.required,
                "default": None if p.required else p.default,  # a required field has no default: null
                "choices": list(p.choices) if p.choices else None,
                "description": p.description,
            }
            for p in scheme.params
        ],
    }
    assert entry["summary"] and entry["formula"] and entry["shapes"]
    for f in entry["fields"]:
        assert f["description"]
        assert (f["default"] is None) == f["required"]
        assert (f["choices"] is not None) == (f["type"] == "choice")
        if f["choices"] is not None:
            assert f["default"] in f["choices"]


@pytest.mark.parametrize("name", list(CONTRACT))
def test_table_matches_the_contract(catalogue: dict[str, Any], name: str) -> None:
    entry = next(e for e in catalogue["schemes"] if e["scheme"] == name)
    fields = {f["name"]: f for f in entry["fields"]}
    assert list(fields) == list(CONTRACT[name])
    for field_name, default in CONTRACT[name].items():
        f = fields[field_name]
        if default is REQUIRED:
            assert f["required"] and f["default"] is None
        else:
            assert not f["required"]
            assert f["default"] == default and type(f["default"]) is type(default), f
        if field_name == "distribution":
            assert f["choices"] == DISTRIBUTIONS
        if field_name == "mode":
            assert f["choices"] == MODES


def test_aliases_and_fan_use(catalogue: dict[str, Any]) -> None:
    by_name = {e["scheme"]: e for e in catalogue["schemes"]}
    assert by_name["glorot"]["aliases"] == ["xavier"]
    assert by_name["he"]["aliases"] == ["kaiming"]
    assert {n for n, e in by_name.items() if e["aliases"]} == {"glorot", "he"}
    assert {n for n, e in by_name.items() if e["uses_fans"]} == {"glorot", "he", "lecun", "variance_scaling"}


def test_catalogue_is_stable(client: TestClient, catalogue: dict[str, Any]) -> None:
    assert client.get("/v1/schemes").json() == catalogue
