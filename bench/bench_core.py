"""Benchmark of the NumPy core: a 4096 x 4096 float32 tensor, ours against NumPy and PyTorch.

Usage (from the repository root)::

    python bench/bench_core.py [--repeats N] [--threads T] [--size S] [--blas {service,default}]

Three schemes, each against its baselines:

- ``he-normal``: our ``he`` (normal, keras layout, fan_in); NumPy
  ``rng.standard_normal(shape, dtype=float32) * std``; ``torch.nn.init.kaiming_normal_``.
- ``glorot-uniform``: our ``glorot`` (uniform); NumPy ``rng.random(shape, dtype=float32) * 2r - r``;
  ``torch.nn.init.xavier_uniform_`` (same bound) and ``kaiming_uniform_`` (the target's reference).
- ``trunc-normal``: our ``variance_scaling`` (truncated_normal, scale 2, fan_in), Keras semantics;
  a NumPy rejection sampler; ``torch.nn.init.trunc_normal_(std=s0, a=-2 s0, b=2 s0)``.

Ours is ``Engine(threads).generate(plan)`` (with the statistics), with the default thread count
(the cores) and with one thread, plus two runs over the same engine pool that only fill the blocks
(``fill_block(..., with_stats=False)``) or fill them with their chunk statistics, so that the cost of
the statistics alone is ``fill+stats - fill``. Every contender allocates its output in the timed
region (as the service does); the previous result is freed before each timed call.

Noise: within each repeat every contender of a scheme runs once, in an order rotated by one each
repeat, so a noisy spell hits all of them. The table gives the median and the min over the repeats,
and two ratios ``ours / baseline``: the ratio of the medians and the median of the per-repeat
(paired) ratios; the targets are judged on the paired median.

BLAS: the service limits BLAS to one thread while it runs (``service/main.py``); ``--blas service``
(the default) does the same here. ``--blas default`` leaves BLAS threads as loaded (the library use
of ``Engine``/``make_tensor``); on a small machine the threaded ``np.dot`` of the statistics inside the
engine's pool then oversubscribes the cores. PyTorch does not use BLAS for these initializers.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core.engine import Engine, block_ranges
from service.core.plan import TensorPlan, TensorSpec, plan_tensor
from service.core.schemes import resolve_init

try:
    import torch
except ImportError:  # the torch baselines are skipped
    torch = None

try:
    from threadpoolctl import ThreadpoolController
except ImportError:
    ThreadpoolController = None

TARGETS: dict[str, tuple[str, str, float]] = {
    # scheme: (our contender, baseline, bound); "<=": ours/baseline <= bound; ">=": baseline/ours >= bound
    "he-normal": ("torch kaiming_normal_", "<=", 1.3),
    "glorot-uniform": ("torch kaiming_uniform_", "<=", 1.0),
    "trunc-normal": ("torch trunc_normal_", ">=", 4.0),
}


@dataclass
class Contender:
    name: str
    run: Callable[[], object]
    times: list[float] = field(default_factory=list)


def make_plan(scheme: str, size: int, seed: int) -> TensorPlan:
    init = {
        "he-normal": resolve_init("he", {"distribution": "normal"}),
        "glorot-uniform": resolve_init("glorot", {"distribution": "uniform"}),
        "trunc-normal": resolve_init(
            "variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}
        ),
    }[scheme]
    return plan_tensor(TensorSpec((size, size), init, seed, "float32", "keras"))


def fill_only(engine: Engine, plan: TensorPlan, with_stats: bool) -> np.ndarray:
    """Every block of ``plan`` filled on the engine's pool, with or without its chunk statistics."""
    flat = np.empty(plan.count, dtype=plan.numpy_dtype)
    futures = [engine.submit(plan, a, b, with_stats=with_stats, flat=flat) for a, b in block_ranges(plan.count)]
    for future in futures:
        future.result()
    return flat


def numpy_truncated_normal(rng: np.random.Generator, shape: tuple[int, int], sigma0: float) -> np.ndarray:
    """N(0, sigma0^2) truncated at +-2 sigma0 by rejection: redraw what falls outside, in place."""
    z = rng.standard_normal(shape, dtype=np.float32)
    flat = z.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) > 2.0)
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size, dtype=np.float32)
        bad = bad[np.abs(flat[bad]) > 2.0]
    z *= np.float32(sigma0)
    return z


