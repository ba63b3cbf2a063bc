"""``jax.random`` of JAX 0.10.2 on CPU with its default flags, bit for bit and element-addressable.

Default flags: ``jax_default_prng_impl = "threefry2x32"``, ``jax_threefry_partitionable = True`` (its default
in 0.10.2, ``jax/_src/config.py``), ``jax_enable_x64 = False``. A key is the two ``uint32`` words of
``jax.random.key_data``; ``key(seed)`` is ``(0, seed mod 2^32)`` (``threefry_seed`` of ``np.int64(seed)``
truncated to int32 by x64-off canonicalization; seeds outside int64 raise ``OverflowError`` like JAX).

Bits (``service.core.kernels.threefry``): flat element ``i`` of any ``jax.random`` sampler draws from the
threefry2x32 hash of the counter ``(hi32(i), lo32(i))``, ``w = y0 ^ y1``, whatever the shape: so element
``i`` costs the same whatever ``start``, and a tensor computed in pieces equals the tensor computed whole.
float32 takes all 32 bits, float16 the low 16 (``_random_bits(key, 16)``), bfloat16 the low 8 (``_uniform``
draws 8 bits when ``nmant < 8``).

The samplers (``jax/_src/random/core.py``), as XLA CPU compiles them (read off the optimized HLO, the LLVM IR
and the disassembly of ``jax.random.normal(key, (256, 784), dtype)`` and its siblings, eager):

* ``uniform(minval, maxval)``: ``minval``/``maxval`` go float64 -> float32 (the weak-typed Python float) ->
  dtype; ``f = bitcast(w >> (nbits - nmant) | bits(1.0)) - 1`` in ``[0, 1)``; ``u = max(minval, f * (maxval
  - minval) + minval)``. float32: the product and sum are one FMA (``vfmadd213ps``). float16: native
  AVX512-FP16 arithmetic, one float16 FMA (``vfmadd213ph``); ``maxval - minval`` a float16 subtraction.
  bfloat16: every operation in float32 and rounded to bfloat16 (XLA's float normalization), no FMA.
* ``normal``: ``u = uniform(nextafter(-1, 0), 1)`` in the dtype, then ``sqrt(2) * erf_inv(u)``; ``erf_inv``
  runs in float32 (CHLO upcasts 16-bit types) as :func:`service.core.kernels.xla_math.erf_inv_f32`, its
  result is rounded to the dtype, and the product with ``sqrt(2)`` (rounded to the dtype) is the dtype's.
* ``truncated_normal(lower, upper)``: ``a = erf(lower / sqrt(2))``, ``b = erf(upper / sqrt(2))`` (XLA
  rewrites the division as a product by the rounded reciprocal: float32 ``0x3F3504F3``, float16
  ``0.70703125``, bfloat16 the float32 ``0x3F3509E7``), ``u = uniform(a, b)``, ``sqrt(2) * erf_inv(u)``
  clipped to ``[nextafter(lower, inf), nextafter(upper, -inf)]``, all in the dtype; NaN if a bound is NaN.

Output: ``out`` is 1-D, ``stop - start`` long, of the dtype (``ml_dtypes.bfloat16`` for bfloat16), or float32
for float16/bfloat16 (the values exactly widened). float64 is not a JAX default-flags dtype (JAX makes
float32 and warns): it is refused here.

XLA CPU runs float32 (and the float32 arithmetic of bfloat16) with MXCSR FTZ and DAZ: subnormal operands
read as zero and subnormal results are flushed; the kernels do the same where a subnormal can occur (tiny
``minval``/``maxval``/bounds), and the NaNs an invalid operation makes are x86's default NaN (sign set), as
XLA's. Edge parameters are in the tests.

Machines. float32 and bfloat16 are XLA's on any x86-64 CPU with FMA (checked on AVX-512 and AVX2 CPUs, and
down to ``--xla_cpu_max_isa=AVX2``; without FMA, ``normal`` differs). float16 is not the same on every CPU
even in JAX: on a CPU with AVX512-FP16 (Intel Sapphire Rapids and later) XLA's LLVM emits native float16
arithmetic and the uniform's ``f * (maxval - minval) + minval`` is one float16 FMA; on every other x86-64
CPU (every AMD one, Intel before Sapphire Rapids) each operation is rounded to float16 and there is no FMA.
The stream serves the second (the default, ``float16_fma=False``): the same bytes on every server, equal
to JAX on most CPUs and to JAX run with ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` on the others.
``float16_fma=True`` gives the AVX512-FP16 numbers (``normal`` is the same either way, its product being
exact, while ``truncated_normal(-2, 2)`` differs in about half the elements).

Cost: one serial, vectorized ``nogil`` kernel per sampler and dtype, with one signature each (float16's writes
float32 values, narrowed to float16 bits by one more kernel; bfloat16's writes bits, widened by NumPy for a
float32 ``out``): the engine runs blocks on its own threads, so a kernel is one thread's loop. Compiled at first
use (0.5-7 CPU-seconds each, threefry emitted as LLVM IR by an intrinsic), then loaded from numba's cache.
Per element and thread (AMD EPYC Zen 3, loaded): ``uniform`` float32 3.5 ns, ``normal`` 7, ``truncated_normal``
8.5, float16 9.5/14/20, bfloat16 3.3/8.6/10; JAX's own ``normal`` is about 15 ns per element on
both cores.
"""

