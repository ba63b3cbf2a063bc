"""Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11), for numba.

A counter-based generator: the four 32-bit output words are a bijective hash of a 128-bit counter
``(c0, c1, c2, c3)`` under a 64-bit key ``(k0, k1)``; integer arithmetic only, so the words are the same on
every machine. As in Random123 (``philox.h``), with ``M0 = 0xD2511F53``, ``M1 = 0xCD9E8D57``,
``W0 = 0x9E3779B9``, ``W1 = 0xBB67AE85`` and all arithmetic modulo ``2^32``::

    round(c, k):  hi0:lo0 = M0 * c0   (the 64-bit product's high and low words)
                  hi1:lo1 = M1 * c2
                  c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    philox4x32_10(c, k): c = round(c, k); repeat 9 times { k = (k0 + W0, k1 + W1); c = round(c, k) }

Known answers (Random123 ``kat_vectors``), checked in the tests: counter 0 and key 0 give
``6627e8d5 e169c58d bc57ac4c 9b00dbd8``; counter ``ffffffff`` x 4 and key ``ffffffff ffffffff`` give
``408f276d 41c83b0e a20bc7c6 6d5451fd``; counter ``243f6a88 85a308d3 13198a2e 03707344`` and key
``a4093822 299f31d0`` give ``d16cfe09 94fdcceb 5001e420 24126ea1``.

The words are held in ``uint64`` values below ``2^32`` (numba widens small integers anyway), so that LLVM
sees the 32 x 32 -> 64-bit products it vectorizes (``vpmuludq``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["M0", "M1", "W0", "W1", "philox4x32", "philox4x32_words"]

M0 = 0xD2511F53
M1 = 0xCD9E8D57
W0 = 0x9E3779B9
W1 = 0xBB67AE85


def _emit_philox(builder: ir.IRBuilder, words: list[ir.Value]) -> list[ir.Value]:
    """The LLVM IR of Philox4x32-10 (the rounds above) on ``k0, k1, c0, c1, c2, c3`` as ``i64`` values (each
    masked to 32 bits first): the four output words."""
    i64 = ir.IntType(64)
    mask = ir.Constant(i64, 0xFFFFFFFF)
    k0, k1, c0, c1, c2, c3 = (builder.and_(w, mask) for w in words)
    for r in range(10):
        if r:
            k0 = builder.and_(builder.add(k0, ir.Constant(i64, W0)), mask)
            k1 = builder.and_(builder.add(k1, ir.Constant(i64, W1)), mask)
        p0 = builder.mul(ir.Constant(i64, M0), c0)
        p1 = builder.mul(ir.Constant(i64, M1), c2)
        c0, c1, c2, c3 = (
            builder.xor(builder.xor(builder.lshr(p1, ir.Constant(i64, 32)), c1), k0),
            builder.and_(p1, mask),
            builder.xor(builder.xor(builder.lshr(p0, ir.Constant(i64, 32)), c3), k1),
            builder.and_(p0, mask),
        )
    return [c0, c1, c2, c3]


@intrinsic
def philox4x32(typingctx, k0, k1, c0, c1, c2, c3):  # type: ignore[no-untyped-def]
    """Philox4x32-10 of the counter ``(c0, c1, c2, c3)`` under the key ``(k0, k1)`` (six ``uint64``, each a
    value below ``2^32``): the four output words, each below ``2^32``. Emitted as LLVM IR in the calling kernel
    (numba types one call, not an inlined function with a loop of inlined rounds)."""
    if not all(w == types.uint64 for w in (k0, k1, c0, c1, c2, c3)):
        return None
    quad = types.UniTuple(types.uint64, 4)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return context.make_tuple(builder, quad, _emit_philox(builder, list(args)))

    return quad(k0, k1, c0, c1, c2, c3), codegen


@njit(cache=True)
def philox4x32_words(k0: int, k1: int, c0: int, c1: int, c2: int, c3: int) -> tuple[int, int, int, int]:
    """:func:`philox4x32` callable from Python (tests, documentation examples)."""
    y0, y1, y2, y3 = philox4x32(
        np.uint64(k0), np.uint64(k1), np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    )
    return int(y0), int(y1), int(y2), int(y3)
