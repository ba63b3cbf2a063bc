"""The OpenAPI document: the committed file is current and valid, and describes what generated clients need."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from service.cli import openapi_text
from service.core import MAX_RANK, MAX_SEED, SCHEMES
from service.core.frameworks import FRAMEWORK_INITS

from .helpers import REPO

SPEC_FILE = REPO / "openapi" / "openapi.json"
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPERATIONS = {
    ("/v1/tensors", "post"): "create_tensor",
    ("/v1/tensors/npy", "post"): "create_tensor_npy",
    ("/v1/tensors/stats", "post"): "create_tensor_stats",
    ("/v1/tensors/safetensors", "post"): "create_tensor_safetensors",
    ("/v1/models/safetensors", "post"): "create_model_safetensors",
    ("/v1/models/npz", "post"): "create_model_npz",
    ("/v1/models/stats", "post"): "create_model_stats",
    ("/v1/schemes", "get"): "list_schemes",
    ("/healthz", "get"): "get_health",
    ("/readyz", "get"): "get_readiness",
    ("/metrics", "get"): "get_metrics",
    ("/v1/diagnostics/propagation", "post"): "diagnose_propagation",
    ("/v1/diagnostics/propagation/svg", "post"): "diagnose_propagation_svg",
    ("/v1/tensors/{token}.npy", "get"): "get_tensor_npy",
    ("/v1/tensors/{token}.safetensors", "get"): "get_tensor_safetensors",
    ("/v1/tensors/{token}.json", "get"): "get_tensor_json",
    ("/v1/models/{token}.safetensors", "get"): "get_model_safetensors",
    ("/v1/models/{token}.npz", "get"): "get_model_npz",
}
TENSOR_OPERATIONS = ("/v1/tensors", "/v1/tensors/npy", "/v1/tensors/stats")
NPY_HEADERS = {
    "Content-Disposition",
    "X-Init-Seed",
    "X-Init-Fan-In",
    "X-Init-Fan-Out",
    "X-Init-Stream",
    "X-Init-Stream-Version",
    "X-Init-Theoretical-Variance",
    "X-Init-Empirical-Mean",
    "X-Init-Empirical-Variance",
    "X-Init-Variance-Ratio",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text())


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_committed_spec_is_current(spec: dict[str, Any]) -> None:
    assert spec == json.loads(openapi_text()), (
        "openapi/openapi.json is out of date with the code: run `initserve openapi` and commit the result"
    )


def test_served_spec_equals_the_committed_one(client: TestClient, spec: dict[str, Any]) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == spec


def test_spec_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_operation_has_an_explicit_operation_id(spec: dict[str, Any]) -> None:
    found = {(path, method): op.get("operationId") for path, method, op in operations(spec)}
    assert found == OPERATIONS
    for operation_id in found.values():
        # FastAPI's generated ids end with the path and method, e.g. create_tensor_v1_tensors_post
        assert not re.search(r"_(get|post|put|delete|patch)$", operation_id)


def test_error_answers_are_documented_as_problems(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"] == PROBLEM_CONTENT, (path, method, status)
                assert response["description"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "ValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize("path", TENSOR_OPERATIONS)
def test_tensor_operations_document_their_4xx(spec: dict[str, Any], path: str) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    assert {"400", "413", "415", "422"} <= set(responses)
    request_body = spec["paths"][path]["post"]["requestBody"]
    assert request_body["required"] is True
    model = "StatsRequest" if path == "/v1/tensors/stats" else "TensorRequest"  # StatsRequest adds histogram
    assert request_body["content"] == {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}


def test_problem_schema(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"title", "status", "detail"}
    assert {"type", "title", "status", "detail", "instance", "field"} <= set(problem["properties"])


def test_problem_errors_are_typed_field_errors(spec: dict[str, Any], client: TestClient) -> None:
    """Each item of ``errors`` is a FieldError schema, so generated clients type it (an untyped object
    became ``ProblemErrorsType0Item`` with only ``additional_properties`` in Python, ``{[key: string]:
    unknown}`` in TypeScript), and the service's answers have exactly its members."""
    schemas = spec["components"]["schemas"]
    errors = schemas["Problem"]["properties"]["errors"]["anyOf"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}} in errors
    assert "$defs" not in schemas["Problem"]
    field_error = schemas["FieldError"]
    assert set(field_error["required"]) == set(field_error["properties"]) == {"field", "message", "type"}
    assert all(field_error["properties"][name]["type"] == "string" for name in field_error["required"])
    refused = [
        client.post("/v1/tensors", json={"shape": [2, 2], "init": {"scheme": "he", "scale": 2}}),  # pydantic
        client.post("/v1/tensors", json={"shape": [2], "layout": "torch", "init": {"scheme": "he"}}),  # core
        client.post("/v1/tensors", json={"shape": [4096, 4096], "init": {"scheme": "zeros"}}),  # 413
    ]
    for response in refused:
        body = response.json()
        assert response.status_code in (413, 422) and body["errors"], body
        assert all(set(error) == {"field", "message", "type"} for error in body["errors"]), body
        assert all(isinstance(value, str) for error in body["errors"] for value in error.values()), body


