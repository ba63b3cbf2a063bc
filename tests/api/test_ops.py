"""Operations: liveness, readiness, Prometheus metrics, request ids and the offline docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.main import create_app

from .helpers import app_client, problem_of, settings, tensor_request

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- health and readiness ----------------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_after_start(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.anyio
async def test_readyz_is_503_until_the_lifespan_has_started() -> None:
    app = create_app(settings())
    try:
        transport = httpx.ASGITransport(app=app)  # runs no lifespan
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            not_ready = await c.get("/readyz")
            alive = await c.get("/healthz")
    finally:
        app.state.runtime.engine.close()
    assert not_ready.status_code == 503
    problem_of(not_ready)
    assert alive.status_code == 200  # liveness does not wait for readiness


def test_not_ready_after_shutdown() -> None:
    app = create_app(settings())
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200
    assert app.state.runtime.ready is False


# -- metrics --------------------------------------------------------------------------------------------------


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The metrics as {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def test_metrics_count_requests_latency_and_elements() -> None:
    with app_client() as c:
        for _ in range(3):
            assert c.post("/v1/tensors", json=tensor_request([8, 4])).status_code == 200
        assert c.post("/v1/tensors/npy", json=tensor_request([16, 16], "glorot", dtype="float64")).status_code == 200
        assert c.post("/v1/tensors", json=tensor_request(seed=-1)).status_code == 422
        assert c.get("/v1/nowhere").status_code == 404
        metrics = scrape(c)
    requests = "initserve_requests_total"
    assert metrics[(requests, labels(route="/v1/tensors", method="POST", status="200"))] == 3
    assert metrics[(requests, labels(route="/v1/tensors", method="POST", status="422"))] == 1
    assert metrics[(requests, labels(route="/v1/tensors/npy", method="POST", status="200"))] == 1
    assert metrics[(requests, labels(route="unmatched", method="GET", status="404"))] == 1
    histogram = "initserve_request_duration_seconds"
    assert metrics[(f"{histogram}_count", labels(route="/v1/tensors"))] == 4
    assert metrics[(f"{histogram}_bucket", labels(route="/v1/tensors", le="+Inf"))] == 4
    assert metrics[(f"{histogram}_sum", labels(route="/v1/tensors"))] > 0
    buckets = [
        v for (name, lbl), v in metrics.items() if name == f"{histogram}_bucket" and ("route", "/v1/tensors") in lbl
    ]
    assert len(buckets) > 5
    elements = "initserve_elements_generated_total"
    assert metrics[(elements, labels(scheme="he", dtype="float32"))] == 3 * 32
    assert metrics[(elements, labels(scheme="glorot", dtype="float64"))] == 256
    assert metrics[("initserve_bytes_sent_total", labels(route="/v1/tensors/npy"))] >= 256 * 8
    assert not [key for key in metrics if key[0] == "initserve_answers_cut_total"]  # every answer was whole


def test_one_access_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    with app_client(access_log=True) as c, caplog.at_level("INFO", logger="initserve.access"):
        answer = c.post("/v1/tensors/npy", json=tensor_request([16, 16]), headers={"X-Request-ID": "line-1"})
    (record,) = [r for r in caplog.records if r.name == "initserve.access"]
    line = record.fields  # type: ignore[attr-defined]
    assert line["request_id"] == "line-1" and line["method"] == "POST" and line["route"] == "/v1/tensors/npy"
    assert line["status"] == 200 and line["bytes"] == len(answer.content) and line["complete"] is True
    assert line["duration_ms"] > 0


def test_refused_npy_generates_no_elements() -> None:
    """A bfloat16 .npy is refused (422) before it is planned: no element is counted as generated."""
    with app_client() as c:
        assert c.post("/v1/tensors/npy", json=tensor_request([8, 4], dtype="bfloat16")).status_code == 422
        metrics = scrape(c)
    assert metrics.get(("initserve_elements_generated_total", labels(scheme="he", dtype="bfloat16")), 0) == 0


def test_too_large_requests_generate_no_elements() -> None:
    with app_client(max_json_elements=10) as c:
        assert c.post("/v1/tensors", json=tensor_request([4, 4])).status_code == 413
        metrics = scrape(c)
    assert metrics.get(("initserve_elements_generated_total", labels(scheme="he", dtype="float32")), 0) == 0


# -- request ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123", "req.7:x_Y", "0" * 128, "f47ac10b-58cc-4372-a567-0e02b2c3d479"])
def test_well_formed_request_id_is_echoed(client: TestClient, given: str) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    bad = client.post("/v1/tensors", json=tensor_request(seed=-1), headers={"X-Request-ID": given})
    assert bad.headers["x-request-id"] == given
    assert problem_of(bad)["request_id"] == given


@pytest.mark.parametrize("given", [None, "", "has space", "0" * 129, "semi;colon", "<script>"])
def test_request_id_is_generated_otherwise(client: TestClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = client.get("/healthz", headers=headers).headers["x-request-id"]
    second = client.get("/healthz", headers=headers).headers["x-request-id"]
    assert HEX_ID.fullmatch(first) and HEX_ID.fullmatch(second)
    assert first != second


def test_request_id_on_every_kind_of_answer(client: TestClient) -> None:
    answers = [
        client.post("/v1/tensors", json=tensor_request()),
        client.post("/v1/tensors/npy", json=tensor_request()),
        client.post("/v1/tensors/stats", json=tensor_request()),
        client.get("/v1/schemes"),
        client.get("/metrics"),
        client.get("/nowhere"),
        client.post("/v1/tensors", content=b"{", headers={"content-type": "application/json"}),
    ]
    for response in answers:
        assert len(response.headers.get_list("x-request-id")) == 1


# -- offline docs -------------------------------------------------------------------------------------------------


class AssetLinks(HTMLParser):
    """URLs of the page's scripts, stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


def asset_urls(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls


def page_assets(client: TestClient, page: str) -> Iterator[str]:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    yield from asset_urls(response.text)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_use_only_local_assets(client: TestClient, page: str) -> None:
    urls = list(page_assets(client, page))
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert not re.match(r"(https?:)?//", url), f"{page} loads {url} from the internet"
        asset = client.get(urljoin(f"http://testserver{page}", url))
        assert asset.status_code == 200, url
        assert asset.content


def test_docs_point_to_the_served_spec(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/openapi.json" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert client.get("/openapi.json").status_code == 200
