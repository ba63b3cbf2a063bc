"""glibc_math against this machine's libm, and its normal_ kernels against PyTorch's default build.

The kernels reproduce glibc 2.36's ``__*_fma`` variants (``logf``, ``sinf``, ``cosf``, ``sincosf``, ``log``,
``log1p``, ``sin``, ``cos``, ``sincos``): what glibc's ifunc picks on a CPU with FMA and AVX2, as on the
machines these tests run on (Debian 12, glibc 2.36-9+deb12u14). Without FMA/AVX2 libm runs the
``__*_sse2`` variants, whose bits differ: for float32 on 12 sinf and 22 cosf inputs out of all 2^32 (none
of them in normal_'s domain; logf never differs), for float64 often. So the libm comparisons are skipped
on such a CPU; the float32 kernel-domain ones would still pass there.

Each comparison counts differing bit patterns (NaN against NaN counts as equal) and expects none.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from service.core.kernels import glibc_math
from service.core.kernels.bits import as_uint32, as_uint64
from service.core.kernels.glibc_math import (
    TWO_PI,
    cosf,
    logf,
    normal_fill_default,
    normal_fill_default_f64,
    normal_scalar_default,
    sincosf,
    sinf,
)

if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or platform.machine() != "x86_64":
    pytest.skip("compares with glibc's x86-64 libm", allow_module_level=True)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# glibc's ifunc (sysdeps/x86_64/fpu/multiarch/ifunc-fma.h) runs the __*_fma variants only with FMA and AVX2
# (and honours GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA, which turns them off).
fma_libm = pytest.mark.skipif(
    not {"fma", "avx2"} <= _cpu_flags() or "hwcaps" in os.environ.get("GLIBC_TUNABLES", ""),
    reason="libm runs its __*_sse2 variants on this CPU",
)

_LIBM = ctypes.CDLL("libm.so.6")


def _unary(name: str) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = getattr(_LIBM, name)
    function.restype = ctypes.c_float
    function.argtypes = [ctypes.c_float]
    return function


def _unary64(name: str) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = getattr(_LIBM, name)
    function.restype = ctypes.c_double
    function.argtypes = [ctypes.c_double]
    return function


# Module globals, so the @njit loops below call libm directly (numba compiles ctypes calls).
c_logf = _unary("logf")
c_sinf = _unary("sinf")
c_cosf = _unary("cosf")
c_sincosf = _LIBM.sincosf
c_sincosf.restype = None
c_sincosf.argtypes = [ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p]
c_sincos = _LIBM.sincos
c_sincos.restype = None
c_sincos.argtypes = [ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p]
C_UNARY64 = {name: _unary64(name) for name in ("log", "log1p", "sin", "cos")}


@njit
def _differ(a: np.float32, b: np.float32) -> bool:
    if a != a and b != b:  # both NaN
        return False
    return as_uint32(a) != as_uint32(b)


@njit
def _differ64(a: float, b: float) -> bool:
    if a != a and b != b:  # both NaN
        return False
    return as_uint64(a) != as_uint64(b)


@njit
def _logf_mismatches(xs: np.ndarray) -> int:
    bad = 0
    for x in xs:
        bad += _differ(logf(x), c_logf(x))
    return bad


@njit
def _logf_kernel_domain_mismatches() -> int:
    """All u1 = 1 - k * 2^-24, k < 2^24: every argument normal_'s logf can see."""
    bad = 0
    for k in range(1 << 24):
        x = np.float32(1.0) - np.float32(k * 2.0**-24)
        bad += _differ(logf(x), c_logf(x))
    return bad


@njit
def _sincos_mismatches(xs: np.ndarray) -> tuple[int, int, int]:
    """(sinf, cosf, sincosf) mismatches with libm's sinf, cosf and sincosf."""
    buf = np.empty(2, np.float32)
    address = buf.ctypes.data
    bad_sin = bad_cos = bad_sincos = 0
    for x in xs:
        bad_sin += _differ(sinf(x), c_sinf(x))
        bad_cos += _differ(cosf(x), c_cosf(x))
        s, c = sincosf(x)
        c_sincosf(x, address, address + 4)
        bad_sincos += _differ(s, buf[0]) or _differ(c, buf[1])
    return bad_sin, bad_cos, bad_sincos


@njit
def _kernel_thetas() -> np.ndarray:
    """theta = (float)(2pi_double * u2) for all u2 = k * 2^-24, k < 2^24, as PyTorch's default build computes it."""
    out = np.empty(1 << 24, np.float32)
    for k in range(1 << 24):
        out[k] = np.float32(TWO_PI * np.float64(np.float32(k * 2.0**-24)))
    return out


