"""PyTorch's float32 ``normal_`` on CPU, bit for bit: ``log256_ps``, ``sincos256_ps`` and the 16-value block.

PyTorch fills a contiguous float32 tensor of ``n >= 16`` values with ``normal_`` in
``aten/src/ATen/native/cpu/DistributionTemplates.h`` (``normal_fill_AVX2`` and the block functor
``NormalFill16<float, true>``): it first draws ``n`` uniforms ``u = (v & 0xFFFFFF) * 2**-24`` (``v`` a
32-bit MT19937 draw, exactly ``torch.rand(n)`` after the same seed), then transforms each block of 16 in
place (Box-Muller on 8 AVX lanes)::

    u1 = 1 - d[0:8];  u2 = d[8:16]
    radius = sqrt(-2 * log256_ps(u1));  theta = 2pi * u2
    sin, cos = sincos256_ps(theta)
    d[0:8] = fma(radius * cos, std, mean);  d[8:16] = fma(radius * sin, std, mean)

and, when ``n % 16 != 0``, draws 16 more uniforms into ``d[n-16:n]`` and transforms that block again.
``log256_ps`` and ``sincos256_ps`` come from ``aten/src/ATen/native/cpu/avx_mathfun.h`` (Giovanni
Garberoglio's AVX port of Julien Pommier's ``sse_mathfun.h``, itself a rewriting of the Cephes
``logf`` / ``sinf`` / ``cosf`` single-precision polynomials).

The functions here compute one lane of those vectors with the very operations of the shipped binary.
PyTorch 2.13.0's ``libtorch_cpu.so`` (GCC, ``-mavx2 -mfma``) contracts most ``_mm256_mul_ps`` +
``_mm256_add_ps``/``_mm256_sub_ps`` pairs of avx_mathfun.h into ``vfmadd``/``vfnmadd``/``vfmsub``; the
sequence was read from the disassembly of ``NormalFill16<float, true>::operator()(float*) [clone
.constprop.0]`` (the only AVX2 float32 block routine, called by ``normal_kernel`` of the AVX2 dispatch;
the AVX512 dispatch has no ``normal_kernel`` of its own and falls back to it). Each fused instruction is
an explicit :func:`service.core.kernels.fma.fma` below; every other operation is a plain IEEE float32
operation (numba, ``fastmath`` off), and the integer / mask steps are done on the int32 bit patterns as
the intrinsics do. Constants are the float32 bit patterns loaded by the binary (``vbroadcastss`` from
``.rodata``), e.g. ``2pi`` is ``0x40C90FDB`` (``(float)(2 * pi)``) and ``-2`` is ``0xC0000000``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from service.core.kernels.bits import as_float32, as_uint32
from service.core.kernels.fma import fma

__all__ = ["log256_ps", "normal_block16", "normal_fill", "sincos256_ps"]


def _f32(bits: int) -> np.float32:
    """A float32 constant from its bit pattern (as the binary's ``.rodata`` holds it)."""
    return np.uint32(bits).view(np.float32)[()]


_ONE = _f32(0x3F800000)  # 1.0f
_MINUS_ONE = _f32(0xBF800000)  # x - one is compiled as x + (-1.0f)
_HALF = _f32(0x3F000000)  # 0.5f
_MIN_NORM_POS = _f32(0x00800000)
_SQRTHF = _f32(0x3F3504F3)  # cephes_SQRTHF 0.707106781186547524
_LOG_P0 = _f32(0x3D9021BB)  # 7.0376836292E-2
_LOG_P1 = _f32(0xBDEBD1B8)  # -1.1514610310E-1
_LOG_P2 = _f32(0x3DEF251A)  # 1.1676998740E-1
_LOG_P3 = _f32(0xBDFE5D4F)  # -1.2420140846E-1
_LOG_P4 = _f32(0x3E11E9BF)  # 1.4249322787E-1
_LOG_P5 = _f32(0xBE2AAE50)  # -1.6668057665E-1
_LOG_P6 = _f32(0x3E4CCEAC)  # 2.0000714765E-1
_LOG_P7 = _f32(0xBE7FFFFC)  # -2.4999993993E-1
_LOG_P8 = _f32(0x3EAAAAAA)  # 3.3333331174E-1
_LOG_Q1 = _f32(0xB95E8083)  # -2.12194440e-4
_LOG_Q2 = _f32(0x3F318000)  # 0.693359375
_FOPI = _f32(0x3FA2F983)  # 4 / pi
_MINUS_DP1 = _f32(0xBF490000)  # -0.78515625
_MINUS_DP2 = _f32(0xB97DA000)  # -2.4187564849853515625e-4
_MINUS_DP3 = _f32(0xB3222169)  # -3.77489497744594108e-8
_SINCOF_P0 = _f32(0xB94CA1F9)  # -1.9515295891E-4
_SINCOF_P1 = _f32(0x3C08839E)  # 8.3321608736E-3
_SINCOF_P2 = _f32(0xBE2AAAA3)  # -1.6666654611E-1
_COSCOF_P0 = _f32(0x37CCF5CE)  # 2.443315711809948E-005
_COSCOF_P1 = _f32(0xBAB6061A)  # -1.388731625493765E-003
_COSCOF_P2 = _f32(0x3D2AAAA5)  # 4.166664568298827E-002
_TWO_PI = _f32(0x40C90FDB)  # _mm256_set1_ps(2.0f * c10::pi<double>)
_MINUS_TWO = _f32(0xC0000000)  # _mm256_set1_ps(-2.0f)
_ZERO = _f32(0x00000000)

_INV_MANT_MASK = np.uint32(0x807FFFFF)
_SIGN_MASK = np.uint32(0x80000000)
_INV_SIGN_MASK = np.uint32(0x7FFFFFFF)
_ALL = np.uint32(0xFFFFFFFF)


@njit(cache=True)
def _cvttps_epi32(x: np.float32) -> np.int64:
    """``vcvttps2dq`` on one lane: truncation toward zero, ``INT32_MIN`` for NaN and out-of-range values."""
    if x >= np.float32(2147483648.0) or x < np.float32(-2147483648.0) or x != x:
        return np.int64(-2147483648)
    return np.int64(x)


@njit(cache=True)
def _i32(v: np.int64) -> np.int64:
    """Wrap an integer to int32 (the lane arithmetic of ``vpaddd``)."""
    v = v & 0xFFFFFFFF
    return v - 0x100000000 if v >= 0x80000000 else v


@njit(cache=True)
def log256_ps(x: np.float32) -> np.float32:
    """Natural logarithm of a float32 as PyTorch's AVX2 ``log256_ps`` computes it (one lane).

    avx_mathfun.h, Cephes ``logf``: ``x = m * 2**e`` with ``m`` in ``[sqrt(1/2), sqrt(2))``, ``f = m - 1``,
    ``log x = f + (f**3 * P(f) - e * 2.12194440e-4 - f**2 / 2) + e * 0.693359375`` with the degree-8
    polynomial ``P`` (p0..p8). NaN (all ones ``or``-ed in) for ``x <= 0``; denormals cut to the smallest
    normal.

    Fused as in the binary (GCC contraction, instruction in parentheses):

    * ``y = y * f + p[k]`` for k = 1..8: ``fma(y, f, p[k])`` (8 x ``vfmadd132ps``);
    * ``y = y * f`` stays a ``vmulps``; ``e * q1`` a ``vmulps``;
    * ``y = y * z + e * q1``: ``fma(y, z, e * q1)`` (``vfmadd132ps``);
    * ``y = y - z * 0.5``: ``fma(-z, 0.5, y)`` (``vfnmadd132ps``);
    * ``x = f + y`` a ``vaddps``, then ``x + e * q2``: ``fma(e, q2, x)`` (``vfmadd132ps``).
    """
    invalid = x <= _ZERO  # _CMP_LE_OS against 0: false for NaN
    # vmaxps x, min_norm_pos: the second operand when the first is not greater (NaN included)
    x = x if x > _MIN_NORM_POS else _MIN_NORM_POS
    bits = np.int64(as_uint32(x))
    imm0 = (bits >> 23) - 127  # vpsrld 23, vpaddd -127
    x = as_float32(np.uint32((bits & 0x807FFFFF) | 0x3F000000))  # keep the mantissa, exponent of 0.5
    e = np.float32(imm0) + _ONE  # vcvtdq2ps, vaddps
    mask = x < _SQRTHF  # _CMP_LT_OS
    tmp = x if mask else _ZERO  # vandps x, mask
    x = x + _MINUS_ONE
    e = e - (_ONE if mask else _ZERO)
    x = x + tmp
    z = x * x
    y = fma(_LOG_P0, x, _LOG_P1)
    y = fma(y, x, _LOG_P2)
    y = fma(y, x, _LOG_P3)
    y = fma(y, x, _LOG_P4)
    y = fma(y, x, _LOG_P5)
    y = fma(y, x, _LOG_P6)
    y = fma(y, x, _LOG_P7)
    y = fma(y, x, _LOG_P8)
    y = x * y
    y = fma(y, z, e * _LOG_Q1)
    y = fma(-z, _HALF, y)
    x = x + y
    x = fma(e, _LOG_Q2, x)
    if invalid:
        return as_float32(np.uint32(as_uint32(x) | _ALL))
    return x


@njit(cache=True)
def sincos256_ps(x: np.float32) -> tuple[np.float32, np.float32]:
    """``(sin x, cos x)`` of a float32 as PyTorch's AVX2 ``sincos256_ps`` computes them (one lane).

    avx_mathfun.h, Cephes ``sinf``/``cosf``: ``j = (int(|x| * 4/pi) + 1) & ~1``, the reduction
    ``r = ((|x| - j*DP1) - j*DP2) - j*DP3`` (Cody-Waite, DP1+DP2+DP3 = pi/4), then the cosine polynomial
    ``1 - r**2/2 + r**4 * C(r**2)`` and the sine polynomial ``r + r**3 * S(r**2)``, selected by bit 1 of
    ``j`` and signed by bit 2 of ``j`` (and of ``j - 2`` for the cosine) and the sign of ``x``. Exact only
    for moderate ``|x|`` (Pommier: ``|x| < 8192``); ``normal_`` only feeds ``[0, 2pi)``.

    Fused as in the binary:

    * the reduction ``r = r + j * (-DPk)``: three ``fma(j, -DPk, r)`` (``vfmadd231ps``, ``vfmadd132ps`` x2);
    * cosine: ``fma(c0, z, c1)``, ``fma(y, z, c2)`` (``vfmadd132ps``), ``y = z * y`` (``vmulps``),
      ``y * z - z * 0.5`` as ``fma(z, y, -(z * 0.5))`` (``vfmsub231ps``, ``z * 0.5`` a ``vmulps``), ``+ 1``
      a ``vaddps``;
    * sine: ``fma(s0, z, s1)``, ``fma(y2, z, s2)``, ``y2 = z * y2`` (``vmulps``), ``y2 * r + r`` as
      ``fma(r, y2, r)`` (``vfmadd132ps``);
    * the selection (``and``/``andnot``, the two ``vsubps`` and ``vaddps``) and the sign ``xor`` as written.
    """
    bits = as_uint32(x)
    sign_bit_sin = np.int64(bits & _SIGN_MASK)
    x = as_float32(np.uint32(bits & _INV_SIGN_MASK))
    y = x * _FOPI
    imm2 = _i32(_cvttps_epi32(y) + 1) & -2  # vpaddd 1, vpand ~1
    y = np.float32(imm2)
    swap_sign_bit_sin = ((imm2 & 4) << 29) & 0xFFFFFFFF
    poly_mask = (imm2 & 2) == 0
    sign_bit_sin = sign_bit_sin ^ swap_sign_bit_sin
    x = fma(y, _MINUS_DP1, x)
    x = fma(y, _MINUS_DP2, x)
    x = fma(y, _MINUS_DP3, x)
    imm4 = _i32(imm2 - 2)
    sign_bit_cos = ((~imm4 & 4) << 29) & 0xFFFFFFFF
    z = x * x
    tmp = z * _HALF
    yc = fma(_COSCOF_P0, z, _COSCOF_P1)
    yc = fma(yc, z, _COSCOF_P2)
    yc = z * yc
    yc = fma(z, yc, -tmp)
    yc = yc + _ONE
    ys = fma(_SINCOF_P0, z, _SINCOF_P1)
    ys = fma(ys, z, _SINCOF_P2)
    ys = z * ys
    ys = fma(x, ys, x)
    ysin2 = ys if poly_mask else _ZERO  # vandps poly_mask, y2
    ysin1 = _ZERO if poly_mask else yc  # vandnps poly_mask, y
    yc = yc - ysin1
    ys = ys - ysin2
    s = ysin2 + ysin1
    c = ys + yc
    s = as_float32(np.uint32(np.int64(as_uint32(s)) ^ sign_bit_sin))
    c = as_float32(np.uint32(np.int64(as_uint32(c)) ^ sign_bit_cos))
    return s, c


@njit(cache=True)
def normal_block16(d: np.ndarray, mean: np.float32, std: np.float32, out: np.ndarray) -> None:
    """One ``NormalFill16<float, true>`` block: 16 uniforms ``d`` (float32) to 16 normals in ``out``.

    ``out`` may be ``d`` itself (PyTorch transforms in place). For lane ``j < 8``: ``u1 = 1 - d[j]``,
    ``u2 = d[j + 8]``, ``radius = sqrt(-2.0f * log256_ps(u1))`` (``vmulps``, ``vsqrtps``, not fused),
    ``theta = (float)(2pi) * u2`` (``vmulps``), then ``out[j] = fma(radius * cos, std, mean)`` and
    ``out[j + 8] = fma(radius * sin, std, mean)`` (``radius * cos`` a ``vmulps``, the rest the
    ``_mm256_fmadd_ps`` of the source: ``vfmadd132ps``). ``mean`` and ``std`` are the float32 casts of
    ``normal_``'s double arguments.
    """
    mean = np.float32(mean)
    std = np.float32(std)
    n1 = np.empty(8, np.float32)
    n2 = np.empty(8, np.float32)
    for j in range(8):
        u1 = _ONE - np.float32(d[j])
        u2 = np.float32(d[j + 8])
        radius = np.sqrt(_MINUS_TWO * log256_ps(u1))
        theta = _TWO_PI * u2
        s, c = sincos256_ps(theta)
        n1[j] = radius * c
        n2[j] = radius * s
    for j in range(8):
        out[j] = fma(n1[j], std, mean)
        out[j + 8] = fma(n2[j], std, mean)


@njit(cache=True)
def normal_fill(u: np.ndarray, n: int, mean: np.float32, std: np.float32) -> np.ndarray:
    """``torch.empty(n).normal_(mean, std)`` (float32, contiguous, ``n >= 16``) from its uniforms.

    ``u`` is the uniform stream the kernel draws: ``n`` values, plus 16 more when ``n % 16 != 0`` (the
    last, partial block is recomputed: ``out[n-16:n]`` is the block of ``u[n:n+16]``), i.e.
    ``torch.rand(n + (16 if n % 16 else 0))`` after the same ``manual_seed``. Full blocks of 16 are
    transformed in order; the ``n % 16`` values after the last full block are overwritten by the tail.
    """
    if n < 16:
        raise ValueError("the vectorized normal_ path needs n >= 16")
    tail = 16 if n % 16 != 0 else 0
    if u.shape[0] < n + tail:
        raise ValueError("u must hold n uniforms, plus 16 when n % 16 != 0")
    out = np.empty(n, np.float32)
    for i in range(0, n - 15, 16):
        normal_block16(u[i : i + 16], mean, std, out[i : i + 16])
    if tail:
        normal_block16(u[n : n + 16], mean, std, out[n - 16 : n])
    return out