from __future__ import annotations

import math
from typing import Final

import ml_dtypes
import numpy as np
from numba import njit

from service.core.kernels.fma import fma
from service.core.kernels.threefry import bits32 as _bits32
from service.core.kernels.threefry import bits32_fill, hash_pair
from service.core.kernels.xla_math import (
    as_f32,
    bf16_bits,
    erf_f16,
    erf_f32,
    erf_inv_f32,
    f16_bits,
    ftz_f32,
    maximum_f32,
    minimum_f32,
    nextafter_f32,
    round_bf16,
    round_f16,
)

__all__ = ["DTYPES", "Key", "bits32", "fold_in", "key", "normal", "split", "truncated_normal", "uniform"]

#: The two uint32 words of a threefry2x32 key (``jax.random.key_data``).
Key = tuple[int, int]

#: The dtypes JAX makes with its default flags.
DTYPES: Final[dict[str, np.dtype]] = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
_KIND: Final[dict[str, int]] = {"float32": 0, "float16": 1, "bfloat16": 2}
_F32, _F16, _BF16 = 0, 1, 2
_MASK32: Final[int] = 0xFFFFFFFF

_ONE = np.float32(1.0)
_SQRT2_F32 = np.array([0x3FB504F3], dtype=np.uint32).view(np.float32)[0]  # float32(sqrt(2))
_INV_SQRT2_F32 = np.array([0x3F3504F3], dtype=np.uint32).view(np.float32)[0]  # float32(1 / float32(sqrt(2)))
_INV_SQRT2_BF16 = np.array([0x3F3509E7], dtype=np.uint32).view(np.float32)[0]  # float32(1 / bfloat16(sqrt(2)))
_SQRT2_16 = 1.4140625  # float16(sqrt(2)) and bfloat16(sqrt(2))
_SQRT2_BF16 = np.float32(_SQRT2_16)
_INV_SQRT2_F16 = 0.70703125  # float16(1 / float16(sqrt(2)))
_TWO_M7 = np.float32(2.0**-7)
# normal's uniform(nextafter(-1, 0), 1): minval, and maxval - minval rounded to the dtype (2 in each).
_NORMAL_LO_F32 = np.array([0xBF7FFFFF], dtype=np.uint32).view(np.float32)[0]
_NORMAL_LO_F16 = -(1.0 - 2.0**-11)
_NORMAL_LO_BF16 = np.float32(-(1.0 - 2.0**-8))
_TWO_F32 = np.float32(2.0)


# -- keys -------------------------------------------------------------------------------------------------


def _word(x: int, what: str) -> int:
    if not 0 <= x <= _MASK32:
        raise ValueError(f"{what} must be a uint32 word, got {x}")
    return x