def _random_finite_floats(rng: np.random.Generator, n: int, *, positive: bool) -> np.ndarray:
    bits = rng.integers(0, 0x7F800000 if positive else 0xFFFFFFFF, n, dtype=np.uint64).astype(np.uint32)
    xs = bits.view(np.float32)
    return xs[np.isfinite(xs)]


SPECIALS = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1.0, 1e-45, 1e-40, 1.1754942e-38, 3.4028235e38, -3.4028235e38],
    dtype=np.float32,
)


def _unary64_mismatches(name: str, xs: np.ndarray) -> int:
    ours = getattr(glibc_math, name)
    theirs = C_UNARY64[name]

    @njit
    def count(xs: np.ndarray) -> int:
        bad = 0
        for x in xs:
            bad += _differ64(ours(x), theirs(x))
        return bad

    return int(count(xs))


@njit
def _sincos_f64_mismatches(xs: np.ndarray) -> int:
    buf = np.empty(2, np.float64)
    address = buf.ctypes.data
    bad = 0
    for x in xs:
        s, c = glibc_math.sincos(x)
        c_sincos(x, address, address + 8)
        bad += _differ64(s, buf[0]) or _differ64(c, buf[1])
    return bad


# Every float32 argument where glibc's __sinf_fma/__cosf_fma and __sinf_sse2/__cosf_sse2 differ (a scan of all 2^32
# inputs: 12 for sinf, 22 for cosf, all with |x| > 17, so none in normal_'s [0, 2pi); logf never differs).
_SINF_DIFFERENT = (0x4255B0A9, 0x42A35C07, 0x42A35D44, 0x42A97360, 0x42CF5854, 0x42E87A55)
_COSF_DIFFERENT = (0x418A3ADB, 0x418A3ADC, 0x418A3ADD, 0x418A3ADE, 0x41BC76D9, 0x4202EB4B)
_COSF_DIFFERENT += (0x42687A55, 0x4280CE28, 0x42870E40, 0x42C55FAA, 0x42D8D23E)
SSE2_DIFFERENT = tuple(bits | sign for bits in _SINF_DIFFERENT + _COSF_DIFFERENT for sign in (0, 0x80000000))


def test_logf_on_the_kernel_domain() -> None:
    assert _logf_kernel_domain_mismatches() == 0  # 2^24 values


def test_logf_on_random_floats() -> None:
    rng = np.random.default_rng(20260)
    xs = np.concatenate(
        [
            _random_finite_floats(rng, 3_000_000, positive=True),
            _random_finite_floats(rng, 200_000, positive=False),
            rng.uniform(0.5, 2.0, 1_000_000).astype(np.float32),
            SPECIALS,
        ]
    )
    assert _logf_mismatches(xs) == 0


@fma_libm
def test_sinf_cosf_on_all_float32_arguments_where_the_variants_differ() -> None:
    # The only float32 arguments where __sinf_fma / __cosf_fma and __*_sse2 differ (all 2^32 scanned).
    xs = np.array(SSE2_DIFFERENT, dtype=np.uint32).view(np.float32)
    assert _sincos_mismatches(xs) == (0, 0, 0)


def test_sinf_cosf_on_the_kernel_domain() -> None:
    thetas = _kernel_thetas()
    assert thetas[-1] < np.float32(2 * np.pi)
    assert _sincos_mismatches(thetas) == (0, 0, 0)  # 2^24 values, each through sinf, cosf and sincosf


@fma_libm
def test_sinf_cosf_on_random_floats() -> None:
    rng = np.random.default_rng(20261)
    xs = np.concatenate(
        [
            rng.uniform(-100.0, 100.0, 2_000_000).astype(np.float32),
            # |x| >= 120 takes reduce_large (the 4/pi table), tiny |x| the short cuts.
            _random_finite_floats(rng, 1_000_000, positive=False),
            SPECIALS,
        ]
    )
    assert _sincos_mismatches(xs) == (0, 0, 0)


