"""glibc's libm functions behind PyTorch's CPU ``normal_``, bit for bit, as numba kernels.

PyTorch's CPU ``normal_`` in its ``default`` build (``ATEN_CPU_CAPABILITY=default``) calls libm: ``logf``
and ``sincosf`` for float32 (n >= 16, contiguous), ``log`` and ``sincos`` for float64, ``log1p`` and
``sincos`` on float64 in the scalar path (n < 16 or non-contiguous, any dtype). Reproducing its samples
means reproducing glibc's bits, not merely correctly rounded values (a float64-then-round ``logf``
differs on about 1% of inputs).

This module follows glibc 2.36 as Debian 12 ships it (2.36-9+deb12u14):

* ``sysdeps/ieee754/flt-32/e_logf.c``, ``e_logf_data.c`` (``logf``, from ARM's optimized-routines);
* ``sysdeps/ieee754/flt-32/s_sinf.c``, ``s_cosf.c``, ``s_sincosf.c``, ``s_sincosf.h``, ``sincosf_poly.h``,
  ``s_sincosf_data.c`` (``sinf``, ``cosf``, ``sincosf``);
* ``sysdeps/ieee754/dbl-64/e_log.c``, ``e_log_data.c`` (``log``); ``s_log1p.c`` (``log1p``, fdlibm);
* ``sysdeps/ieee754/dbl-64/s_sin.c``, ``s_sincos.c``, ``usncs.h``, ``sincostab.c`` (``sin``, ``cos``,
  ``sincos``, IBM Accurate Mathematical Library) and ``branred.c`` (their reduction for |x| >= 105414350),

each as built for x86-64 in ``sysdeps/x86_64/fpu/multiarch`` (``*-fma.c``): the ``__*_fma`` variants,
which glibc's ifunc selects on every CPU with FMA and AVX2 (every current x86-64 CPU). Those are compiled
with ``-mfma -mavx2`` and GCC's default ``-ffp-contract=fast``, so GCC fuses a product into the sum or
difference that uses it; here each fusion GCC made is an explicit :func:`service.core.kernels.fma.fma`
(checked against libm, and for log1p read off its disassembly), so the kernels give the FMA variants'
bits on every machine, with or without a hardware FMA. On a CPU without FMA or AVX2 glibc runs the
unfused ``__*_sse2`` variants: for float32 they differ from these kernels on 12 ``sinf`` and 22 ``cosf``
arguments out of 2^32 (all |x| > 17) and never for ``logf``; for float64 they differ often.

The polynomials are evaluated in float64 exactly as glibc does; the tables are module-level numpy arrays
copied from the glibc data files (the float64 ones as bit patterns, read from libm.so.6 and checked
against the sources). NaN results are NaN, but their sign and payload bits are not promised.

:func:`normal_block16_default` is PyTorch 2.13's ``NormalFill16<float>`` (the scalar template in
``aten/src/ATen/native/cpu/DistributionTemplates.h``) as the ``default`` build compiles it: ``logf``,
``sincosf`` and ``fmaf`` from libm, the angle computed in float64; ``normal_block16_default_f64`` is
``NormalFill16<double>``, ``normal_pair_default`` the scalar ``at::normal_distribution<double>``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from service.core.kernels.bits import as_float32, as_float64, as_uint32, as_uint64
from service.core.kernels.fma import fma

__all__ = [
    "cos",
    "cosf",
    "log",
    "log1p",
    "logf",
    "normal_block16_default",
    "normal_block16_default_f64",
    "normal_fill_default",
    "normal_fill_default_f64",
    "normal_pair_default",
    "normal_scalar_default",
    "sin",
    "sincos",
    "sincosf",
    "sinf",
]


# ---------------------------------------------------------------------------------------------------
# Bit casts (``asuint`` / ``asfloat`` of glibc's math_config.h).


def _table(bits: str) -> np.ndarray:
    """float64s from whitespace-separated 16-digit hex bit patterns (exact, unlike decimal literals)."""
    return np.array([int(word, 16) for word in bits.split()], dtype=np.uint64).view(np.float64)


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
    ix = np.int64(as_uint32(x))
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
        ix = np.int64(as_uint32(x * np.float32(8388608.0)))
        ix -= 23 << 23
    # x = 2^k z, z in [OFF, 2*OFF] exact; the ith subinterval contains z and c is near its center.
    tmp = (ix - _LOGF_OFF) & 0xFFFFFFFF
    i = (tmp >> (23 - 4)) % 16
    k = (tmp - (1 << 32) if tmp >= 1 << 31 else tmp) >> 23  # (int32_t) tmp >> 23, arithmetic
    iz = (ix - (tmp & (0x1FF << 23))) & 0xFFFFFFFF
    invc = LOGF_INVC[i]
    logc = LOGF_LOGC[i]
    z = np.float64(as_float32(np.uint32(iz)))
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
    top = (np.int64(as_uint32(y)) >> 20) & 0x7FF
    if top < _ABSTOP12_120:
        x, n = _reduce_fast(np.float64(y))
        s = SINCOSF_TABLE[0, _SIGN + (n & 3)]
        t = 1 if n & 2 else 0
        return x * s, x * x, t, n
    xi = np.int64(as_uint32(y))
    sign = xi >> 31
    x, n = _reduce_large(xi)
    s = SINCOSF_TABLE[0, _SIGN + ((n + sign) & 3)]
    t = 1 if (n + sign) & 2 else 0
    return x * s, x * x, t, n


@njit(cache=True)
def sinf(y: np.float32) -> np.float32:
    """glibc 2.36 ``__sinf_fma`` (``sysdeps/ieee754/flt-32/s_sinf.c``, fused as x86-64 ``-mfma`` compiles it)."""
    y = np.float32(y)
    top = (np.int64(as_uint32(y)) >> 20) & 0x7FF
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
    top = (np.int64(as_uint32(y)) >> 20) & 0x7FF
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
    top = (np.int64(as_uint32(y)) >> 20) & 0x7FF
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


# ===================================================================================================
# float64: log, log1p, sin, cos, sincos, as PyTorch's float64 normal_ and its scalar path call them.
#
# The tables are glibc 2.36's, as bit patterns (read from libm.so.6's __log_data and __sincostab and
# checked against sysdeps/ieee754/dbl-64/e_log_data.c and sincostab.c).

# __log_data (sysdeps/ieee754/dbl-64/e_log_data.c): ln2hi, ln2lo, poly[5], poly1[11], tab[128] {invc, logc}.
_LOG_DATA_BITS = """
3fe62e42fefa3800 3d2ef35793c76730 bfe0000000000001 3fd555555551305b bfcfffffffeb4590 3fc999b324f10111
bfc55575e506c89f bfe0000000000000 3fd5555555555577 bfcffffffffffdcb 3fc999999995dd0c bfc55555556745a7
3fc24924a344de30 bfbfffffa4423d65 3fbc7184282ad6ca bfb999eb43b068ff 3fb78182f7afd085 bfb5521375d145cd
3ff734f0c3e0de9f bfd7cc7f79e69000 3ff713786a2ce91f bfd76feec20d0000 3ff6f26008fab5a0 bfd713e31351e000
3ff6d1a61f138c7d bfd6b85b38287800 3ff6b1490bc5b4d1 bfd65d5590807800 3ff69147332f0cba bfd602d076180000
3ff6719f18224223 bfd5a8ca86909000 3ff6524f99a51ed9 bfd54f4356035000 3ff63356aa8f24c4 bfd4f637c36b4000
3ff614b36b9ddc14 bfd49da7fda85000 3ff5f66452c65c4c bfd445923989a800 3ff5d867b5912c4f bfd3edf439b0b800
3ff5babccb5b90de bfd396ce448f7000 3ff59d61f2d91a78 bfd3401e17bda000 3ff5805612465687 bfd2e9e2ef468000
3ff56397cee76bd3 bfd2941b3830e000 3ff54725e2a77f93 bfd23ec58cda8800 3ff52aff42064583 bfd1e9e129279000
3ff50f22dbb2bddf bfd1956d2b48f800 3ff4f38f4734ded7 bfd141679ab9f800 3ff4d843cfde2840 bfd0edd094ef9800
3ff4bd3ec078a3c8 bfd09aa518db1000 3ff4a27fc3e0258a bfd047e65263b800 3ff4880524d48434 bfcfeb224586f000
3ff46dce1b192d0b bfcf474a7517b000 3ff453d9d3391854 bfcea4443d103000 3ff43a2744b4845a bfce020d44e9b000
3ff420b54115f8fb bfcd60a22977f000 3ff40782da3ef4b1 bfccc00104959000 3ff3ee8f5d57fe8f bfcc202956891000
3ff3d5d9a00b4ce9 bfcb81178d811000 3ff3bd60c010c12b bfcae2c9ccd3d000 3ff3a5242b75dab8 bfca45402e129000
3ff38d22cd9fd002 bfc9a877681df000 3ff3755bc5847a1c bfc90c6d69483000 3ff35dce49ad36e2 bfc87120a645c000
3ff34679984dd440 bfc7d68fb4143000 3ff32f5cceffcb24 bfc73cb83c627000 3ff3187775a10d49 bfc6a39a9b376000
3ff301c8373e3990 bfc60b3154b7a000 3ff2eb4ebb95f841 bfc5737d76243000 3ff2d50a0219a9d1 bfc4dc7b8fc23000
3ff2bef9a8b7fd2a bfc4462c51d20000 3ff2a91c7a0c1bab bfc3b08abc830000 3ff293726014b530 bfc31b996b490000
3ff27dfa5757a1f5 bfc2875490a44000 3ff268b39b1d3bbf bfc1f3b9f879a000 3ff2539d838ff5bd bfc160c8252ca000
3ff23eb7aac9083b bfc0ce7f57f72000 3ff22a012ba940b6 bfc03cdc49fea000 3ff2157996cc4132 bfbf57bdbc4b8000
3ff201201dd2fc9b bfbe370896404000 3ff1ecf4494d480b bfbd17983ef94000 3ff1d8f5528f6569 bfbbf9674ed8a000
3ff1c52311577e7c bfbadc79202f6000 3ff1b17c74cb26e9 bfb9c0c3e7288000 3ff19e010c2c1ab6 bfb8a646b372c000
3ff18ab07bb670bd bfb78d01b3ac0000 3ff1778a25efbcb6 bfb674f145380000 3ff1648d354c31da bfb55e0e6d878000
3ff151b990275fdd bfb4485cdea1e000 3ff13f0ea432d24c bfb333d94d6aa000 3ff12c8b7210f9da bfb22079f8c56000
3ff11a3028ecb531 bfb10e4698622000 3ff107fbda8434af bfaffa6c6ad20000 3ff0f5ee0f4e6bb3 bfadda8d4a774000
3ff0e4065d2a9fce bfabbcece4850000 3ff0d244632ca521 bfa9a1894012c000 3ff0c0a77ce2981a bfa788583302c000
3ff0af2f83c636d1 bfa5715e67d68000 3ff09ddb98a01339 bfa35c8a49658000 3ff08cabaf52e7df bfa149e364154000
3ff07b9f2f4e28fb bf9e72c082eb8000 3ff06ab58c358f19 bf9a55f152528000 3ff059eea5ecf92c bf963d62cf818000
3ff04949cdd12c90 bf9228fb8caa0000 3ff038c6c6f0ada9 bf8c317b20f90000 3ff02865137932a9 bf8419355daa0000
3ff0182427ea7348 bf781203c2ec0000 3ff008040614b195 bf60040979240000 3fefe01ff726fa1a 3f6feff384900000
3fefa11cc261ea74 3f87dc41353d0000 3fef6310b081992e 3f93cea3c4c28000 3fef25f63ceeadcd 3f9b9fc114890000
3feee9c8039113e7 3fa1b0d8ce110000 3feeae8078cbb1ab 3fa58a5bd001c000 3fee741aa29d0c9b 3fa95c8340d88000
3fee3a91830a99b5 3fad276aef578000 3fee01e009609a56 3fb07598e598c000 3fedca01e577bb98 3fb253f5e30d2000
3fed92f20b7c9103 3fb42edd8b380000 3fed5cac66fb5cce 3fb606598757c000 3fed272caa5ede9d 3fb7da76356a0000
3fecf26e3e6b2ccd 3fb9ab434e1c6000 3fecbe6da2a77902 3fbb78c7bb0d6000 3fec8b266d37086d 3fbd431332e72000
3fec5894bd5d5804 3fbf0a3171de6000 3fec26b533bb9f8c 3fc067152b914000 3febf583eeece73f 3fc147858292b000
3febc4fd75db96c1 3fc2266ecdca3000 3feb951e0c864a28 3fc303d7a6c55000 3feb65e2c5ef3e2c 3fc3dfc33c331000
3feb374867c9888b 3fc4ba366b7a8000 3feb094b211d304a 3fc5933928d1f000 3feadbe885f2ef7e 3fc66acd2418f000
3feaaf1d31603da2 3fc740f8ec669000 3fea82e63fd358a7 3fc815c0f51af000 3fea5740ef09738b 3fc8e92954f68000
3fea2c2a90ab4b27 3fc9bb3602f84000 3fea01a01393f2d1 3fca8bed1c2c0000 3fe9d79f24db3c1b 3fcb5b515c01d000
3fe9ae2505c7b190 3fcc2967ccbcc000 3fe9852ef297ce2f 3fccf635d5486000 3fe95cbaeea44b75 3fcdc1bd3446c000
3fe934c69de74838 3fce8c01b8cfe000 3fe90d4f2f6752e6 3fcf5509c0179000 3fe8e6528effd79d 3fd00e6c121fb800
3fe8bfce9fcc007c 3fd071b80e93d000 3fe899c0dabec30e 3fd0d46b9e867000 3fe87427aa2317fb 3fd13687334bd000
3fe84f00acb39a08 3fd1980d67234800 3fe82a49e8653e55 3fd1f8ffe0cc8000 3fe8060195f40260 3fd2595fd7636800
3fe7e22563e0a329 3fd2b9300914a800 3fe7beb377dcb5ad 3fd3187210436000 3fe79baa679725c2 3fd377266dec1800
3fe77907f2170657 3fd3d54ffbaf3000 3fe756cadbd6130c 3fd432eee32fe000
"""

# __sincostab (sysdeps/ieee754/dbl-64/sincostab.c): for x = k/128, k < 110: sin(x), its low part, cos(x),
# its low part.
_SINCOSTAB_BITS = """
0000000000000000 0000000000000000 3ff0000000000000 0000000000000000 3f7fffeaaaaeeeef bc1e45e2ec67b77c
3fefffc000155552 3c8f4a01a0196dae 3f8fffaaaaeeeed5 bc02ab639a9f0777 3fefff000155549f 3c828a28a03a5ef3
3f97ff7001033255 3bfefe2b51527336 3feffdc006bff7e6 3c8ae6dae86977bd 3f9ffeaaaeeee86f bc3cd406fb224ae2
3feffc00155527d3 bc83b54492d89b5b 3fa3feb2b12d45d5 3c34ec54203d1c11 3feff9c03414a7ba 3c6991f4be6c59bf
3fa7fdc01032fba9 bc4599bdf46e997a 3feff7006bfdf99f bc78b3b560648d5f 3fabfc6d78586dac 3c18e4fd03dbf236
3feff3c0c8103a31 3c74856dbddc0e66 3faffaaaeeed4edb bc42d16d32684b69 3feff0015549f4d3 3c8328387b99426f
3fb1fc343d808bef bc5f3d32e6f3be4f 3fefebc222a8ef9f 3c57934934f54c77 3fb3facb12d1755b bc5921915299468c
3fefe7034129ef6f bc6cbf4337c96f97 3fb5f911fd10b737 bc50184f02be9102 3fefe1c4c3c873eb bc35a9c9057c4a02
3fb7f701032550e4 3c3afc2d1800501a 3fefdc06bf7e6b9b 3c831902b535f8db 3fb9f4902d55d1f9 3c52696d7eac1dc1
3fefd5c94b43e000 bc62e768cb4f92f9 3fbbf1b78568391d 3c5e91841dea4cc8 3fefcf0c800e99b1 3c6ea3d786d186ac
3fbdee6f16c1cce6 bc450f8e2fb71673 3fefc7d078d1bc88 3c8075d2447db685 3fbfeaaeee86ee36 bc4afcb2bcc6f03b
3fefc015527d5bd3 3c8b68f35094efb8 3fc0f3378ddd71d1 3c6d8468724f0f9e 3fefb7db2bfe0695 3c821dadf4f65ab1
3fc1f0d3d7afceaf bc66ef95099769a5 3fefaf22263c4bd3 bc552ace133a2769 3fc2ee285e4ab88f bc6e4d0f05dee058
3fefa5ea641c36f2 3c404da6ed17cc7c 3fc3eb312c5d66cb 3c647d666b66cb91 3fef9c340a7cc428 3c8c5b6b063b7462
3fc4e7ea4dc5f27b 3c5949db2ac072fc 3fef91ff40374d01 bc67d03f4d3a9e4c 3fc5e44fcfa126f3 bc66f443063f89b6
3fef874c2e1eecf6 bc8c6514e1332b16 3fc6e05dc05a4d4c bbd32c5c8b81c940 3fef7c1afeffde24 bc78f55bc47540b1
3fc7dc102fbaf2b5 3c45ab50e23c97c3 3fef706bdf9ece1c bc8698c80c36dcb4 3fc8d7632efaa944 bc620fa262cbb953
3fef643efeb82acd 3c76b00ac1fe28ac 3fc9d252d0cec312 3c59c43d80b1137d 3fef57948cff6797 3c6e3a0d3e03b1d5
3fcaccdb297a0765 bc59883b57d6cdeb 3fef4a6cbd1e3a79 3c813df0edaebb57 3fcbc6f84edc6199 3c69c1a56a7b0cab
3fef3cc7c3b3d16e bc621a3ad28a3494 3fccc0a6588289a3 bc6868d09bc87c6b 3fef2ea5d753ffed 3c8cc4215f56d583
3fcdb9e15fb5a5d0 bc632e20d6cc6fc2 3fef20073086649f 3c7b940416c1984b 3fceb2a57f8ae5a3 bc60be06af572ceb
3fef10ec09c5873b 3c8d9072762c1283 3fcfaaeed4f31577 bc615d88508e32b8 3fef01549f7deea1 3c8d3c1e99e5cafd
3fd0515cbf65155c bc79b8c29dfd8ec8 3feef141300d2f26 bc82aa1b08ded372 3fd0cd00cef36436 bc79fb0a0c93e2b5
3feee0b1fbc0f11c bc4bfd2380bbc3b1 3fd14861aa94ddeb bc6be881b5b615a4 3feecfa744d5efa1 bc556d0a4af541d0
3fd1c37d64c6b876 3c746076fe0dcff5 3feebe214f76efa8 bc802f9f12ba543e 3fd23e52111aaf36 bc74f080334eff18
3feeac2061bbaf4f 3c62c1d53e94658d 3fd2b8ddc43eb49f 3c61553899f2d807 3fee99a4c3a7cd83 bc82264b1bc53ce8
3fd3331e94049f87 3c7e0cb6b40c302c 3fee86aebf29a9ed 3c89397afdbb58a7 3fd3ad129769d3d8 3c003d5504878398
3fee733ea0193d40 bc86428b3546ce13 3fd426b7e69ee697 bc7f09c75705c59f 3fee5f54b436e9d0 3c87eb0fd02fc8bc
3fd4a00c9b0f3d20 3c7823ba6bb08ead 3fee4af14b2a449c bc868ca02e8a6833 3fd5190ecf68a77a 3c7b357155eef0f3
3fee3614b680d6a5 bc727793aa015237 3fd591bc9fa2f597 3c67c74bac3fe0cb 3fee20bf49acd6c1 bc5660aec7ef636c
3fd60a1429078775 3c5b1fd80ba89133 3fee0af15a03dbce 3c5fe8e702771ae6 3fd682138a38d7f7 bc7d889202444aad
3fedf4ab3ebd875e bc8e2d8a7e6736c4 3fd6f9b8e33a0255 3c742bc14ee9da0d 3feddded50f228d6 bc6e80c8d42ba2bf
3fd7710255764214 bc66ead7314bb6ce 3fedc6b7eb995912 3c54b364776dcd35 3fd7e7ee03c86d4e bc7b63bcdabf5af2
3fedaf0b6b888e83 3c8a249e2b5e5cea 3fd85e7a12826949 3c78a40e9b5face0 3fed96e82f71a9dc 3c8ff61bd5d2039d
3fd8d4a4a774992f 3c744a02ea766326 3fed7e4e97e17b4a bc63b770352bed94 3fd94a6be9f546c5 bc769ce13e683f58
3fed653f073e4040 bc876236434bec37 3fd9bfce02e80510 3c709e39a320b0a4 3fed4bb9e1c619e0 3c8f34bb77858f61
3fda34c91cc50cca bc5a310e3b50cecd 3fed31bf8d8d7c06 3c7e60dd3089cbdd 3fdaa95b63a09277 bc66293eb13c0381
3fed1750727d94f0 3c80d52b1ec1a48e 3fdb1d8305321617 bc7ae242cb99f519 3fecfc6cfa52ad9f 3c88b5b5508f2a0d
3fdb913e30dbac43 bc7e38ad2f6c3ff1 3fece115909a82e5 3c81f139bb31109a 3fdc048b17b140a3 3c619fe6757e9fa7
3fecc54aa2b2972e 3c64ee162ba83a98 3fdc7767ec7fd19e bc5eb14d1a3d5826 3feca90c9fc67d0b bc646a81485e3462
3fdce9d2e3d4a51f bc62fc8a12dae298 3fec8c5bf8ce1a84 3c7ab3d1a1590123 3fdd5bca34047661 3c728a44a75fc29c
3fec6f39208be53b bc8741dbfbaadb42 3fddcd4c15329c9a 3c70d4c6e171fd9a 3fec51a48b8b175e bc61bbb43b9aa880
3fde3e56c1582a69 bc50a4821099f88f 3fec339eb01ddd81 bc8caaf5ee82c5c0 3fdeaee8744b05f0 bc5789b43c9b027d
3fec1528065b7d50 bc8892111312e828 3fdf1eff6bc4f97b 3c717212f8a7525c 3febf641081e7536 3c8b7bd71628a9a1
3fdf8e99e76abc97 3c59d950af2d00a3 3febd6ea310294f5 3c731bbcc88c109d 3fdffdb628d2f57a 3c6f4a992e905b6a
3febb723fe630f32 3c772bd2452d0a39 3fe0362939c69955 bc82d8cd78397b01 3feb96eeef58840e 3c545a3cc78fade0
3fe06d3686946e5b 3c83f5ae4538ff1b 3feb764b84b704c2 bc8f5848c21b389b 3fe0a4021e9e1001 bc86f643a13914f6
3feb553a410c104e 3c58ff7947027a16 3fe0da8b26b5672e bc8a58def0bee909 3feb33bba89c8948 3c8ea6a51d1f6ca9
3fe110d0c4b69c3b 3c8d918998809981 3feb11d04162a4c6 3c71dd561efbc0c2 3fe146d21f8b7f82 3c7bf9535e2739a8
3feaef78930bd275 bc7f836279746f94 3fe17c8e5f2eedb0 3c635e57102e2488 3feaccb526f69de5 3c88fb6a8dd6b6cc
3fe1b204acb02fdd bc5f190c70cbb5ff 3feaa98688308913 bc0b83d607cd5070 3fe1e7343236574c 3c722a3fa4f41d5a
3fea85ed4373e02d 3c69be06385ec792 3fe21c1c1b0394cf 3c5e5b324b23aa31 3fea61e9e72586af 3c858330e2fd453f
3fe250bb93788bbb 3c7ea3d02457bcce 3fea3d7d0352bdcf bc868dbaeca19669 3fe28511c917a067 bc801df1d9a16b70
3fea18a729aee445 3c395e25736c0358 3fe2b91dea88421e bc8fa371db216ab0 3fe9f368ed912f85 bc81d200c5791606
3fe2ecdf279a3082 3c8d3557e0e7e37e 3fe9cdc2e3f25e5c 3c83f99112993f62 3fe32054b148bc4f 3c8f6b42095a135b
3fe9a7b5a36a6514 3c8722cfcc9fa7a9 3fe3537db9be0367 3c6b327e7af040f0 3fe98141c42e1310 3c8d1ff80488f08d
3fe386597456282b bc710fada93b07a8 3fe95a67e00cb1fd bc80befda21f862d 3fe3b8e715a2840a bc797653a7d2f07b
3fe93328926d9e92 bc8bb77003600cda 3fe3eb25d36cd53a bc5be570e1570fc0 3fe90b84784ddaf7 bc70feb10ab93b87
3fe41d14e4ba6790 3c84608fd287ecf5 3fe8e37c303d9ad1 bc6463a4b53d4bf8 3fe44eb381cf386b bc83ed6c1e6a5505
3fe8bb105a5dc900 3c8863e03e9474c1 3fe48000e431159f bc8b194a7463ed10 3fe89241985d871f 3c8c48d9c413ed84
3fe4b0fc46aab761 3c20da05738cc59a 3fe869108d77a6c6 3c7338ffe2bfe9dd 3fe4e1a4e54ed51b bc8a492f89b7c76a
3fe83f7dde701ca0 bc4152cf609bc6e8 3fe511f9fd7b351c bc85c0e861c48831 3fe8158a31916d5d bc6de8b90b8228de
3fe541facddbb724 3c7232c28520d391 3fe7eb362eaa1488 3c5a1d65a4a5959f 3fe571a6966d59b3 3c5c843b4d0fb198
3fe7c0827f09e54f bc6c73d6d72aee68 3fe5a0fc98813a12 bc8d82e2b7d4227b 3fe7956fcd7f6543 bc8ab276e9d45ae4
3fe5cffc16bf8f0d 3c896cb370eb578a 3fe769fec655211f bc6827d5cf8c68c5 3fe5fea4552a9e57 3c80b6cef7ee20b7
3fe73e30174efba1 bc65d3ae3d94ad5f 3fe62cf49921ac79 bc8edd9855b6241a 3fe712046fa77678 3c8425b0a5029c81
3fe65aec2963e755 3c8126f96b71053c 3fe6e57c800cf55e 3c860286dedbd0a6 3fe6888a4e134b2f bc86b7d37644d5e6
3fe6b898fa9efb5d 3c715ac786ccf4b2 3fe6b5ce50b7821a bc65d5158f702e0f 3fe68b5a92eb6253 bc89a91ad985f89c
3fe6e2b77c40bde1 bc70e729857fad53 3fe65dc1fdeb8cba bc597c1b47337c77 3fe70f451d0a8c40 3c697ede3885770d
3fe62fcff20191c7 3c6d9143895756ef 3fe73b7680dea578 bc72248306dc12a2 3fe6018526f563df 3c846ca5e0e432d0
3fe7674af6f7b524 3c7e9d3f94ac84a8 3fe5d2e255f1f17a 3c80314104c8892b 3fe792c1d0041d52 bc8abf05eeb354eb
3fe5a3e839824077 3c8428aa2759be62 3fe7bdda5e28b3c2 3c4ad1197ccd0393 3fe574978d8e83f2 3c8f4714af282d23
3fe7e893f5037959 3c80eefbaa650c4c 3fe544f10f592ca5 bc8e7ae8e6c7a62f 3fe812ede9ae4ba4 bc87830adf402dda
3fe514f57d7bf3da 3c747a108073c259
"""

_LOG_DATA = _table(_LOG_DATA_BITS)
_LOG_LN2HI = float(_LOG_DATA[0])
_LOG_LN2LO = float(_LOG_DATA[1])
#: ``__log_data.poly`` (A[0..4]) and ``.poly1`` (B[0..10]).
LOG_POLY = np.ascontiguousarray(_LOG_DATA[2:7])
LOG_POLY1 = np.ascontiguousarray(_LOG_DATA[7:18])
#: ``__log_data.tab``: (invc, logc) for the 128 subintervals of [OFF, 2*OFF).
LOG_TAB = np.ascontiguousarray(_LOG_DATA[18:274].reshape(128, 2))
#: ``__sincostab``.
SINCOSTAB = _table(_SINCOSTAB_BITS)
del _LOG_DATA

_LOG_OFF = 0x3FE6000000000000
_LOG_LO = 0x3FEE000000000000  # asuint64 (1.0 - 0x1p-4)
_LOG_HI = 0x3FF1090000000000  # asuint64 (1.0 + 0x1.09p-4)


@njit(cache=True)
def log(x: float) -> float:
    """glibc 2.36 ``__log_fma`` (``sysdeps/ieee754/dbl-64/e_log.c``, fused as x86-64 ``-mfma`` compiles it)."""
    x = np.float64(x)
    ix = np.int64(as_uint64(x))
    if _LOG_LO <= ix < _LOG_HI:
        # Close to 1.0 (a negative ix is a negative x, outside).
        if ix == 0x3FF0000000000000:
            return 0.0
        b = LOG_POLY1
        r = x - 1.0
        r2 = r * r
        r3 = r * r2
        inner = fma(r3, b[10], fma(r2, b[9], fma(r, b[8], b[7])))
        middle = fma(r3, inner, fma(r2, b[6], fma(r, b[5], b[4])))
        poly = fma(r3, middle, fma(r2, b[3], fma(r, b[2], b[1])))
        w = r * 134217728.0  # 0x1p27
        rhi = r + w - w
        rlo = r - rhi
        w = rhi * rhi * b[0]  # B[0] == -0.5
        hi = r + w
        lo = r - hi + w
        lo = fma(b[0] * rlo, rhi + r, lo)
        y = fma(r3, poly, lo)  # y = r3 * poly; y += lo (one contraction)
        return y + hi
    top = (ix >> 48) & 0xFFFF
    if top < 0x0010 or top >= 0x7FF0:
        # x < 0x1p-1022 or inf or nan.
        if (ix & 0x7FFFFFFFFFFFFFFF) == 0:
            return -np.inf  # __math_divzero (1)
        if ix == 0x7FF0000000000000:
            return x
        if (top & 0x8000) != 0 or (top & 0x7FF0) == 0x7FF0:
            return np.nan  # __math_invalid (x)
        # Subnormal: normalize it.
        ix = np.int64(as_uint64(x * 4503599627370496.0)) - (52 << 52)
    # x = 2^k z, z in [OFF, 2*OFF) exact; the ith subinterval contains z and c is near its center.
    tmp = ix - _LOG_OFF
    i = (tmp >> (52 - 7)) & 127
    k = tmp >> 52  # arithmetic shift
    iz = ix - (k << 52)
    invc = LOG_TAB[i, 0]
    logc = LOG_TAB[i, 1]
    z = as_float64(np.uint64(iz))
    # log(x) = log1p(z/c-1) + log(c) + k*Ln2; r ~= z/c - 1 (__builtin_fma in the source).
    r = fma(z, invc, -1.0)
    kd = np.float64(k)
    # hi + lo = r + log(c) + k*Ln2.
    w = fma(kd, _LOG_LN2HI, logc)
    hi = w + r
    lo = fma(kd, _LOG_LN2LO, w - hi + r)
    # log(x) = lo + (log1p(r) - r) + hi.
    a = LOG_POLY
    r2 = r * r
    y = fma(r * r2, fma(r2, fma(r, a[4], a[3]), fma(r, a[2], a[1])), fma(r2, a[0], lo))
    return y + hi


_LOG1P_LN2_HI = 6.93147180369123816490e-01
_LOG1P_LN2_LO = 1.90821492927058770002e-10
_LP1 = 6.666666666666735130e-01
_LP2 = 3.999999999940941908e-01
_LP3 = 2.857142874366239149e-01
_LP4 = 2.222219843214978396e-01
_LP5 = 1.818357216161805012e-01
_LP6 = 1.531383769920937332e-01
_LP7 = 1.479819860511658591e-01


@njit(cache=True)
def _high_word(x: float) -> int:
    """GET_HIGH_WORD: the signed top 32 bits of a float64."""
    return np.int64(as_uint64(x)) >> 32


@njit(cache=True)
def _with_high_word(x: float, high: int) -> float:
    """SET_HIGH_WORD: x with its top 32 bits replaced."""
    return as_float64(np.uint64(((high & 0xFFFFFFFF) << 32) | (np.int64(as_uint64(x)) & 0xFFFFFFFF)))


@njit(cache=True)
def log1p(x: float) -> float:
    """glibc ``__log1p_fma`` (``sysdeps/ieee754/dbl-64/s_log1p.c``, fdlibm, fused as x86-64 ``-mfma`` compiles it).

    Upstream glibc added the x86-64 FMA variant of log1p (``sysdeps/x86_64/fpu/multiarch/s_log1p-fma.c``)
    after 2.36; Debian 12's 2.36 (2.36-9+deb12u14) carries it. The fusions are the ones read off that
    libm's disassembly: notably ``s * (hfsq + R)`` stays unfused (it has uses in two branches).
    """
    x = np.float64(x)
    hx = _high_word(x)
    ax = hx & 0x7FFFFFFF
    k = 1
    f = 0.0
    c = 0.0
    hu = 0
    if hx < 0x3FDA827A:  # x < 0.41422
        if ax >= 0x3FF00000:  # x <= -1.0
            if x == -1.0:
                return -np.inf
            return np.nan
        if ax < 0x3E200000:  # |x| < 2**-29
            if ax < 0x3C900000:  # |x| < 2**-54
                return x
            return fma(-(x * x), 0.5, x)  # x - x * x * 0.5
        if hx > 0 or hx <= 0xBFD2BEC3 - (1 << 32):  # -0.2929 < x < 0.41422
            k = 0
            f = x
            hu = 1
    elif hx >= 0x7FF00000:
        return x + x
    if k != 0:
        if hx < 0x43400000:
            u = 1.0 + x
            hu = _high_word(u)
            k = (hu >> 20) - 1023
            c = 1.0 - (u - x) if k > 0 else x - (u - 1.0)  # correction term
            c /= u
        else:
            u = x
            hu = _high_word(u)
            k = (hu >> 20) - 1023
            c = 0.0
        hu &= 0x000FFFFF
        if hu < 0x6A09E:
            u = _with_high_word(u, hu | 0x3FF00000)  # normalize u
        else:
            k += 1
            u = _with_high_word(u, hu | 0x3FE00000)  # normalize u/2
            hu = (0x00100000 - hu) >> 2
        f = u - 1.0
    hfsq = 0.5 * f * f
    kd = np.float64(k)
    if hu == 0:  # |f| < 2**-20
        if f == 0.0:
            if k == 0:
                return 0.0
            return fma(kd, _LOG1P_LN2_HI, fma(kd, _LOG1P_LN2_LO, c))
        big_r = hfsq * fma(-0.66666666666666666, f, 1.0)
        if k == 0:
            return f - big_r
        return fma(kd, _LOG1P_LN2_HI, -((big_r - fma(kd, _LOG1P_LN2_LO, c)) - f))
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    r2 = fma(z, _LP3, _LP2)
    z4 = z2 * z2
    r3 = fma(z, _LP5, _LP4)
    z6 = z4 * z2
    r4 = fma(z, _LP7, _LP6)
    big_r = fma(z6, r4, fma(z4, r3, fma(z, _LP1, z2 * r2)))  # R1 + z2 * R2 + z4 * R3 + z6 * R4
    t = s * (hfsq + big_r)
    if k == 0:
        return f - (hfsq - t)
    return fma(kd, _LOG1P_LN2_HI, -((hfsq - (t + fma(kd, _LOG1P_LN2_LO, c))) - f))


# sysdeps/ieee754/dbl-64/s_sin.c and usncs.h (IBM Accurate Mathematical Library).
_TS1 = float.fromhex("-0x1.5555555555555p-3")
_TS2 = float.fromhex("0x1.1111111110ECEp-7")
_TS3 = float.fromhex("-0x1.A01A019DB08B8p-13")
_TS4 = float.fromhex("0x1.71DE27B9A7ED9p-19")
_TS5 = float.fromhex("-0x1.ADDFFC2FCDF59p-26")
_BIG = float.fromhex("0x1.8000000000000p45")
_HP0 = float.fromhex("0x1.921FB54442D18p0")
_HP1 = float.fromhex("0x1.1A62633145C07p-54")
_MP1 = float.fromhex("0x1.921FB58000000p0")
_MP2 = float.fromhex("-0x1.DDE973C000000p-27")
_PP3 = float.fromhex("-0x1.CB3B398000000p-55")
_PP4 = float.fromhex("-0x1.d747f23e32ed7p-83")
_HPINV = float.fromhex("0x1.45F306DC9C883p-1")
_TOINT = float.fromhex("0x1.8000000000000p52")
_SN3 = -1.66666666666664880952546298448555e-01
_SN5 = 8.33333214285722277379541354343671e-03
_CS2 = 4.99999999999999999999950396842453e-01
_CS4 = -4.16666666666664434524222570944589e-02
_CS6 = 1.38888874007937613028114285595617e-03


@njit(cache=True)
def _taylor_sin(xx: float, a: float, da: float) -> float:
    """TAYLOR_SIN (s_sin.c): a - a^3/3! + ... + (1 - a^2) * da / 2."""
    poly = fma(fma(fma(fma(_TS5, xx, _TS4), xx, _TS3), xx, _TS2), xx, _TS1)
    t = fma(fma(poly, a, -(0.5 * da)), xx, da)
    return a + t


@njit(cache=True)
def _low_word(x: float) -> int:
    """u.i[LOW_HALF]: the low 32 bits of a float64."""
    return np.int64(as_uint64(x)) & 0xFFFFFFFF


@njit(cache=True)
def _do_cos(x: float, dx: float) -> float:
    """do_cos (s_sin.c): cos(x + dx) from the Taylor series of the remainder and the sin/cos table."""
    if x < 0:
        dx = -dx
    u = _BIG + abs(x)
    x = abs(x) - (u - _BIG) + dx
    xx = x * x
    s = fma(x * xx, fma(xx, _SN5, _SN3), x)
    c = xx * fma(xx, fma(xx, _CS6, _CS4), _CS2)
    k = _low_word(u) << 2
    sn = SINCOSTAB[k]
    ssn = SINCOSTAB[k + 1]
    cs = SINCOSTAB[k + 2]
    ccs = SINCOSTAB[k + 3]
    cor = fma(-sn, s, fma(-cs, c, fma(-s, ssn, ccs)))
    return cs + cor


@njit(cache=True)
def _do_sin(x: float, dx: float) -> float:
    """do_sin (s_sin.c): sin(x + dx) from the Taylor series of the remainder and the sin/cos table."""
    xold = x
    if abs(x) < 0.126:
        return _taylor_sin(x * x, x, dx)
    if x <= 0:
        dx = -dx
    u = _BIG + abs(x)
    x = abs(x) - (u - _BIG)
    xx = x * x
    s = x + fma(x * xx, fma(xx, _SN5, _SN3), dx)
    c = fma(x, dx, xx * fma(xx, fma(xx, _CS6, _CS4), _CS2))
    k = _low_word(u) << 2
    sn = SINCOSTAB[k]
    ssn = SINCOSTAB[k + 1]
    cs = SINCOSTAB[k + 2]
    ccs = SINCOSTAB[k + 3]
    cor = fma(cs, s, fma(-sn, c, fma(s, ccs, ssn)))
    return math.copysign(sn + cor, xold)


@njit(cache=True)
def _reduce_sincos(x: float) -> tuple[float, float, int]:
    """reduce_sincos (s_sin.c): x mod pi/2 as a + da, and the quadrant, for |x| < 105414350."""
    t = fma(x, _HPINV, _TOINT)
    xn = t - _TOINT
    y = fma(-xn, _MP2, fma(-xn, _MP1, x))
    n = _low_word(t) & 3
    t1 = xn * _PP3
    t2 = y - t1
    db = (y - t2) - t1
    t1 = xn * _PP4
    b = t2 - t1
    db += (t2 - b) - t1
    return b, db, n


#: ``toverp`` (sysdeps/ieee754/dbl-64/branred.h): 2/pi in base 2^24 digits.
# fmt: off
TOVERP = np.array(
    [
        10680707.0, 7228996.0, 1387004.0, 2578385.0, 16069853.0, 12639074.0, 9804092.0, 4427841.0,
        16666979.0, 11263675.0, 12935607.0, 2387514.0, 4345298.0, 14681673.0, 3074569.0, 13734428.0,
        16653803.0, 1880361.0, 10960616.0, 8533493.0, 3062596.0, 8710556.0, 7349940.0, 6258241.0,
        3772886.0, 3769171.0, 3798172.0, 8675211.0, 12450088.0, 3874808.0, 9961438.0, 366607.0,
        15675153.0, 9132554.0, 7151469.0, 3571407.0, 2607881.0, 12013382.0, 4155038.0, 6285869.0,
        7677882.0, 13102053.0, 15825725.0, 473591.0, 9065106.0, 15363067.0, 6271263.0, 9264392.0,
        5636912.0, 4652155.0, 7056368.0, 13614112.0, 10155062.0, 1944035.0, 9527646.0, 15080200.0,
        6658437.0, 6231200.0, 6832269.0, 16767104.0, 5075751.0, 3212806.0, 1398474.0, 7579849.0,
        6349435.0, 12618859.0, 4703257.0, 12806093.0, 14477321.0, 2786137.0, 12875403.0, 9837734.0,
        14528324.0, 13719321.0, 343717.0,
    ],
    dtype=np.float64,
)
# fmt: on
_BR_SPLIT = 134217729.0  # 2^27 + 1
_BR_TM600 = 2.0**-600
_BR_TM24 = 2.0**-24
_BR_BIG = float.fromhex("0x1.8p52")  # 6755399441055744
_BR_BIG1 = float.fromhex("0x1.8p54")  # 27021597764222976
_BR_MP1 = float.fromhex("0x1.921FB58000000p0")
_BR_MP2 = float.fromhex("-0x1.DDE9740000000p-27")


@njit(cache=True)
def _branred_part(x: float) -> tuple[float, float, float]:
    """One half of ``__branred``'s reduction: (b, bb, sum) for x1 or x2."""
    k = ((_high_word(x) >> 20) & 2047) - 450
    k = 0 if k < 0 else k // 24
    gor = as_float64(np.uint64((0x63F00000 - ((k * 24) << 20)) << 32))  # 2^(576 - 24k)
    r = np.empty(6, np.float64)
    for i in range(6):
        r[i] = x * TOVERP[k + i] * gor
        gor *= _BR_TM24
    total = 0.0
    for i in range(3):
        s = (r[i] + _BR_BIG) - _BR_BIG
        total += s
        r[i] -= s
    t = 0.0
    for i in range(6):
        t += r[5 - i]
    bb = (((((r[0] - t) + r[1]) + r[2]) + r[3]) + r[4]) + r[5]
    s = (t + _BR_BIG) - _BR_BIG
    total += s
    t -= s
    b = t + bb
    bb = (t - b) + bb
    s = (total + _BR_BIG1) - _BR_BIG1
    total -= s
    return b, bb, total


