"""TorchGenerator against PyTorch 2.13 itself, bit for bit (raw bytes of every output).

The ``avx2`` capability is compared with torch in this process (the x86-64 wheel runs its AVX2 or AVX-512
kernels here), ``default`` with torch in a subprocess started with ``ATEN_CPU_CAPABILITY=default``, and the
AVX-512 build with a subprocess started with ``ATEN_CPU_CAPABILITY=avx512`` (same bits as AVX2).

A program is a seed and a list of operations run in order on one generator (``torch.manual_seed(seed)``
then the same calls on fresh contiguous tensors), so the sequences also check the draws each call consumes
and the cached second sample of the small (``n < 16``) normal path.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from service.core.streams.torch.generator import PARALLEL_FROM, TorchGenerator  # noqa: E402

pytestmark = pytest.mark.torch

Op = tuple[Any, ...]
Program = tuple[int, list[Op]]

SEEDS = [0, 1, 42, 2**32 + 5, 2**53 - 1]
DTYPES = ["float32", "float16", "bfloat16", "float64"]
SIZES = [1, 3, 15, 16, 17, 31, 1000, 4097, 256 * 784]
UNIFORM_BOUNDS = [(0.0, 1.0), (-1.5, 3.25), (-7.0, -2.5), (-0.0625, 0.0625)]
NORMAL_PARAMS = [(0.0, 1.0), (0.1, 0.37), (-2.0, 3.0)]
RANDPERM_SIZES = [1, 2, 10, 1000, 100000]

NP_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}


def size_program(seed: int, dtype: str, n: int) -> Program:
    """Every uniform bound and normal parameter on one generator, for one dtype and size."""
    ops: list[Op] = [("uniform", dtype, n, a, b) for a, b in UNIFORM_BOUNDS]
    ops += [("normal", dtype, n, mean, std) for mean, std in NORMAL_PARAMS]
    return seed, ops


def sequence_program(seed: int) -> Program:
    """Mixed calls on one generator: the cached normal carries over small normal_ calls of any dtype."""
    return seed, [
        ("uniform", "float32", 7, -1.0, 1.0),
        ("normal", "float32", 3, 0.0, 1.0),  # two pairs drawn, one sample cached
        ("normal", "float32", 1000, 0.5, 2.0),  # vectorized path: the cache stays
        ("normal", "float64", 1, -1.0, 0.3),  # the cached sample
        ("normal", "float16", 5, 0.0, 0.02),
        ("uniform", "float64", 33, -3.0, 5.0),
        ("normal", "bfloat16", 17, 0.0, 1.0),
        ("randperm", 10),
        ("normal", "float64", 2, 1.0, 0.5),
        ("normal", "float32", 4097, 0.0, 0.02),
        ("normal", "float32", 1, 0.0, 1.0),
        ("uniform", "bfloat16", 100, -0.5, 0.5),
        ("randperm", 1000),
        ("normal", "float64", 31, 0.0, 1.0),
    ]


def threaded_program(seed: int) -> Program:
    """Sizes from PARALLEL_FROM on: normal_'s float32 transform split over threads, same bits."""
    n = PARALLEL_FROM + 7
    ops: list[Op] = [("normal", dtype, n, 0.1, 0.37) for dtype in ("float32", "bfloat16", "float16")]
    return seed, [*ops, ("normal", "float32", 4 * PARALLEL_FROM, -1.0, 2.0), ("normal", "float32", 3, 0.0, 1.0)]


def all_programs() -> list[Program]:
    programs = [size_program(seed, dtype, n) for seed in SEEDS for dtype in DTYPES for n in SIZES]
    return programs + [sequence_program(seed) for seed in SEEDS] + [threaded_program(seed) for seed in (0, 2**53 - 1)]


def run_ours(program: Program, capability: str) -> list[bytes]:
    seed, ops = program
    gen = TorchGenerator(seed, capability)  # type: ignore[arg-type]
    out: list[bytes] = []
    for op in ops:
        if op[0] == "randperm":
            out.append(gen.randperm(op[1]).tobytes())
            continue
        kind, dtype, n, p, q = op
        a = np.empty(n, dtype=NP_DTYPES[dtype])
        (gen.uniform_ if kind == "uniform" else gen.normal_)(a, p, q)
        out.append(a.tobytes())
    return out


