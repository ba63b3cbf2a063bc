"""MT19937 as PyTorch's CPU generator runs it (``aten/src/ATen/core/MT19937RNGEngine.h``), for numba kernels.

The state is 624 ``uint32`` words and a position ``pos`` in ``[0, 624]``: the next draw is
``temper(state[pos])``, and ``pos == 624`` means the 624 words must be twisted first (PyTorch's
``left_ == 1``). Seeding is Matsumoto and Nishimura's ``init_genrand`` on ``seed mod 2^32``
(``mt19937_engine::init_with_uint32``: ``state[0] = seed & 0xffffffff``,
``state[j] = 1812433253 * (state[j-1] ^ (state[j-1] >> 30)) + j`` mod 2^32), with ``pos = 624``
(the first draw twists). A draw is the standard tempering:
``y ^= y >> 11; y ^= (y << 7) & 0x9d2c5680; y ^= (y << 15) & 0xefc60000; y ^= y >> 18``.

Kernels that consume draws loop in runs of ``min(624 - pos, remaining)`` without a branch per draw
(see :func:`fill_u32`); every operation is on integers, so the draws are identical on every machine.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit

N: Final[int] = 624
M: Final[int] = 397
MATRIX_A: Final[int] = 0x9908B0DF
UPPER_MASK: Final[int] = 0x80000000
LOWER_MASK: Final[int] = 0x7FFFFFFF


@njit(cache=True)
def init_state(seed: int) -> np.ndarray:
    """The 624 words of ``init_genrand(seed mod 2^32)`` (``uint32``); the position to pair them with is 624."""
    state = np.empty(N, dtype=np.uint32)
    s = np.uint64(seed & 0xFFFFFFFF)
    state[0] = np.uint32(s)
    for j in range(1, N):
        s = (np.uint64(1812433253) * (s ^ (s >> np.uint64(30))) + np.uint64(j)) & np.uint64(0xFFFFFFFF)
        state[j] = np.uint32(s)
    return state


@njit(cache=True, inline="always")
def _mix(u: np.uint64, v: np.uint64) -> np.uint64:
    y = (u & np.uint64(UPPER_MASK)) | (v & np.uint64(LOWER_MASK))
    return (y >> np.uint64(1)) ^ (np.uint64(MATRIX_A) * (v & np.uint64(1)))


@njit(cache=True)
def twist(state: np.ndarray) -> None:
    """Regenerate the 624 words in place (``mt19937_engine::next_state``: ``mix_bits`` and ``twist``)."""
    for k in range(N - M):
        state[k] = np.uint32(np.uint64(state[k + M]) ^ _mix(np.uint64(state[k]), np.uint64(state[k + 1])))
    for k in range(N - M, N - 1):
        state[k] = np.uint32(np.uint64(state[k + M - N]) ^ _mix(np.uint64(state[k]), np.uint64(state[k + 1])))
    state[N - 1] = np.uint32(np.uint64(state[M - 1]) ^ _mix(np.uint64(state[N - 1]), np.uint64(state[0])))


@njit(cache=True, inline="always")
def temper(word: np.uint32) -> np.uint64:
    """One draw from a state word: MT19937's tempering, as a ``uint64`` holding 32 bits."""
    y = np.uint64(word)
    y ^= y >> np.uint64(11)
    y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
    y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
    y ^= y >> np.uint64(18)
    return y


@njit(cache=True)
def fill_u32(state: np.ndarray, pos: int, out: np.ndarray) -> int:
    """Fill ``out`` (``uint32``) with the next ``len(out)`` draws; return the new position."""
    n = out.shape[0]
    i = 0
    while i < n:
        if pos == N:
            twist(state)
            pos = 0
        m = min(N - pos, n - i)
        for k in range(m):
            out[i + k] = np.uint32(temper(state[pos + k]))
        i += m
        pos += m
    return pos


@njit(cache=True)
def skip(state: np.ndarray, pos: int, count: int) -> int:
    """Advance past ``count`` draws without tempering them; return the new position."""
    while count > 0:
        if pos == N:
            twist(state)
            pos = 0
        m = min(N - pos, count)
        pos += m
        count -= m
    return pos