@njit(cache=True)
def _branred(x: float) -> tuple[float, float, int]:
    """``__branred`` (sysdeps/ieee754/dbl-64/branred.c): x mod pi/2 as a + aa and the quadrant, any finite x.

    glibc builds branred.c only once, for the x86-64 baseline (there is no branred-fma.c), so nothing here
    is fused; its Veltkamp split relies on that.
    """
    x *= _BR_TM600
    t = x * _BR_SPLIT  # split x into two numbers
    x1 = t - (t - x)
    x2 = x - x1
    b1, bb1, sum1 = _branred_part(x1)
    b2, bb2, sum2 = _branred_part(x2)
    total = sum1 + sum2
    b = b1 + b2
    bb = (b1 - b) + b2 if abs(b1) > abs(b2) else (b2 - b) + b1
    if b > 0.5:
        b -= 1.0
        total += 1.0
    elif b < -0.5:
        b += 1.0
        total -= 1.0
    s = b + (bb + bb1 + bb2)
    t = ((b - s) + bb) + (bb1 + bb2)
    b = s * _BR_SPLIT
    t1 = b - (b - s)
    t2 = s - t1
    b = s * _HP0
    bb = (((t1 * _BR_MP1 - b) + t1 * _BR_MP2) + t2 * _BR_MP1) + (t2 * _BR_MP2 + s * _HP1 + t * _HP0)
    s = b + bb
    t = (b - s) + bb
    return s, t, np.int64(total) & 3


