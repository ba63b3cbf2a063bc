"""Single flight: 8 concurrent identical ``POST /v1/tensors/stats`` requests of 2^26 elements against one.

Usage (from the repository root)::

    python bench/bench_single_flight.py [--repeats N] [--elements N] [--concurrent N]

It starts ``python -m service`` (one worker, the default settings) on a free loopback port and, per
repeat, in a shuffled order: one request alone; ``--concurrent`` identical requests sent at once on as
many connections (they share one generation: ``service.api.flights``); and as many requests differing
only in their seed (no sharing possible: the work a cache-less service would do for the identical ones).
It prints the medians, the median of the per-repeat ratios (target: identical <= 2x one), the elements
the server counted as generated per identical round (one tensor's when shared), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import free_port, start_server


def body(elements: int, seed: int) -> dict[str, object]:
    return {"shape": [elements], "init": {"scheme": "he", "distribution": "normal"}, "seed": seed}


async def together(client: httpx.AsyncClient, url: str, bodies: list[dict[str, object]]) -> tuple[float, set[bytes]]:
    start = time.perf_counter()
    answers = await asyncio.gather(*(client.post(url, json=b) for b in bodies))
    elapsed = time.perf_counter() - start
    assert all(a.status_code == 200 for a in answers), answers[0].text
    return elapsed, {a.content for a in answers}


def generated(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    name = "initserve_elements_generated_total"
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0] == name)


async def run(port: int, repeats: int, elements: int, concurrent: int) -> None:
    url = f"http://127.0.0.1:{port}/v1/tensors/stats"
    limits = httpx.Limits(max_connections=concurrent, max_keepalive_connections=concurrent)
    times: dict[str, list[float]] = {"one": [], "identical": [], "distinct": []}
    shared_counts = []
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await together(client, url, [body(elements, 0)] * concurrent)  # warm: connections, kernels
        for repeat in range(repeats):
            parts = list(times)
            random.shuffle(parts)
            for part in parts:
                seed = 1000 * (repeat + 1)
                if part == "one":
                    elapsed, _ = await together(client, url, [body(elements, seed)])
                elif part == "identical":
                    before = generated(port)
                    elapsed, contents = await together(client, url, [body(elements, seed + 1)] * concurrent)
                    assert len(contents) == 1
                    shared_counts.append(generated(port) - before)
                else:
                    elapsed, contents = await together(
                        client, url, [body(elements, seed + 2 + k) for k in range(concurrent)]
                    )
                    assert len(contents) == concurrent
                times[part].append(elapsed)
    one = statistics.median(times["one"])
    print(f"{elements} elements (he normal, float32), {repeats} repeats, {concurrent} concurrent; medians:")
    for part, values in times.items():
        ratios = [v / o for v, o in zip(values, times["one"], strict=True)]
        print(f"  {part:10s} {statistics.median(values) * 1e3:9.1f} ms   x{statistics.median(ratios):5.2f} of one")
    print(f"  identical rounds generated {statistics.median(shared_counts):.0f} elements each (one tensor: {elements})")
    verdict = "met" if statistics.median(times["identical"]) <= 2 * one else "MISSED"
    print(f"  target identical <= 2x one: {verdict}")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--elements", type=int, default=1 << 26)
    parser.add_argument("--concurrent", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    server = start_server(port, extra_env={"INITSERVE_ACCESS_LOG": "false"})
    try:
        asyncio.run(run(port, args.repeats, args.elements, args.concurrent))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