@fma_libm
def test_float64_functions_on_random_doubles() -> None:
    rng = np.random.default_rng(20262)
    unit = rng.random(1_000_000)  # 53-bit uniforms, as PyTorch's float64 ones
    bits = rng.integers(0, 2**63, 300_000, dtype=np.int64).view(np.float64)
    bits = np.concatenate([bits, -bits, SPECIALS.astype(np.float64)])
    assert _unary64_mismatches("log", np.concatenate([1.0 - unit, rng.uniform(0.9, 1.1, 300_000), bits])) == 0
    assert _unary64_mismatches("log1p", np.concatenate([-unit, rng.uniform(-0.3, 0.5, 300_000), bits])) == 0
    # Random bit patterns are mostly |x| >= 105414350: __branred's reduction.
    angles = np.concatenate([TWO_PI * unit, rng.uniform(-1e5, 1e5, 300_000), rng.uniform(1e8, 1e12, 50_000), bits])
    assert _unary64_mismatches("sin", angles) == 0
    assert _unary64_mismatches("cos", angles) == 0
    assert _sincos_f64_mismatches(angles) == 0


# --------------------------------------------------------------------------------------------------
# PyTorch's default build: normal_ on float32 and float64, n >= 16 (contiguous fill) and n < 16 (scalar).

SEEDS = (0, 1, 12345)
MEAN_STD = ((0.0, 1.0), (0.5, 0.02), (-3.0, 7.0))
# n % 16 != 0 (1000, 65536 + 7): the last 16 outputs come from 16 fresh uniforms; n < 16: the scalar path.
CASES = (
    ("float32", (16, 65536, 2**20, 1000)),
    ("float64", (16, 65536 + 7)),
    ("float32", (1, 7, 15)),
    ("float64", (1, 7, 15)),
)

_TORCH_NORMALS = """
import sys, torch
for dtype, sizes in {cases}:
    for seed in {seeds}:
        for n in sizes:
            for mean, std in {mean_std}:
                torch.manual_seed(seed)
                out = torch.empty(n, dtype=getattr(torch, dtype)).normal_(mean, std)
                sys.stdout.buffer.write(out.numpy().tobytes())
"""


@pytest.fixture(scope="module")
def torch_default_normals() -> dict[tuple[str, int, int, float, float], np.ndarray]:
    """normal_ outputs of PyTorch run with ATEN_CPU_CAPABILITY=default, by (dtype, seed, n, mean, std)."""
    pytest.importorskip("torch")
    code = _TORCH_NORMALS.format(cases=CASES, seeds=SEEDS, mean_std=MEAN_STD)
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    raw = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=120).stdout
    outputs = {}
    offset = 0
    for dtype, sizes in CASES:
        for seed in SEEDS:
            for n in sizes:
                for mean, std in MEAN_STD:
                    size = n * np.dtype(dtype).itemsize
                    outputs[dtype, seed, n, mean, std] = np.frombuffer(raw[offset : offset + size], dtype=dtype)
                    offset += size
    assert offset == len(raw)
    return outputs


def _differing(ours: np.ndarray, theirs: np.ndarray) -> int:
    bits = np.uint32 if ours.dtype == np.float32 else np.uint64
    return int(np.count_nonzero(ours.view(bits) != theirs.view(bits)))


@pytest.mark.torch
@pytest.mark.slow
def test_float32_normal_fill_matches_torch_default_build(torch_default_normals: dict) -> None:
    import torch

    for seed in SEEDS:
        for n in CASES[0][1]:
            torch.manual_seed(seed)
            uniforms = torch.rand(n + (16 if n % 16 else 0)).numpy()
            for mean, std in MEAN_STD:
                out = np.empty(n, np.float32)
                normal_fill_default(uniforms, np.float32(mean), np.float32(std), out)
                assert _differing(out, torch_default_normals["float32", seed, n, mean, std]) == 0, (seed, n, mean)


@fma_libm
@pytest.mark.torch
@pytest.mark.slow
def test_float64_and_scalar_normal_match_torch_default_build(torch_default_normals: dict) -> None:
    import torch

    for dtype, sizes in CASES[1:]:
        for seed in SEEDS:
            for n in sizes:
                torch.manual_seed(seed)
                if n >= 16:
                    uniforms = torch.rand(n + (16 if n % 16 else 0), dtype=torch.float64).numpy()
                else:
                    uniforms = torch.rand(2 * ((n + 1) // 2), dtype=torch.float64).numpy()
                for mean, std in MEAN_STD:
                    out = np.empty(n, dtype)
                    if n >= 16:
                        normal_fill_default_f64(uniforms, mean, std, out)
                    else:
                        normal_scalar_default(uniforms, mean, std, out)
                    expected = torch_default_normals[dtype, seed, n, mean, std]
                    assert _differing(out, expected) == 0, (dtype, seed, n, mean)
