"""glibc_math's logf / sinf / cosf / sincosf against this machine's libm, and its normal_ block against PyTorch.

The kernels reproduce glibc 2.36's ``__logf_fma``, ``__sinf_fma``, ``__cosf_fma`` and ``__sincosf_fma``
(the variants glibc's ifunc picks on CPUs with FMA and AVX2; see the module docstring). The machine's
libm runs the FMA variants on such a CPU and the ``__*_sse2`` ones elsewhere; on every input compared
here (and, checked once off-line, on all 2^32 float32 inputs) the two variants give the same bits, so
these comparisons hold on either kind of x86-64 machine with glibc >= 2.28.

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

from service.core.kernels.glibc_math import (
    TWO_PI,
    _asuint,
    cosf,
    logf,
    normal_fill_default,
    sincosf,
    sinf,
)

if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    pytest.skip("compares with glibc's libm", allow_module_level=True)

_LIBM = ctypes.CDLL("libm.so.6")


def _unary(name: str) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = getattr(_LIBM, name)
    function.restype = ctypes.c_float
    function.argtypes = [ctypes.c_float]
    return function


# Module globals, so the @njit loops below call libm directly (numba compiles ctypes calls).
c_logf = _unary("logf")
c_sinf = _unary("sinf")
c_cosf = _unary("cosf")
c_sincosf = _LIBM.sincosf
c_sincosf.restype = None
c_sincosf.argtypes = [ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p]


@njit
def _differ(a: np.float32, b: np.float32) -> bool:
    if a != a and b != b:  # both NaN
        return False
    return _asuint(a) != _asuint(b)


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


def test_sinf_cosf_on_the_kernel_domain() -> None:
    thetas = _kernel_thetas()
    assert thetas[-1] < np.float32(2 * np.pi)
    assert _sincos_mismatches(thetas) == (0, 0, 0)  # 2^24 values, each through sinf, cosf and sincosf


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


# --------------------------------------------------------------------------------------------------
# PyTorch's default build, float32 normal_ (n >= 16, contiguous).

SEEDS = (0, 1, 12345)
SIZES = (16, 65536, 2**20, 1000)  # 1000 % 16 != 0: the last 16 come from 16 fresh uniforms
MEAN_STD = ((0.0, 1.0), (0.5, 0.02), (-3.0, 7.0))

_TORCH_NORMALS = """
import sys, torch
for seed in {seeds}:
    for n in {sizes}:
        for mean, std in {mean_std}:
            torch.manual_seed(seed)
            sys.stdout.buffer.write(torch.empty(n).normal_(mean, std).numpy().tobytes())
"""


@pytest.mark.torch
@pytest.mark.slow
def test_normal_fill_matches_torch_default_build() -> None:
    torch = pytest.importorskip("torch")
    code = _TORCH_NORMALS.format(seeds=SEEDS, sizes=SIZES, mean_std=MEAN_STD)
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    raw = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=120).stdout
    expected = np.frombuffer(raw, dtype=np.uint32)
    offset = 0
    for seed in SEEDS:
        for n in SIZES:
            torch.manual_seed(seed)
            uniforms = torch.rand(n + (16 if n % 16 else 0)).numpy()
            for mean, std in MEAN_STD:
                out = np.empty(n, np.float32)
                normal_fill_default(uniforms, np.float32(mean), np.float32(std), out)
                differing = int(np.count_nonzero(out.view(np.uint32) != expected[offset : offset + n]))
                assert differing == 0, (seed, n, mean, std)
                offset += n
    assert offset == expected.size
