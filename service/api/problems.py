"""RFC 9457 problem details (``application/problem+json``) for every error the service returns."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from service.api.schemas import INIT_MODELS, PRESET_MODELS
from service.core import InitError, TooLargeError

MEDIA_TYPE = "application/problem+json"
_INIT_TAGS = {tag for model in INIT_MODELS.values() for tag in model.model_fields["scheme"].annotation.__args__}
_PRESET_TAGS = set(PRESET_MODELS)
logger = logging.getLogger("initserve.errors")


# RFC 9110 names where Python's http module still has the RFC 7231 ones.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def problem_body(status: int, detail: str, request_id: str | None = None, **extra: Any) -> bytes:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body)


def problem(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    request_id = request.scope.get("state", {}).get("request_id")
    return Response(problem_body(status, detail, request_id, **extra), status, headers, MEDIA_TYPE)


_UNION_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}
_NAME = re.compile(r"[a-z_][a-z0-9_]*|[0-9]+")
_TYPE_LABELS = {"int", "float", "list", "str", "bool", "none"}


def dotted(loc: Sequence[int | str], error_type: str = "") -> str:
    """The request field of a Pydantic error location, dotted.

    ``("body", "init", "he", "scale")`` -> ``"init.scale"`` (``compare.0.scale`` in the
    diagnostics' list of inits): no ``body``, no union tag, no union-member labels such as
    ``list[...]``; an unknown or missing scheme tag is reported on ``init.scheme``. An unknown
    field is the client's own key, named as sent, whatever its case:

    >>> dotted(("body", "Seed"), "extra_forbidden"), dotted(("body", "init", "he", "Mode"), "extra_forbidden")
    ('Seed', 'init.Mode')
    """
    if error_type == "extra_forbidden" and loc:
        parent = dotted(loc[:-1])
        return f"{parent}.{loc[-1]}" if parent else str(loc[-1])
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    tag = "scheme"
    if len(parts) > 2 and parts[0] == "entries" and parts[2] in ("tensor", "preset"):  # entries.<i>.<kind>.field
        tag = "preset" if parts[2] == "preset" else tag
        parts = [*parts[:2], *parts[3:]]
        if tag == "preset" and len(parts) > 2 and parts[2] in _PRESET_TAGS:
            parts = [*parts[:2], *parts[3:]]
        if len(parts) > 3 and parts[2] == "init" and parts[3] in _INIT_TAGS:
            parts = [*parts[:3], *parts[4:]]
    if len(parts) > 1 and parts[0] == "init" and parts[1] in _INIT_TAGS:
        parts = [parts[0], *parts[2:]]
    if len(parts) > 2 and parts[0] == "compare" and parts[2] in _INIT_TAGS:  # compare.<i>.<tag>.field
        parts = [*parts[:2], *parts[3:]]
    parts = [p for p in parts if _NAME.fullmatch(p) and p not in _TYPE_LABELS]
    if error_type in _UNION_TAG_ERRORS and not (tag == "preset" and len(parts) == 2):
        parts.append("scheme")
    elif error_type in _UNION_TAG_ERRORS:
        parts.append("preset")
    return ".".join(parts)


_TAG_CATALOGUE = {"scheme": "schemes and initializers", "preset": "presets"}


def unknown_tag_message(error: dict[str, Any]) -> str:
    """A short message for an unknown ``scheme`` or ``preset`` name: the closest valid names, not all of them.

    Pydantic's own lists every tag (about 90 schemes and initializers: 1,700 characters); the full list is in
    ``GET /v1/schemes``. Names are compared without case, so ``He`` suggests ``he``.

    >>> unknown_tag_message({"ctx": {"discriminator": "'scheme'", "tag": "glorrot", "expected_tags": "'he', 'glorot'"}})
    "unknown scheme 'glorrot'; did you mean 'glorot'? (all schemes and initializers: GET /v1/schemes)"
    """
    ctx = error.get("ctx") or {}
    kind = str(ctx.get("discriminator", "'scheme'")).strip("'\"")
    given = str(ctx.get("tag", ""))
    valid = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    by_folded = {name.casefold(): name for name in valid}
    close = [by_folded[m] for m in difflib.get_close_matches(given.casefold(), list(by_folded), n=3, cutoff=0.6)]
    shown = given if len(given) <= 40 else given[:40] + "..."
    hint = f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    return f"unknown {kind} {shown!r}{hint} (all {_TAG_CATALOGUE.get(kind, kind + 's')}: GET /v1/schemes)"


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    if not _is_json(request):
        given = request.headers.get("content-type") or "none"
        return problem(request, 415, f"send the request body as application/json (got content type {given})")
    errors: list[dict[str, str]] = []
    for e in exc.errors():
        field = dotted(e["loc"], e["type"])
        message = unknown_tag_message(e) if e["type"] == "union_tag_invalid" else e["msg"].removeprefix("Value error, ")
        if all(seen["field"] != field for seen in errors):  # a union reports one error per member
            errors.append({"field": field, "message": message, "type": e["type"]})
    if any(e["type"] == "json_invalid" for e in errors):
        position = next(e for e in exc.errors() if e["type"] == "json_invalid").get("ctx", {}).get("error", "")
        return problem(request, 400, f"the request body is not valid JSON: {position}".rstrip(": "))
    first = errors[0]
    detail = f"{first['field'] or 'body'}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(request, 422, detail, field=first["field"] or None, errors=errors)


async def on_init_error(request: Request, exc: InitError) -> Response:
    status = 413 if isinstance(exc, TooLargeError) else 422
    errors = [{"field": exc.field or "", "message": exc.message, "type": type(exc).__name__}]  # "": the whole body
    return problem(request, status, exc.message, field=exc.field, errors=errors)


async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return problem(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", extra={"request_id": request.scope.get("state", {}).get("request_id")})
    return problem(request, 500, "the service failed to answer this request; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InitError, on_init_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected_error)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers with the given statuses."""
    reasons = {
        400: "The body is not valid JSON.",
        401: "Missing or wrong API key.",
        404: "No such answer: the URL's token is malformed, fails its checksum or is not canonical.",
        413: "The request body, the tensor or the work it needs exceeds a limit.",
        414: "The URL's token is over 4096 characters: POST the request instead.",
        415: "The body is not application/json.",
        416: "The byte range is outside the file (`Content-Range: bytes */<size>`).",
        422: "A field is invalid; `field` names it.",
        500: "Unexpected failure (never caused by bad input).",
        503: "Not ready.",
    }
    schema = {"$ref": "#/components/schemas/Problem"}
    return {s: {"description": reasons[s], "content": {MEDIA_TYPE: {"schema": schema}}} for s in statuses}