# Runs in this process and, as source, in the subprocesses: torch's side of a list of programs.
TORCH_RUNNER = r"""
def run_torch(programs):
    import torch
    results = []
    for seed, ops in programs:
        torch.manual_seed(seed)
        out = []
        for op in ops:
            if op[0] == "randperm":
                out.append(torch.randperm(op[1]).numpy().tobytes())
                continue
            kind, dtype, n, p, q = op
            t = torch.empty(n, dtype=getattr(torch, dtype))
            (t.uniform_ if kind == "uniform" else t.normal_)(p, q)
            out.append(t.view(torch.uint8).numpy().tobytes())
        results.append(out)
    return results
"""
_namespace: dict[str, Any] = {}
exec(TORCH_RUNNER, _namespace)
run_torch = _namespace["run_torch"]


def torch_subprocess(capability: str, programs: list[Program]) -> tuple[str, list[list[bytes]]]:
    """Raw output bytes of ``programs`` from torch in ``python -c`` with ``ATEN_CPU_CAPABILITY=capability``.

    Also returns the capability torch reports there (it falls back when the CPU lacks the requested one).
    """
    code = (
        TORCH_RUNNER
        + "\nimport pickle, sys, torch\n"
        + "programs = pickle.loads(sys.stdin.buffer.read())\n"
        + "result = (torch.backends.cpu.get_cpu_capability(), run_torch(programs))\n"
        + "sys.stdout.buffer.write(pickle.dumps(result))\n"
    )
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, input=pickle.dumps(programs), capture_output=True, env=env, check=True, timeout=300)
    return pickle.loads(done.stdout)


def describe(program: Program, i: int, ours: bytes, theirs: bytes) -> str:
    op = program[1][i]
    itemsize = 8 if op[0] == "randperm" else NP_DTYPES[op[1]].itemsize
    a = np.frombuffer(ours, dtype=f"u{itemsize}")
    b = np.frombuffer(theirs, dtype=f"u{itemsize}")
    if a.shape != b.shape:
        return f"seed {program[0]} op {i} {op}: {a.size} values, torch {b.size}"
    bad = np.flatnonzero(a != b)
    return f"seed {program[0]} op {i} {op}: {bad.size} of {a.size} values differ, first at {bad[:5].tolist()}"


def assert_same(programs: list[Program], ours: list[list[bytes]], theirs: list[list[bytes]]) -> None:
    failures = [
        describe(program, i, o, t)
        for program, os_, ts in zip(programs, ours, theirs, strict=True)
        for i, (o, t) in enumerate(zip(os_, ts, strict=True))
        if o != t
    ]
    assert not failures, "\n".join(failures[:20])


def in_process_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


@pytest.fixture(scope="module")
def default_results() -> Iterator[tuple[list[Program], list[list[bytes]]]]:
    programs = all_programs()
    capability, results = torch_subprocess("default", programs)
    assert capability == "DEFAULT"
    yield programs, results


# ------------------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("seed", SEEDS)
def test_avx2_matches_torch_in_process(seed: int) -> None:
    if in_process_capability() not in ("AVX2", "AVX512"):
        pytest.skip(f"torch runs its {in_process_capability()} kernels here")
    programs = [p for p in all_programs() if p[0] == seed]
    assert_same(programs, [run_ours(p, "avx2") for p in programs], run_torch(programs))


@pytest.mark.parametrize("seed", SEEDS)
def test_default_matches_torch_default_build(
    seed: int, default_results: tuple[list[Program], list[list[bytes]]]
) -> None:
    programs, results = default_results
    picked = [(p, r) for p, r in zip(programs, results, strict=True) if p[0] == seed]
    assert_same([p for p, _ in picked], [run_ours(p, "default") for p, _ in picked], [r for _, r in picked])


def test_avx512_build_runs_the_avx2_kernels() -> None:
    programs = [size_program(42, dtype, n) for dtype in DTYPES for n in (15, 17, 4097)] + [sequence_program(1)]
    capability, results = torch_subprocess("avx512", programs)
    if capability != "AVX512":
        pytest.skip(f"no AVX-512 here (torch runs {capability})")
    assert_same(programs, [run_ours(p, "avx2") for p in programs], results)


def test_capabilities_differ_where_torch_builds_do() -> None:
    """The two capabilities are not the same numbers (FMA in uniform_, the float32 normal_ polynomials)."""
    for kind in ("uniform", "normal"):
        a, b = np.empty(4097, np.float32), np.empty(4097, np.float32)
        getattr(TorchGenerator(0, "avx2"), kind + "_")(a, 0.1, 0.37)
        getattr(TorchGenerator(0, "default"), kind + "_")(b, 0.1, 0.37)
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("n", RANDPERM_SIZES)
def test_randperm(n: int) -> None:
    torch.manual_seed(7)
    torch.rand(3)
    expected = torch.randperm(n).numpy()
    after = torch.rand(5).numpy()
    gen = TorchGenerator(7)
    gen.uniform_(np.empty(3, np.float32), 0.0, 1.0)
    perm = gen.randperm(n)
    assert perm.dtype == np.int64
    np.testing.assert_array_equal(perm, expected)
    rest = np.empty(5, np.float32)
    gen.uniform_(rest, 0.0, 1.0)
    assert rest.tobytes() == after.tobytes()  # the same number of draws consumed


