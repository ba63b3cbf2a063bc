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
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["bits32", "bits32_fill", "hash_pair", "threefry2x32"]

_C240 = 0x1BD11BDA


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _emit_threefry(builder: ir.IRBuilder, k0: ir.Value, k1: ir.Value, x0: ir.Value, x1: ir.Value) -> tuple:
    """The LLVM IR of Threefry-2x32-20 (the rounds above) on four ``i32`` values: the two output words."""
    i32 = ir.IntType(32)
    keys = (k0, k1, builder.xor(builder.xor(k0, k1), ir.Constant(i32, _C240)))
    x0 = builder.add(x0, k0)
    x1 = builder.add(x1, k1)
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = builder.add(x0, x1)
            rotated = builder.or_(builder.shl(x1, ir.Constant(i32, r)), builder.lshr(x1, ir.Constant(i32, 32 - r)))
            x1 = builder.xor(rotated, x0)
        x0 = builder.add(x0, keys[(i + 1) % 3])
        x1 = builder.add(builder.add(x1, keys[(i + 2) % 3]), ir.Constant(i32, i + 1))
    return x0, x1


def _uint32_words(*words: types.Type) -> bool:
    return all(w == types.uint32 for w in words)


@intrinsic
def threefry2x32(typingctx, k0, k1, x0, x1):  # type: ignore[no-untyped-def]
    """Threefry-2x32-20 of the counter ``(x0, x1)`` under the key ``(k0, k1)`` (four ``uint32``): the two
    output words. Emitted as LLVM IR in the calling kernel (numba types one call, not 26 nested ones)."""
    if not _uint32_words(k0, k1, x0, x1):
        return None
    pair = types.UniTuple(types.uint32, 2)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return context.make_tuple(builder, pair, _emit_threefry(builder, *args))

    return pair(k0, k1, x0, x1), codegen


@intrinsic
def bits32(typingctx, k0, k1, i):  # type: ignore[no-untyped-def]
    """JAX's 32 random bits of flat element ``i`` (a ``uint64``; partitionable threefry): ``y0 ^ y1`` of the
    counter ``(hi32(i), lo32(i))``."""
    if not (_uint32_words(k0, k1) and i == types.uint64):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        k0, k1, i = args
        i32 = ir.IntType(32)
        hi = builder.trunc(builder.lshr(i, ir.Constant(ir.IntType(64), 32)), i32)
        y0, y1 = _emit_threefry(builder, k0, k1, hi, builder.trunc(i, i32))
        return builder.xor(y0, y1)

    return types.uint32(k0, k1, i), codegen


@njit(cache=True, nogil=True)
def bits32_fill(k0: np.uint32, k1: np.uint32, start: int, out: np.ndarray) -> None:
    """``out[j] = bits32(k0, k1, start + j)``: elements ``[start, start + len(out))`` of ``jax.random.bits``."""
    for j in range(out.shape[0]):
        out[j] = bits32(k0, k1, np.uint64(start + j))


@njit(cache=True)
def hash_pair(k0: np.uint32, k1: np.uint32, x0: np.uint32, x1: np.uint32) -> tuple[np.uint32, np.uint32]:
    """:func:`threefry2x32` callable from Python (``split`` and ``fold_in``)."""
    return threefry2x32(k0, k1, x0, x1)
