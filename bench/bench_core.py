"""Benchmark of the NumPy core: a 4096 x 4096 float32 tensor, ours against NumPy and PyTorch.

Usage (from the repository root)::

    python bench/bench_core.py [--repeats N] [--threads T] [--size S] [--torch {process,inline,off}]

Three schemes, each against its baselines:

- ``he-normal``: our ``he`` (normal, keras layout, fan_in); NumPy
  ``rng.standard_normal(shape, dtype=float32) * std``; ``torch.nn.init.kaiming_normal_``.
- ``glorot-uniform``: our ``glorot`` (uniform); NumPy ``rng.random(shape, dtype=float32) * 2r - r``;
  ``torch.nn.init.xavier_uniform_`` (same bound) and ``kaiming_uniform_`` (the target's reference).
- ``trunc-normal``: our ``variance_scaling`` (truncated_normal, scale 2, fan_in), Keras semantics;
  a NumPy rejection sampler; ``torch.nn.init.trunc_normal_(std=s0, a=-2 s0, b=2 s0)``.

Ours is ``Engine(threads).generate(plan)`` (with the statistics), with the default thread count
(the cores) and with one thread, plus two runs over the same engine pool that only fill the blocks
(``fill_block(..., with_stats=False)``, what the streaming ``.npy`` path does) or fill them with their
chunk statistics, so that the cost of the statistics alone is ``fill+stats - fill``. Every contender
allocates its output in the timed region (as the service does); the previous result is freed first.

Noise: within each repeat every contender of a scheme runs once, in a shuffled order (fixed seed),
so that a noisy spell hits all of them and no contender always follows the same one. The table
gives the median and the min over the repeats, and two ratios ``ours / baseline``: the ratio of the
medians and the median of the per-repeat (paired) ratios; the targets are judged on the paired
median. Each repeat also probes how many cores are free (GIL-free fills one after the other, over
the same fills on the engine's pool): about 2 on an idle 2-core machine, about 1 when another
process holds a core.

PyTorch runs by default in a helper process (``--torch process``), called at its turn in the same
order, and timed there: importing torch changes the heap of the process that imports it (glibc no
longer hands freed blocks back to the OS), which would hide a cost that the service, which never
imports torch, pays. ``--torch inline`` runs it in this process instead.

BLAS: limited to one thread here, as ``service/main.py`` does while the service runs (``--blas
default`` leaves it as loaded). PyTorch's initializers use no BLAS.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core.engine import Engine, block_ranges
from service.core.plan import TensorPlan, TensorSpec, plan_tensor
from service.core.schemes import resolve_init

SCHEMES = ("he-normal", "glorot-uniform", "trunc-normal")

#: scheme: (baseline, sense, bound); "<=": ours/baseline <= bound; ">=": baseline/ours >= bound.
TARGETS: dict[str, tuple[str, str, float]] = {
    "he-normal": ("torch kaiming_normal_", "<=", 1.3),
    "glorot-uniform": ("torch kaiming_uniform_", "<=", 1.0),
    "trunc-normal": ("torch trunc_normal_", ">=", 4.0),
}

#: Generation alone, one thread each, into an array made once (no allocation, no page faults): ours with no
#: statistics, and NumPy's float32 ziggurat (initserve-1's sampler) with no scaling: issue 15's per-thread target.
FILL_ONE = "ours fill only T=1, reused"
ZIGGURAT = "numpy ziggurat f32, reused"

TORCH_NAMES: dict[str, tuple[str, ...]] = {
    "he-normal": ("torch kaiming_normal_",),
    "glorot-uniform": ("torch xavier_uniform_", "torch kaiming_uniform_"),
    "trunc-normal": ("torch trunc_normal_",),
}


def describe(values: np.ndarray) -> str:
    """Std (on 1 Mi evenly spaced values), min and max: a sanity check that contenders are comparable."""
    x = values.reshape(-1)
    sample = x[:: max(1, x.size // (1 << 20))].astype(np.float64)
    return f"std {sample.std():.6f}  min {float(x.min()):+.6f}  max {float(x.max()):+.6f}"


# -- PyTorch, in this process or in a helper process ----------------------------------------------------


def torch_initializers(scheme: str, shape: tuple[int, int], sigma0: float) -> dict[str, Callable[[], Any]]:
    import torch

    nn = torch.nn.init
    all_: dict[str, Callable[[], Any]] = {
        "torch kaiming_normal_": lambda: nn.kaiming_normal_(torch.empty(shape)),
        "torch xavier_uniform_": lambda: nn.xavier_uniform_(torch.empty(shape)),
        "torch kaiming_uniform_": lambda: nn.kaiming_uniform_(torch.empty(shape)),
        "torch trunc_normal_": lambda: nn.trunc_normal_(torch.empty(shape), std=sigma0, a=-2 * sigma0, b=2 * sigma0),
    }
    return {name: all_[name] for name in TORCH_NAMES[scheme]}


def torch_info() -> str:
    import torch

    return f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}"


def _torch_worker(conn: Any) -> None:
    """Helper process: answers ("info",), ("setup", scheme, shape, sigma0), ("run", name), ("describe", name)."""
    fns: dict[str, Callable[[], Any]] = {}
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        try:
            if msg[0] == "info":
                conn.send(torch_info())
            elif msg[0] == "setup":
                fns = torch_initializers(msg[1], msg[2], msg[3])
                conn.send(None)
            elif msg[0] == "run":
                gc.collect()
                start = time.perf_counter()
                result = fns[msg[1]]()
                elapsed = time.perf_counter() - start
                del result
                conn.send(elapsed)
            elif msg[0] == "describe":
                conn.send(describe(fns[msg[1]]().numpy()))
        except Exception as exc:  # handed to the parent
            conn.send(exc)


class TorchHelper:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_torch_worker, args=(child,), daemon=True)
        self._proc.start()

    def ask(self, *msg: Any) -> Any:
        self._conn.send(msg)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self._conn.send(("stop",))
        self._proc.join(10)


def torch_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# -- contenders -------------------------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    measure: Callable[[], float]  # one timed run, in seconds
    check: Callable[[], str]  # an untimed run, described
    times: list[float] = field(default_factory=list)


def local(name: str, run: Callable[[], Any], to_array: Callable[[Any], np.ndarray] = np.asarray) -> Contender:
    def measure() -> float:
        gc.collect()
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        del result
        return elapsed

    return Contender(name, measure, lambda: describe(to_array(run())))


def make_plan(scheme: str, size: int, seed: int) -> TensorPlan:
    init = {
        "he-normal": resolve_init("he", {"distribution": "normal"}),
        "glorot-uniform": resolve_init("glorot", {"distribution": "uniform"}),
        "trunc-normal": resolve_init(
            "variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}
        ),
    }[scheme]
    return plan_tensor(TensorSpec((size, size), init, seed, "float32", "keras"))


def fill_only(engine: Engine, plan: TensorPlan, with_stats: bool, flat: np.ndarray | None = None) -> np.ndarray:
    """Every block of ``plan`` filled on the engine's pool, with or without its chunk statistics, into ``flat``
    (a new array when None)."""
    if flat is None:
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


def contenders(
    scheme: str, plan: TensorPlan, engines: dict[str, Engine], size: int, seed: int, torch_mode: str, helper: Any
) -> list[Contender]:
    shape = (size, size)
    many, one = engines["many"], engines["one"]
    rng = np.random.Generator(np.random.PCG64(seed))
    dist = plan.source.distribution  # type: ignore[attr-defined]

    def array(g: Any) -> np.ndarray:
        return g.array  # type: ignore[no-any-return]

    out = [local(f"ours generate T={many.threads}", lambda: many.generate(plan), array)]
    if many.threads != 1:
        out.append(local("ours generate T=1", lambda: one.generate(plan), array))
    out += [
        local(f"ours fill+stats T={many.threads}", lambda: fill_only(many, plan, True)),
        local(f"ours fill only T={many.threads}", lambda: fill_only(many, plan, False)),
    ]
    if many.threads != 1:
        reused = np.ones(plan.count, dtype=plan.numpy_dtype)  # generation alone: no page faults, for both
        out.append(local(FILL_ONE, lambda: fill_only(one, plan, False, reused)))
    if scheme == "he-normal":
        std = dist.std
        out.append(local("numpy standard_normal*std", lambda: rng.standard_normal(shape, dtype=np.float32) * std))
        ziggurat_out = np.ones(shape, dtype=np.float32)
        out.append(local(ZIGGURAT, lambda: rng.standard_normal(dtype=np.float32, out=ziggurat_out)))
    elif scheme == "glorot-uniform":
        r = dist.high
        out.append(local("numpy random*2r-r", lambda: rng.random(shape, dtype=np.float32) * (2 * r) - r))
    else:
        sigma0 = dist.std
        out.append(local("numpy rejection trunc", lambda: numpy_truncated_normal(rng, shape, sigma0)))
    sigma0 = getattr(dist, "std", 1.0)
    if torch_mode == "inline":
        for name, fn in torch_initializers(scheme, shape, sigma0).items():
            out.append(local(name, fn, lambda t: t.numpy()))
    elif torch_mode == "process":
        helper.ask("setup", scheme, shape, sigma0)
        for name in TORCH_NAMES[scheme]:
            out.append(Contender(name, lambda n=name: helper.ask("run", n), lambda n=name: helper.ask("describe", n)))
    return out


# -- measurement --------------------------------------------------------------------------------------------


def parallel_probe(engine: Engine, buffers: list[np.ndarray]) -> float:
    """Serial over parallel time of one GIL-free fill per buffer: how many cores are free right now."""
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


def paired(ours: Contender, base: Contender) -> tuple[float, float]:
    """(ratio of the medians, median of the per-repeat ratios) of ours over base."""
    of_medians = statistics.median(ours.times) / statistics.median(base.times)
    per_repeat = statistics.median(a / b for a, b in zip(ours.times, base.times, strict=True))
    return of_medians, per_repeat


def run_scheme(scheme: str, pool: list[Contender], plan: TensorPlan, engine: Engine, repeats: int) -> None:
    print(f"\n## {scheme}: {plan.source.distribution}")  # type: ignore[attr-defined]
    for c in pool:  # warm-up, untimed, with a look at what each contender makes
        print(f"   warm-up {c.name:28s} {c.check()}")
    buffers = [np.ones(1 << 20) for _ in range(engine.threads)]  # touched: no page faults in the probe
    probes = []
    order = random.Random(len(pool))  # a fixed seed: the same orders run after run
    for _ in range(repeats):
        probes.append(parallel_probe(engine, buffers))
        for c in order.sample(pool, len(pool)):
            c.times.append(c.measure())
    print(
        f"   free-core probe ({engine.threads} GIL-free fills, serial/parallel, once per repeat): "
        f"median {statistics.median(probes):.2f}, min {min(probes):.2f}, max {max(probes):.2f}"
    )
    print(f"\n   {'contender':30s} {'median ms':>10s} {'min ms':>9s}")
    for c in pool:
        print(f"   {c.name:30s} {1e3 * statistics.median(c.times):10.1f} {1e3 * min(c.times):9.1f}")
    by = {c.name: c for c in pool}
    ours = [c for c in pool if c.name.startswith(("ours generate", "ours fill only"))]
    bases = [c for c in pool if not c.name.startswith("ours")]
    print(f"\n   {'ratio ours/baseline':50s} {'of medians':>10s} {'paired':>8s}")
    for o in ours:
        for b in bases:
            m, p = paired(o, b)
            print(f"   {o.name + ' / ' + b.name:50s} {m:10.2f} {p:8.2f}")
    t = engine.threads
    gen, with_stats, fill = by[f"ours generate T={t}"], by[f"ours fill+stats T={t}"], by[f"ours fill only T={t}"]
    cost = statistics.median(with_stats.times) - statistics.median(fill.times)
    cost_paired = statistics.median(a - b for a, b in zip(with_stats.times, fill.times, strict=True))
    gen_cost = statistics.median(a - b for a, b in zip(gen.times, fill.times, strict=True))
    print(
        f"   statistics cost (T={t}): fill+stats - fill = {1e3 * cost:.1f} ms of medians, {1e3 * cost_paired:.1f} ms "
        f"paired ({100 * cost_paired / statistics.median(with_stats.times):.0f} % of fill+stats); "
        f"generate - fill = {1e3 * gen_cost:.1f} ms paired"
    )
    base_name, sense, bound = TARGETS[scheme]
    if base_name in by:
        _, p = paired(gen, by[base_name])
        if sense == "<=":
            verdict = "MET" if p <= bound else "MISSED"
            print(f"   TARGET generate T={t} / {base_name} <= {bound:g}x: {p:.2f}x  {verdict}")
        else:
            verdict = "MET" if 1.0 / p >= bound else "MISSED"
            print(f"   TARGET generate T={t} >= {bound:g}x faster than {base_name}: {1.0 / p:.2f}x faster  {verdict}")
    if ZIGGURAT in by and FILL_ONE in by:  # issue 15: generation alone, one thread each
        _, p = paired(by[FILL_ONE], by[ZIGGURAT])
        verdict = "MET" if 1.0 / p >= 4.0 else "MISSED"
        print(f"   TARGET {FILL_ONE} >= 4x faster than {ZIGGURAT}: {1.0 / p:.2f}x faster  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed repeats per contender (default 11)")
    parser.add_argument("--threads", type=int, default=None, help="threads of our engine (default: the cores)")
    parser.add_argument("--size", type=int, default=4096, help="the tensor is size x size float32 (default 4096)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="comma-separated subset of " + ", ".join(SCHEMES))
    parser.add_argument(
        "--torch",
        choices=("process", "inline", "off"),
        default="process",
        help="run the torch baselines in a helper process (default), in this process, or not at all",
    )
    parser.add_argument(
        "--blas",
        choices=("service", "default"),
        default="service",
        help="service: BLAS limited to 1 thread as service/main.py does (default); default: as loaded",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw times (s) to this file")
    args = parser.parse_args(argv)

    threads = args.threads or os.cpu_count() or 1
    torch_mode = args.torch if args.torch == "off" or torch_importable() else "off"
    blas_note = "not limited (threadpoolctl missing)"
    try:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        before = [(i["internal_api"], i["num_threads"]) for i in controller.select(user_api="blas").info()]
        if args.blas == "service":
            controller.limit(limits=1, user_api="blas")
            blas_note = f"limited to 1 thread as in the service (was {before})"
        else:
            blas_note = f"as loaded: {before}"
    except ImportError:
        pass

    helper = TorchHelper() if torch_mode == "process" else None
    print(f"# bench_core: {args.size}x{args.size} float32, repeats {args.repeats}, seed {args.seed}")
    print(f"# python {platform.python_version()}, numpy {np.__version__}, cores {os.cpu_count()}, threads {threads}")
    print(f"# BLAS: {blas_note}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if torch_mode == "off":
        print("# torch baselines skipped" + ("" if args.torch == "off" else " (torch not importable)"))
    else:
        info = helper.ask("info") if helper is not None else torch_info()
        print(f"# {info} ({'helper process' if helper is not None else 'in this process'})")
    print(f"# load average at start: {os.getloadavg()}")

    engines = {"many": Engine(threads), "one": Engine(1)}
    report: dict[str, dict[str, list[float]]] = {}
    try:
        for scheme in args.schemes.split(","):
            plan = make_plan(scheme, args.size, args.seed)
            pool = contenders(scheme, plan, engines, args.size, args.seed, torch_mode, helper)
            digests = {
                hashlib.sha256(engines[e].generate(plan).array.tobytes()).hexdigest()[:16] for e in ("many", "one")
            }
            if len(digests) != 1:
                raise SystemExit(f"{scheme}: our bytes depend on the thread count: {digests}")
            run_scheme(scheme, pool, plan, engines["many"], args.repeats)
            print(f"   our sha256 (T={threads} and T=1): {digests.pop()}; theoretical std {plan.moments.std:.6f}")
            report[scheme] = {c.name: c.times for c in pool}
    finally:
        for engine in engines.values():
            engine.close()
        if helper is not None:
            helper.close()
    print(f"\n# load average at end: {os.getloadavg()}")
    if args.json is not None:
        args.json.write_text(json.dumps({"args": {**vars(args), "json": str(args.json)}, "times_s": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