def _key(k: Key) -> tuple[np.uint32, np.uint32]:
    k0, k1 = k
    return np.uint32(_word(int(k0), "key word")), np.uint32(_word(int(k1), "key word"))


def key(seed: int) -> Key:
    """``jax.random.key_data(jax.random.key(seed))`` with x64 off: ``(0, seed mod 2^32)``.

    JAX converts ``seed`` to ``np.int64`` (``OverflowError`` outside ``[-2^63, 2^63)``), x64-off
    canonicalization truncates it to int32, and ``threefry_seed`` makes ``(seed >> 32, seed & 0xFFFFFFFF)``
    of that int32: ``(0, seed mod 2^32)`` (``-1`` gives ``(0, 0xFFFFFFFF)``, ``2^32 + 5`` gives ``(0, 5)``).
    """
    seed = int(seed)
    if not -(2**63) <= seed < 2**63:
        raise OverflowError("Python int too large to convert to C long")
    return (0, seed & _MASK32)


def split(k: Key, num: int = 2) -> list[Key]:
    """``jax.random.split(key, num)`` (partitionable): key ``j`` is ``threefry2x32(key, (0, j))``."""
    if num < 0:
        raise ValueError(f"num must be non-negative, got {num}")
    k0, k1 = _key(k)
    out: list[Key] = []
    for j in range(num):
        y0, y1 = hash_pair(k0, k1, np.uint32(j >> 32), np.uint32(j & _MASK32))
        out.append((int(y0), int(y1)))
    return out


def fold_in(k: Key, data: int) -> Key:
    """``jax.random.fold_in(key, data)``: ``threefry2x32(key, (0, data))``; ``data`` must fit uint32, as JAX's
    ``jnp.asarray(data, dtype='uint32')`` requires (``OverflowError`` otherwise)."""
    data = int(data)
    if not 0 <= data <= _MASK32:
        raise OverflowError(f"Python integer {data} out of bounds for uint32")
    k0, k1 = _key(k)
    y0, y1 = hash_pair(k0, k1, np.uint32(0), np.uint32(data))
    return (int(y0), int(y1))


def bits32(k: Key, start: int, stop: int) -> np.ndarray:
    """Flat elements ``[start, stop)`` of ``jax.random.bits(key, shape, jnp.uint32)`` (any shape holding them)."""
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got [{start}, {stop})")
    k0, k1 = _key(k)
    out = np.empty(stop - start, dtype=np.uint32)
    bits32_fill(k0, k1, start, out)
    return out


# -- per-element values (float64 holding a value of the dtype) ----------------------------------------------


@njit(cache=True, inline="always", error_model="numpy")
def _max64(a: float, b: float) -> float:
    return (a + b) if (a != a or b != b) else (a if a > b else b)


@njit(cache=True, inline="always", error_model="numpy")
def _min64(a: float, b: float) -> float:
    return (a + b) if (a != a or b != b) else (a if a < b else b)


@njit(cache=True, inline="always", error_model="numpy")
def _uniform_f32(w: np.uint32, lo: np.float32, scale: np.float32) -> np.float32:
    """``max(lo, fma(f, scale, lo))``, ``f = bitcast(w >> 9 | 0x3F800000) - 1`` (``lo``, ``scale`` already
    read as XLA CPU's DAZ reads them; a subnormal result flushed)."""
    f = as_f32(np.uint32((w >> np.uint32(9)) | np.uint32(0x3F800000))) - _ONE
    return maximum_f32(lo, ftz_f32(fma(f, scale, lo)))


@njit(cache=True, inline="always", error_model="numpy")
def _uniform_f16(w: np.uint32, lo: float, scale: float, fused: bool) -> float:
    """``max(lo, fma16(f, scale, lo))``, ``f = ((w & 0xFFFF) >> 6) 2^-10``: the float64 sum is exact
    (``f`` has 10 bits, ``scale`` 11, every term is a multiple of 2^-34 below 2^17), so one rounding to
    float16 is the float16 FMA. Not ``fused`` (XLA on a CPU without AVX512-FP16): ``rnd16(rnd16(f * scale) + lo)``,
    and a NaN (``0 * inf`` when the range overflows float16) is positive there (0x7E00, not x86's 0xFE00)."""
    f = float((w & np.uint32(0xFFFF)) >> np.uint32(6)) * (2.0**-10)
    if fused:
        u = round_f16(f * scale + lo)
    else:
        u = round_f16(round_f16(f * scale) + lo)
        if u != u:
            u = abs(u)
    return _max64(lo, u)


