"""``GET /`` and ``GET /explorer/{name}``: the explorer's page and assets from the package, offline (no
address of another origin in any of them), a strict Content-Security-Policy, revalidation by ETag, a
404 problem for a file that is not the page's, and no operation in the OpenAPI document."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from service.api.explorer import ASSETS, FILES

from .helpers import problem_of


def test_the_page_and_its_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    linked = set(re.findall(r'(?:src|href)="/explorer/([^"]+)"', page.text))
    assert linked == {"app.js", "style.css"}
    for path in sorted(ASSETS.iterdir()):
        if path.suffix in {".js", ".css"}:
            answer = client.get(f"/explorer/{path.name}")
            assert answer.status_code == 200 and answer.content == path.read_bytes()
            expected = "text/javascript" if path.suffix == ".js" else "text/css"
            assert answer.headers["content-type"].startswith(expected)


def test_nothing_comes_from_another_origin() -> None:
    for name, (content, _, _) in FILES.items():
        text = content.decode()
        assert not re.search(r"""(?:src|href|url|import|from)\s*[=(]?\s*["']?(?:https?:)?//""", text), name
        assert "@import" not in text and "fonts." not in text, name


def test_modules_import_only_each_other() -> None:
    for name, (content, _, _) in FILES.items():
        for target in re.findall(r'from "([^"]+)"', content.decode()) if name.endswith(".js") else []:
            if name == "snippets.js":
                continue  # the TypeScript snippet's text names openapi-fetch; it is not imported here
            assert target.startswith("./") and target[2:] in FILES, (name, target)


def test_etag_revalidation(client: TestClient) -> None:
    first = client.get("/explorer/app.js")
    again = client.get("/explorer/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_an_unknown_file_is_a_404_problem(client: TestClient) -> None:
    for path in ("/explorer/nope.js", "/explorer/..%2Fapi%2Fexplorer.py", "/explorer/"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        problem_of(answer)


def test_left_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith("/explorer")]
