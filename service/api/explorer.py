"""``GET /``: the explorer, a page where a person builds a request and sees what it draws.

Plain HTML, ES modules and CSS from the package (``service/explorer``), read once at import; no build
step, nothing from another origin (the Content-Security-Policy allows only this origin). The page calls
the public API like any client; big tensors are summarised by ``POST /v1/tensors/stats`` with
``histogram``, never sent to it. The routes are left out of the OpenAPI document: it describes the API
that clients are generated from, and a page is not part of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api.problems import problem

ASSETS = Path(__file__).resolve().parents[1] / "explorer"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
#: Every file the page loads, by name: read once, served with a strong ETag.
FILES: dict[str, tuple[bytes, str, str]] = {}
for _path in sorted(ASSETS.iterdir()):
    if _path.suffix in _TYPES:
        _content = _path.read_bytes()
        FILES[_path.name] = (_content, _TYPES[_path.suffix], f'"{hashlib.sha256(_content).hexdigest()[:32]}"')

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidated (ETag): a new version of the service shows its new page
}

router = APIRouter(include_in_schema=False)


def _file(request: Request, name: str) -> Response:
    if name not in FILES:
        return problem(request, 404, f"the explorer has no file {name!r}")
    content, media_type, etag = FILES[name]
    headers = {**HEADERS, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


@router.get("/")
async def explorer(request: Request) -> Response:
    return _file(request, "index.html")


@router.get("/explorer/{name}")
async def explorer_asset(request: Request, name: str) -> Response:
    return _file(request, name)