@njit(cache=True, inline="always", error_model="numpy")
def _uniform_bf16(w: np.uint32, lo: np.float32, scale: np.float32) -> np.float32:
    """``max(lo, rnd(rnd(f * scale) + lo))`` in float32, ``rnd`` to bfloat16, ``f = ((w & 0xFF) >> 1) 2^-7``."""
    f = np.float32((w & np.uint32(0xFF)) >> np.uint32(1)) * _TWO_M7
    return maximum_f32(lo, round_bf16(ftz_f32(round_bf16(ftz_f32(f * scale)) + lo)))


@njit(cache=True, inline="always", error_model="numpy")
def _normal_f32(w: np.uint32) -> np.float32:
    return erf_inv_f32(_uniform_f32(w, _NORMAL_LO_F32, _TWO_F32)) * _SQRT2_F32  # |result| > 2^-24: no FTZ


@njit(cache=True, inline="always", error_model="numpy")
def _normal_f16(w: np.uint32) -> float:
    r16 = round_f16(float(erf_inv_f32(np.float32(_uniform_f16(w, _NORMAL_LO_F16, 2.0, True)))))  # exact either way
    return round_f16(r16 * _SQRT2_16)


@njit(cache=True, inline="always", error_model="numpy")
def _normal_bf16(w: np.uint32) -> np.float32:
    rb = round_bf16(erf_inv_f32(_uniform_bf16(w, _NORMAL_LO_BF16, _TWO_F32)))
    return round_bf16(rb * _SQRT2_BF16)


@njit(cache=True, inline="always", error_model="numpy")
def _truncated_f32(
    w: np.uint32, a: np.float32, scale: np.float32, clip_lo: np.float32, clip_hi: np.float32
) -> np.float32:
    r = ftz_f32(erf_inv_f32(_uniform_f32(w, a, scale)) * _SQRT2_F32)
    return minimum_f32(clip_hi, maximum_f32(clip_lo, r))


@njit(cache=True, inline="always", error_model="numpy")
def _truncated_f16(w: np.uint32, a: float, scale: float, clip_lo: float, clip_hi: float, fused: bool) -> float:
    r16 = round_f16(round_f16(float(erf_inv_f32(np.float32(_uniform_f16(w, a, scale, fused))))) * _SQRT2_16)
    return _min64(clip_hi, _max64(clip_lo, r16))


@njit(cache=True, inline="always", error_model="numpy")
def _truncated_bf16(
    w: np.uint32, a: np.float32, scale: np.float32, clip_lo: np.float32, clip_hi: np.float32
) -> np.float32:
    rb = round_bf16(round_bf16(erf_inv_f32(_uniform_bf16(w, a, scale))) * _SQRT2_BF16)
    return minimum_f32(clip_hi, maximum_f32(clip_lo, rb))


@njit(cache=True, nogil=True, error_model="numpy")
def _uniform_fill_f32(k0: np.uint32, k1: np.uint32, start: int, lo: float, scale: float, out: np.ndarray) -> None:
    lo32, scale32 = np.float32(lo), np.float32(scale)
    for j in range(out.shape[0]):
        out[j] = _uniform_f32(_bits32(k0, k1, np.uint64(start + j)), lo32, scale32)


@njit(cache=True, nogil=True, error_model="numpy")
def _uniform_fill_f16(
    k0: np.uint32, k1: np.uint32, start: int, lo: float, scale: float, fused: bool, out: np.ndarray
) -> None:
    for j in range(out.shape[0]):
        out[j] = _uniform_f16(_bits32(k0, k1, np.uint64(start + j)), lo, scale, fused)