@njit(cache=True)
def _do_sincos(a: float, da: float, n: int) -> float:
    """do_sincos (s_sin.c): sin or cos of a + da for the quadrant n."""
    retval = _do_cos(a, da) if n & 1 else _do_sin(a, da)
    return -retval if n & 2 else retval


@njit(cache=True)
def sin(x: float) -> float:
    """glibc 2.36 ``__sin_fma`` (``sysdeps/ieee754/dbl-64/s_sin.c``, fused as x86-64 ``-mfma`` compiles it)."""
    x = np.float64(x)
    k = _high_word(x) & 0x7FFFFFFF
    if k < 0x3E500000:
        return x
    if k < 0x3FEB6000:
        return _do_sin(x, 0.0)
    if k < 0x400368FD:
        return math.copysign(_do_cos(_HP0 - abs(x), _HP1), x)
    if k < 0x419921FB:
        a, da, n = _reduce_sincos(x)
        return _do_sincos(a, da, n)
    if k < 0x7FF00000:
        a, da, n = _branred(x)
        return _do_sincos(a, da, n)
    return np.nan


@njit(cache=True)
def cos(x: float) -> float:
    """glibc 2.36 ``__cos_fma`` (``sysdeps/ieee754/dbl-64/s_sin.c``, fused as x86-64 ``-mfma`` compiles it)."""
    x = np.float64(x)
    k = _high_word(x) & 0x7FFFFFFF
    if k < 0x3E400000:
        return 1.0
    if k < 0x3FEB6000:
        return _do_cos(x, 0.0)
    if k < 0x400368FD:
        y = _HP0 - abs(x)
        a = y + _HP1
        da = (y - a) + _HP1
        return _do_sin(a, da)
    if k < 0x419921FB:
        a, da, n = _reduce_sincos(x)
        return _do_sincos(a, da, n + 1)
    if k < 0x7FF00000:
        a, da, n = _branred(x)
        return _do_sincos(a, da, n + 1)
    return np.nan


