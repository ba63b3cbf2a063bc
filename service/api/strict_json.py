"""Duplicate keys in a JSON request body are refused: 422 naming the key where it is (``init.scheme``).

``json.loads`` (FastAPI's parser) keeps the last of two equal keys, so ``{"scheme": "he", "scheme":
"orthogonal"}`` silently meant orthogonal. ``StrictJSON`` is a pure ASGI middleware: for a request with
a JSON body (``application/json``, ``application/*+json``, or no content type: what FastAPI parses as
JSON) it reads the body, looks for a duplicate with ``json.loads(body, object_pairs_hook=...)`` (one
parse; a hook call per object), and answers the 422 problem itself, or hands the body on unchanged.
A body that is not JSON at all is left to FastAPI (its 400). Its location is found by a second parse,
only for a refused body. Run inside the body-size limit (``RequestContext``) and the API-key check,
so that neither an oversized nor an unauthenticated body is parsed.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import MEDIA_TYPE, problem_body

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class _Duplicate(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Duplicate
    return value


class _Marked(dict):  # type: ignore[type-arg]
    """An object of the second parse that had a duplicate key (``duplicate``)."""

    duplicate = ""


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked = _Marked(pairs)
            marked.duplicate = key
            return marked
        seen.add(key)
    return dict(pairs)


def _find(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if isinstance(value, _Marked):
        return (*path, value.duplicate)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (found := _find(item, (*path, str(key)))) is not None:
            return found
    return None


def duplicate_key(body: bytes) -> str | None:
    """The dotted location of the first duplicate key in a JSON document (``init.scheme``,
    ``entries.0.name``), or None: no duplicate, or not JSON (whose error is the parser's to report)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _Duplicate:
        found = _find(json.loads(body, object_pairs_hook=_mark_duplicates), ())
        return ".".join(found) if found else None
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
    return True


class StrictJSON:
    """Refuses JSON request bodies with duplicate keys (422); see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        pieces: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client left: the app sees it
                    await self.app(scope, _replay([message], receive), send)
                    return
                pieces.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as exc:  # the body limit
            await _answer(send, exc.status_code, problem_body(exc.status_code, str(exc.detail), request_id))
            return
        body = b"".join(pieces)
        if body and (where := duplicate_key(body)) is not None:
            key = where.rsplit(".", 1)[-1]
            detail = f"{where}: the key {key!r} appears twice in its JSON object"
            errors = [{"field": where, "message": f"duplicate key {key!r}", "type": "duplicate_key"}]
            await _answer(send, 422, problem_body(422, detail, request_id, field=where, errors=errors))
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` first, then the client's next ones (a disconnect)."""

    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
