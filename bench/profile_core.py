"""Where the core's time goes, per chunk of 65536 elements, on one thread.

Usage (from the repository root)::

    python bench/profile_core.py [--chunks N] [--repeats R]

For he-normal, glorot-uniform and the Keras truncated normal (the three of ``bench_core.py``), each
chunk is made step by step as ``distributions.py`` makes it (generator construction, the draw, the
scaling, the truncated normal's rejection mask and redraws, the clip), then ``stats.chunk_sums`` runs
on it; every chunk is checked to equal ``plan.source.fill`` byte for byte, so the profile cannot drift
from the code. Then the steps of ``chunk_sums`` one by one, the first touch of a new 64 MiB output,
and the page faults of one ``Engine(1).generate`` (glibc gives freed 512 KiB temporaries back to the
OS when they sit at the top of the main heap, and the next chunk faults them in again).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core import distributions as D
from service.core.engine import Engine
from service.core.sources import CHUNK_ELEMENTS, chunk_generator
from service.core.stats import chunk_sums

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import SCHEMES, make_plan

clock = time.perf_counter


def steps_normal(dist: D.Normal, rng: np.random.Generator, out: np.ndarray, t: dict[str, float]) -> None:
    t0 = clock()
    rng.standard_normal(dtype=out.dtype, out=out)
    t1 = clock()
    out *= dist.std
    t["draw"] += t1 - t0
    t["scale"] += clock() - t1


def steps_uniform(dist: D.Uniform, rng: np.random.Generator, out: np.ndarray, t: dict[str, float]) -> None:
    t0 = clock()
    rng.random(dtype=out.dtype, out=out)
    t1 = clock()
    out *= 2.0 * out.dtype.type(dist.high)
    out -= dist.high
    t["draw"] += t1 - t0
    t["scale"] += clock() - t1


def steps_truncated(dist: D.TruncatedNormal, rng: np.random.Generator, out: np.ndarray, t: dict[str, float]) -> None:
    assert dist.method == "normal" and dist.alpha == -dist.beta and dist.mean == 0.0
    beta = D._in_dtype(dist.beta, out.dtype)
    t0 = clock()
    rng.standard_normal(dtype=out.dtype, out=out)
    t1 = clock()
    rejected = np.flatnonzero(np.abs(out) > beta)
    t2 = clock()

    def propose(n: int) -> np.ndarray:
        z = rng.standard_normal(n, dtype=out.dtype)
        return z[(z >= -beta) & (z <= beta)]

    D._fill_rejected(out, rejected, propose)
    t3 = clock()
    out *= dist.std
    t4 = clock()
    np.clip(out, D._in_dtype(dist.low, out.dtype), D._in_dtype(dist.high, out.dtype), out=out)
    t5 = clock()
    for name, dt in (("draw", t1 - t0), ("mask+flatnonzero", t2 - t1), ("redraws", t3 - t2)):
        t[name] += dt
    t["scale"] += t4 - t3
    t["clip"] += t5 - t4


STEPS: dict[type, Callable[..., None]] = {
    D.Normal: steps_normal,
    D.Uniform: steps_uniform,
    D.TruncatedNormal: steps_truncated,
}


def profile_scheme(scheme: str, chunks: int, repeats: int) -> None:
    plan = make_plan(scheme, 4096, 42)
    dist = plan.source.distribution  # type: ignore[attr-defined]
    steps = STEPS[type(dist)]
    out = np.empty(CHUNK_ELEMENTS, np.float32)
    ref = np.empty_like(out)
    per_repeat: dict[str, list[float]] = {}
    for r in range(repeats):
        t: dict[str, float] = dict.fromkeys(("generator", "draw", "mask+flatnonzero", "redraws", "scale", "clip"), 0.0)
        t["stats"] = 0.0
        for c in range(chunks):
            t0 = clock()
            rng = chunk_generator(plan.spec.seed, c)
            t["generator"] += clock() - t0
            steps(dist, rng, out, t)
            t0 = clock()
            chunk_sums(out, plan.moments.mean, plan.sum_scale)
            t["stats"] += clock() - t0
            if r == 0:
                plan.source.fill(c, ref)
                if ref.tobytes() != out.tobytes():
                    raise SystemExit(f"{scheme}: chunk {c} differs from plan.source.fill; update this profile")
        for name, v in t.items():
            per_repeat.setdefault(name, []).append(v / chunks * 1e6)
    med = {k: statistics.median(v) for k, v in per_repeat.items() if max(v) > 0}
    total = sum(med.values())
    print(f"\n{scheme}: {total:.0f} us per chunk on one thread (x 256 chunks = {total * 256 / 1e3:.0f} ms)")
    for name, us in med.items():
        print(f"   {name:18s} {us:7.1f} us  {100 * us / total:5.1f} %")


def profile_chunk_sums(repeats: int) -> None:
    """The steps of chunk_sums on fresh float32 chunks, each step timed on its own (float64 work space)."""
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(CHUNK_ELEMENTS, dtype=np.float32) for _ in range(16)]
    out = np.empty(CHUNK_ELEMENTS, np.float32)
    d, d2 = np.empty(CHUNK_ELEMENTS), np.empty(CHUNK_ELEMENTS)
    names = ("copy to float64", "d*d", "sum d", "sum d^2", "d*d^2", "sum d^3", "d^2*d^2", "sum d^4", "min", "max")
    acc = np.zeros(len(names))
    for _ in range(repeats * 4):
        for x in xs:
            np.copyto(out, x)  # as just sampled: in cache
            marks = [clock()]
            np.copyto(d, out)
            marks.append(clock())
            np.multiply(d, d, out=d2)
            marks.append(clock())
            np.add.reduce(d)
            marks.append(clock())
            np.add.reduce(d2)
            marks.append(clock())
            np.multiply(d, d2, out=d)
            marks.append(clock())
            np.add.reduce(d)
            marks.append(clock())
            np.multiply(d2, d2, out=d2)
            marks.append(clock())
            np.add.reduce(d2)
            marks.append(clock())
            out.min()
            marks.append(clock())
            out.max()
            marks.append(clock())
            acc += np.diff(marks)
    per = acc / (repeats * 4 * len(xs)) * 1e6
    print(f"\nchunk_sums step by step (no allocation): {per.sum():.0f} us per chunk")
    for name, us in zip(names, per, strict=True):
        print(f"   {name:18s} {us:7.1f} us")


def faults_of_generate() -> None:
    def minflt() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    times = []
    for _ in range(5):
        t0 = clock()
        a = np.empty(4096 * 4096, np.float32)
        a[::1024] = 0.0
        times.append(clock() - t0)
        del a
    print(f"\nfirst touch of a new 64 MiB output: {1e3 * statistics.median(times):.1f} ms (one thread)")
    plan = make_plan("glorot-uniform", 4096, 42)
    with Engine(1) as engine:
        for run in range(3):
            f0, t0 = minflt(), clock()
            g = engine.generate(plan)
            dt, faults = clock() - t0, minflt() - f0
            del g
            print(f"Engine(1).generate glorot-uniform, run {run}: {1e3 * dt:.1f} ms, {faults} minor page faults")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=64, help="chunks per measurement (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per scheme (default 5)")
    args = parser.parse_args()
    # A fresh process: the page faults are measured first, before anything else shapes the heap.
    faults_of_generate()
    for scheme in SCHEMES:
        profile_scheme(scheme, args.chunks, args.repeats)
    profile_chunk_sums(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