def test_npy_operation_documents_only_binary_and_every_header(spec: dict[str, Any]) -> None:
    ok = spec["paths"]["/v1/tensors/npy"]["post"]["responses"]["200"]
    assert ok["content"] == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    assert set(ok["headers"]) == NPY_HEADERS
    for header in ok["headers"].values():
        assert header["description"] and header["schema"] == {"type": "string"}


@pytest.mark.parametrize(("path", "model"), [("/v1/tensors", "TensorAnswer"), ("/v1/tensors/stats", "StatsAnswer")])
def test_json_operations_document_one_json_answer(spec: dict[str, Any], path: str, model: str) -> None:
    ok = spec["paths"][path]["post"]["responses"]["200"]
    assert ok["content"] == {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}


def test_init_is_a_union_discriminated_by_a_required_scheme(spec: dict[str, Any]) -> None:
    init = spec["components"]["schemas"]["TensorRequest"]["properties"]["init"]
    assert init["discriminator"]["propertyName"] == "scheme"
    mapping = init["discriminator"]["mapping"]
    tags = {tag for scheme in SCHEMES.values() for tag in (scheme.name, *scheme.aliases)}
    tags |= {tag for entry in FRAMEWORK_INITS.values() for tag in (entry.name, *entry.aliases)}
    assert set(mapping) == tags
    members = [member["$ref"] for member in init["oneOf"]]
    assert len(members) == len(SCHEMES) + len(FRAMEWORK_INITS) and set(mapping.values()) == set(members)
    for ref in members:
        schema = resolve(spec, ref)
        assert "scheme" in schema["required"], ref
        assert schema["additionalProperties"] is False, ref
        scheme_property = schema["properties"]["scheme"]
        member_tags = scheme_property.get("enum") or [scheme_property["const"]]
        assert {tag for tag, target in mapping.items() if target == ref} == set(member_tags)
        assert "default" not in scheme_property


def test_request_schema_bounds(spec: dict[str, Any]) -> None:
    request = spec["components"]["schemas"]["TensorRequest"]
    assert set(request["required"]) == {"shape", "init"}
    assert request["additionalProperties"] is False
    shape = request["properties"]["shape"]
    assert shape["maxItems"] == MAX_RANK
    assert shape["items"] == {"type": "integer", "minimum": 1}
    seed = next(s for s in request["properties"]["seed"]["anyOf"] if s.get("type") == "integer")
    assert (seed["minimum"], seed["maximum"]) == (0, MAX_SEED)
    assert request["properties"]["dtype"]["enum"] == ["float32", "float64", "float16", "bfloat16"]
    assert request["properties"]["layout"]["enum"] == ["keras", "jax", "torch"]


def _schema_keys(node: Any, parent: str = "") -> Iterator[str]:
    """Every key used as a JSON Schema keyword (not the names in properties, mappings and the like)."""
    named_maps = {"properties", "mapping", "paths", "responses", "headers", "content", "schemas", "examples"}
    if isinstance(node, dict):
        for key, value in node.items():
            if parent not in named_maps:
                yield key
            if key not in {"examples", "example", "default"}:
                yield from _schema_keys(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_keys(item, parent)


def test_no_pydantic_constraint_keys(spec: dict[str, Any]) -> None:
    used = set(_schema_keys(spec))
    assert not used & {"ge", "le", "gt", "lt"}
    assert {"minimum", "exclusiveMinimum", "exclusiveMaximum"} <= used
