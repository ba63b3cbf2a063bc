"""Where a tensor's values come from, chunk by chunk: the stream definition.

The flat (C-order) tensor is cut into chunks of ``CHUNK_ELEMENTS`` elements.
Chunk ``k`` of a random tensor is sampled from its own generator,
``PCG64(SeedSequence(seed, spawn_key=(0, k)))``, so any chunk can be made
without the others, on any thread, in any order, with the same bytes.
Shape-aware schemes draw extra randomness (a sparsity mask) from
``spawn_key=(1, j)``. Changing any of this changes the stream: bump
``STREAM_VERSION``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from service.core.distributions import Distribution

STREAM_VERSION: Final[str] = "1"
CHUNK_ELEMENTS: Final[int] = 1 << 16


def chunk_generator(seed: int, chunk: int) -> np.random.Generator:
    """The generator of chunk ``chunk``: PCG64 seeded by ``SeedSequence(seed, spawn_key=(0, chunk))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0, chunk))))


def auxiliary_generator(seed: int, stream: int) -> np.random.Generator:
    """A generator for randomness that is not per element (e.g. a sparsity mask)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, stream))))


def chunk_bounds(chunk: int, count: int) -> tuple[int, int]:
    """The flat element range [start, stop) of chunk ``chunk`` in a tensor of ``count`` elements."""
    start = chunk * CHUNK_ELEMENTS
    return start, min(start + CHUNK_ELEMENTS, count)


def chunk_count(count: int) -> int:
    return -(-count // CHUNK_ELEMENTS)


class Source(Protocol):
    """Fills chunk ``chunk`` (``out``: its elements, in the sampling dtype)."""

    def fill(self, chunk: int, out: np.ndarray) -> None: ...


@dataclass(frozen=True)
class RandomSource:
    """Independent draws of ``distribution``, one generator per chunk."""

    distribution: Distribution
    seed: int

    def fill(self, chunk: int, out: np.ndarray) -> None:
        self.distribution.sample(chunk_generator(self.seed, chunk), out)


@dataclass(frozen=True)
class ConstantSource:
    value: float

    def fill(self, chunk: int, out: np.ndarray) -> None:
        out.fill(self.value)


@dataclass(frozen=True)
class PointsSource:
    """Zeros except ``value`` at the sorted flat indices ``points`` (identity, dirac)."""

    points: np.ndarray
    value: float

    def fill(self, chunk: int, out: np.ndarray) -> None:
        start = chunk * CHUNK_ELEMENTS
        out.fill(0)
        lo, hi = np.searchsorted(self.points, [start, start + out.size])
        out[self.points[lo:hi] - start] = self.value


@dataclass
class WholeSource:
    """A tensor that can only be computed whole (orthogonal, sparse, a sequential stream's): made once, on
    first use. ``peak_bytes``: the memory its computation holds at its peak, per element (orthogonal: about
    five float64 copies; a sequential stream: the tensor, its 32-bit draws and a float64 copy)."""

    compute: Callable[[], np.ndarray]
    peak_bytes: int = 5 * 8
    _flat: np.ndarray | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def flat(self) -> np.ndarray:
        with self._lock:
            if self._flat is None:
                self._flat = np.ascontiguousarray(self.compute()).reshape(-1)
            return self._flat

    def fill(self, chunk: int, out: np.ndarray) -> None:
        start = chunk * CHUNK_ELEMENTS
        out[...] = self.flat()[start : start + out.size]

    def release(self) -> None:
        """Drop the computed tensor (it is computed again if a chunk is asked for after this)."""
        with self._lock:
            self._flat = None


def release(source: Source) -> None:
    """Free the memory a source holds once its tensor has been sent (a ``WholeSource``'s matrix)."""
    while isinstance(source, FilledSource):
        source = source.inner
    if isinstance(source, WholeSource):
        source.release()


@dataclass(frozen=True)
class FilledSource:
    """``inner``'s values, then flat elements [starts[i], stops[i]) set to ``values[i]``.

    The ranges are sorted and disjoint; each chunk overwrites only the part of
    each range that falls inside it, so any chunk is still made on its own.
    """

    inner: Source
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    values: tuple[float, ...]

    def fill(self, chunk: int, out: np.ndarray) -> None:
        self.inner.fill(chunk, out)
        start = chunk * CHUNK_ELEMENTS
        stop = start + out.size
        first = bisect.bisect_right(self.stops, start)  # the first range ending after this chunk starts
        last = bisect.bisect_left(self.starts, stop)  # the first range starting at or after its end
        for i in range(first, last):
            out[max(self.starts[i], start) - start : min(self.stops[i], stop) - start] = self.values[i]