@njit(cache=True, nogil=True, error_model="numpy")
def _uniform_fill_bf16(k0: np.uint32, k1: np.uint32, start: int, lo: float, scale: float, out: np.ndarray) -> None:
    lo32, scale32 = np.float32(lo), np.float32(scale)
    for j in range(out.shape[0]):
        out[j] = bf16_bits(_uniform_bf16(_bits32(k0, k1, np.uint64(start + j)), lo32, scale32))


@njit(cache=True, nogil=True, error_model="numpy")
def _normal_fill_f32(k0: np.uint32, k1: np.uint32, start: int, out: np.ndarray) -> None:
    for j in range(out.shape[0]):
        out[j] = _normal_f32(_bits32(k0, k1, np.uint64(start + j)))


@njit(cache=True, nogil=True, error_model="numpy")
def _normal_fill_f16(k0: np.uint32, k1: np.uint32, start: int, out: np.ndarray) -> None:
    for j in range(out.shape[0]):
        out[j] = _normal_f16(_bits32(k0, k1, np.uint64(start + j)))


@njit(cache=True, nogil=True, error_model="numpy")
def _normal_fill_bf16(k0: np.uint32, k1: np.uint32, start: int, out: np.ndarray) -> None:
    for j in range(out.shape[0]):
        out[j] = bf16_bits(_normal_bf16(_bits32(k0, k1, np.uint64(start + j))))


@njit(cache=True, nogil=True, error_model="numpy")
def _truncated_fill_f32(
    k0: np.uint32, k1: np.uint32, start: int, a: float, scale: float, lo: float, hi: float, out: np.ndarray
) -> None:
    a32, s32, lo32, hi32 = np.float32(a), np.float32(scale), np.float32(lo), np.float32(hi)
    for j in range(out.shape[0]):
        out[j] = _truncated_f32(_bits32(k0, k1, np.uint64(start + j)), a32, s32, lo32, hi32)


@njit(cache=True, nogil=True, error_model="numpy")
def _truncated_fill_f16(
    k0: np.uint32,
    k1: np.uint32,
    start: int,
    a: float,
    scale: float,
    lo: float,
    hi: float,
    fused: bool,
    out: np.ndarray,
) -> None:
    for j in range(out.shape[0]):
        out[j] = _truncated_f16(_bits32(k0, k1, np.uint64(start + j)), a, scale, lo, hi, fused)


@njit(cache=True, nogil=True, error_model="numpy")
def _truncated_fill_bf16(
    k0: np.uint32, k1: np.uint32, start: int, a: float, scale: float, lo: float, hi: float, out: np.ndarray
) -> None:
    a32, s32, lo32, hi32 = np.float32(a), np.float32(scale), np.float32(lo), np.float32(hi)
    for j in range(out.shape[0]):
        out[j] = bf16_bits(_truncated_bf16(_bits32(k0, k1, np.uint64(start + j)), a32, s32, lo32, hi32))


@njit(cache=True, nogil=True, error_model="numpy")
def _f16_bits_fill(wide: np.ndarray, out: np.ndarray) -> None:
    """``out[j]`` = the float16 bits of ``wide[j]``, a float32 holding a float16 value (exact)."""
    for j in range(out.shape[0]):
        out[j] = f16_bits(float(wide[j]))


_FILLS: Final = {
    "uniform": (_uniform_fill_f32, _uniform_fill_f16, _uniform_fill_bf16),
    "normal": (_normal_fill_f32, _normal_fill_f16, _normal_fill_bf16),
    "truncated_normal": (_truncated_fill_f32, _truncated_fill_f16, _truncated_fill_bf16),
}


# -- scalars in the dtype (Python side, exact) -------------------------------------------------------------


def _to_dtype(x: float, kind: int) -> float:
    """A Python float as JAX converts a weak-typed operand: float64 -> float32 -> dtype (two roundings)."""
    x32 = np.float32(x)
    if kind == _F32:
        return float(x32)
    if kind == _F16:
        return float(np.float16(x32))
    return float(round_bf16(x32))


