"""A histogram of a big tensor, within the memory bound of streaming it (issue 19).

A real uvicorn server (2 generation threads, one for the module), warmed by a small histogram, answers
``POST /v1/tensors/stats`` with ``histogram`` for 8192 x 8192 float32 and bfloat16 (the widened float32
copy is one block's); a thread samples the server's RSS and the kernel's high-water mark catches
peaks between samples. Bound: issue 4's for a 1 GiB ``.npy`` stream, the peak rises at most 64 MiB over the
warm RSS (the tensor is made block by block of 2^20 elements, twice without a range: once for its extremes,
once for the counts). 2^26 elements keep a clear margin: held whole, the float32 tensor is 256 MiB, four
times the bound, the bfloat16 one 128 MiB, twice the bound (and 256 MiB more if widened to float32 whole),
while streaming holds a few 4 MiB blocks; the issue's 2^28 elements cost four times as long for the same
proof.
The counts must sum to the element count. The values are uniform
on [-1, 1), the cheapest to draw: the bound is of the blocks, not of the values. The seconds are printed
(``-s``): a measurement, not an assertion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .helpers import PeakRSS, rss_bytes, server_process

pytestmark = pytest.mark.slow

MiB = 1 << 20
BOUND = 64 * MiB
SHAPE = [1 << 13, 1 << 13]
#: What holding the tensor whole would add, per dtype: 4 and 2 times the bound.
HELD = {"float32": 4 * SHAPE[0] * SHAPE[1], "bfloat16": 2 * SHAPE[0] * SHAPE[1]}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    with server_process() as (base, process):
        yield base, process


@pytest.mark.parametrize(
    ("dtype", "histogram"), [("float32", {"bins": 1024}), ("bfloat16", {"bins": 256, "range": [-0.5, 0.5]})]
)
def test_a_big_histogram_stays_within_the_streaming_bound(
    server: tuple[str, Any], dtype: str, histogram: dict[str, object]
) -> None:
    base, process = server
    init = {"scheme": "uniform", "low": -1.0, "high": 1.0}
    elements = SHAPE[0] * SHAPE[1]
    assert HELD[dtype] >= 2 * BOUND
    body = {"shape": SHAPE, "init": init, "seed": 5, "dtype": dtype, "histogram": histogram}
    with httpx.Client(base_url=base, timeout=600) as http:
        warm = http.post("/v1/tensors/stats", json={**body, "shape": [2048, 2048]})
        assert warm.status_code == 200, warm.text
        before = rss_bytes(process.pid)
        start = time.perf_counter()
        with PeakRSS(process.pid) as rss:
            response = http.post("/v1/tensors/stats", json=body)
        seconds = time.perf_counter() - start
    assert response.status_code == 200, response.text
    stats = response.json()["stats"]
    counts = stats["histogram"]["counts"]
    assert stats["empirical"]["count"] == elements
    assert len(counts) == histogram["bins"] and len(stats["histogram"]["edges"]) == histogram["bins"] + 1
    if "range" in histogram:
        assert 0 < sum(counts) < elements  # about half the values are beyond +-0.5
    else:
        assert sum(counts) == elements
    rise = rss.peak - before
    print(f"\n{dtype} {SHAPE} histogram: {seconds:.1f} s, peak RSS +{rise / MiB:.1f} MiB over {before / MiB:.0f} MiB")
    assert rise <= BOUND, f"peak RSS rose {rise / MiB:.1f} MiB (bound {BOUND / MiB:.0f} MiB)"
