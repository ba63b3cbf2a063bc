"""The ``initserve-2`` stream's samplers: counter-based, element-addressable, bit-identical on every IEEE-754 machine.

Element ``i`` of a tensor (its flat, row-major index) is a pure function of ``(seed, i, parameters, dtype)``:
O(1) to compute, independent of the shape, of ``start``/``stop`` and of every other element. The only
floating-point operations are IEEE-754 ``+ - * /``, ``sqrt``, fused multiply-add (one rounding, explicit),
conversions between integers and floats, and float64 -> float32 rounding, all round-to-nearest-even; the kernels
are compiled with fastmath off (LLVM contracts nothing on its own); ``exp`` and ``log`` are the polynomials
below, not a libm. ``docs/initserve-2.md`` states the same definition with the measured speed.

Bits. Philox4x32-10 (Salmon et al., SC'11; :mod:`service.core.kernels.philox`) with the key
``(seed & 0xFFFFFFFF, seed >> 32)`` (``0 <= seed < 2^53``) maps a counter ``(c0, c1, c2, c3)`` to four words
``y0..y3``. ``lo(n)``/``hi(n)`` are the low and high 32 bits of an integer ``n < 2^64``. Four counter families,
told apart by the low two bits of ``c2``:

* ``(lo(n), hi(n), 0, 0)``: uniform, block ``n``;
* ``(lo(n), hi(n), 1, 0)``: normal (and truncated normal's trial 0), block ``n``;
* ``(lo(i), hi(i), 4t + 2, a)``: the ziggurat's slow path of element ``i``, trial ``t``, attempt ``a = 0, 1, ...``;
* ``(lo(i), hi(i), 4t + 3, 0)``: truncated normal's proposal of element ``i``, trial ``t``.

float32 element ``i`` takes the 32-bit word ``w = y[i mod 4]`` of block ``n = i // 4``; float64 element ``i``
takes the 64-bit ``W = y[2m] | y[2m + 1] << 32``, ``m = i mod 2``, of block ``n = i // 2``. In the slow
families ``U(ya, yb) = ((ya | yb << 32) >> 11) * 2^-53`` is in ``[0, 1)`` and
``V(ya, yb) = (((ya | yb << 32) >> 11) + 1) * 2^-53`` in ``(0, 1]``.

uniform(low, high). float32: ``u = (w >> 8) * 2^-24``, ``L, H`` = ``low, high`` rounded to float32 (``L < H``
required), ``x = float32(fma(u, H - L, L))`` (float64 arithmetic, one rounding to float32), and ``x = H⁻``
(the largest float32 below ``H``) if ``x >= H``. float64: ``u = (W >> 11) * 2^-53``, ``x = fma(u, high - low,
low)`` and ``high⁻`` if ``x >= high``; if ``high - low`` overflows, ``x = 2 * fma(u, high/2 - low/2, low/2)``.
So ``L <= x < H``, always.

normal(mean, std): a 256-layer ziggurat (Marsaglia & Tsang, "The ziggurat method for generating random
variables", J. Stat. Softw. 5(8), 2000), the standard draw ``z`` then ``x = fma(std, z, mean)`` in float64
(float32: ``z`` is a float32, widened exactly; ``x`` rounded once to float32).

* Tables (float64, built at import with the ``exp``/``log`` below and IEEE ``sqrt``; their SHA-256 is pinned
  in the tests): ``f(x) = exp((x * x) * -0.5)``, ``r = 3.6541528853610088``, ``v = 0.00492867323399``;
  ``X[255] = r``, ``X[j] = sqrt(-2 * log(v / X[j+1] + f(X[j+1])))`` for ``j = 254 .. 1``, ``X[0] = v / f(r)``;
  ``F[0] = 1``, ``F[j] = f(X[j])`` for ``j >= 1``; with ``b`` = 23 (float32) or 52 (float64) mantissa bits,
  ``K[0] = floor((r / X[0]) * 2^b)``, ``K[1] = 0``, ``K[j] = floor((X[j-1] / X[j]) * 2^b)``;
  ``Wt32[j] = float32(X[j]) * 2^-23``, ``Wt64[j] = X[j] * 2^-52``.
* Candidate from a word: float32 ``j = w & 255``, ``s = (w >> 8) & 1``, ``m = w >> 9`` and
  ``x = float32(m) * Wt32[j]`` (a float32 product); float64 ``j = W & 255``, ``s = (W >> 8) & 1``,
  ``m = W >> 12``, ``x = float64(m) * Wt64[j]``. Fast accept if ``m < K[j]``: ``z = -x`` if ``s`` else ``x``.
* Slow path of element ``i``, trial ``t``, for a rejected candidate ``(j, s, x)``; attempt ``a = 0, 1, ...`` reads
  ``y0..y3`` of ``(lo(i), hi(i), 4t + 2, a)``. Tail (``j = 0``): ``e = -log(V(y0, y1)) / r``,
  ``g = -log(V(y2, y3))``; if ``g + g >= e * e`` return ``±(r + e)`` (sign ``s``), else the next attempt
  (the candidate stays the tail). Wedge (``j >= 1``): if ``fma(U(y0, y1), F[j-1] - F[j], F[j]) < f(x)``
  return ``±x``; else the next candidate is ``y2`` (float32 layout, if the first candidate was a float32 one)
  or ``y2 | y3 << 32`` (float64 layout); fast accept as above, else the next attempt with it. A float32-layout
  draw's ``z`` is rounded to float32 (only the tail's ``r + e`` is not already one).
* ``exp(x)``: 0 for ``x < -708``; ``n = fma(x, 1/ln2, 1.5 * 2^52) - 1.5 * 2^52``, ``q = fma(-n, LN2_HI, x)``,
  ``q = fma(-n, LN2_LO, q)``, ``p = sum(q^k / k!, k = 0..13)`` by Horner with ``fma`` (the coefficients are the
  float64 nearest to ``1/k!``), times ``2^n`` (exact). ``log(x)`` (``x`` a positive normal float64):
  ``x = m 2^e``, ``m`` in ``[1, 2)``, ``m /= 2, e += 1`` if ``m > sqrt(2)``; ``f = m - 1``,
  ``s = f / (2 + f)``, ``z = s * s``, ``R = z * P(z)``, ``P(z) = sum(z^k / (2k + 3), k = 0..10)`` by Horner
  with ``fma``; ``log(x) = e * LN2_HI + ((e * LN2_LO + (s + s)) + (s + s) * R)``.
  ``LN2_HI = 0x1.62e42fee00000p-1``, ``LN2_LO = 0x1.a39ef35793c76p-33``, ``1/ln2 = 0x1.71547652b82fep+0``.

truncated_normal(mean, std, low, high): ``N(mean, std^2)`` conditioned on ``[low, high]`` (absolute bounds,
PyTorch's ``trunc_normal_``), by rejection (Robert, "Simulation of truncated normal variables", Stat. Comput.
5, 1995). ``a = (low - mean) / std``, ``b = (high - mean) / std``; if ``b <= 0`` the problem is mirrored
(``a, b = -b, -a``, the draw negated). Then one regime for the whole call:

* ``N`` (``a < 0 < b`` and ``b - a >= sqrt(2 pi)``): trial 0 is the normal's element ``i`` (same bits,
  same dtype), trial ``t >= 1`` a float64 ziggurat whose candidate is ``y0 | y1 << 32`` of
  ``(lo(i), hi(i), 4t + 3, 0)`` (slow path ``4t + 2``); accepted if ``low <= fma(std, z, mean) <= high``;
* ``U0`` (``a < 0 < b``, narrower): ``z = fma(U(y0, y1), b - a, a)``, accepted if ``U(y2, y3) < f(z)``;
* ``UA`` (``a >= 0``, ``b - a < (2 / (a + sqrt(a a + 4))) exp((a a - a sqrt(a a + 4)) / 4 + 1/2)``):
  ``z`` as in ``U0``, accepted if ``U(y2, y3) < exp(((a - z) * (a + z)) * 0.5)``;
* ``E`` (``a >= 0``, wider): ``al = (a + sqrt(a a + 4)) / 2``, ``z = a + (-log(V(y0, y1))) / al``,
  accepted if ``z <= b`` and ``U(y2, y3) < f(z - al)``;

with ``y0..y3`` of ``(lo(i), hi(i), 4t + 3, 0)`` for trials ``t = 0, 1, ...``. The value is
``x = fma(std, ±z, mean)`` clamped to ``[low, high]``, rounded to the dtype and clamped to
``[low_d, high_d]``, the dtype's values nearest inside the bounds (a ``ValueError`` if there are none):
bounds are never crossed. Every regime accepts at least ~49% of its proposals.

float16 and bfloat16 are the float32 values rounded to nearest even by the caller.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

import numpy as np
from numba import njit

from service.core.kernels.bits import as_float64, as_uint64
from service.core.kernels.fma import fma
from service.core.kernels.philox import philox4x32

__all__ = ["MAX_SEED", "key", "normal", "table_digest", "truncated_normal", "uniform"]

#: The largest seed (every seed is exact in a JSON double).
MAX_SEED: Final[int] = 2**53 - 1

_MASK32 = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)
_CHUNK = 1024  # elements per pass of the vectorized kernels

# -- exp and log, float64, IEEE operations only -----------------------------------------------------------

_SHIFT = float.fromhex("0x1.8p52")
_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_SQRT2 = float.fromhex("0x1.6a09e667f3bcdp+0")
(_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = (1 / math.factorial(k) for k in range(14))
(_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10) = (1 / (2 * k + 3) for k in range(11))
_EXP_MIN = -708.0
_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.uint64(0x3FF0000000000000)


@njit(cache=True, inline="always", error_model="numpy")
def _exp(x: float) -> float:
    """``e^x`` for ``x <= 0`` (any ``x <= 709``): reduction by ``n ln 2``, degree-13 Taylor polynomial."""
    if x < _EXP_MIN:
        return 0.0
    n = fma(x, _INV_LN2, _SHIFT) - _SHIFT
    q = fma(-n, _LN2_HI, x)
    q = fma(-n, _LN2_LO, q)
    p = fma(_E13, q, _E12)
    p = fma(p, q, _E11)
    p = fma(p, q, _E10)
    p = fma(p, q, _E9)
    p = fma(p, q, _E8)
    p = fma(p, q, _E7)
    p = fma(p, q, _E6)
    p = fma(p, q, _E5)
    p = fma(p, q, _E4)
    p = fma(p, q, _E3)
    p = fma(p, q, _E2)
    p = fma(p, q, _E1)
    p = fma(p, q, _E0)
    return p * as_float64(np.uint64(np.int64(n) + 1023) << np.uint64(52))


@njit(cache=True, inline="always", error_model="numpy")
def _log(x: float) -> float:
    """``ln x`` for a positive normal ``x``: ``2 atanh(f / (2 + f))`` series on ``[sqrt(1/2), sqrt(2)]``."""
    bits = as_uint64(x)
    e = np.float64(np.int64(bits >> np.uint64(52)) - 1023)
    m = as_float64((bits & _MANT) | _ONE_BITS)
    if m > _SQRT2:
        m = m * 0.5
        e = e + 1.0
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = fma(_L10, z, _L9)
    p = fma(p, z, _L8)
    p = fma(p, z, _L7)
    p = fma(p, z, _L6)
    p = fma(p, z, _L5)
    p = fma(p, z, _L4)
    p = fma(p, z, _L3)
    p = fma(p, z, _L2)
    p = fma(p, z, _L1)
    p = fma(p, z, _L0)
    r = z * p
    s2 = s + s
    return e * _LN2_HI + (e * _LN2_LO + s2 + s2 * r)


@njit(cache=True, inline="always", error_model="numpy")
def _gauss(x: float) -> float:
    """``f(x) = exp(-x^2 / 2)``, as ``exp((x * x) * -0.5)``."""
    return _exp((x * x) * -0.5)


@njit(cache=True)
def _exp_log_py(x: float, which: int) -> float:
    """``_exp`` (0), ``_log`` (1) or ``_gauss`` (2) callable from Python (tables, tests)."""
    if which == 0:
        return _exp(x)
    if which == 1:
        return _log(x)
    return _gauss(x)


# -- ziggurat tables ----------------------------------------------------------------------------------------

_ZIG_R = 3.6541528853610088
_ZIG_V = 0.00492867323399


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X, F, K32, K64, Wt32, Wt64 as the module docstring defines them."""
    x = np.empty(256)
    r, v = _ZIG_R, _ZIG_V
    x[255] = r
    for j in range(254, 0, -1):
        x[j] = math.sqrt(-2.0 * _exp_log_py(v / x[j + 1] + _exp_log_py(x[j + 1], 2), 1))
    x[0] = v / _exp_log_py(r, 2)
    f = np.empty(256)
    f[0] = 1.0
    for j in range(1, 256):
        f[j] = _exp_log_py(x[j], 2)
    k32 = np.empty(256, dtype=np.uint32)
    k64 = np.empty(256, dtype=np.uint64)
    for b, k in ((23, k32), (52, k64)):
        k[0] = math.floor((r / x[0]) * 2.0**b)
        k[1] = 0
        for j in range(2, 256):
            k[j] = math.floor((x[j - 1] / x[j]) * 2.0**b)
    wt32 = (x.astype(np.float32) * np.float32(2.0**-23)).astype(np.float32)
    wt64 = x * 2.0**-52
    return x, f, k32, k64, wt32, wt64