@pytest.mark.parametrize("seed", SEEDS)
def test_random_bits32(seed: int) -> None:
    torch.manual_seed(seed)
    low31 = torch.empty(1000, dtype=torch.int32).random_().numpy()  # random() % 2^31
    wide = torch.empty(500, dtype=torch.float64).uniform_(0.0, 1.0).numpy()  # random64(): (d0 << 32) | d1
    gen = TorchGenerator(seed)
    draws = np.array([gen.random_bits32() for _ in range(2000)], dtype=np.uint64)
    np.testing.assert_array_equal(draws[:1000] & 0x7FFFFFFF, low31.astype(np.uint64))
    pairs = ((draws[1000::2] << np.uint64(32)) | draws[1001::2]) & np.uint64(2**53 - 1)
    np.testing.assert_array_equal(pairs, (wide * 2.0**53).astype(np.uint64))


def test_seed_aliases_its_low_32_bits() -> None:
    a, b = TorchGenerator(2**32 + 5), TorchGenerator(5)
    assert [a.random_bits32() for _ in range(700)] == [b.random_bits32() for _ in range(700)]


def test_fills_row_major_in_place() -> None:
    gen, flat_gen = TorchGenerator(3), TorchGenerator(3)
    grid = np.empty((37, 29), dtype=np.float32)
    flat = np.empty(37 * 29, dtype=np.float32)
    gen.normal_(grid, 0.0, 1.0)
    flat_gen.normal_(flat, 0.0, 1.0)
    assert grid.tobytes() == flat.tobytes()
    torch.manual_seed(3)
    assert grid.tobytes() == torch.empty(37, 29).normal_().numpy().tobytes()


def test_rejects_what_it_cannot_fill() -> None:
    gen = TorchGenerator(0)
    with pytest.raises(ValueError, match="capability"):
        TorchGenerator(0, "avx512")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contiguous"):
        gen.uniform_(np.empty((4, 4), np.float32)[:, ::2], 0.0, 1.0)
    with pytest.raises(ValueError, match="float32"):
        gen.normal_(np.empty(4, np.int32), 0.0, 1.0)
    with pytest.raises(ValueError, match="from <= to"):
        gen.uniform_(np.empty(4, np.float32), 1.0, 0.0)
    with pytest.raises(ValueError, match="range"):
        gen.uniform_(np.empty(4, np.float16), -1.0, 70000.0)  # torch: "to is out of bounds for Half"
    with pytest.raises(ValueError, match="range"):
        gen.uniform_(np.empty(4, np.float32), -3e38, 3e38)  # to - from overflows float32
    with pytest.raises(ValueError, match="std"):
        gen.normal_(np.empty(4, np.float32), 0.0, -1.0)


def test_exact_math_is_in_use() -> None:
    """The kernels call the bit-exact math modules, not the stand-ins kept for while they were written."""
    from service.core.streams.torch import generator

    assert generator.EXACT_AVX2_MATH
    assert generator.EXACT_GLIBC_FLOAT32_MATH
    assert generator.EXACT_GLIBC_FLOAT64_MATH


def test_low_precision_casts_round_to_nearest_even() -> None:
    """float32 to float16/bfloat16 bits as numpy and ml_dtypes round (every non-NaN float32 was checked once)."""
    from service.core.streams.torch.generator import _cast_low

    rng = np.random.default_rng(0)
    bits = np.concatenate(
        [
            rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32),
            np.arange(0x33000000 - 4, 0x39000000, 97, dtype=np.uint32),  # binary16 subnormals and their edges
            np.arange(0x477FE000, 0x47800004, dtype=np.uint32),  # binary16 overflow edge
            np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x3F800000, 0x3F808000, 0x3F818000], dtype=np.uint32),
        ]
    )
    values = bits.view(np.float32)
    values = values[~np.isnan(values)]
    out = np.empty(values.shape[0], dtype=np.uint16)
    with np.errstate(over="ignore"):
        for bfloat16, dtype in ((False, np.float16), (True, ml_dtypes.bfloat16)):
            _cast_low(values, out, bfloat16, np.uint32(0), np.uint32(0), False)
            np.testing.assert_array_equal(out, values.astype(dtype).view(np.uint16))
