"""XLA's CPU float32 math behind ``jax.random`` (JAX 0.10.2, jaxlib's XLA), bit for bit, as numba kernels.

What ``jax.random.normal`` / ``truncated_normal`` run on CPU is not a libm: JAX lowers ``lax.erf_inv`` to
``chlo.erf_inv``, which StableHLO's CHLO legalization expands (``materializeErfInvF32``, Giles' single
precision polynomial, 2010) into HLO that calls ``log-plus-one``; XLA CPU emits that as its own intrinsic
``xla.log1p.f32`` (``xla/codegen/intrinsic/log1p.cc``: a Cephes-style ``log(1 + x)`` for ``|x| >= sqrt(2) - 1``
and a rational ``x - x^2/2 + x^3 P(x)/Q(x)`` below), and ``lax.erf`` to the ``erf`` HLO, emitted as a rational
approximation with explicit ``llvm.fma`` calls (``xla/codegen/intrinsic/erf.cc`` and ``EmitErfF32`` in
``xla/service/elemental_ir_emitter.cc``). The formulas and every constant here were read off the optimized LLVM
IR XLA dumps (``XLA_FLAGS=--xla_dump_to=...``: ``*.ir-with-opt.ll``), the constants as their exact float32 bit
patterns.

Fusions. XLA CPU compiles with LLVM's ``AllowFPOpFusion = Fast``: the IR carries no ``contract`` flags, but the
x86 instruction selector (``DAGCombiner::visitFADDForFMACombine``) turns ``fadd(fmul(a, b), c)`` and
``fsub(c, fmul(a, b))`` into one ``vfmadd``/``vfnmadd`` whenever the ``fmul`` has a single use, preferring the
first operand when both operands of the ``fadd`` are single-use products. Every fusion that made is an explicit
:func:`service.core.kernels.fma.fma` here, read off the disassembly of the fused kernel
(``objdump -d *.obj-file.broadcast_multiply_fusion_kernel_module.o`` of ``jit__normal``), for example the
log branch of ``log1p``::

    %log_f3242 = fmul %log_f3241, %z3           ; single use
    %log_f3243 = fmul nnan %e, 0xB95E8083        ; single use, the fadd's second operand
    %log_f3245 = fadd %log_f3242, %log_f3243     ->  vmulps  c,e,t ; vfmadd231ps p,z3,t   (fma(p, z3, e*c))
    %log_f3244 = fmul %z2, 0.5 ; %41 = fsub %z, %log_f3244   ->  vfnmadd213ps            (fma(-z2, 0.5, z))
    %log_f3246 = fmul nnan %e, 0x3F318000 ; %log_f3248 = fadd %log_f3247, %log_f3246 -> vfmadd231ps

while a product with several uses stays a ``vmulps`` (``t = x * -x`` feeds both branches of ``log1p``, so
``1 + t`` is a plain ``vaddps``). The same IR compiled without FMA would give other bits; these kernels give
the FMA build's bits on every machine (XLA CPU picks FMA on every x86-64 CPU that has it).

NaN results are NaN, but their sign and payload bits are not promised.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from service.core.kernels.bits import as_float32, as_float64, as_uint32, as_uint64
from service.core.kernels.fma import fma

__all__ = [
    "as_f32",
    "as_u32",
    "bf16_bits",
    "erf_f16",
    "erf_f32",
    "erf_inv_f32",
    "f16_bits",
    "ftz_f32",
    "log1p_f32",
    "maximum_f32",
    "minimum_f32",
    "nextafter_f32",
    "round_bf16",
    "round_f16",
]


@njit(cache=True, inline="always")
def as_u32(x: np.float32) -> np.uint32:
    """The bits of a float32 (``bitcast float to i32``)."""
    return as_uint32(np.float32(x))


@njit(cache=True, inline="always")
def as_f32(i: np.uint32) -> np.float32:
    """The float32 whose bits are ``i`` (``bitcast i32 to float``)."""
    return as_float32(np.uint32(i))


def _f(bits: int) -> np.float32:
    """A float32 constant from its bit pattern (numba freezes module-level globals as constants)."""
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


_ZERO = _f(0x00000000)
_ONE = _f(0x3F800000)
_HALF = _f(0x3F000000)
_FIVE = _f(0x40A00000)
_INF = _f(0x7F800000)
_NAN_ALL = _f(0xFFFFFFFF)
_FLT_MIN = _f(0x00800000)
_SQRT_HALF = _f(0x3F3504F3)  # 0.70710677, log's mantissa split
_LOG1P_SMALL = _f(0x3ED413CD)  # 0.41421357 = sqrt(2) - 1, log1p's branch point
_LN2_HI = _f(0x3F318000)  # 0.693359375
_LN2_LO = _f(0xB95E8083)  # -2.12194440e-4

# log(1 + z) - z + z^2/2 = z^3 (A(z) z^6 + B(z) z^3 + C(z)) on [sqrt(1/2) - 1, sqrt(2) - 1] (Cephes logf's 9
# coefficients, grouped Estrin-style by XLA): A = (a0 z + a1) z + a2, likewise B and C.
_LA0, _LA1, _LA2 = _f(0x3D9021BB), _f(0xBDEBD1B8), _f(0x3DEF251A)
_LB0, _LB1, _LB2 = _f(0xBDFE5D4F), _f(0x3E11E9BF), _f(0xBE2AAE50)
_LC0, _LC1, _LC2 = _f(0x3E4CCEAC), _f(0xBE7FFFFC), _f(0x3EAAAAAA)

# log1p(x) = x - x^2/2 + x^3 P(x)/Q(x) for |x| < sqrt(2) - 1; both evaluated by Horner from a leading
# ``x * 0 + c`` (XLA's generic polynomial helper starts at a zero coefficient).
_LP = (
    _f(0x3F800000),
    _f(0x417101AD),
    _f(0x42A6185B),
    _f(0x435DC32D),
    _f(0x439A8CA3),
    _f(0x43586D8A),
    _f(0x42707982),
)
_LQ = (
    _f(0x383DE04B),
    _f(0x3EFF40C5),
    _f(0x40D284FA),
    _f(0x41EF4B9C),
    _f(0x4273CC76),
    _f(0x426473AD),
    _f(0x41A05101),
)

# Giles' erfinv: w = -log1p(-x^2); w < 5: p(w - 2.5), else p(sqrt(w) - 3); the first of each pair is the w < 5 one.
(_G0S, _G0B) = (_f(0x32F16588), _f(0xB951F09B))
(_G1S, _G1B) = (_f(0x34B84B36), _f(0x38D3B56B))
(_G2S, _G2B) = (_f(0xB66C7357), _f(0x3AB0DC72))
(_G3S, _G3B) = (_f(0xB6935AC1), _f(0xBB70BDE7))
(_G4S, _G4B) = (_f(0x396532DB), _f(0x3BBC127B))
(_G5S, _G5B) = (_f(0xBAA45408), _f(0xBBF9C5D7))
(_G6S, _G6B) = (_f(0xBB88E4EF), _f(0x3C1AA57E))
(_G7S, _G7B) = (_f(0x3E7C8F63), _f(0x3F8036DB))
(_G8S, _G8B) = (_f(0x3FC02E2F), _f(0x40354F7E))
_TWO_HALF = _f(0x40200000)  # 2.5
_THREE = _f(0x40400000)

# erf(x) = x P(x^2) / Q(x^2), |x| below a cutoff, else sign(x).
_EP = (_f(0x39702D51), _f(0x3B5F5DA2), _f(0x3D50B6EB), _f(0x3E3DA740), _f(0x3F906EBA))
_EQ = (_f(0xB3FD3906), _f(0x37C588DF), _f(0x3A856D28), _f(0x3C6687D4), _f(0x3DE34C21), _f(0x3EFEB44A), _ONE)
_ERF_CLAMP = _f(0x406F9C68)  # 3.7439211: float32 (and bfloat16-upcast) erf
_ERF_CUT_F16 = _f(0x407547CB)  # 3.8325067: float16-upcast erf


@njit(cache=True, inline="always", error_model="numpy")
def maximum_f32(a: np.float32, b: np.float32) -> np.float32:
    """``llvm.maximum``: NaN if either is NaN, +0 over -0, else the larger."""
    r = a if a > b else b
    r = (a if as_u32(a) < as_u32(b) else b) if a == b else r  # +0 (the smaller bits) over -0
    return (a + b) if (a != a or b != b) else r  # the NaN operand, quieted (x86)


@njit(cache=True, inline="always", error_model="numpy")
def minimum_f32(a: np.float32, b: np.float32) -> np.float32:
    """``llvm.minimum``: NaN if either is NaN, -0 over +0, else the smaller."""
    r = a if a < b else b
    r = (a if as_u32(a) > as_u32(b) else b) if a == b else r  # -0 (the larger bits) over +0
    return (a + b) if (a != a or b != b) else r  # the NaN operand, quieted (x86)


@njit(cache=True, inline="always", error_model="numpy")
def ftz_f32(x: np.float32) -> np.float32:
    """A float32 subnormal to a zero of its sign (XLA CPU runs float32 with MXCSR FTZ and DAZ set: subnormal
    results are flushed, subnormal operands read as zero); anything else unchanged."""
    x = np.float32(x)
    return (x * _ZERO) if abs(x) < _FLT_MIN else x


@njit(cache=True, inline="always", error_model="numpy")
def nextafter_f32(x: np.float32, up: bool) -> np.float32:
    """``lax.nextafter(x, +inf if up else -inf)`` (XLA's integer-step form; from zero to the smallest subnormal)."""
    if x != x:
        return x
    b = as_u32(x)
    if (b & np.uint32(0x7FFFFFFF)) == np.uint32(0):
        return as_f32(np.uint32(1)) if up else as_f32(np.uint32(0x80000001))
    if up:
        if x == _INF:
            return x
        return as_f32(np.uint32(b - np.uint32(1))) if x < _ZERO else as_f32(np.uint32(b + np.uint32(1)))
    if x == -_INF:
        return x
    return as_f32(np.uint32(b + np.uint32(1))) if x < _ZERO else as_f32(np.uint32(b - np.uint32(1)))


@njit(cache=True, inline="always", error_model="numpy")
def log1p_f32(t: np.float32) -> np.float32:
    """``xla.log1p.f32`` as XLA CPU's fused ``erf_inv`` kernel computes it for a ``t`` with several uses.

    ``|t| < 0.41421357``: ``t + fma(-t2, 0.5, (t * t2) * Q(t)/P(t))`` with ``t2 = t * t`` and Horner
    ``fma(., t, c)`` for ``P`` and ``Q`` (``0 * t + c0`` first). Otherwise Cephes ``logf`` of ``y = 1 + t``
    (unfused: ``t`` is a product with several uses): ``y = m 2^e``, ``m`` in ``[0.5, 1)``, ``z = m - 1 (+ m
    if m < sqrt(1/2), e -= 1)``, ``fma(e, 0.693359375, (fma(-z2, 0.5, z)) + fma(C', z3, e * -2.1219444e-4))``
    with ``C' = fma(fma(A, z3, B), z3, C)`` (``A, B, C`` quadratics in ``z`` by ``fma``); ``y <= 0`` gives NaN,
    ``y = 0`` -inf, ``y = inf`` inf.
    """
    t = np.float32(t)
    t2 = t * t
    t0 = t * _ZERO
    p = t0 + _LP[0]
    p = fma(p, t, _LP[1])
    p = fma(p, t, _LP[2])
    p = fma(p, t, _LP[3])
    p = fma(p, t, _LP[4])
    p = fma(p, t, _LP[5])
    p = fma(p, t, _LP[6])
    q = t0 + _LQ[0]
    q = fma(q, t, _LQ[1])
    q = fma(q, t, _LQ[2])
    q = fma(q, t, _LQ[3])
    q = fma(q, t, _LQ[4])
    q = fma(q, t, _LQ[5])
    q = fma(q, t, _LQ[6])
    small = t + fma(-t2, _HALF, (t * t2) * (q / p))
    # Cephes logf of y = 1 + t (every branch computed, then selected, so that loops vectorize)
    y = t + _ONE
    ym = y if y > _FLT_MIN else _FLT_MIN
    b = as_u32(ym)
    e = np.float32(np.int32(b >> np.uint32(23)) - np.int32(127)) + _ONE
    m = as_f32(np.uint32((b & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)))
    lt = m < _SQRT_HALF
    z = (m - _ONE) + (m if lt else _ZERO)
    e = e - (_ONE if lt else _ZERO)
    z2 = z * z
    z3 = z2 * z
    a = fma(fma(z, _LA0, _LA1), z, _LA2)
    bb = fma(fma(z, _LB0, _LB1), z, _LB2)
    c = fma(fma(z, _LC0, _LC1), z, _LC2)
    poly = fma(fma(a, z3, bb), z3, c)
    tail = fma(poly, z3, e * _LN2_LO)
    big = fma(e, _LN2_HI, fma(-z2, _HALF, z) + tail)
    big = _NAN_ALL if not y > _ZERO else big  # y <= 0 or NaN: all-ones bits
    big = -_INF if y == _ZERO else big
    big = _INF if y == _INF else big
    return small if abs(t) < _LOG1P_SMALL else big


@njit(cache=True, inline="always", error_model="numpy")
def erf_inv_f32(x: np.float32) -> np.float32:
    """``lax.erf_inv`` on float32 as XLA CPU fuses it into ``jax.random.normal``'s kernel.

    ``w = -log1p(x * -x)`` (:func:`log1p_f32`); ``s = w - 2.5`` if ``w < 5`` else ``sqrt(w) - 3``;
    ``p = fma(c0, s, c1)``, then ``p = fma(s, p, c_k)`` for Giles' 9 coefficients; result ``x * p``, or
    ``x * inf`` where ``|x| = 1``, flushed to zero if subnormal (FTZ; subnormal intermediates cannot change
    the result).
    """
    x = np.float32(x)
    t = x * (-x)
    w = -log1p_f32(t)
    lt = w < _FIVE
    s = (w - _TWO_HALF) if lt else (np.float32(math.sqrt(w)) - _THREE)
    p = fma(_G0S if lt else _G0B, s, _G1S if lt else _G1B)
    p = fma(s, p, _G2S if lt else _G2B)
    p = fma(s, p, _G3S if lt else _G3B)
    p = fma(s, p, _G4S if lt else _G4B)
    p = fma(s, p, _G5S if lt else _G5B)
    p = fma(s, p, _G6S if lt else _G6B)
    p = fma(s, p, _G7S if lt else _G7B)
    p = fma(s, p, _G8S if lt else _G8B)
    return ftz_f32(x * (_INF if abs(x) == _ONE else p))


@njit(cache=True, inline="always", error_model="numpy")
def _erf_rational(x: np.float32) -> np.float32:
    x2 = x * x
    p = fma(x2, _EP[0], _EP[1])
    for k in range(2, 5):
        p = fma(p, x2, _EP[k])
    q = fma(x2, _EQ[0], _EQ[1])
    for k in range(2, 7):
        q = fma(q, x2, _EQ[k])
    return (x * p) / q


@njit(cache=True, inline="always", error_model="numpy")
def erf_f32(x: np.float32) -> np.float32:
    """XLA's float32 ``erf`` (also bfloat16, upcast): ``sign(x)`` for ``|x| >= 3.7439211``, else the rational
    ``x P(x^2) / Q(x^2)`` (explicit ``llvm.fma`` Horner steps) of ``x`` clamped to ``[-3.7439211, 3.7439211]``."""
    x = np.float32(x)
    if abs(x) >= _ERF_CLAMP:
        return np.float32(math.copysign(1.0, x))
    return _erf_rational(minimum_f32(maximum_f32(x, -_ERF_CLAMP), _ERF_CLAMP))


@njit(cache=True, inline="always", error_model="numpy")
def erf_f16(x: np.float32) -> np.float32:
    """XLA's ``erf`` on float16 (upcast to float32, result to be rounded to float16 by the caller): ``sign(x)``
    for ``|x| >= 3.8325067``, else the same rational as :func:`erf_f32`, unclamped."""
    x = np.float32(x)
    if abs(x) >= _ERF_CUT_F16:
        return np.float32(math.copysign(1.0, x))
    return _erf_rational(x)


@njit(cache=True, inline="always", error_model="numpy")
def round_bf16(x: np.float32) -> np.float32:
    """float32 to bfloat16, round to nearest even, as XLA emits it (``(b + 0x7FFF + lsb) & 0xFFFF0000``; NaN quiet)."""
    x = np.float32(x)
    b = as_u32(x)
    if x != x:
        return as_f32(np.uint32((b & np.uint32(0xFF800000)) | np.uint32(0x00400000)))
    lsb = (b >> np.uint32(16)) & np.uint32(1)
    return as_f32(np.uint32((b + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)))


@njit(cache=True, inline="always", error_model="numpy")
def bf16_bits(x: np.float32) -> np.uint16:
    """The bfloat16 bits of a float32 that is a bfloat16 value (its top half)."""
    return np.uint16(as_u32(x) >> np.uint32(16))


@njit(cache=True, inline="always", error_model="numpy")
def round_f16(x: float) -> float:
    """float64 to the nearest float16 value (ties to even, subnormals, overflow to inf), as a float64.

    With ``q = max(e - 10, -24)`` the float16 spacing at ``|x| = 1.m 2^e``, ``(|x| + 2^(q+52)) - 2^(q+52)``
    rounds ``|x|`` to a multiple of ``2^q`` (the float64 spacing of the sum is ``2^q``), ties to even."""
    x = np.float64(x)
    ax = abs(x)
    e = np.int64(as_uint64(ax) >> np.uint64(52)) - 1023
    q = max(e - 10, -24)
    big = as_float64(np.uint64(q + 52 + 1023) << np.uint64(52))
    r = math.copysign((ax + big) - big, x)
    r = math.copysign(math.inf, x) if ax >= 65520.0 else r
    return x if ax != ax else r


@njit(cache=True, inline="always", error_model="numpy")
def f16_bits(x: float) -> np.uint16:
    """The float16 bits of a float64 that is a float16 value (subnormals as ``|x| 2^24``; NaN as 0x7E00)."""
    x = np.float64(x)
    b = as_uint64(x)
    sign = np.uint32(b >> np.uint64(48)) & np.uint32(0x8000)
    ax = abs(x)
    e = np.int64(as_uint64(ax) >> np.uint64(52)) - 1023
    mant = np.uint32((b >> np.uint64(42)) & np.uint64(0x3FF))
    normal = np.uint32(np.uint32(max(e + 15, 0)) << np.uint32(10)) | mant
    sub = np.uint32(ax * 16777216.0) if ax < 6.103515625e-05 else np.uint32(0)
    r = sub if ax < 6.103515625e-05 else normal
    r = np.uint32(0x7C00) if ax == math.inf else r
    r = np.uint32(0x7E00) if ax != ax else r
    return np.uint16(r | sign)