@njit(cache=True)
def sincos(x: float) -> tuple[float, float]:
    """glibc 2.36 ``__sincos_fma`` (``sysdeps/ieee754/dbl-64/s_sincos.c``): ``(sin(x), cos(x))``.

    Not always ``(sin(x), cos(x))`` bit for bit: for 0.855469 <= |x| < 2.426265 the sine is
    ``do_cos(a, da)`` of the pi/2 - |x| split, where ``__sin`` uses ``do_cos(pi/2 - |x|, hp1)``.
    """
    x = np.float64(x)
    k = _high_word(x) & 0x7FFFFFFF
    if k < 0x400368FD:
        if k < 0x3E400000:
            return x, 1.0
        if k < 0x3FEB6000:
            return _do_sin(x, 0.0), _do_cos(x, 0.0)
        y = _HP0 - abs(x)
        a = y + _HP1
        da = (y - a) + _HP1
        return math.copysign(_do_cos(a, da), x), _do_sin(a, da)
    if k < 0x7FF00000:
        # If |x| < 105414350 use simple range reduction.
        a, da, n = _reduce_sincos(x) if k < 0x419921FB else _branred(x)
        if n == 1 or n == 2:
            a = -a
            da = -da
        s = _do_sin(a, da)
        c = _do_cos(a, da)
        if n & 2:
            c = -c
        if n & 1:
            return c, s
        return s, c
    return np.nan, np.nan