def contenders(scheme: str, plan: TensorPlan, engines: dict[str, Engine], size: int, seed: int) -> list[Contender]:
    shape = (size, size)
    many, one = engines["many"], engines["one"]
    rng = np.random.Generator(np.random.PCG64(seed))
    dist = plan.source.distribution  # type: ignore[attr-defined]
    out: list[Contender] = [
        Contender(f"ours generate T={many.threads}", lambda: many.generate(plan)),
        Contender("ours generate T=1", lambda: one.generate(plan)),
        Contender(f"ours fill+stats T={many.threads}", lambda: fill_only(many, plan, True)),
        Contender(f"ours fill only T={many.threads}", lambda: fill_only(many, plan, False)),
    ]
    if scheme == "he-normal":
        std = dist.std
        out.append(Contender("numpy standard_normal*std", lambda: rng.standard_normal(shape, dtype=np.float32) * std))
    elif scheme == "glorot-uniform":
        r = dist.high
        out.append(Contender("numpy random*2r-r", lambda: rng.random(shape, dtype=np.float32) * (2 * r) - r))
    else:
        sigma0 = dist.std
        out.append(Contender("numpy rejection trunc", lambda: numpy_truncated_normal(rng, shape, sigma0)))
    if torch is not None:
        nn = torch.nn.init
        if scheme == "he-normal":
            out.append(Contender("torch kaiming_normal_", lambda: nn.kaiming_normal_(torch.empty(shape))))
        elif scheme == "glorot-uniform":
            out.append(Contender("torch xavier_uniform_", lambda: nn.xavier_uniform_(torch.empty(shape))))
            out.append(Contender("torch kaiming_uniform_", lambda: nn.kaiming_uniform_(torch.empty(shape))))
        else:
            s0 = dist.std
            out.append(
                Contender(
                    "torch trunc_normal_",
                    lambda: nn.trunc_normal_(torch.empty(shape), std=s0, a=-2 * s0, b=2 * s0),
                )
            )
    return out


def as_numpy(result: object) -> np.ndarray:
    if hasattr(result, "array"):
        return result.array  # type: ignore[no-any-return, attr-defined]
    if torch is not None and isinstance(result, torch.Tensor):
        return result.numpy()
    return np.asarray(result)


