"""Permanent URLs against real uvicorn servers (issue 18): the same URL, ETag and bytes from two replicas
and after a restart, HEAD without generation, ``curl -C -`` resume, and a 1 GiB file fetched as eight
parallel ranges equal to the single fetch.

One server serves the module (answers over 1 MiB stream); the replica test starts a second one."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import PeakRSS, metric_value, running_server, server_process

MiB = 1 << 20

TENSOR = {"shape": [300, 200], "init": {"scheme": "glorot"}, "seed": 21}
MODEL = {
    "entries": [
        {"preset": "torch.Linear", "prefix": "fc", "in_features": 32, "out_features": 16},
        {"name": "scale", "shape": [16], "init": {"scheme": "ones"}},
    ],
    "seed": 3,
}
POSTS = [
    ("/v1/tensors/npy", TENSOR),
    ("/v1/tensors", TENSOR),
    ("/v1/tensors/safetensors", TENSOR),
    ("/v1/models/safetensors", MODEL),
    ("/v1/models/npz", MODEL),
    ("/v1/tensors/npy", {"shape": [64, 64], "init": {"scheme": "he"}}),  # seedless: the URL holds the seed
]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    with server_process({"INITSERVE_BUFFERED_NPY_BYTES": str(MiB)}) as (base, process):
        yield base, process


def _fetch(base: str, location: str) -> tuple[str, bytes]:
    answer = httpx.get(base + location, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.headers["ETag"], answer.content


def test_urls_etags_and_bytes_are_the_same_on_every_replica_and_after_a_restart(server: tuple[str, Any]) -> None:
    """URLs named by the module's server, then by a second server started afterwards: a process that never
    saw them, which is all a restart is (the service keeps nothing on disk, and its replicas share
    nothing), names the same URLs and serves their bytes, as the first still does."""
    first, _ = server
    posted = [httpx.post(first + path, json=body, timeout=60) for path, body in POSTS]
    named = {a.headers["Content-Location"]: (a.headers["ETag"], a.content) for a in posted}
    assert len(named) == len(POSTS)
    with running_server() as second:
        again = [httpx.post(second + path, json=body, timeout=60) for path, body in POSTS[:-1]]
        assert [a.headers["Content-Location"] for a in again] == [a.headers["Content-Location"] for a in posted[:-1]]
        for location, expected in named.items():
            assert _fetch(second, location) == expected, location  # the other replica decodes it
            assert _fetch(first, location) == expected, location


def test_head_and_conditional_get_generate_nothing(server: tuple[str, Any]) -> None:
    """HEAD of a streamed and a buffered .npy, a streamed safetensors and an npz: the right
    Content-Length, no body, and the service's metrics count no element and no block made."""
    base, _ = server
    bodies = [
        ("/v1/tensors/npy", {"shape": [1 << 19], "init": {"scheme": "normal"}, "seed": 1}),  # 2 MiB + header
        ("/v1/tensors/npy", {"shape": [256, 256], "init": {"scheme": "he"}, "seed": 1}),
        ("/v1/tensors/safetensors", {"shape": [1 << 20], "init": {"scheme": "uniform"}, "seed": 1}),
        ("/v1/models/npz", MODEL),
    ]
    sizes = {}
    for path, body in bodies:
        answer = httpx.post(base + path, json=body, timeout=120)
        sizes[answer.headers["Content-Location"]] = (len(answer.content), answer.headers["ETag"])
    before = httpx.get(base + "/metrics").text
    for location, (size, etag) in sizes.items():
        head = httpx.head(base + location, timeout=60)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["Content-Length"]) == size and head.headers["ETag"] == etag
        cached = httpx.get(base + location, headers={"If-None-Match": etag}, timeout=60)
        assert cached.status_code == 304 and cached.content == b""
    after = httpx.get(base + "/metrics").text
    for metric in ("initserve_elements_generated_total", "initserve_blocks_generated_total"):
        assert metric_value(after, metric) == metric_value(before, metric), metric
    assert metric_value(after, "initserve_elements_generated_total") > 0  # the POSTs were counted


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")
def test_curl_resumes_a_download(server: tuple[str, Any], tmp_path: Path) -> None:
    """``curl -C -`` continues a cut download with a Range request: the file equals the whole."""
    base, _ = server
    body = {"shape": [1 << 20], "init": {"scheme": "truncated_normal"}, "seed": 5}
    location = httpx.post(base + "/v1/tensors/npy", json=body, timeout=60).headers["Content-Location"]
    whole = httpx.get(base + location, timeout=60).content
    for cut in (0, 77, 128, 130, len(whole) // 3, len(whole) - 1):
        target = tmp_path / f"cut-{cut}.npy"
        target.write_bytes(whole[:cut])
        subprocess.run(["curl", "-sSf", "-C", "-", "-o", str(target), base + location], check=True, timeout=60)
        assert target.read_bytes() == whole, cut


def _hash_parts(base: str, location: str, cuts: list[int], headers: dict[str, str]) -> tuple[int, list[str]]:
    """GET ``location`` and hash its body in the parts that ``cuts`` delimit (offsets from the body's start),
    read into one 1 MiB buffer (the client holds no more); (status, digests)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        connection.request("GET", location, headers=headers)
        answer = connection.getresponse()
        buffer = memoryview(bytearray(MiB))
        digests = []
        for start, stop in itertools.pairwise(cuts):
            digest, left = hashlib.sha256(), stop - start
            while left:
                got = answer.readinto(buffer[: min(MiB, left)])
                assert got, f"the body ended {left} bytes short of a part"
                digest.update(buffer[:got])
                left -= got
            digests.append(digest.hexdigest())
        assert answer.read(1) == b""
        return answer.status, digests
    finally:
        connection.close()


@pytest.mark.slow
def test_a_gibibyte_fetched_as_eight_parallel_ranges_equals_the_single_fetch(server: tuple[str, Any]) -> None:
    """2^28 float32 (1 GiB + 128 bytes): eight concurrent Range requests hash, part by part, as the single
    fetch does; neither the client (hashing as it reads) nor the server holds the file: the server's peak
    memory grows by far less than the file."""
    base, process = server
    body = {"shape": [1 << 28], "init": {"scheme": "uniform"}, "seed": 18}
    with httpx.Client(timeout=600) as posted, posted.stream("POST", base + "/v1/tensors/npy", json=body) as answer:
        location = answer.headers["Content-Location"]  # its headers only
        size = int(answer.headers["Content-Length"])
    assert size == (1 << 30) + 128
    cuts = [size * k // 8 for k in range(9)]

    def ranged(k: int) -> str:
        status, (digest,) = _hash_parts(
            base, location, [0, cuts[k + 1] - cuts[k]], {"Range": f"bytes={cuts[k]}-{cuts[k + 1] - 1}"}
        )
        assert status == 206
        return digest

    with PeakRSS(process.pid) as memory:
        baseline = memory.sampled
        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(ranged, range(8)))
    status, whole = _hash_parts(base, location, cuts, {})
    assert status == 200
    assert parts == whole
    print(f"server peak RSS growth during the 8 ranges: {(memory.peak - baseline) >> 20} MiB")  # pytest -s
    assert memory.peak - baseline < 512 << 20, (memory.peak - baseline) >> 20