# ---------------------------------------------------------------------------------------------------
# PyTorch 2.13's float64 normal_ (n >= 16, contiguous) and its scalar path (n < 16 or non-contiguous,
# any dtype), as the ``default`` CPU build compiles them.


@njit(cache=True)
def normal_block16_default_f64(d: np.ndarray, mean: float, std: float, out: np.ndarray) -> None:
    """Box-Muller on 16 float64 uniforms ``d`` into ``out`` (may be ``d``): PyTorch 2.13 ``NormalFill16<double>``.

    As compiled in the default build (``libtorch_cpu.so``, ``at::native::DEFAULT``): for ``j < 8``,
    ``u1 = 1.0 - d[j]``, ``radius = sqrt(-2.0 * log(u1))``, ``theta = 2pi * d[j + 8]``, ``sincos(theta)``,
    ``out[j] = fma(radius * cos, std, mean)``, ``out[j + 8] = fma(radius * sin, std, mean)``.
    """
    for j in range(8):
        u1 = 1.0 - d[j]
        u2 = d[j + 8]
        radius = math.sqrt(-2.0 * log(u1))
        s, c = sincos(TWO_PI * u2)
        out[j] = fma(radius * c, std, mean)
        out[j + 8] = fma(radius * s, std, mean)


@njit(cache=True)
def normal_fill_default_f64(uniforms: np.ndarray, mean: float, std: float, out: np.ndarray) -> None:
    """PyTorch 2.13 default-build float64 ``normal_`` (n = ``out.size`` >= 16, contiguous) from its uniforms.

    ``uniforms``: the float64 uniforms in draw order (``torch.rand(.., dtype=torch.float64)`` after the same
    seed), ``n`` of them plus 16 more when ``n % 16 != 0`` (the last 16 outputs are recomputed from them).
    """
    n = out.size
    for i in range(n):
        out[i] = uniforms[i]
    for i in range(0, n - 15, 16):
        normal_block16_default_f64(out[i : i + 16], mean, std, out[i : i + 16])
    if n % 16 != 0:
        normal_block16_default_f64(uniforms[n : n + 16], mean, std, out[n - 16 : n])


