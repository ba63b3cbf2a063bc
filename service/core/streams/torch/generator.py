"""PyTorch 2.13.0's CPU generator after ``torch.manual_seed(seed)``, with its ``uniform_`` and ``normal_`` kernels.

The generator (``aten/src/ATen/CPUGeneratorImpl.cpp``) is MT19937 (:mod:`service.core.kernels.mt19937`)
seeded with ``seed mod 2^32``, plus the cached second sample of the scalar normal path
(``next_double_normal_sample``). ``random()`` is one 32-bit draw; ``random64()`` is two, the first one
the high word: ``(d0 << 32) | d1``.

Uniform (``uniform_kernel``, ``aten/src/ATen/native/cpu/DistributionTemplates.h``, with
``transformation::uniform_real``, ``aten/src/ATen/core/TransformationHelper.h``), row-major, one value per
``random()`` (float32, float16, bfloat16; computed in float32, the ``opmath`` type) or per ``random64()``
(float64)::

    x = (v & (2^24 - 1)) * 2^-24            # 2^53 - 1 and 2^-53 for float64
    r = x * (to - from) + from              # one fused multiply-add in the AVX2 build (GCC contracts it)
    value = dtype(r);  value = from if value == dtype(to) else value

Normal (``normal_kernel``, same file), on a contiguous tensor:

* ``n >= 16``, float32 and float64: ``n`` uniforms (``x`` above) into the output, then per block of 16,
  for ``j < 8``: ``u1 = 1 - d[j]``, ``u2 = d[j + 8]``, ``radius = sqrt(-2 log u1)``, ``theta = 2 pi u2``,
  ``d[j] = fma(radius cos theta, std, mean)``, ``d[j + 8] = fma(radius sin theta, std, mean)``; when
  ``n % 16 != 0`` the last 16 outputs are recomputed from 16 fresh uniforms (``n + 16`` draws in all).
  float32 in the AVX2 build is ``NormalFill16<float, true>``: ATen's ``log256_ps``/``sincos256_ps``
  (:mod:`service.core.kernels.avx_mathfun`), ``theta = float32(2 pi) * u2``; the ``default`` build runs
  the scalar template: glibc ``logf``/``sincosf`` (:mod:`service.core.kernels.glibc_math`),
  ``theta = float32(2 pi * float64(u2))``. float64 is the scalar template in every build (glibc
  ``log``/``sin``/``cos``, ``theta = 2 pi u2`` in float64).
* ``n >= 16``, float16 and bfloat16: per block of 16, 16 fresh float32 uniforms, the float32 block above,
  cast to the dtype; the tail block (``n % 16 != 0``) is 16 more fresh uniforms written to ``[n-16, n)``
  (``16 * ceil(n / 16)`` draws in all).
* ``n < 16``: per value ``normal_distribution<double>`` (``aten/src/ATen/core/DistributionsHelper.h``):
  the cached sample if there is one, else ``u1, u2`` = two 53-bit uniforms,
  ``r = sqrt(-2 log1p(-u2))``, ``theta = 2 pi u1``, cache ``r sin theta``, take ``r cos theta``; then
  ``value * std + mean`` in float64 (fused in the AVX2 build), cast to float32 (then to float16/bfloat16).

randperm (``randperm_cpu``, ``aten/src/ATen/native/TensorFactories.cpp``): ``p = arange(n)``, then for
``i < n - 1``: ``z = random() % (n - i)``, swap ``p[i]`` and ``p[i + z]``; from ``n >= 2^32 / 20`` on, the
inside-out variant with ``z = random64() % (i + 1)``.

The AVX-512 build of torch 2.13 runs the same code for these kernels as the AVX2 build
(``capability="avx2"``); ``capability="default"`` is ``ATEN_CPU_CAPABILITY=default``. float16 and bfloat16
values are float32 results rounded to nearest even (``c10::Half(float)``, ``c10::BFloat16(float)``); NaN
payloads (only reachable with a NaN ``mean``) are not promised.

Kernels draw in chunks of :data:`CHUNK` values into a scratch buffer and transform from it with branch-free
loops (``normal_``'s lanes gathered into flat arrays) that LLVM vectorizes; the bits do not depend on the
chunking. From :data:`PARALLEL_FROM` values on, the ``default`` capability's float32 Box-Muller transform
of ``normal_`` (float32, float16, bfloat16) runs on up to :data:`WORKERS` threads (GIL released) after the
sequential draws. A
generator itself is not thread-safe (torch locks its own): use one per request, in entry order.

numba's on-disk cache keys on this file only: after changing :mod:`service.core.kernels.mt19937`,
``avx_mathfun``, ``glibc_math`` or ``fma``, remove this package's ``__pycache__/*.nbi``/``*.nbc`` (or
touch this file), or the cached kernels keep the old code.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal

import ml_dtypes
import numpy as np
from numba import njit

from service.core.kernels import mt19937
from service.core.kernels.fma import fma

# The exact math comes from its own modules; until one exists (or lacks a function), a stand-in keeps the rest
# of this module usable: the float32 stand-ins are not bit-exact, the float64 ones call the process's libm (the
# glibc functions torch itself calls, so bit-exact wherever our glibc is torch's).


@njit(cache=True)
def _log_f32(x: np.float32) -> np.float32:
    """Stand-in (not bit-exact): float32 of the float64 logarithm."""
    return np.float32(math.log(np.float64(x)))


@njit(cache=True)
def _sincos_f32(x: np.float32) -> tuple[np.float32, np.float32]:
    """Stand-in (not bit-exact): float32 of the float64 sine and cosine."""
    return np.float32(math.sin(np.float64(x))), np.float32(math.cos(np.float64(x)))


@njit(cache=True)
def _libm_log(x: float) -> float:
    """libm ``log``."""
    return math.log(x)


@njit(cache=True)
def _libm_log1p(x: float) -> float:
    """libm ``log1p``."""
    return math.log1p(x)


@njit(cache=True)
def _libm_sin(x: float) -> float:
    """libm ``sin``."""
    return math.sin(x)


@njit(cache=True)
def _libm_cos(x: float) -> float:
    """libm ``cos``."""
    return math.cos(x)


try:
    from service.core.kernels import avx_mathfun as _avx
except ImportError:  # pragma: no cover - only while the module is being written
    _avx = None
try:
    from service.core.kernels import glibc_math as _glibc
except ImportError:  # pragma: no cover - only while the module is being written
    _glibc = None

#: ATen's AVX2 ``log256_ps`` / ``sincos256_ps`` per lane (:mod:`service.core.kernels.avx_mathfun`).
log256_ps = getattr(_avx, "log256_ps", _log_f32)
sincos256_ps = getattr(_avx, "sincos256_ps", _sincos_f32)
#: glibc's float32 ``logf`` / ``sincosf`` and float64 ``log`` / ``log1p`` / ``sin`` / ``cos`` (glibc_math).
logf = getattr(_glibc, "logf", _log_f32)
sincosf = getattr(_glibc, "sincosf", _sincos_f32)
log = getattr(_glibc, "log", _libm_log)
log1p = getattr(_glibc, "log1p", _libm_log1p)
sin = getattr(_glibc, "sin", _libm_sin)
cos = getattr(_glibc, "cos", _libm_cos)

#: Whether each family is the exact re-implementation (else a stand-in, see above).
EXACT_AVX2_MATH: Final[bool] = log256_ps is not _log_f32 and sincos256_ps is not _sincos_f32
EXACT_GLIBC_FLOAT32_MATH: Final[bool] = logf is not _log_f32 and sincosf is not _sincos_f32
EXACT_GLIBC_FLOAT64_MATH: Final[bool] = not {log, log1p, sin, cos} & {_libm_log, _libm_log1p, _libm_sin, _libm_cos}


Capability = Literal["avx2", "default"]

#: randperm switches from ``random()`` to ``random64()`` at this n (``std::numeric_limits<uint32_t>::max() / 20``).
RANDPERM_RANDOM64_FROM: Final[int] = 0xFFFFFFFF // 20

_MASK24: Final[int] = (1 << 24) - 1
_MASK53: Final[int] = (1 << 53) - 1
_TWO_PI_F64: Final[float] = 2.0 * math.pi  # 2.0f * c10::pi<double>


# ------------------------------------------------------------------------------------------------ uniform kernels
#
# Kernels draw in chunks: MT19937 words into a small scratch buffer (cache-resident), then a branch-free loop
# from the scratch buffer to the output, which LLVM vectorizes. The bits do not depend on the chunking.

#: Values per chunk (a multiple of 16, so normal_'s blocks never straddle two chunks).
CHUNK: Final[int] = 4096


@njit(cache=True)
def _uniform_f32(
    state: np.ndarray, pos: int, out: np.ndarray, lo: np.float32, hi: np.float32, fused: bool, clamp: bool
) -> int:
    """``out[i] = x * (hi - lo) + lo`` in float32, ``x = (random() & 0xFFFFFF) * 2^-24``; return the position.

    ``fused``: one FMA (the AVX2 build), else a rounded product then a rounded sum. ``clamp``: a value equal
    to ``hi`` becomes ``lo`` (float32 output; for float16/bfloat16 the caller clamps after the cast).
    """
    scale = np.float32(1.0 / 16777216.0)
    span = hi - lo
    n = out.shape[0]
    words = np.empty(CHUNK, dtype=np.uint32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        pos = mt19937.fill_u32(state, pos, words[:m])
        if fused:
            for k in range(m):
                x = np.float32(np.int32(words[k] & np.uint32(_MASK24))) * scale
                r = fma(x, span, lo)
                out[start + k] = lo if clamp and r == hi else r
        else:
            for k in range(m):
                x = np.float32(np.int32(words[k] & np.uint32(_MASK24))) * scale
                r = x * span + lo
                out[start + k] = lo if clamp and r == hi else r
    return pos


@njit(cache=True)
def _uniform_f64(state: np.ndarray, pos: int, out: np.ndarray, lo: float, hi: float, fused: bool) -> int:
    """``out[i] = x * (hi - lo) + lo`` (``hi`` becomes ``lo``), ``x`` = low 53 bits of ``random64()`` * 2^-53."""
    scale = 1.0 / 9007199254740992.0
    span = hi - lo
    n = out.shape[0]
    words = np.empty(2 * CHUNK, dtype=np.uint32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        pos = mt19937.fill_u32(state, pos, words[: 2 * m])
        for k in range(m):
            v = (np.uint64(words[2 * k]) << np.uint64(32)) | np.uint64(words[2 * k + 1])
            x = np.float64(np.int64(v & np.uint64(_MASK53))) * scale
            r = fma(x, span, lo) if fused else x * span + lo
            out[start + k] = lo if r == hi else r
    return pos


@njit(cache=True, inline="always")
def _half_bits(u: np.uint32) -> np.uint32:
    """IEEE binary16 bits of the float32 with bits ``u``, rounded to nearest even (``c10::Half(float)``).

    NaN becomes the quiet NaN ``0x7E00`` with its sign (torch's NaN payloads are not reproduced).
    """
    sign = (u >> np.uint32(16)) & np.uint32(0x8000)
    a = u & np.uint32(0x7FFFFFFF)
    if a > np.uint32(0x7F800000):
        h = np.uint32(0x7E00)
    elif a >= np.uint32(0x477FF000):  # >= 65520: rounds to infinity
        h = np.uint32(0x7C00)
    elif a >= np.uint32(0x38800000):  # normal binary16
        h = (a >> np.uint32(13)) - np.uint32(0x1C000)
        rem = a & np.uint32(0x1FFF)
        if rem > np.uint32(0x1000) or (rem == np.uint32(0x1000) and (h & np.uint32(1)) != np.uint32(0)):
            h += np.uint32(1)
    elif a <= np.uint32(0x33000000):  # <= 2^-25: rounds to zero (2^-25 ties to even)
        h = np.uint32(0)
    else:  # subnormal binary16: m * 2^(e - 126) units of 2^-24
        shift = np.uint32(126) - (a >> np.uint32(23))
        m = (a & np.uint32(0x7FFFFF)) | np.uint32(0x800000)
        h = m >> shift
        rem = m & ((np.uint32(1) << shift) - np.uint32(1))
        half = np.uint32(1) << (shift - np.uint32(1))
        if rem > half or (rem == half and (h & np.uint32(1)) != np.uint32(0)):
            h += np.uint32(1)
    return sign | h


@njit(cache=True, inline="always")
def _bfloat16_bits(u: np.uint32) -> np.uint32:
    """bfloat16 bits of the float32 with bits ``u``: ``c10::BFloat16``'s ``round_to_nearest_even`` (NaN: 0x7FC0)."""
    if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
        return np.uint32(0x7FC0)
    return (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


@njit(cache=True)
def _cast_low(values: np.ndarray, out: np.ndarray, bfloat16: bool, lo: np.uint32, hi: np.uint32, clamp: bool) -> None:
    """float32 ``values`` to float16 or bfloat16 bits in ``out`` (``uint16``); ``clamp``: a value equal to ``hi``
    (bits, both zeros equal) becomes ``lo``."""
    bits = values.view(np.uint32)
    for i in range(out.shape[0]):
        h = _bfloat16_bits(bits[i]) if bfloat16 else _half_bits(bits[i])
        if clamp and (h == hi or ((h | hi) & np.uint32(0x7FFF)) == np.uint32(0)):
            h = lo
        out[i] = np.uint16(h)


# ------------------------------------------------------------------------------------------------- normal kernels


@njit(cache=True, nogil=True)
def _transform_f32(
    words: np.ndarray, out: np.ndarray, b0: int, b1: int, mean: np.float32, std: np.float32, avx2: bool
) -> None:
    """Blocks ``b0 <= b < b1`` of ``NormalFill16<float>``: uniforms from ``words[16b:16b + 16]``, normals to
    ``out[16b:16b + 16]``. ``words`` may be ``out`` viewed as ``uint32`` (a chunk is read before it is written).

    Per block, ``d`` = its 16 uniforms, for ``j < 8``: ``u1 = 1 - d[j]``, ``u2 = d[j + 8]``,
    ``radius = sqrt(-2 * log(u1))``, ``out[j] = fma(radius * cos(theta), std, mean)``,
    ``out[j + 8] = fma(radius * sin(theta), std, mean)``. ``avx2``: ``log256_ps`` and ``sincos256_ps`` of
    ``theta = float32(2 pi) * u2``; else glibc ``logf`` and ``sincosf`` of ``theta = float32(2 pi * float64(u2))``.
    The lanes are gathered into flat arrays so that the transform loop vectorizes. Releases the GIL.
    """
    scale = np.float32(1.0 / 16777216.0)
    one = np.float32(1.0)
    minus_two = np.float32(-2.0)
    two_pi = np.float32(_TWO_PI_F64)
    per = CHUNK // 16
    u1 = np.empty(8 * per, dtype=np.float32)
    u2 = np.empty(8 * per, dtype=np.float32)
    n1 = np.empty(8 * per, dtype=np.float32)
    n2 = np.empty(8 * per, dtype=np.float32)
    for c0 in range(b0, b1, per):
        m = min(per, b1 - c0)
        for b in range(m):
            w = 16 * (c0 + b)
            for j in range(8):
                u1[8 * b + j] = one - np.float32(np.int32(words[w + j] & np.uint32(_MASK24))) * scale
                u2[8 * b + j] = np.float32(np.int32(words[w + j + 8] & np.uint32(_MASK24))) * scale
        if avx2:
            for i in range(8 * m):
                radius = np.sqrt(minus_two * log256_ps(u1[i]))
                s, c = sincos256_ps(two_pi * u2[i])
                n1[i] = fma(radius * c, std, mean)
                n2[i] = fma(radius * s, std, mean)
        else:
            for i in range(8 * m):
                radius = np.sqrt(minus_two * logf(u1[i]))
                s, c = sincosf(np.float32(_TWO_PI_F64 * np.float64(u2[i])))
                n1[i] = fma(radius * c, std, mean)
                n2[i] = fma(radius * s, std, mean)
        for b in range(m):
            o = 16 * (c0 + b)
            for j in range(8):
                out[o + j] = n1[8 * b + j]
                out[o + j + 8] = n2[8 * b + j]


@njit(cache=True)
def _normal_blocks_f32(
    state: np.ndarray, pos: int, out: np.ndarray, blocks: int, mean: np.float32, std: np.float32, avx2: bool
) -> int:
    """``blocks`` blocks of ``NormalFill16<float>`` (:func:`_transform_f32`) from ``16 * blocks`` fresh draws
    into ``out[:16 * blocks]``, a cache-sized chunk of draws at a time (one pass over memory); return the
    position."""
    words = np.empty(CHUNK, dtype=np.uint32)
    per = CHUNK // 16
    for b0 in range(0, blocks, per):
        m = min(per, blocks - b0)
        pos = mt19937.fill_u32(state, pos, words[: 16 * m])
        _transform_f32(words, out[16 * b0 : 16 * (b0 + m)], 0, m, mean, std, avx2)
    return pos


@njit(cache=True)
def _normal_blocks_f64(state: np.ndarray, pos: int, out: np.ndarray, blocks: int, mean: float, std: float) -> int:
    """``NormalFill16<double>`` on ``blocks`` blocks of fresh ``random64()`` uniforms into ``out[:16 * blocks]``.

    ``radius = sqrt(-2 * log(1 - d[j]))``, ``theta = 2 pi * d[j + 8]`` (float64),
    ``out[j] = fma(radius * cos(theta), std, mean)``, ``out[j + 8] = fma(radius * sin(theta), std, mean)``.
    """
    scale = 1.0 / 9007199254740992.0
    words = np.empty(32, dtype=np.uint32)
    d = np.empty(16, dtype=np.float64)
    for b in range(blocks):
        pos = mt19937.fill_u32(state, pos, words)
        for j in range(16):
            v = (np.uint64(words[2 * j]) << np.uint64(32)) | np.uint64(words[2 * j + 1])
            d[j] = np.float64(np.int64(v & np.uint64(_MASK53))) * scale
        o = 16 * b
        for j in range(8):
            radius = math.sqrt(-2.0 * log(1.0 - d[j]))
            theta = _TWO_PI_F64 * d[j + 8]
            out[o + j] = fma(radius * cos(theta), std, mean)
            out[o + j + 8] = fma(radius * sin(theta), std, mean)
    return pos


@njit(cache=True)
def _normal_f64(state: np.ndarray, pos: int, out: np.ndarray, mean: float, std: float) -> int:
    """``normal_fill`` on float64, ``n >= 16``: ``n`` draws, the blocks, then the tail from 16 fresh draws."""
    n = out.shape[0]
    pos = _normal_blocks_f64(state, pos, out, n // 16, mean, std)
    if n % 16:
        pos = mt19937.skip(state, pos, 2 * (n % 16))
        tail = np.empty(16, dtype=np.float64)
        pos = _normal_blocks_f64(state, pos, tail, 1, mean, std)
        out[n - 16 :] = tail
    return pos


@njit(cache=True)
def _box_muller_f64(w0: np.uint32, w1: np.uint32, w2: np.uint32, w3: np.uint32) -> tuple[float, float]:
    """``normal_distribution<double>`` without its cache: ``(r cos theta, r sin theta)`` from two ``random64()``."""
    scale = 1.0 / 9007199254740992.0
    m53 = np.uint64(_MASK53)
    u1 = np.float64(((np.uint64(w0) << np.uint64(32)) | np.uint64(w1)) & m53) * scale
    u2 = np.float64(((np.uint64(w2) << np.uint64(32)) | np.uint64(w3)) & m53) * scale
    r = math.sqrt(-2.0 * log1p(-u2))
    theta = _TWO_PI_F64 * u1
    return r * cos(theta), r * sin(theta)


@njit(cache=True)
def _affine_f64(value: float, std: float, mean: float, fused: bool) -> float:
    """``transformation::normal``: ``value * std + mean`` (one FMA in the AVX2 build)."""
    return fma(value, std, mean) if fused else value * std + mean


# -------------------------------------------------------------------------------------------------------- randperm


@njit(cache=True)
def _randperm(state: np.ndarray, pos: int, n: int) -> tuple[np.ndarray, int]:
    """``randperm_cpu``, both of its variants.

    ``n < 2^32 / 20``: ``p = arange(n)``, then for ``i < n - 1``: ``z = random() % (n - i)``, swap ``p[i]`` and
    ``p[i + z]``. Larger ``n`` (inside-out Fisher-Yates): for ``i < n``: ``z = random64() % (i + 1)``,
    ``p[i] = p[z]``, ``p[z] = i``.
    """
    wide = n >= RANDPERM_RANDOM64_FROM
    perm = np.empty(n, dtype=np.int64) if wide else np.arange(n, dtype=np.int64)
    for i in range(n if wide else n - 1):
        if pos == mt19937.N:
            mt19937.twist(state)
            pos = 0
        v = mt19937.temper(state[pos])
        pos += 1
        if wide:
            if pos == mt19937.N:
                mt19937.twist(state)
                pos = 0
            v = (v << np.uint64(32)) | mt19937.temper(state[pos])
            pos += 1
            z = np.int64(v % np.uint64(i + 1))
            perm[i] = perm[z]
            perm[z] = i
        else:
            z = np.int64(v % np.uint64(n - i))
            t = perm[i]
            perm[i] = perm[i + z]
            perm[i + z] = t
    return perm, pos


# -------------------------------------------------------------------------------------------------------- threads

#: From this many values on, normal_'s float32 ``default`` transform is split over threads (the draws stay
#: sequential, and each output is a pure function of its block's draws, so the bits are those of one thread).
PARALLEL_FROM: Final[int] = 1 << 18
#: Threads for that split: the CPUs this process may run on, at most 4.
WORKERS: Final[int] = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS - 1, thread_name_prefix="torch-normal")
        return _pool


def _threaded(count: int, avx2: bool) -> bool:
    """Whether ``count`` values are transformed on threads (else drawn and transformed in one pass).

    Only the ``default`` transform (glibc's table-driven ``logf``/``sincosf``, not vectorized) gains from
    it; the vectorized AVX2 one is cheaper than the extra pass over memory when the other cores are busy.
    """
    return WORKERS > 1 and count >= PARALLEL_FROM and not avx2


def _transform(words: np.ndarray, out: np.ndarray, blocks: int, mean: np.float32, std: np.float32, avx2: bool) -> None:
    """:func:`_transform_f32` on blocks ``[0, blocks)``, in ``WORKERS`` contiguous parts when it is large."""
    if not _threaded(16 * blocks, avx2):
        _transform_f32(words, out, 0, blocks, mean, std, avx2)
        return
    bounds = [blocks * i // WORKERS for i in range(WORKERS + 1)]
    pool = _executor()
    futures = [
        pool.submit(_transform_f32, words, out, bounds[i], bounds[i + 1], mean, std, avx2) for i in range(WORKERS - 1)
    ]
    _transform_f32(words, out, bounds[-2], bounds[-1], mean, std, avx2)
    for future in futures:
        future.result()


# ------------------------------------------------------------------------------------------------------- generator

_BFLOAT16: Final[np.dtype] = np.dtype(ml_dtypes.bfloat16)
_LOW_PRECISION: Final[frozenset[np.dtype]] = frozenset({np.dtype(np.float16), _BFLOAT16})


class TorchGenerator:
    """torch.manual_seed(seed)'s CPU generator: MT19937 plus the cached second normal of the scalar path."""

    def __init__(self, seed: int, capability: Capability = "avx2") -> None:
        if capability not in ("avx2", "default"):
            raise ValueError(f"capability must be 'avx2' or 'default', not {capability!r}")
        seed = int(seed)
        if seed < 0:  # torch.manual_seed maps negative seeds to 2^64 + seed
            seed += 1 << 64
        self.seed: int = seed
        self.capability: Capability = capability
        self._fused: bool = capability == "avx2"
        self._state: np.ndarray = mt19937.init_state(seed & 0xFFFFFFFF)
        self._pos: int = mt19937.N
        self._next_double_normal: float | None = None

    # -- draws

    def _words(self, count: int) -> np.ndarray:
        words = np.empty(count, dtype=np.uint32)
        self._fill(words)
        return words

    def _fill(self, words: np.ndarray) -> None:
        self._pos = mt19937.fill_u32(self._state, self._pos, words)

    def random_bits32(self) -> int:
        """One raw 32-bit draw (``CPUGeneratorImpl::random``)."""
        return int(self._words(1)[0])

    # -- uniform_

    def uniform_(self, out: np.ndarray, low: float, high: float) -> None:
        """As ``tensor.uniform_(low, high)`` on a contiguous tensor: fill ``out`` in place, row-major."""
        flat = _flat(out)
        low, high = float(low), float(high)
        biggest = float(ml_dtypes.finfo(flat.dtype).max)  # uniform_impl_'s checks, in float64
        if not (-biggest <= low <= high <= biggest and high - low <= biggest):
            raise ValueError(f"uniform_ expects from <= to within {flat.dtype}'s range, got from={low} to={high}")
        if flat.shape[0] == 0:
            return
        if flat.dtype == np.float64:
            self._pos = _uniform_f64(self._state, self._pos, flat, low, high, self._fused)
            return
        lo32, hi32 = np.float32(low), np.float32(high)
        if flat.dtype == np.float32:
            self._pos = _uniform_f32(self._state, self._pos, flat, lo32, hi32, self._fused, True)
            return
        values = np.empty(flat.shape[0], dtype=np.float32)
        self._pos = _uniform_f32(self._state, self._pos, values, lo32, hi32, self._fused, False)
        bfloat16 = flat.dtype == _BFLOAT16
        lo_s, hi_s = (np.array([lo32, hi32]).astype(flat.dtype).view(np.uint16)).tolist()
        _cast_low(values, flat.view(np.uint16), bfloat16, np.uint32(lo_s), np.uint32(hi_s), True)

    # -- normal_

    def normal_(self, out: np.ndarray, mean: float, std: float) -> None:
        """As ``tensor.normal_(mean, std)`` on a contiguous tensor: fill ``out`` in place, row-major."""
        flat = _flat(out)
        mean, std = float(mean), float(std)
        if not std >= 0.0:
            raise ValueError(f"normal_ expects std >= 0.0, got std={std}")
        n = flat.shape[0]
        if n == 0:
            return
        avx2 = self.capability == "avx2"
        if n < 16:
            self._normal_scalar(flat, mean, std)
        elif flat.dtype == np.float32:
            m32, s32 = np.float32(mean), np.float32(std)
            if _threaded(n, avx2):  # n uniforms, as normal_fill draws them, then the transform on threads
                words = flat.view(np.uint32)
                self._fill(words)
                _transform(words, flat, n // 16, m32, s32, avx2)
            else:  # drawn and transformed chunk by chunk; the n % 16 uniforms after the last block are skipped
                self._pos = _normal_blocks_f32(self._state, self._pos, flat, n // 16, m32, s32, avx2)
                self._pos = mt19937.skip(self._state, self._pos, n % 16)
            if n % 16:  # the last 16 values again, from 16 fresh uniforms
                tail = np.empty(16, dtype=np.float32)
                self._fill(tail.view(np.uint32))
                _transform(tail.view(np.uint32), tail, 1, m32, s32, avx2)
                flat[n - 16 :] = tail
        elif flat.dtype == np.float64:
            self._pos = _normal_f64(self._state, self._pos, flat, mean, std)
        else:  # float16, bfloat16: 16 fresh uniforms per block, the tail block written to [n - 16, n)
            blocks = -(-n // 16)
            values = np.empty(16 * blocks, dtype=np.float32)
            m32, s32 = np.float32(mean), np.float32(std)
            if _threaded(16 * blocks, avx2):
                self._fill(values.view(np.uint32))
                _transform(values.view(np.uint32), values, blocks, m32, s32, avx2)
            else:
                self._pos = _normal_blocks_f32(self._state, self._pos, values, blocks, m32, s32, avx2)
            bits = np.empty(16 * blocks, dtype=np.uint16)
            _cast_low(values, bits, flat.dtype == _BFLOAT16, np.uint32(0), np.uint32(0), False)
            full = 16 * (n // 16)
            out16 = flat.view(np.uint16)
            out16[:full] = bits[:full]
            if n % 16:
                out16[n - 16 :] = bits[16 * (blocks - 1) :]

    def _normal_scalar(self, flat: np.ndarray, mean: float, std: float) -> None:
        values = np.empty(flat.shape[0], dtype=np.float64)
        for i in range(values.shape[0]):
            if self._next_double_normal is not None:
                ret, self._next_double_normal = self._next_double_normal, None
            else:
                w = self._words(4)
                ret, self._next_double_normal = _box_muller_f64(w[0], w[1], w[2], w[3])
            values[i] = _affine_f64(ret, std, mean, self._fused)
        # static_cast<scalar_t>(double): to float32 first for float16/bfloat16 (their constructors take float)
        with np.errstate(over="ignore"):
            flat[...] = values if flat.dtype == np.float64 else values.astype(np.float32).astype(flat.dtype)

    # -- randperm

    def randperm(self, n: int) -> np.ndarray:
        """As ``torch.randperm(n)`` (int64) on CPU, consuming the same draws."""
        n = int(n)
        if n < 0:
            raise ValueError(f"randperm expects n >= 0, got {n}")
        perm, self._pos = _randperm(self._state, self._pos, n)
        return perm


def _flat(out: np.ndarray) -> np.ndarray:
    """``out`` as a 1-d view (C-contiguous float32, float64, float16 or bfloat16, written in place)."""
    if not isinstance(out, np.ndarray) or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable C-contiguous numpy array")
    if out.dtype not in (np.dtype(np.float32), np.dtype(np.float64)) and out.dtype not in _LOW_PRECISION:
        raise ValueError(f"out must be float32, float64, float16 or bfloat16, not {out.dtype}")
    return out.reshape(-1)
