"""Permanent URLs (issue 18): POST -> Content-Location, GET -> the same bytes, validators, HEAD, 304,
bad tokens, byte ranges and single flight, in-process (the real-server checks are in
``test_permanent_urls_server.py``)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.api.flights import flights
from service.core.canonical import canonical_json
from service.core.frameworks import FRAMEWORK_ALIASES, FRAMEWORK_INITS
from service.encode import token as tokens

from .helpers import app_client, load_npy, metric_value, problem_of, settings

IMMUTABLE = "public, max-age=31536000, immutable"
TENSOR = {"shape": [24, 16], "init": {"scheme": "he"}, "seed": 11}
MODEL = {
    "entries": [
        {"preset": "torch.Linear", "prefix": "enc", "in_features": 12, "out_features": 6},
        {"name": "head.weight", "shape": [10, 6], "init": {"scheme": "torch.xavier_uniform_"}},
        {"name": "emb", "shape": [5, 4], "init": {"scheme": "normal", "std": 0.5}, "dtype": "float16"},
    ],
    "seed": 5,
}
TENSOR_FORMATS = [("/v1/tensors", "json"), ("/v1/tensors/npy", "npy"), ("/v1/tensors/safetensors", "safetensors")]
MODEL_FORMATS = [("/v1/models/safetensors", "safetensors"), ("/v1/models/npz", "npz")]


def _permanent(client: TestClient, path: str, body: dict[str, Any], fmt: str) -> tuple[httpx.Response, str]:
    posted = client.post(path, json=body)
    assert posted.status_code == 200, posted.text
    location = posted.headers["Content-Location"]
    assert location.endswith("." + fmt) and location.startswith(
        "/v1/" + ("models/" if "models" in path else "tensors/")
    )
    return posted, location


def _check_get(client: TestClient, posted: httpx.Response, location: str) -> None:
    got = client.get(location)
    assert got.status_code == 200, got.text
    assert got.content == posted.content
    assert got.headers["ETag"] == posted.headers["ETag"] and got.headers["ETag"].startswith('"e1-')
    assert got.headers["Cache-Control"] == IMMUTABLE
    assert got.headers["Content-Type"] == posted.headers["Content-Type"]
    assert "Content-Location" not in got.headers
    head = client.head(location)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(posted.content)
    assert head.headers["ETag"] == posted.headers["ETag"]
    again = client.get(location, headers={"If-None-Match": f'"other", {posted.headers["ETag"]}'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == posted.headers["ETag"] and again.headers["Cache-Control"] == IMMUTABLE
    assert client.get(location, headers={"If-None-Match": '"other"'}).content == posted.content


@pytest.mark.parametrize("stream", ["initserve-2", "initserve-1", "jax", "torch"])
@pytest.mark.parametrize(("path", "fmt"), TENSOR_FORMATS)
def test_tensor_post_names_a_url_whose_get_answers_the_same_bytes(
    client: TestClient, path: str, fmt: str, stream: str
) -> None:
    posted, location = _permanent(client, path, {**TENSOR, "stream": stream}, fmt)
    assert "Cache-Control" not in posted.headers  # seeded POST: nothing said, as for any POST
    _check_get(client, posted, location)


@pytest.mark.parametrize("stream", ["initserve-2", "torch"])
@pytest.mark.parametrize(("path", "fmt"), MODEL_FORMATS)
def test_model_post_names_a_url_whose_get_answers_the_same_bytes(
    client: TestClient, path: str, fmt: str, stream: str
) -> None:
    posted, location = _permanent(client, path, {**MODEL, "stream": stream}, fmt)
    _check_get(client, posted, location)


def test_flax_model_and_sliced_and_framework_tensors(client: TestClient) -> None:
    flax = {"entries": [{"preset": "flax.Dense", "prefix": "Dense_0", "in_features": 6, "features": 3}]}
    posted, location = _permanent(
        client, "/v1/models/safetensors", {**flax, "stream": "flax", "seed": 1}, "safetensors"
    )
    _check_get(client, posted, location)
    for body in (
        {**TENSOR, "shard": {"axis": 1, "index": 1, "count": 4}},
        {"shape": [3, 3, 8, 16], "init": {"scheme": "jax.he_normal", "in_axis": [0, 1, 2]}, "seed": 2},
        {
            "shape": [16, 8],
            "init": {"scheme": "variance_scaling"},
            "fan_axes": {"in_axis": 0, "out_axis": 1},
            "seed": 4,
        },
        {"shape": [16, 8], "init": {"scheme": "orthogonal"}, "layout": "torch", "seed": 4},
        {"shape": [6, 6], "init": {"scheme": "keras.RandomNormal", "stddev": 0.3}, "seed": 9, "dtype": "bfloat16"},
    ):
        path, fmt = ("/v1/tensors/safetensors", "safetensors") if "dtype" in body else ("/v1/tensors/npy", "npy")
        posted, location = _permanent(client, path, body, fmt)
        _check_get(client, posted, location)


def test_every_spelling_of_a_request_names_one_url(client: TestClient) -> None:
    spellings = [
        {"shape": [24, 16], "init": {"scheme": "he"}, "seed": 11},
        {"seed": 11, "init": {"scheme": "kaiming", "mode": "fan_in"}, "shape": [24, 16], "dtype": "float32"},
        {
            "stream": "initserve-2",
            "layout": "keras",
            "init": {"negative_slope": 0.0, "distribution": "normal", "mode": "fan_in", "scheme": "he"},
            "shape": [24, 16],
            "seed": 11,
        },
    ]
    locations = {client.post("/v1/tensors/npy", json=body).headers["Content-Location"] for body in spellings}
    assert len(locations) == 1
    shard = {**TENSOR, "shard": {"axis": 0, "index": 1, "count": 2}}
    sliced = {**TENSOR, "slice": [[12, 24]]}
    assert (
        client.post("/v1/tensors", json=shard).headers["Content-Location"]
        == (client.post("/v1/tensors", json=sliced).headers["Content-Location"])
    )
    aliases = [{"scheme": "keras.random_normal"}, {"scheme": "keras.RandomNormal", "mean": 0.0}]
    answers = [client.post("/v1/tensors", json={**TENSOR, "init": init}) for init in aliases]
    assert answers[0].headers["Content-Location"] == answers[1].headers["Content-Location"]
    assert answers[0].content == answers[1].content  # the alias is echoed under its canonical name
    reordered = {**MODEL, "entries": [dict(reversed(list(e.items()))) for e in MODEL["entries"]]}
    reordered["entries"][0]["bias"] = True  # a default, given
    first = client.post("/v1/models/npz", json=MODEL).headers["Content-Location"]
    assert client.post("/v1/models/npz", json=reordered).headers["Content-Location"] == first
    # different requests, different URLs and ETags
    other = client.post("/v1/tensors/npy", json={**TENSOR, "seed": 12})
    assert other.headers["Content-Location"] not in locations
    etags = {client.post(p, json=TENSOR).headers["ETag"] for p, _ in TENSOR_FORMATS}
    assert len(etags) == 3  # one per format


def test_a_seedless_post_names_the_seed_it_used(client: TestClient) -> None:
    body = {"shape": [32, 8], "init": {"scheme": "glorot"}}
    posted = client.post("/v1/tensors/npy", json=body)
    assert posted.headers["Cache-Control"] == "no-store"
    seed = int(posted.headers["X-Init-Seed"])
    token = posted.headers["Content-Location"].removeprefix("/v1/tensors/").removesuffix(".npy")
    request, _ = tokens.decode("tensor", token)
    assert request["seed"] == seed  # type: ignore[index]
    got = client.get(posted.headers["Content-Location"])
    assert got.content == posted.content and got.headers["Cache-Control"] == IMMUTABLE
    model = client.post("/v1/models/safetensors", json={**MODEL, "seed": None})
    assert client.get(model.headers["Content-Location"]).content == model.content


def _token(location: str) -> str:
    return location.rsplit("/", 1)[1].rsplit(".", 1)[0]


def test_bad_tokens_are_404_problems(client: TestClient) -> None:
    location = client.post("/v1/tensors/npy", json=TENSOR).headers["Content-Location"]
    token = _token(location)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rng = random.Random(18)
    tampered = set()
    for position in range(len(token)):  # every position changed
        tampered.add(token[:position] + rng.choice(alphabet.replace(token[position], "")) + token[position + 1 :])
    tampered |= {token[:-1], token + "A", "2" + token[1:], "", "1", "1" + "A" * 40, "x.y", token.upper()}
    for bad in tampered:
        if bad == token:
            continue
        answer = client.get(f"/v1/tensors/{bad}.npy")
        assert answer.status_code in (404, 405) if bad == "" else answer.status_code == 404, (bad, answer.text)
        if answer.status_code == 404:
            problem_of(answer)
    # a tensor's token is no model's
    assert client.get(f"/v1/models/{token}.npz").status_code == 404
    # a valid checksum over a request that is not canonical, or not valid, or not even an object
    for json in (
        b'{"shape":[24,16],"init":{"scheme":"kaiming"},"seed":11}',
        b'{"shape":[-1],"init":{"scheme":"he"},"seed":1,"stream":"initserve-2"}',
        b'{"shape":[2],"init":{"scheme":"he"},"seed":1,"stream":"nope"}',
        b"[1, 2]",
        b"not json",
    ):
        answer = client.get(f"/v1/tensors/{tokens.encode('tensor', json)}.npy")
        assert answer.status_code == 404, answer.text
        problem_of(answer)
    too_long = client.get(f"/v1/tensors/1{'A' * tokens.MAX_TOKEN_CHARS}.npy")
    assert too_long.status_code == 414 and "POST" in problem_of(too_long)["detail"]


def test_a_request_whose_token_would_be_too_long_has_no_url(client: TestClient) -> None:
    rng = random.Random(4)
    entries = [
        {
            "name": "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=40)),
            "shape": [1],
            "init": {"scheme": "zeros"},
        }
        for _ in range(150)
    ]
    body = {"entries": entries, "seed": 1}
    answer = client.post("/v1/models/npz", json=body)
    assert answer.status_code == 200 and "Content-Location" not in answer.headers and "ETag" in answer.headers


def test_range_requests_of_a_tiny_file(client: TestClient) -> None:
    """Byte ranges [a, b] of a 136-byte file (two float32 after a 128-byte header), and every suffix
    range, equal the file's slice."""
    location = client.post(
        "/v1/tensors/npy", json={"shape": [2], "init": {"scheme": "normal"}, "seed": 3, "dtype": "float32"}
    ).headers["Content-Location"]
    whole = client.get(location).content
    size = len(whole)
    assert size == 136

    async def every() -> None:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for first in range(size):
                # every range that starts in the last 16 bytes of the header or in the body; from earlier
                # starts, every range ending in the header's last bytes, the body's first, or the end
                ends = range(first, size + 2) if first >= 112 else (first, 126, 127, 128, 129, 131, size - 1)
                for last in ends:
                    answer = await http.get(location, headers={"Range": f"bytes={first}-{last}"})
                    assert answer.status_code == 206, (first, last)
                    assert answer.content == whole[first : last + 1], (first, last)
                    end = min(last, size - 1)
                    assert answer.headers["Content-Range"] == f"bytes {first}-{end}/{size}"
            for suffix in range(1, size + 3):
                answer = await http.get(location, headers={"Range": f"bytes=-{suffix}"})
                assert answer.status_code == 206 and answer.content == whole[-suffix:]

    asyncio.run(every())


