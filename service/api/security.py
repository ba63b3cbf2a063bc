"""Optional API keys and CORS.

``ApiKeys`` is pure ASGI middleware: when keys are configured, every request under ``/v1/`` must
carry one, as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, before its body is read;
anything else is a 401 problem with ``WWW-Authenticate: Bearer``. Health, readiness, metrics and
the docs stay open. A given key is compared with every configured key by ``hmac.compare_digest``
(constant time, and no early exit), so timing tells nothing about the keys.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.answers import NPY_HEADERS, URL_HEADERS
from service.api.problems import MEDIA_TYPE, problem_body

PROTECTED_PREFIX = "/v1/"
BEARER_SCHEME = "bearerAuth"
HEADER_SCHEME = "apiKeyHeader"
#: OpenAPI security schemes, and the requirement of the /v1/* operations: either scheme, or none at
#: all (``{}``), since keys are a deployment's choice (INITSERVE_API_KEYS).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>`, one of INITSERVE_API_KEYS (required only when they are set).",
    },
    HEADER_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: <key>`, one of INITSERVE_API_KEYS (required only when they are set).",
    },
}
OPTIONAL_SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {HEADER_SCHEME: []}, {}]
#: Headers a browser may send and read across origins (CORS).
CORS_REQUEST_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"]
CORS_EXPOSED_HEADERS = ["X-Request-ID", *NPY_HEADERS, "Retry-After", *URL_HEADERS, "Accept-Ranges", "Content-Range"]


def presented_key(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request presents: the ``Authorization: Bearer`` token, else ``X-API-Key``."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                bearer = token.strip()
        elif name == b"x-api-key" and value.strip():
            api_key = value.strip()
    return bearer if bearer is not None else api_key


def key_matches(given: bytes | None, keys: Sequence[bytes]) -> bool:
    """Whether ``given`` is one of ``keys``: every key is compared, each in constant time."""
    if given is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key)
    return found


class ApiKeys:
    """Refuses requests under ``/v1/`` without a configured key (401), before reading their body."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = presented_key(scope["headers"])
        if key_matches(given, self.keys):
            await self.app(scope, receive, send)
            return
        detail = (
            "this operation needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            if given is None
            else "the API key is not valid"
        )
        body = problem_body(401, detail, scope.get("state", {}).get("request_id"))
        headers = [
            (b"content-type", MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def require_api_keys(app: FastAPI, api_keys: Sequence[str]) -> None:
    """Adds the key check when keys are set. Call before adding the request-context middleware, so
    that it runs inside it: 401s carry a request id and are logged and counted."""
    if api_keys:
        app.add_middleware(ApiKeys, keys=list(api_keys))  # type: ignore[arg-type]


def allow_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Adds Starlette's CORS middleware when origins are set (CORS is off otherwise). Call last, so
    that it is the outermost middleware and every answer (413 and 401 included) carries its headers."""
    if origins:
        app.add_middleware(
            CORSMiddleware,  # type: ignore[arg-type]
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
