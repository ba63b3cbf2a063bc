"""glibc's float32 ``logf``, ``sinf``, ``cosf`` and ``sincosf``, bit for bit, as numba kernels.

PyTorch's CPU ``normal_`` (the ``default`` build, ``ATEN_CPU_CAPABILITY=default``) calls libm's ``logf``
and ``sincosf`` on float32, so reproducing its samples means reproducing glibc's bits, not merely a
correctly rounded logarithm or sine (a float64-then-round shortcut differs on about 1% of inputs).

This module follows glibc 2.36 (the same code has been in place since glibc 2.28):

* ``sysdeps/ieee754/flt-32/e_logf.c`` and ``e_logf_data.c`` (``logf``, from ARM's optimized-routines),
* ``sysdeps/ieee754/flt-32/s_sinf.c``, ``s_cosf.c``, ``s_sincosf.c``, ``s_sincosf.h``, ``sincosf_poly.h``
  and ``s_sincosf_data.c`` (``sinf``, ``cosf``, ``sincosf``),

as built for x86-64 in ``sysdeps/x86_64/fpu/multiarch`` (``e_logf-fma.c``, ``s_sinf-fma.c``,
``s_cosf-fma.c``, ``s_sincosf-fma.c``): the ``__*_fma`` variants, which glibc's ifunc
(``ifunc-fma.h``) selects on every CPU with FMA and AVX2 (every current x86-64 CPU). Those files are
compiled with ``-mfma -mavx2`` and GCC's default ``-ffp-contract=fast``, so each ``a * b + c`` of the C
source is one fused multiply-add; here each is an explicit :func:`service.core.kernels.fma.fma`, so the
kernels give the FMA variant's bits on every machine, with or without a hardware FMA. (On a CPU without
FMA or AVX2 glibc runs the ``__*_sse2`` variant, unfused, whose bits differ on some inputs.)

The polynomials are evaluated in float64 exactly as glibc does; the tables are module-level numpy arrays
copied from the glibc data files. NaN results are NaN, but their sign and payload bits are not promised.

:func:`normal_block16_default` is PyTorch 2.13's ``NormalFill16<float>`` (the scalar template in
``aten/src/ATen/native/cpu/DistributionTemplates.h``) as the ``default`` build compiles it: ``logf``,
``sincosf`` and ``fmaf`` from libm, the angle computed in float64.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from service.core.kernels.fma import fma

__all__ = [
    "cosf",
    "logf",
    "normal_block16_default",
    "normal_fill_default",
    "sincosf",
    "sinf",
]


# ---------------------------------------------------------------------------------------------------
# Bit casts (``asuint`` / ``asfloat`` of glibc's math_config.h).


@intrinsic
def _asuint(typingctx, x):  # type: ignore[no-untyped-def]
    """The bits of a float32 as a uint32 (glibc's ``asuint``)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def _asfloat(typingctx, i):  # type: ignore[no-untyped-def]
    """The float32 whose bits are the uint32 ``i`` (glibc's ``asfloat``)."""
    if i != types.uint32:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


# ---------------------------------------------------------------------------------------------------
# logf: sysdeps/ieee754/flt-32/e_logf.c and e_logf_data.c (LOGF_TABLE_BITS = 4, LOGF_POLY_ORDER = 4).

#: ``__logf_data.tab[i].invc``: 1/c for the 16 subintervals of [OFF, 2*OFF].
LOGF_INVC = np.array(
    [
        float.fromhex(h)
        for h in (
            "0x1.661ec79f8f3bep+0",
            "0x1.571ed4aaf883dp+0",
            "0x1.49539f0f010bp+0",
            "0x1.3c995b0b80385p+0",
            "0x1.30d190c8864a5p+0",
            "0x1.25e227b0b8eap+0",
            "0x1.1bb4a4a1a343fp+0",
            "0x1.12358f08ae5bap+0",
            "0x1.0953f419900a7p+0",
            "0x1p+0",
            "0x1.e608cfd9a47acp-1",
            "0x1.ca4b31f026aap-1",
            "0x1.b2036576afce6p-1",
            "0x1.9c2d163a1aa2dp-1",
            "0x1.886e6037841edp-1",
            "0x1.767dcf5534862p-1",
        )
    ],
    dtype=np.float64,
)
#: ``__logf_data.tab[i].logc``: log(c).
LOGF_LOGC = np.array(
    [
        float.fromhex(h)
        for h in (
            "-0x1.57bf7808caadep-2",
            "-0x1.2bef0a7c06ddbp-2",
            "-0x1.01eae7f513a67p-2",
            "-0x1.b31d8a68224e9p-3",
            "-0x1.6574f0ac07758p-3",
            "-0x1.1aa2bc79c81p-3",
            "-0x1.a4e76ce8c0e5ep-4",
            "-0x1.1973c5a611cccp-4",
            "-0x1.252f438e10c1ep-5",
            "0x0p+0",
            "0x1.aa5aa5df25984p-5",
            "0x1.c5e53aa362eb4p-4",
            "0x1.526e57720db08p-3",
            "0x1.bc2860d22477p-3",
            "0x1.1058bc8a07ee1p-2",
            "0x1.4043057b6ee09p-2",
        )
    ],
    dtype=np.float64,
)
#: ``__logf_data.poly``: log1p(r) ~ r + A0 r^2 ... (A[0], A[1], A[2]).
LOGF_POLY = np.array(
    [float.fromhex(h) for h in ("-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2")],
    dtype=np.float64,
)
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_OFF = 0x3F330000


@njit(cache=True)
def logf(x: np.float32) -> np.float32:
    """glibc 2.36 ``__logf_fma`` (``sysdeps/ieee754/flt-32/e_logf.c``, fused as x86-64 ``-mfma`` compiles it)."""
    x = np.float32(x)
    ix = np.int64(_asuint(x))
    if ix == 0x3F800000:
        return np.float32(0.0)
    if ((ix - 0x00800000) & 0xFFFFFFFF) >= 0x7F800000 - 0x00800000:
        # x < 0x1p-126 or inf or nan.
        if (ix * 2) & 0xFFFFFFFF == 0:
            return np.float32(-np.inf)  # __math_divzerof (1)
        if ix == 0x7F800000:
            return x
        if (ix & 0x80000000) != 0 or ((ix * 2) & 0xFFFFFFFF) >= 0xFF000000:
            return np.float32(np.nan)  # __math_invalidf (x)
        # Subnormal: normalize it.
        ix = np.int64(_asuint(x * np.float32(8388608.0)))
        ix -= 23 << 23
    # x = 2^k z, z in [OFF, 2*OFF] exact; the ith subinterval contains z and c is near its center.
    tmp = (ix - _LOGF_OFF) & 0xFFFFFFFF
    i = (tmp >> (23 - 4)) % 16
    k = (tmp - (1 << 32) if tmp >= 1 << 31 else tmp) >> 23  # (int32_t) tmp >> 23, arithmetic
    iz = (ix - (tmp & (0x1FF << 23))) & 0xFFFFFFFF
    invc = LOGF_INVC[i]
    logc = LOGF_LOGC[i]
    z = np.float64(_asfloat(np.uint32(iz)))
    # log(x) = log1p(z/c-1) + log(c) + k*Ln2
    r = fma(z, invc, -1.0)
    y0 = fma(np.float64(k), _LN2, logc)
    # Pipelined polynomial evaluation to approximate log1p(r).
    r2 = r * r
    y = fma(LOGF_POLY[1], r, LOGF_POLY[2])
    y = fma(LOGF_POLY[0], r2, y)
    y = fma(y, r2, y0 + r)
    return np.float32(y)


# ---------------------------------------------------------------------------------------------------
# sinf / cosf / sincosf: sysdeps/ieee754/flt-32/s_sinf.c, s_cosf.c, s_sincosf.c, s_sincosf.h,
# sincosf_poly.h and s_sincosf_data.c (x86-64: TOINT_INTRINSICS = 0).

#: ``__sincosf_table[t]``: sign[4], hpi_inv (2/pi * 2^24), hpi (pi/2), c0..c4, s1..s3; the 2nd entry
#: has the cosine polynomial negated.
SINCOSF_TABLE = np.array(
    [
        [
            1.0,
            -1.0,
            -1.0,
            1.0,
            float.fromhex("0x1.45F306DC9C883p+23"),
            float.fromhex("0x1.921FB54442D18p0"),
            1.0,
            float.fromhex("-0x1.ffffffd0c621cp-2"),
            float.fromhex("0x1.55553e1068f19p-5"),
            float.fromhex("-0x1.6c087e89a359dp-10"),
            float.fromhex("0x1.99343027bf8c3p-16"),
            float.fromhex("-0x1.555545995a603p-3"),
            float.fromhex("0x1.1107605230bc4p-7"),
            float.fromhex("-0x1.994eb3774cf24p-13"),
        ],
        [
            1.0,
            -1.0,
            -1.0,
            1.0,
            float.fromhex("0x1.45F306DC9C883p+23"),
            float.fromhex("0x1.921FB54442D18p0"),
            -1.0,
            float.fromhex("0x1.ffffffd0c621cp-2"),
            float.fromhex("-0x1.55553e1068f19p-5"),
            float.fromhex("0x1.6c087e89a359dp-10"),
            float.fromhex("-0x1.99343027bf8c3p-16"),
            float.fromhex("-0x1.555545995a603p-3"),
            float.fromhex("0x1.1107605230bc4p-7"),
            float.fromhex("-0x1.994eb3774cf24p-13"),
        ],
    ],
    dtype=np.float64,
)
_SIGN, _HPI_INV, _HPI, _C0, _C1, _C2, _C3, _C4, _S1, _S2, _S3 = 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13

#: ``__inv_pio4``: 4/pi to 192 bits, 8 new bits per entry.
INV_PIO4 = np.array(
    [
        0xA2,
        0xA2F9,
        0xA2F983,
        0xA2F9836E,
        0xF9836E4E,
        0x836E4E44,
        0x6E4E4415,
        0x4E441529,
        0x441529FC,
        0x1529FC27,
        0x29FC2757,
        0xFC2757D1,
        0x2757D1F5,
        0x57D1F534,
        0xD1F534DD,
        0xF534DDC0,
        0x34DDC0DB,
        0xDDC0DB62,
        0xC0DB6295,
        0xDB629599,
        0x6295993C,
        0x95993C43,
        0x993C4390,
        0x3C439041,
    ],
    dtype=np.uint64,
)
_PI63 = float.fromhex("0x1.921FB54442D18p-62")  # 2pi * 2^-64
_ABSTOP12_PIO4 = 0x3F4  # abstop12 (0x1.921FB6p-1f)
_ABSTOP12_TINY = 0x398  # abstop12 (0x1p-12f)
_ABSTOP12_SUBNORMAL = 0x008  # abstop12 (0x1p-126f)
_ABSTOP12_120 = 0x42F  # abstop12 (120.0f)
_ABSTOP12_INF = 0x7F8  # abstop12 (INFINITY)


@njit(cache=True)
def _sinf_poly(x: float, x2: float, t: int, n: int) -> np.float32:
    """``sinf_poly`` (sincosf_poly.h): the sine (n even) or cosine (n odd) polynomial of table ``t``."""
    p = SINCOSF_TABLE[t]
    if (n & 1) == 0:
        x3 = x * x2
        s1 = fma(x2, p[_S3], p[_S2])
        x7 = x3 * x2
        s = fma(x3, p[_S1], x)
        return np.float32(fma(x7, s1, s))
    x4 = x2 * x2
    c2 = fma(x2, p[_C4], p[_C3])
    c1 = fma(x2, p[_C1], p[_C0])
    x6 = x4 * x2
    c = fma(x4, p[_C2], c1)
    return np.float32(fma(x6, c2, c))


@njit(cache=True)
def _reduce_fast(x: float) -> tuple[float, int]:
    """``reduce_fast`` (s_sincosf.h, TOINT_INTRINSICS = 0): x mod pi/2 in [-pi/4, pi/4] and the quadrant."""
    r = x * SINCOSF_TABLE[0, _HPI_INV]
    n = (np.int64(np.int32(r)) + 0x800000) >> 24  # ((int32_t) r + 0x800000) >> 24; |r| < 2^31 here
    return fma(-np.float64(n), SINCOSF_TABLE[0, _HPI], x), n


@njit(cache=True)
def _reduce_large(xi: int) -> tuple[float, int]:
    """``reduce_large`` (s_sincosf.h): x mod pi/2 by a 32x96-bit product with 4/pi, for |x| >= 120."""
    base = (xi >> 26) & 15
    shift = (xi >> 23) & 7
    m = np.uint64(((xi & 0xFFFFFF) | 0x800000) << shift)  # fits 32 bits
    mask32 = np.uint64(0xFFFFFFFF)
    res0 = (m * INV_PIO4[base]) & mask32  # a 32-bit product in the C source
    res1 = m * INV_PIO4[base + 4]
    res2 = m * INV_PIO4[base + 8]
    res0 = (res2 >> np.uint64(32)) | (res0 << np.uint64(32))
    res0 += res1
    n = (res0 + np.uint64(1 << 61)) >> np.uint64(62)
    res0 -= n << np.uint64(62)
    return np.float64(np.int64(res0)) * _PI63, np.int64(n)


@njit(cache=True)
def _sincosf_reduce(y: np.float32) -> tuple[float, float, int, int]:
    """Shared reduction of sinf/cosf/sincosf for finite |y| >= pi/4: (x*s, x*x, table, quadrant)."""
    top = (np.int64(_asuint(y)) >> 20) & 0x7FF
    if top < _ABSTOP12_120:
        x, n = _reduce_fast(np.float64(y))
        s = SINCOSF_TABLE[0, _SIGN + (n & 3)]
        t = 1 if n & 2 else 0
        return x * s, x * x, t, n
    xi = np.int64(_asuint(y))
    sign = xi >> 31
    x, n = _reduce_large(xi)
    s = SINCOSF_TABLE[0, _SIGN + ((n + sign) & 3)]
    t = 1 if (n + sign) & 2 else 0
    return x * s, x * x, t, n


@njit(cache=True)
def sinf(y: np.float32) -> np.float32:
    """glibc 2.36 ``__sinf_fma`` (``sysdeps/ieee754/flt-32/s_sinf.c``, fused as x86-64 ``-mfma`` compiles it)."""
    y = np.float32(y)
    top = (np.int64(_asuint(y)) >> 20) & 0x7FF
    if top < _ABSTOP12_PIO4:
        if top < _ABSTOP12_TINY:
            return y
        x = np.float64(y)
        return _sinf_poly(x, x * x, 0, 0)
    if top >= _ABSTOP12_INF:
        return np.float32(np.nan)  # __math_invalidf (y)
    xs, x2, t, n = _sincosf_reduce(y)
    return _sinf_poly(xs, x2, t, n)


@njit(cache=True)
def cosf(y: np.float32) -> np.float32:
    """glibc 2.36 ``__cosf_fma`` (``sysdeps/ieee754/flt-32/s_cosf.c``, fused as x86-64 ``-mfma`` compiles it)."""
    y = np.float32(y)
    top = (np.int64(_asuint(y)) >> 20) & 0x7FF
    if top < _ABSTOP12_PIO4:
        if top < _ABSTOP12_TINY:
            return np.float32(1.0)
        x = np.float64(y)
        return _sinf_poly(x, x * x, 0, 1)
    if top >= _ABSTOP12_INF:
        return np.float32(np.nan)  # __math_invalidf (y)
    xs, x2, t, n = _sincosf_reduce(y)
    return _sinf_poly(xs, x2, t, n ^ 1)


@njit(cache=True)
def sincosf(y: np.float32) -> tuple[np.float32, np.float32]:
    """glibc 2.36 ``__sincosf_fma`` (``sysdeps/ieee754/flt-32/s_sincosf.c``): ``(sinf(y), cosf(y))``.

    ``sincosf_poly`` evaluates the same fused operations, in the same order, as ``sinf_poly`` does
    for each of its two results, so the pair is exactly ``sinf`` and ``cosf`` (checked against libm's
    ``sincosf`` in the tests); GCC turns PyTorch's ``std::sin(theta)`` and ``std::cos(theta)`` into a
    ``sincosf`` call.
    """
    y = np.float32(y)
    top = (np.int64(_asuint(y)) >> 20) & 0x7FF
    if top < _ABSTOP12_PIO4:
        if top < _ABSTOP12_TINY:
            return y, np.float32(1.0)
        x = np.float64(y)
        x2 = x * x
        return _sinf_poly(x, x2, 0, 0), _sinf_poly(x, x2, 0, 1)
    if top >= _ABSTOP12_INF:
        return np.float32(np.nan), np.float32(np.nan)
    xs, x2, t, n = _sincosf_reduce(y)
    return _sinf_poly(xs, x2, t, n), _sinf_poly(xs, x2, t, n ^ 1)


# ---------------------------------------------------------------------------------------------------
# PyTorch 2.13 NormalFill16<float> (scalar template), as the ``default`` CPU build compiles it.

#: ``2.0f * c10::pi<double>``: a float64 constant (0x1.921fb54442d18p+2), not a float32 one.
TWO_PI = 2.0 * math.pi


@njit(cache=True)
def normal_block16_default(d: np.ndarray, mean: np.float32, std: np.float32, out: np.ndarray) -> None:
    """Box-Muller on 16 float32 uniforms ``d`` into ``out`` (may be ``d``), as PyTorch 2.13's default build does.

    ``NormalFill16<float>::operator()`` in ``aten/src/ATen/native/cpu/DistributionTemplates.h``, read off
    the compiled ``libtorch_cpu.so`` (``at::native::DEFAULT``): for ``j < 8``, ``u1 = 1.0f - d[j]``,
    ``radius = sqrtf(-2.0f * logf(u1))``, ``theta = (float)(2pi_double * (double) d[j + 8])``,
    ``sincosf(theta)``, then ``out[j] = fmaf(std, radius * cos, mean)`` and
    ``out[j + 8] = fmaf(std, radius * sin, mean)`` (``std::fma`` in the source: one rounding; the products
    ``radius * cos`` / ``radius * sin`` are rounded to float32 first). ``mean`` and ``std`` are the
    float32 casts of the Python values.
    """
    mean = np.float32(mean)
    std = np.float32(std)
    for j in range(8):
        u1 = np.float32(1.0) - np.float32(d[j])
        u2 = np.float32(d[j + 8])
        radius = np.sqrt(np.float32(-2.0) * logf(u1))
        theta = np.float32(TWO_PI * np.float64(u2))
        s, c = sincosf(theta)
        out[j] = fma(np.float32(radius * c), std, mean)
        out[j + 8] = fma(np.float32(radius * s), std, mean)


@njit(cache=True)
def normal_fill_default(uniforms: np.ndarray, mean: np.float32, std: np.float32, out: np.ndarray) -> None:
    """PyTorch 2.13 default-build float32 ``normal_`` (``normal_fill``, n = ``out.size`` >= 16) from its uniforms.

    ``uniforms`` holds the generator's float32 uniforms in draw order (what ``torch.rand`` gives after the
    same seed): ``n`` of them, plus 16 more when ``n % 16 != 0``, since PyTorch then draws 16 fresh
    uniforms and recomputes the last 16 outputs from them.
    """
    n = out.size
    for i in range(n):
        out[i] = uniforms[i]
    for i in range(0, n - 15, 16):
        normal_block16_default(out[i : i + 16], mean, std, out[i : i + 16])
    if n % 16 != 0:
        normal_block16_default(uniforms[n : n + 16], mean, std, out[n - 16 : n])