@pytest.mark.parametrize(
    "body",
    [
        {"shape": [70001], "init": {"scheme": "normal"}, "seed": 1},  # crosses initserve-1 chunks
        {"shape": [70001], "init": {"scheme": "normal"}, "seed": 1, "stream": "initserve-1"},
        {"shape": [300, 257], "init": {"scheme": "he"}, "seed": 2, "dtype": "float16", "slice": [[10, 290], [3, 250]]},
        {"shape": [64, 48], "init": {"scheme": "orthogonal"}, "seed": 3, "dtype": "float64"},
        {"shape": [1 << 21], "init": {"scheme": "uniform"}, "seed": 4},  # streamed, over the buffered size
    ],
)
def test_range_requests_equal_the_slices_of_the_file(body: dict[str, Any]) -> None:
    with app_client(buffered_npy_bytes=1 << 22) as client:
        location = client.post("/v1/tensors/npy", json=body).headers["Content-Location"]
        whole = client.get(location).content
        size = len(whole)
        itemsize = load_npy(whole).dtype.itemsize
        header = size - load_npy(whole).nbytes
        points = {0, 1, header - 1, header, header + 1, size - 2, size - 1}
        for chunk in (1 << 16, 1 << 20):  # chunk and block boundaries, in bytes
            byte = header + chunk * itemsize
            points |= {byte - 1, byte, byte + 1}
        rng = random.Random(size)
        points |= {rng.randrange(size) for _ in range(12)}
        points = sorted(p for p in points if 0 <= p < size)
        for first in points:
            for last in points:
                if last >= first:
                    answer = client.get(location, headers={"Range": f"bytes={first}-{last}"})
                    assert answer.status_code == 206 and answer.content == whole[first : last + 1], (first, last)
        tail = client.get(location, headers={"Range": f"bytes={header + 5}-"})
        assert tail.content == whole[header + 5 :]
        # segmented download: four ranges put together are the file
        cuts = [0, size // 4, size // 2, 3 * size // 4 + 1, size]
        parts = [
            client.get(location, headers={"Range": f"bytes={a}-{b - 1}"}).content for a, b in itertools.pairwise(cuts)
        ]
        assert b"".join(parts) == whole


def test_range_edge_cases(client: TestClient) -> None:
    location = client.post("/v1/tensors/npy", json=TENSOR).headers["Content-Location"]
    whole = client.get(location)
    size = len(whole.content)
    assert whole.headers["Accept-Ranges"] == "bytes"
    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        answer = client.get(location, headers={"Range": unsatisfiable})
        assert answer.status_code == 416 and answer.headers["Content-Range"] == f"bytes */{size}"
        problem_of(answer)
    for ignored in ("bytes=0-1,4-5", "items=0-1", "bytes=5-2", "bytes=abc", "bytes=-"):
        answer = client.get(location, headers={"Range": ignored})
        assert answer.status_code == 200 and answer.content == whole.content, ignored
    stale = client.get(location, headers={"Range": "bytes=0-9", "If-Range": '"another"'})
    assert stale.status_code == 200 and stale.content == whole.content
    fresh = client.get(location, headers={"Range": "bytes=0-9", "If-Range": whole.headers["ETag"]})
    assert fresh.status_code == 206 and fresh.content == whole.content[:10]
    head = client.head(location, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.headers["Content-Length"] == "10" and head.content == b""


def test_head_and_304_generate_nothing() -> None:
    with app_client(buffered_npy_bytes=1 << 16) as client:
        locations = [
            client.post(path, json={**body, "seed": 1}).headers["Content-Location"]
            for path, body in (
                ("/v1/tensors/npy", {"shape": [64, 64], "init": {"scheme": "he"}}),  # buffered
                ("/v1/tensors/npy", {"shape": [512, 512], "init": {"scheme": "he"}}),  # streamed
                ("/v1/tensors/safetensors", {"shape": [512, 512], "init": {"scheme": "he"}}),  # streamed
                ("/v1/models/npz", MODEL),
            )
        ]
        before = client.get("/metrics").text
        for location in locations:
            etag = client.head(location).headers["ETag"]
            assert client.get(location, headers={"If-None-Match": etag}).status_code == 304
        after = client.get("/metrics").text
        for metric in ("initserve_elements_generated_total", "initserve_blocks_generated_total"):
            assert metric_value(after, metric) == metric_value(before, metric), metric


def test_identical_requests_in_flight_share_one_generation() -> None:
    """Eight identical stats requests (and eight JSON, eight buffered .npy) held until all have joined
    the first one's flight: one generation, eight identical answers, the budget given back."""
    app_settings = settings(threads=2)
    from service.main import create_app

    app = create_app(app_settings)
    runtime = app.state.runtime
    shared = flights(runtime)
    admit = runtime.admit
    everyone_in = asyncio.Event()

    async def admit_when_all_joined(*args: Any, **kwargs: Any) -> Any:
        await everyone_in.wait()
        return await admit(*args, **kwargs)

    runtime.admit = admit_when_all_joined

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"shape": [1 << 18], "init": {"scheme": "normal"}, "seed": 8}
            for path in ("/v1/tensors/stats", "/v1/tensors", "/v1/tensors/npy", "/v1/models/stats"):
                request = MODEL if "models" in path else body

                async def generated() -> float:
                    return metric_value((await http.get("/metrics")).text, "initserve_elements_generated_total")

                everyone_in.set()
                before = await generated()
                alone = await http.post(path, json=request)
                one = await generated() - before
                joined = shared.joined
                everyone_in.clear()
                tasks = [asyncio.ensure_future(http.post(path, json=request)) for _ in range(8)]
                while shared.joined < joined + 7:  # bounded: the test's timeout
                    await asyncio.sleep(0.01)
                everyone_in.set()
                answers = await asyncio.gather(*tasks)
                assert all(a.status_code == 200 for a in answers), answers[0].text
                assert {a.content for a in answers} == {alone.content}
                assert len({a.headers["X-Request-Id"] for a in answers}) == 8
                assert await generated() - before == 2 * one  # the lone request, then one for the eight
                assert shared.in_flight == 0 and runtime.admission.in_use == 0

    with TestClient(app):  # the lifespan
        asyncio.run(run())


def test_tokens_round_trip_and_checksums() -> None:
    json = canonical_json({"shape": [3], "init": {"scheme": "he"}, "seed": 1})
    token = tokens.encode("tensor", json)
    assert tokens.decode("tensor", token)[1] == json
    with pytest.raises(tokens.BadToken):
        tokens.decode("model", token)
    raw = base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4))
    flipped = tokens.VERSION + base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).rstrip(b"=").decode()
    with pytest.raises(tokens.BadToken):
        tokens.decode("tensor", flipped)