@njit(cache=True)
def normal_pair_default(u1: float, u2: float) -> tuple[float, float]:
    """``at::normal_distribution<double>`` (``ATen/core/DistributionsHelper.h``) on two float64 uniforms.

    Returns ``(r * cos(theta), r * sin(theta))`` with ``r = sqrt(-2 * log1p(-u2))``, ``theta = 2pi * u1``
    (glibc ``log1p`` and ``sincos``): the sample returned now and the one cached in the generator for the
    next call. PyTorch then gives ``sample * std + mean`` in float64 (unfused in the default build),
    cast to the tensor's dtype.
    """
    r = math.sqrt(-2.0 * log1p(-u2))
    s, c = sincos(TWO_PI * u1)
    return r * c, r * s


@njit(cache=True)
def normal_scalar_default(uniforms: np.ndarray, mean: float, std: float, out: np.ndarray) -> None:
    """PyTorch 2.13's scalar ``normal_`` path (n < 16 or non-contiguous; float32 or float64 ``out``).

    Output ``i`` is ``(pair[i % 2] * std + mean)`` cast to ``out``'s dtype, where ``pair`` is
    :func:`normal_pair_default` of the uniforms ``2 * (i // 2)`` and ``2 * (i // 2) + 1`` (float64, 53-bit:
    ``torch.rand(.., dtype=torch.float64)`` after the same seed; a fresh seed leaves no cached sample).
    ``uniforms`` needs ``2 * ceil(n / 2)`` values.
    """
    n = out.size
    for p in range((n + 1) // 2):
        first, second = normal_pair_default(uniforms[2 * p], uniforms[2 * p + 1])
        out[2 * p] = first * std + mean
        if 2 * p + 1 < n:
            out[2 * p + 1] = second * std + mean
