"""Security basics: optional API keys, CORS (off unless configured), the body limit, and error
bodies that never show a stack trace or a path of the host."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import meta, security
from service.api import runtime as runtime_module
from service.encode import svg
from service.settings import Settings

from .helpers import PROBLEM, app_client, problem_of, tensor_request

KEYS = "first-key-0123, second-key-4567"
PROTECTED = [
    ("POST", "/v1/tensors", tensor_request()),
    ("POST", "/v1/tensors/npy", tensor_request()),
    ("POST", "/v1/tensors/stats", tensor_request()),
    ("GET", "/v1/schemes", None),
    ("POST", "/v1/diagnostics/propagation", {"depth": 2, "width": 4, "activation": "relu", "init": {"scheme": "he"}}),
]
OPEN = ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"]
TRACE_MARKERS = ("Traceback", 'File "', ".py", "/work", "/srv", "/root", "/home", "site-packages")


@pytest.fixture(scope="module")
def keyed() -> Any:
    with app_client(api_keys=KEYS) as c:
        yield c


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.request(method, path, json=body, headers=headers or {})


def assert_unauthorized(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = problem_of(response)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- API keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_without_keys_configured_no_authentication(client: TestClient, method: str, path: str, body: Any) -> None:
    assert call(client, method, path, body).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_missing_or_wrong_key_is_401(keyed: TestClient, method: str, path: str, body: Any) -> None:
    assert "needs an API key" in assert_unauthorized(call(keyed, method, path, body))["detail"]
    for headers in (
        {"Authorization": "Bearer first-key-012"},  # a prefix of a key
        {"Authorization": "Bearer first-key-01234"},
        {"X-API-Key": "second-key-4567 extra"},
        {"Authorization": "Basic Zmlyc3Qta2V5LTAxMjM="},  # not a bearer token: no key presented
    ):
        response = call(keyed, method, path, body, headers)
        assert_unauthorized(response)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_either_key_in_either_header_is_accepted(keyed: TestClient, method: str, path: str, body: Any) -> None:
    for headers in (
        {"Authorization": "Bearer first-key-0123"},
        {"Authorization": "bearer second-key-4567"},  # the scheme is case-insensitive
        {"X-API-Key": "first-key-0123"},
        {"X-API-Key": "second-key-4567"},
        {"Authorization": "Bearer first-key-0123", "X-API-Key": "wrong"},  # the bearer token counts first
    ):
        assert call(keyed, method, path, body, headers).status_code == 200, headers


@pytest.mark.parametrize("path", OPEN)
def test_operations_and_docs_stay_open(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_the_key_is_checked_before_the_body(keyed: TestClient) -> None:
    """Without a key, a request learns nothing: not whether its body is valid, nor which paths exist."""
    bad_json = keyed.post("/v1/tensors", content=b"{not json", headers={"content-type": "application/json"})
    assert_unauthorized(bad_json)
    assert_unauthorized(keyed.post("/v1/tensors", json={"shape": "nonsense"}))
    assert_unauthorized(keyed.get("/v1/no-such-operation"))
    assert_unauthorized(keyed.delete("/v1/tensors"))
    ok = {"X-API-Key": "first-key-0123"}
    assert (
        keyed.post("/v1/tensors", content=b"{not json", headers={**ok, "content-type": "application/json"}).status_code
        == 400
    )
    assert keyed.get("/v1/no-such-operation", headers=ok).status_code == 404


def test_401s_are_counted_and_logged(keyed: TestClient) -> None:
    assert_unauthorized(keyed.get("/v1/schemes"))
    metrics = keyed.get("/metrics").text
    assert 'initserve_requests_total{method="GET",route="unmatched",status="401"}' in metrics


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", compare_digest)
    keys = [b"k1", b"k2", b"k3"]
    assert security.key_matches(b"k1", keys)  # no early exit on the first match
    assert compared == [(b"k1", b"k1"), (b"k1", b"k2"), (b"k1", b"k3")]
    compared.clear()
    assert not security.key_matches(b"nope", keys)
    assert len(compared) == 3
    assert not security.key_matches(None, keys)


def test_keys_setting_is_a_secret_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INITSERVE_API_KEYS", " alpha , beta,, ")
    monkeypatch.setenv("INITSERVE_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings()
    assert settings.api_key_list() == ["alpha", "beta"]
    assert "alpha" not in repr(settings) and "alpha" not in str(settings.model_dump())
    assert settings.cors_origin_list() == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("INITSERVE_API_KEYS")
    monkeypatch.delenv("INITSERVE_CORS_ORIGINS")
    assert Settings().api_key_list() == [] and Settings().cors_origin_list() == []


def test_openapi_documents_the_optional_keys(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"] == {**schemes["apiKeyHeader"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}, {}]  # {}: keys are optional
    for path, item in spec["paths"].items():
        for operation in item.values():
            if path.startswith("/v1/"):
                assert "security" not in operation  # the top-level requirement applies
                unauthorized = operation["responses"]["401"]
                assert unauthorized["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                assert "WWW-Authenticate" in unauthorized["headers"]
            else:
                assert operation["security"] == [] and "401" not in operation["responses"], path


# -- CORS -------------------------------------------------------------------------------------------

ORIGIN = "https://notebook.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.post("/v1/tensors", json=tensor_request(), headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in response.headers)
    assert client.options("/v1/tensors", headers=PREFLIGHT).status_code == 405


def test_cors_when_configured() -> None:
    with app_client(cors_origins=f"{ORIGIN}, https://other.example", api_keys=KEYS) as c:
        preflight = c.options("/v1/tensors", headers=PREFLIGHT)  # no key: browsers send none in a preflight
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "x-api-key" in allowed
        answer = c.post(
            "/v1/tensors/npy", json=tensor_request(), headers={"Origin": ORIGIN, "X-API-Key": "first-key-0123"}
        )
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
        exposed = answer.headers["access-control-expose-headers"].lower()
        assert "x-init-seed" in exposed and "x-request-id" in exposed
        assert "content-location" in exposed and "etag" in exposed and "content-range" in exposed  # permanent URLs
        refused = c.post("/v1/tensors", json=tensor_request(), headers={"Origin": ORIGIN})
        assert_unauthorized(refused)
        assert refused.headers["access-control-allow-origin"] == ORIGIN  # the browser can read the 401
        stranger = c.options("/v1/tensors", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers


# -- body limit -------------------------------------------------------------------------------------


def test_body_limit_refuses_before_reading() -> None:
    body = json.dumps(tensor_request(pad="x" * 5000)).encode()
    with app_client(max_body_bytes=4096, api_keys=KEYS) as c:
        headers = {"content-type": "application/json", "X-API-Key": "first-key-0123"}
        declared = c.post("/v1/tensors", content=body, headers=headers)
        assert declared.status_code == 413 and "4096" in problem_of(declared)["detail"]
        chunked = c.post("/v1/tensors", content=iter([body[:3000], body[3000:]]), headers=headers)
        assert chunked.status_code == 413 and "4096" in problem_of(chunked)["detail"]
        assert c.post("/v1/tensors", json=tensor_request(), headers=headers).status_code == 200


def test_default_body_limit_is_1_mib(client: TestClient) -> None:
    assert Settings.model_fields["max_body_bytes"].default == 1 << 20
    limit = b" " * ((1 << 20) - 2) + b"{}"
    assert client.post("/v1/tensors", content=limit, headers={"content-type": "application/json"}).status_code == 422
    over = b" " + limit
    assert client.post("/v1/tensors", content=over, headers={"content-type": "application/json"}).status_code == 413


# -- no stack traces, no paths ----------------------------------------------------------------------


def assert_clean(response: Any) -> dict[str, Any]:
    body = problem_of(response)
    for marker in TRACE_MARKERS:
        assert marker not in response.text, (marker, response.text)
    return body


def test_an_internal_error_shows_no_trace(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError('boom at File "/srv/app/service/core/secret.py", line 42')

    monkeypatch.setattr(meta, "catalogue", broken)
    meta.catalogue_json.cache_clear()  # built once per process: build it again, broken
    try:
        with app_client(raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR, "initserve.errors"):
            response = c.get("/v1/schemes")
    finally:
        meta.catalogue_json.cache_clear()
    assert response.status_code == 500
    body = assert_clean(response)
    assert "boom" not in response.text and body["detail"].startswith("the service failed")
    assert any("boom" in (record.exc_text or "") for record in caplog.records)  # the trace goes to the log


def test_an_internal_error_on_a_worker_thread_shows_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise MemoryError("/root/.local/lib/python3.11/site-packages/numpy/core.py")

    monkeypatch.setattr(runtime_module, "measure", broken)  # on the heavy pool's thread
    with app_client(raise_server_exceptions=False) as c:
        response = c.post("/v1/diagnostics/propagation", json=PROTECTED[-1][2])
    assert response.status_code == 500
    assert_clean(response)


def test_chart_unavailable_names_no_host_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the 503 repeated matplotlib's message, which names the host's directories."""

    def unavailable(report: Any) -> bytes:
        raise svg.MatplotlibUnavailable("Matplotlib requires access to a writable cache directory: /home/app/.cache")

    monkeypatch.setattr(svg, "render", unavailable)
    with app_client() as c:
        response = c.post("/v1/diagnostics/propagation/svg", json=PROTECTED[-1][2])
    assert response.status_code == 503
    assert "MPLCONFIGDIR" in assert_clean(response)["detail"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b"\xff\xfe\x00", {"content-type": "application/json"}),
        (json.dumps({"shape": [1e400], "init": {"scheme": "he"}}).encode(), {"content-type": "application/json"}),
        (json.dumps(tensor_request(init={"scheme": "nope"})).encode(), {"content-type": "application/json"}),
        (json.dumps(tensor_request([1 << 40])).encode(), {"content-type": "application/json"}),
        (b"{}", {"content-type": "text/plain"}),
        (b"{}", {"content-type": "application/json", "content-length": "abc"}),
    ],
)
def test_client_errors_show_no_trace(client: TestClient, content: bytes, headers: dict[str, str]) -> None:
    response = client.post("/v1/tensors", content=content, headers=headers)
    assert 400 <= response.status_code < 500
    assert_clean(response)