def test_tokens_deflated_at_mem_level_8_are_the_first_encoders_streams() -> None:
    """``tokens.encode`` deflates JSON up to ``SMALL_JSON_BYTES`` with zlib's memLevel 8 (cheaper), which must
    write the stream memLevel 9 wrote: checked on random tensor and model requests up to that size."""
    import zlib

    def deflate(json: bytes, mem_level: int) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15, mem_level, zlib.Z_DEFAULT_STRATEGY, tokens.DICTIONARY)
        return packer.compress(json) + packer.flush()

    rng = random.Random(15)
    schemes = ["he", "glorot", "lecun", "orthogonal", "torch.kaiming_normal_", "keras.GlorotUniform", "jax.he_normal"]
    for index in range(300):
        tensor = {
            "dtype": rng.choice(["float32", "float64", "bfloat16"]),
            "init": {"scheme": rng.choice(schemes), "mode": rng.choice(["fan_in", "fan_avg"]), "gain": rng.random()},
            "layout": rng.choice(["torch", "keras", "jax"]),
            "seed": rng.randrange(2**53),
            "shape": [rng.randrange(1, 5000) for _ in range(rng.randrange(1, 5))],
            "stream": rng.choice(["initserve-2", "initserve-1", "torch"]),
        }
        names = ("".join(rng.choice("ab._0123") for _ in range(rng.randrange(1, 30))) for _ in itertools.count())
        request = (
            {"entries": [{**tensor, "name": next(names)} for _ in range(rng.randrange(1, 90))]} if index % 2 else tensor
        )
        json = canonical_json(request)[: tokens.SMALL_JSON_BYTES]
        assert deflate(json, 8) == deflate(json, 9), json[:80]
        assert tokens.encode("tensor", json) == tokens.VERSION + tokens._b64(
            deflate(json, 9) + tokens._check("tensor", json)
        )


