"""Permanent URLs on the HTTP side: the name of an answer, its validators, and a token back to a request.

Every tensor and model POST answers ``Content-Location: /v1/tensors/{token}.npy`` (``.safetensors``,
``.json``; ``/v1/models/{token}.safetensors|.npz``), the token holding the canonical request
(``service.core.canonical``, ``service.encode.token``); a GET of it answers the same bytes. Headers:

- ``ETag`` (strong) on every such answer, POST or GET: from the canonical request, the stream version
  and the format;
- ``Cache-Control: public, max-age=31536000, immutable`` on GET (and on its 304); a POST without a seed
  is ``no-store`` (another POST answers another tensor), a POST with one has no ``Cache-Control``;
- ``If-None-Match`` naming the ETag (or ``*``) -> 304 without a body, before any work.

A token that is malformed, fails its checksum, does not decode to a valid request, or is not the
canonical spelling of its request is a 404; one longer than ``MAX_TOKEN_CHARS`` a 414 (use POST).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.core import InitError, TooLargeError
from service.core.canonical import canonical_json, canonical_model, canonical_tensor
from service.core.model import ModelPlan
from service.core.plan import TensorPlan
from service.core.streams.names import STREAM_VERSIONS
from service.encode import token as tokens

IMMUTABLE = "public, max-age=31536000, immutable"
#: Header names a ``304`` repeats from the ``200`` it stands for (RFC 9110 section 15.4.5).
_NOT_MODIFIED_HEADERS = ("ETag", "Cache-Control", "Content-Location")


_TOKEN_TEXT = (
    "the token of a POST's `Content-Location`: the canonical request, compact (docs/permanent-urls.md); "
    "a malformed or tampered one is a 404"
)
#: The ``token`` path parameter of a tensor URL (the example: he-normal 784 x 256, seed 42).
TensorToken = Annotated[str, Path(description=_TOKEN_TEXT, examples=["1G0JOBQBNKk6k"])]
#: The ``token`` path parameter of a model URL (the example: a torch.Linear(4, 2), seed 1).
ModelToken = Annotated[
    str, Path(description=_TOKEN_TEXT, examples=["1w-ZU5JBGzkEoWc1EBy2zGekgggWlZKmNhTnMEJcrAPpFU6c"])
]


@dataclass(frozen=True)
class Name:
    """What an answer is named by: its canonical request's JSON, the token (None when over
    ``MAX_TOKEN_CHARS``), whether the request gave its seed, and the stream version."""

    kind: tokens.Kind
    json: bytes
    token: str | None
    seeded: bool
    stream_version: str

    def etag(self, fmt: str) -> str:
        return tokens.etag(self.kind, fmt, self.stream_version, self.json)

    def path(self, request: Request, fmt: str) -> str | None:
        """The answer's permanent path (under the app's root path), None when the token is too long."""
        if self.token is None:
            return None
        return f"{request.scope.get('root_path', '')}/v1/{self.kind}s/{self.token}.{fmt}"

    def headers(self, request: Request, fmt: str) -> dict[str, str]:
        """The validators (and, on POST, the permanent URL) of the ``fmt`` answer to ``request``."""
        headers = {"ETag": self.etag(fmt)}
        if request.method in ("GET", "HEAD"):
            headers["Cache-Control"] = IMMUTABLE
            return headers
        path = self.path(request, fmt)
        if path is not None:
            headers["Content-Location"] = path
        if not self.seeded:
            headers["Cache-Control"] = "no-store"
        return headers


def _name(kind: tokens.Kind, canonical: Mapping[str, Any], seeded: bool, stream: str) -> Name:
    json = canonical_json(canonical)
    token = tokens.encode(kind, json)
    return Name(kind, json, token if len(token) <= tokens.MAX_TOKEN_CHARS else None, seeded, STREAM_VERSIONS[stream])


def tensor_name(plan: TensorPlan, seeded: bool) -> Name:
    return _name("tensor", canonical_tensor(plan), seeded, plan.spec.stream)


def model_name(request: Mapping[str, Any], model: ModelPlan, seeded: bool) -> Name:
    return _name("model", canonical_model(request, model), seeded, model.spec.stream)


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` or is ``*`` (weak comparison, RFC 9110 section 13.1.2)."""
    given = request.headers.get("if-none-match")
    if given is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in given.split(",")]
    return "*" in tags or etag in tags


def not_modified_response(headers: Mapping[str, str]) -> Response:
    """The 304 of an answer whose headers would be ``headers``: its validators, no body."""
    return Response(status_code=304, headers={k: v for k, v in headers.items() if k in _NOT_MODIFIED_HEADERS})


def headers_only(response: Response) -> Response:
    """A HEAD answer: ``response``'s status and headers (its ``Content-Length`` kept), no body; the
    budget share the answer held is given back."""
    lease = getattr(response, "lease", None)
    if lease is not None:
        lease.release()
    head = Response(status_code=response.status_code)
    head.raw_headers = list(response.raw_headers)
    return head


def decode(kind: tokens.Kind, token: str, model: type[BaseModel]) -> tuple[dict[str, Any], bytes]:
    """The request a token holds, checked as a POST body is (``model``), as the routes resolve it, and
    its canonical JSON; a 414 for a token over ``MAX_TOKEN_CHARS``, a 404 for any bad token."""
    if len(token) > tokens.MAX_TOKEN_CHARS:
        raise HTTPException(
            414,
            f"the URL's token is over {tokens.MAX_TOKEN_CHARS} characters: POST the request body to "
            f"/v1/{kind}s/... instead (such answers have no permanent URL)",
        )
    try:
        decoded, json = tokens.decode(kind, token)
        body = model.model_validate(decoded)
    except (tokens.BadToken, ValidationError) as exc:
        raise HTTPException(404, f"no such {kind}: the token is not one this service wrote ({_reason(exc)})") from exc
    return body.model_dump(exclude_unset=True), json


def check_canonical(kind: tokens.Kind, json: bytes, name: Name) -> None:
    """A 404 unless the token's JSON is the canonical spelling of the request it resolved to."""
    if json != name.json:
        raise HTTPException(404, f"no such {kind}: the token is not in canonical form")


def resolving(kind: tokens.Kind, error: InitError) -> Exception:
    """A resolver's error on a decoded token: its limits (413) stand; anything else means a bad token."""
    if isinstance(error, TooLargeError):
        return error
    return HTTPException(404, f"no such {kind}: the token's request is not valid ({error.message})")


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, tokens.BadToken) else "not a valid request"


def add_head(router: APIRouter, path: str, endpoint: Callable[..., Any]) -> None:
    """HEAD on a GET route, by the same handler (which answers without a body); left out of the OpenAPI
    document, whose GET operation describes it."""
    router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, response_class=Response)
