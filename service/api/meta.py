"""The catalogue of schemes, health, readiness and metrics."""

from __future__ import annotations

import functools
import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api.admission import RETRY_AFTER_SECONDS
from service.api.metrics import CONTENT_TYPE
from service.api.problems import documented, problem
from service.api.runtime import RuntimeDep
from service.api.schemas import Catalogue, Health
from service.core import DTYPES, LAYOUTS, STREAM_VERSION, catalogue
from service.core.frameworks import framework_catalogue
from service.core.presets import preset_catalogue
from service.core.streams.names import STREAM_VERSIONS

router = APIRouter()


@router.get(
    "/v1/schemes",
    operation_id="list_schemes",
    tags=["schemes"],
    summary="Every scheme, its fields, defaults and formula",
    response_model=Catalogue,
    responses=documented(500),
)
async def list_schemes() -> Response:
    return Response(catalogue_json(), media_type="application/json")


@functools.cache
def catalogue_json() -> bytes:
    """The catalogue's JSON, built once per process: it is fixed, and building it (every scheme, initializer
    and preset, validated) takes milliseconds the event loop would spend on every request."""
    catalogue_answer = Catalogue.model_validate(
        {
            "schemes": catalogue(),
            "initializers": framework_catalogue(),
            "presets": preset_catalogue(),
            "layouts": list(LAYOUTS),
            "dtypes": list(DTYPES),
            "stream_version": STREAM_VERSION,
            "streams": dict(STREAM_VERSIONS),
        }
    )
    content = catalogue_answer.model_dump(mode="json", by_alias=True)
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@router.get(
    "/healthz",
    operation_id="get_health",
    tags=["operations"],
    summary="Liveness: the process answers",
    response_model=Health,
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="get_readiness",
    tags=["operations"],
    summary="Readiness: start-up finished, the generation pool is up and admission has room",
    response_model=Health,
    responses=documented(503),
)
async def readyz(request: Request, runtime: RuntimeDep) -> object:
    if not runtime.ready:
        return problem(request, 503, "the service is starting or shutting down")
    if runtime.admission.busy():
        return problem(
            request,
            503,
            "the service is busy: requests are waiting for room in the generation or work budget",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return {"status": "ready"}


@router.get(
    "/metrics",
    operation_id="get_metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}
    },
)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