def test_every_initializer_and_preset_has_a_url_that_answers(client: TestClient) -> None:
    """The canonical form is a fixed point for every framework-named initializer (and alias) and every
    preset configuration of the preset tests: the POST's URL decodes, resolves and answers the same bytes
    (a non-canonical token would be a 404)."""
    from presets.cases import ALL_CASES

    from .test_framework_inits import _body

    for name in [*FRAMEWORK_INITS, *FRAMEWORK_ALIASES]:
        body = _body(name)
        path = "/v1/tensors/safetensors" if name.startswith("torch.sparse_") else "/v1/tensors/npy"
        posted = client.post(path, json=body)
        assert posted.status_code == 200, (name, posted.text)
        assert client.get(posted.headers["Content-Location"]).content == posted.content, name
    for preset, args in ALL_CASES:
        extra = {"name": "extra", "shape": [2], "init": {"scheme": "ones"}}  # a preset may have no parameters
        body = {"entries": [{"preset": preset, "prefix": "layer", **args}, extra], "seed": 2}
        posted = client.post("/v1/models/safetensors", json=body)
        assert posted.status_code == 200, (preset, args, posted.text)
        assert client.get(posted.headers["Content-Location"]).content == posted.content, (preset, args)


def test_the_documented_example_tokens_answer(client: TestClient) -> None:
    """The OpenAPI examples of the token parameters (schemathesis' examples phase fetches them) are live."""
    spec = client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        if "{token}" in path:
            (parameter,) = item["get"]["parameters"]
            for example in parameter["schema"].get("examples", parameter.get("examples", [])):
                answer = client.get(path.replace("{token}", example))
                assert answer.status_code == 200, (path, answer.text)
