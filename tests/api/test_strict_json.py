"""Strict JSON bodies: a duplicate key anywhere is a 422 naming it where it is, seeds are JSON integers
(``1.0``, ``-0.0``, ``1e3`` refused on ``seed``), on every operation that takes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.strict_json import duplicate_key

from .helpers import app_client, problem_of

MODEL = '{"entries": [{"name": "w", "shape": [2, 2], "init": {"scheme": "he"}}], "seed": 1}'
DIAGNOSTICS = '{"depth": 2, "width": 8, "activation": "relu", "init": {"scheme": "he"}, "batch": 4, "seed": 1}'
TENSOR = '{"shape": [2, 2], "init": {"scheme": "he"}, "seed": 1}'


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with app_client(raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, path: str, text: str, content_type: str = "application/json") -> Any:
    return client.post(path, content=text.encode(), headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1, "a": 2}', "a"),
        ('{"init": {"scheme": "he", "scheme": "orthogonal"}}', "init.scheme"),
        ('{"entries": [{"name": "a"}, {"name": "b", "init": {}, "name": "c"}]}', "entries.1.name"),
        ('[[{"x": {"y": 1, "y": 1}}]]', "0.0.x.y"),
        ('{"a": {"b": 1}, "c": [1, {"d": 2, "d": 3}]}', "c.1.d"),
    ],
)
def test_the_duplicate_is_found_where_it_is(text: str, where: str) -> None:
    assert duplicate_key(text.encode()) == where


@pytest.mark.parametrize("text", ['{"a": 1, "b": {"a": 1}}', '{"a": 1', "[1, 2]", '"x"', "not json", "{}"])
def test_no_duplicate(text: str) -> None:
    assert duplicate_key(text.encode()) is None


@pytest.mark.parametrize(
    ("path", "text", "where"),
    [
        ("/v1/tensors", TENSOR.replace('"he"}', '"he", "scheme": "orthogonal"}'), "init.scheme"),
        ("/v1/tensors/npy", TENSOR.replace('"seed": 1', '"seed": 1, "seed": 2'), "seed"),
        ("/v1/models/stats", MODEL.replace('"name": "w"', '"name": "w", "name": "v"'), "entries.0.name"),
        ("/v1/diagnostics/propagation", DIAGNOSTICS.replace('"depth": 2', '"depth": 2, "depth": 3'), "depth"),
    ],
)
def test_a_duplicate_key_is_422_naming_it(client: TestClient, path: str, text: str, where: str) -> None:
    response = post(client, path, text)
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["field"] == where and problem["errors"][0]["type"] == "duplicate_key"
    assert where in problem["detail"] and problem["request_id"] == response.headers["x-request-id"]


def test_a_duplicate_key_with_a_json_suffix_media_type_and_without_a_content_type(client: TestClient) -> None:
    text = TENSOR.replace('"he"}', '"he", "scheme": "orthogonal"}')
    assert post(client, "/v1/tensors", text, "application/merge-patch+json").status_code == 422
    assert client.post("/v1/tensors", content=text.encode()).status_code == 422


def test_a_body_that_is_not_json_is_still_the_parsers_400(client: TestClient) -> None:
    assert problem_of(post(client, "/v1/tensors", '{"shape": [2, 2]'))["status"] == 400


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/v1/tensors", TENSOR),
        ("/v1/tensors/npy", TENSOR),
        ("/v1/models/stats", MODEL),
        ("/v1/diagnostics/propagation", DIAGNOSTICS),
    ],
)
@pytest.mark.parametrize("seed", ["1.0", "-0.0", "1e3", "1E0", "7.5"])
def test_a_seed_that_is_not_a_json_integer_is_422(client: TestClient, path: str, text: str, seed: str) -> None:
    problem = problem_of(post(client, path, text.replace('"seed": 1', f'"seed": {seed}')))
    assert problem["status"] == 422 and problem["field"] == "seed" and "JSON integer" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "text"),
    [("/v1/tensors", TENSOR), ("/v1/models/stats", MODEL), ("/v1/diagnostics/propagation", DIAGNOSTICS)],
)
def test_integer_seeds_and_the_same_body_without_duplicates_are_answered(
    client: TestClient, path: str, text: str
) -> None:
    assert post(client, path, text).status_code == 200
    assert post(client, path, text.replace('"seed": 1', '"seed": 0')).status_code == 200


def test_the_body_limit_still_applies_to_chunked_bodies(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(2048):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/v1/tensors", content=chunks(), headers={"content-type": "application/json"})
    assert problem_of(response)["status"] == 413
