"""The catalogue of schemes, health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

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
async def list_schemes() -> dict[str, object]:
    return {
        "schemes": catalogue(),
        "initializers": framework_catalogue(),
        "presets": preset_catalogue(),
        "layouts": list(LAYOUTS),
        "dtypes": list(DTYPES),
        "stream_version": STREAM_VERSION,
        "streams": dict(STREAM_VERSIONS),
    }


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
    summary="Readiness: start-up finished and the generation pool is up",
    response_model=Health,
    responses=documented(503),
)
async def readyz(request: Request, runtime: RuntimeDep) -> object:
    if not runtime.ready:
        return problem(request, 503, "the service is starting or shutting down")
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
