"""Pure ASGI middleware: request ids, the request body limit, access logs and metrics."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.metrics import Metrics
from service.api.problems import MEDIA_TYPE, problem_body

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("initserve.access")


def _new_request_id() -> str:
    """``uuid.uuid4().hex``, without building a ``UUID`` (a few microseconds per request): 16 random
    bytes with the version (4) and variant (RFC 4122) bits set."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


class RequestContext:
    """Gives every request an id (``X-Request-ID``: the client's if well-formed, else a new one),
    refuses bodies over ``max_body_bytes`` with 413 before reading them, and records one access
    log line and the metrics when the answer is over: whole, or cut (its body's end never sent: the client
    left a streamed answer, or the answer failed after it had started)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": 500, "bytes": 0, "started": False, "complete": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["started"] = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
                outcome["complete"] = not message.get("more_body", False)
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and received <= self.max_body_bytes:
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"the request body exceeds {self.max_body_bytes} bytes")
            return message

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                detail = f"the request body exceeds {self.max_body_bytes} bytes"
                if not length.isdigit():
                    detail = "the Content-Length header is not a number"
                await self._refuse(send_with_id, 413 if length.isdigit() else 400, detail, request_id)
                return
            await self.app(scope, receive_limited, send_with_id)
        finally:
            self._record(scope, request_id, outcome, time.perf_counter() - started)

    async def _refuse(self, send: Send, status: int, detail: str, request_id: str) -> None:
        body = problem_body(status, detail, request_id)
        headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, request_id: str, outcome: dict[str, Any], seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        status = str(outcome["status"]) if outcome["started"] else "aborted"
        self.metrics.answered(template, scope["method"], status, seconds, outcome["bytes"])
        if outcome["started"] and not outcome["complete"]:
            self.metrics.cut.labels(template).inc()
        if self.access_log:
            client = scope.get("client")
            line = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "route": template,
                "status": outcome["status"] if outcome["started"] else None,
                "bytes": outcome["bytes"],
                "complete": outcome["complete"],
                "duration_ms": round(seconds * 1000, 3),
                "client": f"{client[0]}:{client[1]}" if client else None,
            }
            access_logger.info("request", extra={"fields": line})
