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
from numba import njit

__all__ = ["M0", "M1", "W0", "W1", "philox4x32", "philox4x32_words"]

M0 = 0xD2511F53
M1 = 0xCD9E8D57
W0 = 0x9E3779B9
W1 = 0xBB67AE85

_MASK = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(M0)
_M1 = np.uint64(M1)
_W0 = np.uint64(W0)
_W1 = np.uint64(W1)
_S32 = np.uint64(32)


@njit(cache=True, inline="always")
def _round(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    p0 = _M0 * c0
    p1 = _M1 * c2
    return (
        (p1 >> _S32) ^ c1 ^ k0,
        p1 & _MASK,
        (p0 >> _S32) ^ c3 ^ k1,
        p0 & _MASK,
    )


@njit(cache=True, inline="always")
def philox4x32(
    k0: np.uint64, k1: np.uint64, c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Philox4x32-10 of the counter ``(c0, c1, c2, c3)`` under the key ``(k0, k1)`` (each a value below
    ``2^32``): the four output words, each below ``2^32``."""
    k0 = k0 & _MASK
    k1 = k1 & _MASK
    c0, c1, c2, c3 = _round(c0 & _MASK, c1 & _MASK, c2 & _MASK, c3 & _MASK, k0, k1)
    for _ in range(9):
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
        c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@njit(cache=True)
def philox4x32_words(k0: int, k1: int, c0: int, c1: int, c2: int, c3: int) -> tuple[int, int, int, int]:
    """:func:`philox4x32` callable from Python (tests, documentation examples)."""
    y0, y1, y2, y3 = philox4x32(
        np.uint64(k0), np.uint64(k1), np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    )
    return int(y0), int(y1), int(y2), int(y3)