def describe(values: np.ndarray) -> str:
    x = values.reshape(-1)
    sample = x[:: max(1, x.size // (1 << 20))].astype(np.float64)  # 1 Mi values are plenty for a sanity check
    return f"std {sample.std():.6f}  min {float(x.min()):+.6f}  max {float(x.max()):+.6f}"


def parallel_probe(engine: Engine, buffers: list[np.ndarray]) -> float:
    """How many cores are free right now: time of two GIL-free fills one after the other over their time
    on the engine's pool (about 2 on an idle 2-core machine, about 1 when another process holds a core)."""
    rngs = [np.random.Generator(np.random.PCG64(i)) for i in range(len(buffers))]
    for rng, buf in zip(rngs, buffers, strict=True):  # warm
        rng.random(out=buf)
    start = time.perf_counter()
    for rng, buf in zip(rngs, buffers, strict=True):
        rng.random(out=buf)
    serial = time.perf_counter() - start
    if engine._pool is None:
        return 1.0
    start = time.perf_counter()
    for future in [engine._pool.submit(rng.random, out=buf) for rng, buf in zip(rngs, buffers, strict=True)]:
        future.result()
    return serial / (time.perf_counter() - start)


def timed(contender: Contender) -> float:
    gc.collect()
    start = time.perf_counter()
    result = contender.run()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def ratio_line(ours: Contender, base: Contender) -> tuple[float, float]:
    """(ratio of the medians, median of the paired per-repeat ratios) of ours over base."""
    of_medians = statistics.median(ours.times) / statistics.median(base.times)
    paired = statistics.median(a / b for a, b in zip(ours.times, base.times, strict=True))
    return of_medians, paired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per contender (default 9)")
    parser.add_argument("--threads", type=int, default=None, help="threads of our engine (default: the cores)")
    parser.add_argument("--size", type=int, default=4096, help="tensor is size x size float32 (default 4096)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schemes", default="he-normal,glorot-uniform,trunc-normal")
    parser.add_argument(
        "--blas",
        choices=("service", "default"),
        default="service",
        help="service: BLAS limited to 1 thread as service/main.py does (default); default: as loaded",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw times to this file")
    args = parser.parse_args(argv)

    threads = args.threads or os.cpu_count() or 1
    blas_note = "not limited (threadpoolctl missing)"
    if ThreadpoolController is not None:
        controller = ThreadpoolController()
        before = [(i["internal_api"], i["num_threads"]) for i in controller.select(user_api="blas").info()]
        if args.blas == "service":
            controller.limit(limits=1, user_api="blas")
            blas_note = f"limited to 1 thread as in the service (was {before})"
        else:
            blas_note = f"as loaded: {before}"

    print(f"# bench_core: {args.size}x{args.size} float32, repeats {args.repeats}, seed {args.seed}")
    print(f"# python {platform.python_version()}, numpy {np.__version__}, cores {os.cpu_count()}, threads {threads}")
    print(f"# BLAS: {blas_note}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if torch is not None:
        print(f"# torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    else:
        print("# torch not importable: torch baselines skipped")
    print(f"# load average at start: {os.getloadavg()}")

    engines = {"many": Engine(threads), "one": Engine(1)}
    report: dict[str, dict[str, list[float]]] = {}
    try:
        for scheme in args.schemes.split(","):
            plan = make_plan(scheme, args.size, args.seed)
            pool = contenders(scheme, plan, engines, args.size, args.seed)
            print(f"\n## {scheme}: {plan.source.distribution}")  # type: ignore[attr-defined]
            # Warm-up (untimed), with a check of what each contender makes.
            digests = set()
            for c in pool:
                result = c.run()
                values = as_numpy(result)
                if c.name.startswith("ours generate"):
                    digests.add(hashlib.sha256(values.tobytes()).hexdigest())
                print(f"   warm-up {c.name:28s} {describe(values)}")
                del result, values
            if len(digests) != 1:
                raise SystemExit(f"our bytes depend on the thread count: {digests}")
            print(f"   theoretical std {plan.moments.std:.6f}; ours sha256 {digests.pop()[:16]}")
            buffers = [np.ones(1 << 20) for _ in range(threads)]  # touched: no page faults in the probe
            probes = []
            for r in range(args.repeats):
                probes.append(parallel_probe(engines["many"], buffers))
                k = r % len(pool)
                for c in pool[k:] + pool[:k]:
                    c.times.append(timed(c))
            print(
                f"   free-core probe (serial/parallel time of {threads} GIL-free fills, one per repeat): "
                f"median {statistics.median(probes):.2f}, min {min(probes):.2f}, max {max(probes):.2f}"
            )
            print(f"\n   {'contender':30s} {'median ms':>10s} {'min ms':>9s}")
            for c in pool:
                print(f"   {c.name:30s} {1e3 * statistics.median(c.times):10.1f} {1e3 * min(c.times):9.1f}")
            by = {c.name: c for c in pool}
            ours = [c for c in pool if c.name.startswith(("ours generate", "ours fill only"))]
            bases = [c for c in pool if not c.name.startswith("ours")]
            print(f"\n   {'ratio ours/baseline':48s} {'of medians':>10s} {'paired':>8s}")
            for o in ours:
                for b in bases:
                    m, p = ratio_line(o, b)
                    print(f"   {o.name + ' / ' + b.name:48s} {m:10.2f} {p:8.2f}")
            with_stats, fill = by[f"ours fill+stats T={threads}"], by[f"ours fill only T={threads}"]
            gen = by[f"ours generate T={threads}"]
            cost = statistics.median(with_stats.times) - statistics.median(fill.times)
            paired = statistics.median(a - b for a, b in zip(with_stats.times, fill.times, strict=True))
            gen_cost = statistics.median(a - b for a, b in zip(gen.times, fill.times, strict=True))
            print(
                f"   statistics cost (T={threads}): fill+stats - fill = {1e3 * cost:.1f} ms of medians, "
                f"{1e3 * paired:.1f} ms paired ({100 * paired / statistics.median(with_stats.times):.0f} % of "
                f"fill+stats); generate - fill = {1e3 * gen_cost:.1f} ms paired"
            )
            target = TARGETS.get(scheme)
            if target is not None and target[0] in by:
                base_name, sense, bound = target
                _, p = ratio_line(gen, by[base_name])
                if sense == "<=":
                    verdict = "MET" if p <= bound else "MISSED"
                    print(f"   TARGET ours/{base_name} <= {bound:g}x: {p:.2f}x  {verdict}")
                else:
                    speedup = 1.0 / p
                    verdict = "MET" if speedup >= bound else "MISSED"
                    print(f"   TARGET ours >= {bound:g}x faster than {base_name}: {speedup:.2f}x faster  {verdict}")
            report[scheme] = {c.name: c.times for c in pool}
    finally:
        for engine in engines.values():
            engine.close()
    print(f"\n# load average at end: {os.getloadavg()}")
    if args.json is not None:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "times_s": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
