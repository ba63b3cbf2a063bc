"""The ASGI application: ``create_app`` builds it from ``Settings``; ``app`` is the default one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from threadpoolctl import threadpool_limits

from service import __version__
from service.api import diagnostics, explorer, meta, models, problems, security, tensors
from service.api.middleware import RequestContext
from service.api.responses import ClientGone, client_gone, quiet_abandoned
from service.api.runtime import Runtime
from service.api.schemas import Problem
from service.api.strict_json import StrictJSON
from service.settings import Settings

DESCRIPTION = """\
Initialized neural-network weight tensors (Glorot/Xavier, He/Kaiming, LeCun, variance scaling,
orthogonal, identity, dirac, sparse, ...), exact to the frameworks' definitions and reproducible:
the tensor is a pure function of (shape, layout, init, seed, dtype) and the stream version.
Errors are RFC 9457 `application/problem+json`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Parallelism comes from the engine's pool; a BLAS pool on top (used by the orthogonal
        # QR) would oversubscribe the cores and stall small requests.
        blas = threadpool_limits(limits=1, user_api="blas")
        if settings.warm_streams:
            runtime.warm_streams()
        runtime.ready = True
        try:
            yield
        finally:
            runtime.close()
            blas.restore_original_limits()

    app = FastAPIOffline(
        title="initserve",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    runtime = app.state.runtime = Runtime(settings)
    app.include_router(tensors.router)
    app.include_router(models.router)
    app.include_router(meta.router)
    app.include_router(diagnostics.router)
    app.include_router(explorer.router)
    problems.install(app)
    app.add_middleware(StrictJSON)  # type: ignore[arg-type]  # innermost: bodies within the limit, authenticated
    app.add_exception_handler(ClientGone, client_gone)  # type: ignore[arg-type]
    quiet_abandoned()
    security.require_api_keys(app, settings.api_key_list())  # inside RequestContext: 401s get a request id
    app.add_middleware(
        RequestContext,  # type: ignore[arg-type]
        metrics=runtime.metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=settings.access_log,
    )
    security.allow_cors(app, settings.cors_origin_list())  # outermost: every answer carries its headers

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update(problem.pop("$defs", {}))  # FieldError
            schema["components"]["schemas"]["Problem"] = problem
            _document_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _document_security(schema: dict[str, Any]) -> None:
    """The optional API keys: the schemes, a requirement of either or none on every /v1/* operation
    (top level, so that generated clients keep taking a plain client), open operations marked open,
    and the 401 answer of the /v1/* operations."""
    schema["components"]["securitySchemes"] = security.SECURITY_SCHEMES
    schema["security"] = security.OPTIONAL_SECURITY
    unauthorized = problems.documented(401)[401]
    unauthorized["description"] = "Missing or wrong API key (only where the service has keys: INITSERVE_API_KEYS)."
    unauthorized["headers"] = {
        "WWW-Authenticate": {"description": "`Bearer`: the key schemes accepted", "schema": {"type": "string"}}
    }
    for path, item in schema["paths"].items():
        for operation in item.values():
            if path.startswith(security.PROTECTED_PREFIX):
                operation["responses"]["401"] = unauthorized
            else:
                operation["security"] = []