def _daz(x: float, kind: int) -> float:
    """``x`` as a float32 (or bfloat16) operand reads in XLA CPU's kernels: a subnormal reads as a signed zero
    (MXCSR DAZ). float16 arithmetic is native AVX512-FP16, which keeps subnormals."""
    return x if kind == _F16 else float(ftz_f32(np.float32(x)))


def _sub(a: float, b: float, kind: int) -> float:
    """``a - b`` in the dtype: float32 subtraction (DAZ/FTZ), rounded to a 16-bit dtype (exact at 24 >= 2p + 2
    bits, so it is also the native float16 subtraction)."""
    if kind == _F16:
        return float(np.float16(np.float32(a) - np.float32(b)))
    d = ftz_f32(np.float32(_daz(a, kind)) - np.float32(_daz(b, kind)))
    if kind == _F32:
        return float(d)
    if kind == _F16:
        return float(np.float16(d))
    return float(round_bf16(d))


def _nextafter(x: float, up: bool, kind: int) -> float:
    """``lax.nextafter(x, +-inf)`` in the dtype: one step of the dtype's bit pattern (zero to +-smallest)."""
    if kind == _F32:
        return float(nextafter_f32(np.float32(x), up))
    if math.isnan(x) or (math.isinf(x) and (x > 0) == up):
        return x
    if kind == _F16:
        b = int(np.array([x], dtype=np.float16).view(np.uint16)[0])
    else:
        b = int(np.array([x], dtype=np.float32).view(np.uint32)[0]) >> 16
    if b & 0x7FFF == 0:
        b = 0x0001 if up else 0x8001
    elif (b & 0x8000 == 0) == up:
        b += 1
    else:
        b -= 1
    if kind == _F16:
        return float(np.array([b], dtype=np.uint16).view(np.float16)[0])
    return float(np.array([b << 16], dtype=np.uint32).view(np.float32)[0])


def _erf_bound(x: float, kind: int) -> float:
    """``erf(x / sqrt(2))`` of a bound already in the dtype, as XLA computes it (scalar fusion)."""
    if kind == _F32:
        return float(ftz_f32(erf_f32(ftz_f32(np.float32(_daz(x, kind)) * _INV_SQRT2_F32))))
    if kind == _F16:
        arg = np.float32(round_f16(x * _INV_SQRT2_F16))
        return round_f16(float(erf_f16(arg)))
    arg = np.float32(round_bf16(ftz_f32(np.float32(_daz(x, kind)) * _INV_SQRT2_BF16)))
    return float(round_bf16(ftz_f32(erf_f32(arg))))


def _uniform_params(minval: float, maxval: float, kind: int) -> tuple[float, float]:
    """``(minval, maxval - minval)`` as the uniform kernel reads them: in the dtype (DAZ for float32/bfloat16)."""
    lo = _to_dtype(minval, kind)
    return _daz(lo, kind), _sub(_to_dtype(maxval, kind), lo, kind)


def _truncated_params(lower: float, upper: float, kind: int) -> tuple[float, float, float, float] | None:
    """``(a, b - a, nextafter(lower, inf), nextafter(upper, -inf))`` as the truncated-normal kernel reads them
    (``a = erf(lower / sqrt(2))``, ``b = erf(upper / sqrt(2))``, all in the dtype); ``None`` if a bound is NaN
    (JAX's answer is then all NaN)."""
    lo = _to_dtype(lower, kind)
    hi = _to_dtype(upper, kind)
    if math.isnan(lo) or math.isnan(hi):
        return None
    a = _erf_bound(lo, kind)
    b = _erf_bound(hi, kind)
    clip_lo = _daz(_nextafter(lo, True, kind), kind)
    clip_hi = _daz(_nextafter(hi, False, kind), kind)
    return (_daz(a, kind), _sub(b, a, kind), clip_lo, clip_hi)


# -- the samplers ------------------------------------------------------------------------------------------