_X, _F, _K32, _K64, _WT32, _WT64 = _tables()
for _t in (_X, _F, _K32, _K64, _WT32, _WT64):
    _t.flags.writeable = False


def table_digest() -> str:
    """SHA-256 of the ziggurat tables' bytes (X, F, K32, K64, Wt32, Wt64, little-endian), pinned in the tests."""
    h = hashlib.sha256()
    for t in (_X, _F, _K32, _K64, _WT32, _WT64):
        h.update(t.astype(t.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


# -- bits -> numbers ----------------------------------------------------------------------------------------

_TWO_M24 = 2.0**-24
_TWO_M53 = 2.0**-53
_S11 = np.uint64(11)


@njit(cache=True, inline="always", error_model="numpy")
def _u53(ya: np.uint64, yb: np.uint64) -> float:
    """``U(ya, yb)``: 53 bits in ``[0, 1)``."""
    return np.float64((ya | (yb << _U32)) >> _S11) * _TWO_M53


@njit(cache=True, inline="always", error_model="numpy")
def _v53(ya: np.uint64, yb: np.uint64) -> float:
    """``V(ya, yb)``: 53 bits in ``(0, 1]``."""
    return np.float64(((ya | (yb << _U32)) >> _S11) + np.uint64(1)) * _TWO_M53


@njit(cache=True, inline="always", error_model="numpy")
def _cand32(w: np.uint64) -> tuple[np.int64, np.uint64, float, bool]:
    """float32-layout candidate of word ``w``: layer, sign bit, value (a float32, widened), fast accept."""
    j = np.int64(w & np.uint64(255))
    s = (w >> np.uint64(8)) & np.uint64(1)
    m = w >> np.uint64(9)
    x = np.float64(np.float32(m) * _WT32[j])
    return j, s, x, m < np.uint64(_K32[j])


@njit(cache=True, inline="always", error_model="numpy")
def _cand64(w: np.uint64) -> tuple[np.int64, np.uint64, float, bool]:
    """float64-layout candidate of the 64-bit ``w``: layer, sign bit, value, fast accept."""
    j = np.int64(w & np.uint64(255))
    s = (w >> np.uint64(8)) & np.uint64(1)
    m = w >> np.uint64(12)
    x = np.float64(m) * _WT64[j]
    return j, s, x, m < _K64[j]


@njit(cache=True, error_model="numpy")
def _zig_slow(
    k0: np.uint64, k1: np.uint64, i: np.uint64, t: np.uint64, j: np.int64, s: np.uint64, x: float, narrow: bool
) -> float:
    """The ziggurat's slow path of element ``i``, trial ``t``, from the rejected candidate ``(j, s, x)``."""
    c0 = i & _MASK32
    c1 = i >> _U32
    c2 = (t << np.uint64(2)) | np.uint64(2)
    a = np.uint64(0)
    while True:
        y0, y1, y2, y3 = philox4x32(k0, k1, c0, c1, c2, a)
        a += np.uint64(1)
        if j == 0:
            e = -_log(_v53(y0, y1)) / _ZIG_R
            g = -_log(_v53(y2, y3))
            if g + g >= e * e:
                z = _ZIG_R + e
                return -z if s else z
            continue
        if fma(_u53(y0, y1), _F[j - 1] - _F[j], _F[j]) < _gauss(x):
            return -x if s else x
        if narrow:
            j, s, x, fast = _cand32(y2)
        else:
            j, s, x, fast = _cand64(y2 | (y3 << _U32))
        if fast:
            return -x if s else x


# -- block words ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always", error_model="numpy")
def _words32(k0: np.uint64, k1: np.uint64, family: np.uint64, n0: int, n1: int, words) -> None:  # type: ignore[no-untyped-def]
    """The 32-bit words of blocks ``[n0, n1)`` of ``family`` (0 uniform, 1 normal): ``words[4 (n - n0) + k]``
    is word ``y_k`` of block ``n``, counter ``(lo(n), hi(n), family, 0)``."""
    for n in range(n0, n1):
        y0, y1, y2, y3 = philox4x32(k0, k1, np.uint64(n) & _MASK32, np.uint64(n) >> _U32, family, np.uint64(0))
        p = 4 * (n - n0)
        words[p] = y0
        words[p + 1] = y1
        words[p + 2] = y2
        words[p + 3] = y3


@njit(cache=True, inline="always", error_model="numpy")
def _words64(k0: np.uint64, k1: np.uint64, family: np.uint64, n0: int, n1: int, words) -> None:  # type: ignore[no-untyped-def]
    """The 64-bit words of blocks ``[n0, n1)`` of ``family``: ``y0 | y1 << 32`` then ``y2 | y3 << 32``."""
    for n in range(n0, n1):
        y0, y1, y2, y3 = philox4x32(k0, k1, np.uint64(n) & _MASK32, np.uint64(n) >> _U32, family, np.uint64(0))
        p = 2 * (n - n0)
        words[p] = y0 | (y1 << _U32)
        words[p + 1] = y2 | (y3 << _U32)


# -- uniform -------------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _uniform32(k0: np.uint64, k1: np.uint64, lo: float, hi: float, below: np.float32, start: int, stop: int, out):  # type: ignore[no-untyped-def]
    d = hi - lo
    words = np.empty(_CHUNK + 8, dtype=np.uint32)
    for base in range(start, stop, _CHUNK):
        end = min(base + _CHUNK, stop)
        n0 = base >> 2
        n1 = (end + 3) >> 2
        _words32(k0, k1, np.uint64(0), n0, n1, words)
        off = base - 4 * n0
        o = base - start
        hi32 = np.float32(hi)
        for e in range(end - base):
            u = np.float64(words[off + e] >> np.uint32(8)) * _TWO_M24
            x = np.float32(fma(u, d, lo))
            out[o + e] = below if x >= hi32 else x


@njit(cache=True, nogil=True, error_model="numpy")
def _uniform64(k0: np.uint64, k1: np.uint64, lo: float, hi: float, below: float, start: int, stop: int, out):  # type: ignore[no-untyped-def]
    d = hi - lo
    scale = 1.0
    if d == math.inf:
        scale = 0.5
        d = hi * 0.5 - lo * 0.5
    los = lo * scale
    inv = 1.0 / scale
    words = np.empty(_CHUNK + 4, dtype=np.uint64)
    for base in range(start, stop, _CHUNK):
        end = min(base + _CHUNK, stop)
        n0 = base >> 1
        n1 = (end + 1) >> 1
        _words64(k0, k1, np.uint64(0), n0, n1, words)
        off = base - 2 * n0
        o = base - start
        for e in range(end - base):
            u = np.float64(words[off + e] >> _S11) * _TWO_M53
            x = fma(u, d, los) * inv
            out[o + e] = below if x >= hi else x


# -- normal --------------------------------------------------------------------------------------------------


@njit(cache=True, inline="always", error_model="numpy")
def _std32_chunk(k0: np.uint64, k1: np.uint64, mean: float, std: float, base: int, end: int, words, flag, dst) -> None:  # type: ignore[no-untyped-def]
    """``dst[e] = fma(std, z, mean)`` (stored as ``dst``'s dtype) for the float32 standard normals ``z`` of
    elements ``[base, end)``: the fast path for all, then the slow path for the few flagged elements."""
    n0 = base >> 2
    n1 = (end + 3) >> 2
    _words32(k0, k1, np.uint64(1), n0, n1, words)
    count = end - base
    src = words[base - 4 * n0 : base - 4 * n0 + count]
    for e in range(count):
        w = src[e]
        j = w & np.uint32(255)
        m = w >> np.uint32(9)
        x = np.float32(m) * _WT32[j]
        z = -x if (w & np.uint32(256)) else x
        dst[e] = fma(std, np.float64(z), mean)
        flag[e] = m >= _K32[j]
    flag[count : (count + 7) & ~7] = 0
    lanes = flag.view(np.uint64)
    for q in range((count + 7) >> 3):
        if lanes[q]:
            for e in range(8 * q, 8 * q + 8):
                if flag[e]:
                    j2, s, x2, _ = _cand32(np.uint64(src[e]))
                    z2 = np.float32(_zig_slow(k0, k1, np.uint64(base + e), np.uint64(0), j2, s, x2, True))
                    dst[e] = fma(std, np.float64(z2), mean)


@njit(cache=True, inline="always", error_model="numpy")
def _std64_chunk(k0: np.uint64, k1: np.uint64, mean: float, std: float, base: int, end: int, words, flag, dst) -> None:  # type: ignore[no-untyped-def]
    """``dst[e] = fma(std, z, mean)`` for the float64 standard normals ``z`` of elements ``[base, end)``."""
    n0 = base >> 1
    n1 = (end + 1) >> 1
    _words64(k0, k1, np.uint64(1), n0, n1, words)
    count = end - base
    src = words[base - 2 * n0 : base - 2 * n0 + count]
    for e in range(count):
        w = src[e]
        j = w & np.uint64(255)
        m = w >> np.uint64(12)
        x = np.float64(m) * _WT64[j]
        z = -x if (w & np.uint64(256)) else x
        dst[e] = fma(std, z, mean)
        flag[e] = m >= _K64[j]
    flag[count : (count + 7) & ~7] = 0
    lanes = flag.view(np.uint64)
    for q in range((count + 7) >> 3):
        if lanes[q]:
            for e in range(8 * q, 8 * q + 8):
                if flag[e]:
                    j2, s, x2, _ = _cand64(src[e])
                    dst[e] = fma(std, _zig_slow(k0, k1, np.uint64(base + e), np.uint64(0), j2, s, x2, False), mean)


@njit(cache=True, nogil=True, error_model="numpy")
def _normal32(k0: np.uint64, k1: np.uint64, mean: float, std: float, start: int, stop: int, out):  # type: ignore[no-untyped-def]
    words = np.empty(_CHUNK + 8, dtype=np.uint32)
    flag = np.zeros(_CHUNK, dtype=np.uint8)
    for base in range(start, stop, _CHUNK):
        end = min(base + _CHUNK, stop)
        _std32_chunk(k0, k1, mean, std, base, end, words, flag, out[base - start : end - start])


@njit(cache=True, nogil=True, error_model="numpy")
def _normal64(k0: np.uint64, k1: np.uint64, mean: float, std: float, start: int, stop: int, out):  # type: ignore[no-untyped-def]
    words = np.empty(_CHUNK + 4, dtype=np.uint64)
    flag = np.zeros(_CHUNK, dtype=np.uint8)
    for base in range(start, stop, _CHUNK):
        end = min(base + _CHUNK, stop)
        _std64_chunk(k0, k1, mean, std, base, end, words, flag, out[base - start : end - start])


# -- truncated normal ----------------------------------------------------------------------------------------

_REGIME_N, _REGIME_U0, _REGIME_UA, _REGIME_E = 0, 1, 2, 3


@njit(cache=True, error_model="numpy")
def _trial_n(k0: np.uint64, k1: np.uint64, i: np.uint64, t: np.uint64) -> float:
    """Regime ``N``, trial ``t >= 1``: a float64 ziggurat draw of element ``i``."""
    c2 = (t << np.uint64(2)) | np.uint64(3)
    y0, y1, _, _ = philox4x32(k0, k1, i & _MASK32, i >> _U32, c2, np.uint64(0))
    j, s, x, fast = _cand64(y0 | (y1 << _U32))
    if fast:
        return -x if s else x
    return _zig_slow(k0, k1, i, t, j, s, x, False)


@njit(cache=True, inline="always", error_model="numpy")
def _propose(
    y0: np.uint64, y1: np.uint64, y2: np.uint64, y3: np.uint64, regime: int, a: float, b: float, al: float
) -> tuple[float, bool]:
    """Regimes ``U0``, ``UA``, ``E``: the proposal of one trial's words and whether it is accepted."""
    v = _u53(y2, y3)
    if regime == _REGIME_E:
        z = a + (-_log(_v53(y0, y1))) / al
        return z, (z <= b) & (v < _gauss(z - al))
    z = fma(_u53(y0, y1), b - a, a)
    rho = _gauss(z) if regime == _REGIME_U0 else _exp(((a - z) * (a + z)) * 0.5)
    return z, v < rho


@njit(cache=True, error_model="numpy")
def _trial_other(
    k0: np.uint64, k1: np.uint64, i: np.uint64, t: np.uint64, regime: int, a: float, b: float, al: float
) -> float:
    """Regimes ``U0``, ``UA``, ``E``: the first accepted proposal of element ``i`` from trial ``t`` on
    (standardized, mirrored)."""
    c0 = i & _MASK32
    c1 = i >> _U32
    while True:
        y0, y1, y2, y3 = philox4x32(k0, k1, c0, c1, (t << np.uint64(2)) | np.uint64(3), np.uint64(0))
        t += np.uint64(1)
        z, accepted = _propose(y0, y1, y2, y3, regime, a, b, al)
        if accepted:
            return z


@njit(cache=True, inline="always", error_model="numpy")
def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True, nogil=True, error_model="numpy")
def _truncated(  # type: ignore[no-untyped-def]
    k0: np.uint64,
    k1: np.uint64,
    mean: float,
    std: float,
    low: float,
    high: float,
    low_d: float,
    high_d: float,
    regime: int,
    a: float,
    b: float,
    al: float,
    flip: bool,
    narrow: bool,
    start: int,
    stop: int,
    out,
):
    words32 = np.empty(_CHUNK + 8, dtype=np.uint32)
    words64 = np.empty(_CHUNK + 4, dtype=np.uint64)
    flag = np.zeros(_CHUNK, dtype=np.uint8)
    ok = np.empty(_CHUNK, dtype=np.bool_)
    y = np.empty(_CHUNK, dtype=np.float64)
    for base in range(start, stop, _CHUNK):
        end = min(base + _CHUNK, stop)
        count = end - base
        o = base - start
        if regime == _REGIME_N:
            if narrow:
                _std32_chunk(k0, k1, mean, std, base, end, words32, flag, y)
            else:
                _std64_chunk(k0, k1, mean, std, base, end, words64, flag, y)
            for e in range(count):
                ok[e] = (y[e] >= low) & (y[e] <= high)
            for e in range(count):
                if not ok[e]:
                    i = np.uint64(base + e)
                    t = np.uint64(1)
                    while True:
                        v = fma(std, _trial_n(k0, k1, i, t), mean)
                        if low <= v <= high:
                            y[e] = v
                            break
                        t += np.uint64(1)
        else:
            for e in range(count):  # trial 0 of every element, vectorized
                i = np.uint64(base + e)
                y0, y1, y2, y3 = philox4x32(k0, k1, i & _MASK32, i >> _U32, np.uint64(3), np.uint64(0))
                y[e], ok[e] = _propose(y0, y1, y2, y3, regime, a, b, al)
            for e in range(count):
                if not ok[e]:
                    y[e] = _trial_other(k0, k1, np.uint64(base + e), np.uint64(1), regime, a, b, al)
            sign = -1.0 if flip else 1.0
            for e in range(count):
                y[e] = _clamp(fma(std, sign * y[e], mean), low, high)
        dst = out[o : o + count]
        if narrow:
            for e in range(count):
                dst[e] = _clamp(np.float64(np.float32(y[e])), low_d, high_d)
        else:
            for e in range(count):
                dst[e] = _clamp(y[e], low_d, high_d)


# -- the API -------------------------------------------------------------------------------------------------


def key(seed: int) -> tuple[int, int]:
    """The Philox key of ``seed`` (``0 <= seed <= 2^53 - 1``): ``(seed & 0xFFFFFFFF, seed >> 32)``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2^53 - 1], got {seed!r}")
    seed = int(seed)
    return seed & 0xFFFFFFFF, seed >> 32


def _check(start: int, stop: int, out: np.ndarray) -> np.dtype:
    if not 0 <= start <= stop <= 2**62:
        raise ValueError(f"need 0 <= start <= stop <= 2^62, got [{start}, {stop})")
    if out.ndim != 1 or out.shape[0] != stop - start:
        raise ValueError(f"out must be 1-D of length stop - start = {stop - start}, got shape {out.shape}")
    if out.dtype not in (np.float32, np.float64):
        raise ValueError(f"out must be float32 or float64, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out.dtype


def _finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")


def uniform(seed: int, low: float, high: float, start: int, stop: int, out: np.ndarray) -> None:
    """Elements ``[start, stop)`` of ``U[low, high)`` into ``out`` (float32 or float64, ``stop - start`` long).

    float32: ``x = float32(fma(u, H - L, L))`` with ``u = (w >> 8) 2^-24`` and ``L, H`` the float32 roundings of
    ``low, high``; float64: ``x = fma(u, high - low, low)`` with ``u = (W >> 11) 2^-53``; ``x >= H`` becomes the
    largest value below ``H`` (the module docstring has the words ``w``, ``W``).
    """
    k0, k1 = key(seed)
    dtype = _check(start, stop, out)
    low, high = float(low), float(high)
    _finite(low=low, high=high)
    if dtype == np.float32:
        lo32, hi32 = np.float32(low), np.float32(high)
        if not lo32 < hi32 or not (math.isfinite(lo32) and math.isfinite(hi32)):
            raise ValueError(f"low < high must hold in float32, got [{lo32}, {hi32})")
        below = np.nextafter(hi32, np.float32(-np.inf))
        _uniform32(np.uint64(k0), np.uint64(k1), float(lo32), float(hi32), below, start, stop, out)
    else:
        if not low < high:
            raise ValueError(f"low < high must hold, got [{low}, {high})")
        below64 = float(np.nextafter(high, -math.inf))
        _uniform64(np.uint64(k0), np.uint64(k1), low, high, below64, start, stop, out)


def normal(seed: int, mean: float, std: float, start: int, stop: int, out: np.ndarray) -> None:
    """Elements ``[start, stop)`` of ``N(mean, std^2)`` into ``out``: the 256-layer ziggurat's standard draw
    ``z`` (Marsaglia & Tsang 2000) and ``fma(std, z, mean)`` in float64, rounded once to ``out``'s dtype."""
    k0, k1 = key(seed)
    dtype = _check(start, stop, out)
    mean, std = float(mean), float(std)
    _finite(mean=mean, std=std)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    kernel = _normal32 if dtype == np.float32 else _normal64
    kernel(np.uint64(k0), np.uint64(k1), mean, std, start, stop, out)


def _inside(low: float, high: float, dtype: np.dtype) -> tuple[float, float]:
    """The dtype's smallest finite value >= ``low`` and largest finite value <= ``high``."""
    t = dtype.type
    big = float(np.finfo(dtype).max)
    lo, hi = t(min(max(low, -big), big)), t(min(max(high, -big), big))
    if float(lo) < low:
        lo = np.nextafter(lo, t(np.inf))
    if float(hi) > high:
        hi = np.nextafter(hi, t(-np.inf))
    if not (lo <= hi and float(lo) >= low and float(hi) <= high):
        raise ValueError(f"no finite {dtype} value lies in [{low}, {high}]")
    return float(lo), float(hi)


def _regime(a: float, b: float) -> tuple[int, float, float, float, bool]:
    """The regime for standardized bounds ``[a, b]``: ``(regime, a, b, alpha, flip)`` after mirroring."""
    flip = b <= 0.0
    if flip:
        a, b = -b, -a
    if a < 0.0:
        return (_REGIME_N if b - a >= math.sqrt(2.0 * math.pi) else _REGIME_U0), a, b, 0.0, flip
    root = math.sqrt(a * a + 4.0)
    al = (a + root) / 2.0
    width = (2.0 / (a + root)) * _exp_log_py((a * a - a * root) / 4.0 + 0.5, 0)
    return (_REGIME_E if b - a >= width else _REGIME_UA), a, b, al, flip


def truncated_normal(
    seed: int, mean: float, std: float, low: float, high: float, start: int, stop: int, out: np.ndarray
) -> None:
    """Elements ``[start, stop)`` of ``N(mean, std^2)`` conditioned on ``[low, high]`` (absolute bounds, as
    PyTorch's ``trunc_normal_``), by Robert's (1995) rejection regimes; never outside ``[low, high]``."""
    k0, k1 = key(seed)
    dtype = _check(start, stop, out)
    mean, std, low, high = float(mean), float(std), float(low), float(high)
    _finite(mean=mean, std=std)
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    if math.isnan(low) or math.isnan(high) or not low < high:
        raise ValueError(f"low < high must hold, got [{low}, {high}]")
    low_d, high_d = _inside(low, high, dtype)
    regime, a, b, al, flip = _regime((low - mean) / std, (high - mean) / std)
    _truncated(
        np.uint64(k0),
        np.uint64(k1),
        mean,
        std,
        low,
        high,
        low_d,
        high_d,
        regime,
        a,
        b,
        al,
        flip,
        dtype == np.float32,
        start,
        stop,
        out,
    )


# -- segments: many ranges in one call (the rows of a slice) -----------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _normal32_segments(k0, k1, mean, std, starts, lengths, out):  # type: ignore[no-untyped-def]
    offset = 0
    for s in range(starts.size):
        stop = offset + lengths[s]
        _normal32(k0, k1, mean, std, starts[s], starts[s] + lengths[s], out[offset:stop])
        offset = stop


@njit(cache=True, nogil=True, error_model="numpy")
def _normal64_segments(k0, k1, mean, std, starts, lengths, out):  # type: ignore[no-untyped-def]
    offset = 0
    for s in range(starts.size):
        stop = offset + lengths[s]
        _normal64(k0, k1, mean, std, starts[s], starts[s] + lengths[s], out[offset:stop])
        offset = stop


def normal_segments(
    seed: int, mean: float, std: float, starts: np.ndarray, lengths: np.ndarray, out: np.ndarray
) -> None:
    """``normal`` over the ranges ``[starts[s], starts[s] + lengths[s])``, one after another in ``out``: the
    same values as one ``normal`` call per range (the rows of a slice), without a Python call per range."""
    k0, k1 = key(seed)
    _check(0, int(lengths.sum()), out)
    mean, std = float(mean), float(std)
    _finite(mean=mean, std=std)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    if starts.size and (int(starts.min()) < 0 or int((starts + lengths).max()) > 2**62):
        raise ValueError("every range must lie in [0, 2^62]")
    kernel = _normal32_segments if out.dtype == np.float32 else _normal64_segments
    kernel(np.uint64(k0), np.uint64(k1), mean, std, starts.astype(np.int64), lengths.astype(np.int64), out)
