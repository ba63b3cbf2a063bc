"""Threefry-2x32 (20 rounds) as JAX 0.10's ``threefry2x32`` primitive computes it, for numba kernels.

Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11), Threefry-2x32-20, as JAX writes it
in ``jax/_src/random/threefry2x32.py`` (``_threefry2x32_lowering``): key words ``k0, k1``, a third key word
``k2 = k0 ^ k1 ^ 0x1BD11BDA``, counter words ``x0, x1``::

    x0 += k0; x1 += k1
    for i in 0..4:                       # five groups of four rounds
        for r in R[i % 2]:               # R[0] = (13, 15, 26, 6), R[1] = (17, 29, 16, 24)
            x0 += x1; x1 = rotl32(x1, r); x1 ^= x0
        x0 += k[(i + 1) % 3]; x1 += k[(i + 2) % 3] + (i + 1)

all modulo 2^32. Integer arithmetic only, so the words are identical on every machine.

How JAX 0.10.2 uses it with ``jax_threefry_partitionable`` on (its default, ``jax/_src/config.py``):

* random bits (``_threefry_random_bits_partitionable``): flat element ``i`` of the output takes the
  hash of the counter ``(hi32(i), lo32(i))`` (``prng.iota_2x32_shape``); 32-bit bits are ``y0 ^ y1``,
  8- and 16-bit bits are the low 8 or 16 bits of ``y0 ^ y1``, 64-bit bits are ``y0 << 32 | y1``;
* ``split(key, n)`` (``_threefry_split_foldlike``): key ``j`` is ``(y0, y1)`` of the counter ``(0, j)``;
* ``fold_in(key, d)`` (``_threefry_fold_in``: ``threefry_2x32(key, threefry_seed(d))``): ``(y0, y1)``
  of the counter ``(0, d)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["bits32", "bits32_fill", "hash_pair", "threefry2x32"]

_C240 = 0x1BD11BDA


@njit(cache=True, inline="always")
def _rotl(x: np.uint32, r: int) -> np.uint32:
    return np.uint32((x << np.uint32(r)) | (x >> np.uint32(32 - r)))


@njit(cache=True, inline="always")
def _rounds(x0: np.uint32, x1: np.uint32, r0: int, r1: int, r2: int, r3: int) -> tuple[np.uint32, np.uint32]:
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl(x1, r0) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl(x1, r1) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl(x1, r2) ^ x0)
    x0 = np.uint32(x0 + x1)
    x1 = np.uint32(_rotl(x1, r3) ^ x0)
    return x0, x1


@njit(cache=True, inline="always")
def threefry2x32(k0: np.uint32, k1: np.uint32, x0: np.uint32, x1: np.uint32) -> tuple[np.uint32, np.uint32]:
    """Threefry-2x32-20 of the counter ``(x0, x1)`` under the key ``(k0, k1)``: the two output words."""
    k2 = np.uint32(k0 ^ k1 ^ np.uint32(_C240))
    x0 = np.uint32(x0 + k0)
    x1 = np.uint32(x1 + k1)
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k1)
    x1 = np.uint32(x1 + k2 + np.uint32(1))
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = np.uint32(x0 + k2)
    x1 = np.uint32(x1 + k0 + np.uint32(2))
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k0)
    x1 = np.uint32(x1 + k1 + np.uint32(3))
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = np.uint32(x0 + k1)
    x1 = np.uint32(x1 + k2 + np.uint32(4))
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = np.uint32(x0 + k2)
    x1 = np.uint32(x1 + k0 + np.uint32(5))
    return x0, x1


@njit(cache=True, inline="always")
def bits32(k0: np.uint32, k1: np.uint32, i: np.uint64) -> np.uint32:
    """JAX's 32 random bits of flat element ``i`` (partitionable threefry): ``y0 ^ y1`` of ``(hi32(i), lo32(i))``."""
    y0, y1 = threefry2x32(k0, k1, np.uint32(i >> np.uint64(32)), np.uint32(i & np.uint64(0xFFFFFFFF)))
    return np.uint32(y0 ^ y1)


@njit(cache=True, parallel=True)
def bits32_fill(k0: np.uint32, k1: np.uint32, start: int, out: np.ndarray) -> None:
    """``out[j] = bits32(k0, k1, start + j)``: elements ``[start, start + len(out))`` of ``jax.random.bits``."""
    for j in prange(out.shape[0]):
        out[j] = bits32(k0, k1, np.uint64(start + j))


@njit(cache=True)
def hash_pair(k0: np.uint32, k1: np.uint32, x0: np.uint32, x1: np.uint32) -> tuple[np.uint32, np.uint32]:
    """:func:`threefry2x32` callable from Python (``split`` and ``fold_in``)."""
    return threefry2x32(k0, k1, x0, x1)