def _check(dtype: str, shape: tuple[int, ...], start: int, stop: int, out: np.ndarray) -> tuple[int, bool]:
    """The dtype's kind and whether ``out`` takes 16-bit patterns (else float32 values)."""
    if dtype not in _KIND:
        raise ValueError(f"dtype must be one of {', '.join(_KIND)} (JAX's default flags), got {dtype!r}")
    size = math.prod(shape)
    if not 0 <= start <= stop <= size:
        raise ValueError(f"need 0 <= start <= stop <= {size}, got [{start}, {stop})")
    if out.ndim != 1 or out.shape[0] != stop - start:
        raise ValueError(f"out must be 1-D of length {stop - start}, got shape {out.shape}")
    kind = _KIND[dtype]
    if out.dtype == np.float32:
        return kind, False
    if kind != _F32 and out.dtype == DTYPES[dtype]:
        return kind, True
    raise ValueError(f"out must be {dtype} or float32, got {out.dtype}")


def _run(
    dist: str,
    kind: int,
    k: Key,
    start: int,
    params: tuple[float, ...],
    out: np.ndarray,
    as_bits: bool,
    float16_fma: bool = False,
) -> None:
    """One kernel per sampler and dtype, one signature each: float32 writes float32, float16 writes the float32
    widening of its values (narrowed to their bits by ``_f16_bits_fill`` for a float16 ``out``), bfloat16 writes
    its 16-bit patterns (widened by a 16-bit shift for a float32 ``out``). Both conversions are exact."""
    k0, k1 = _key(k)
    fill = _FILLS[dist][kind]
    if kind == _F16 and dist != "normal":
        params = (*params, float16_fma)
    if kind == _F32:
        fill(k0, k1, start, *params, out)
    elif kind == _F16:
        wide = np.empty(out.shape[0], dtype=np.float32) if as_bits else out
        fill(k0, k1, start, *params, wide)
        if as_bits:
            _f16_bits_fill(wide, out.view(np.uint16))
    elif as_bits:
        fill(k0, k1, start, *params, out.view(np.uint16))
    else:
        bits = np.empty(out.shape[0], dtype=np.uint16)
        fill(k0, k1, start, *params, bits)
        np.left_shift(bits, 16, out=out.view(np.uint32), dtype=np.uint32)


def uniform(
    k: Key,
    shape: tuple[int, ...],
    dtype: str,
    minval: float,
    maxval: float,
    start: int,
    stop: int,
    out: np.ndarray,
    *,
    float16_fma: bool = False,
) -> None:
    """Flat elements ``[start, stop)`` of ``jax.random.uniform(key, shape, dtype, minval, maxval)`` into ``out``.

    ``float16_fma=True``: float16 as XLA computes it on a CPU with AVX512-FP16 (one float16 FMA instead of a
    product and a sum each rounded to float16); it changes nothing for float32/bfloat16 or when
    ``maxval - minval`` is a power of two."""
    kind, as_bits = _check(dtype, shape, start, stop, out)
    _run("uniform", kind, k, start, _uniform_params(minval, maxval, kind), out, as_bits, float16_fma)


def normal(k: Key, shape: tuple[int, ...], dtype: str, start: int, stop: int, out: np.ndarray) -> None:
    """Flat elements ``[start, stop)`` of ``jax.random.normal(key, shape, dtype)`` into ``out``."""
    kind, as_bits = _check(dtype, shape, start, stop, out)
    _run("normal", kind, k, start, (), out, as_bits)


def truncated_normal(
    k: Key,
    shape: tuple[int, ...],
    dtype: str,
    lower: float,
    upper: float,
    start: int,
    stop: int,
    out: np.ndarray,
    *,
    float16_fma: bool = False,
) -> None:
    """Flat elements ``[start, stop)`` of ``jax.random.truncated_normal(key, lower, upper, shape, dtype)``.

    ``float16_fma=True``: float16 as XLA computes it on a CPU with AVX512-FP16 (see :func:`uniform`)."""
    kind, as_bits = _check(dtype, shape, start, stop, out)
    params = _truncated_params(lower, upper, kind)
    if params is None:
        if as_bits:
            out.view(np.uint16)[:] = 0x7E00 if kind == _F16 else 0x7FC0
        else:
            out[:] = np.nan
        return
    _run("truncated_normal", kind, k, start, params, out, as_bits, float16_fma)
