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
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


_last_chunk = threading.local()


def fill_range(source: Source, start: int, stop: int, out: np.ndarray, count: int) -> None:
    """Flat elements [start, stop) of ``source``'s tensor of ``count`` elements into ``out`` (``stop - start``
    elements, the sampling dtype), whatever the chunks: a source that can make any range makes just it
    (``fill_range`` method: counter-based streams, whole tensors, fills, slices); a chunked one makes the
    chunks the range touches, keeping the last one made on this thread, so that consecutive rows of a slice
    cost each chunk once."""
    own = getattr(source, "fill_range", None)
    if own is not None:
        own(start, stop, out, count)
        return
    position = start
    while position < stop:
        chunk = position // CHUNK_ELEMENTS
        chunk_start, chunk_stop = chunk_bounds(chunk, count)
        cached = getattr(_last_chunk, "made", None)
        if cached is None or cached[0] is not source or cached[1] != chunk or cached[2].dtype != out.dtype:
            values = np.empty(chunk_stop - chunk_start, dtype=out.dtype)
            source.fill(chunk, values)
            _last_chunk.made = cached = (source, chunk, values)
        end = min(stop, chunk_stop)
        out[position - start : end - start] = cached[2][position - chunk_start : end - chunk_start]
        position = end


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

    def fill_range(self, start: int, stop: int, out: np.ndarray, count: int) -> None:
        out[...] = self.flat()[start:stop]

    def release(self) -> None:
        """Drop the computed tensor (it is computed again if a chunk is asked for after this)."""
        with self._lock:
            self._flat = None


def innermost(source: Source) -> Source:
    """The source that makes the values, under any fills and slice."""
    while isinstance(source, (FilledSource, SlicedSource)):
        source = source.inner
    return source


def with_innermost(source: Source, values: Source) -> Source:
    """``source`` with ``values`` in place of its innermost source, under the same fills and slice."""
    if isinstance(source, (FilledSource, SlicedSource)):
        return replace(source, inner=with_innermost(source.inner, values))
    return values


def release(source: Source) -> None:
    """Free the memory a source holds once its tensor has been sent (a ``WholeSource``'s matrix)."""
    source = innermost(source)
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
        self._overwrite(chunk * CHUNK_ELEMENTS, out)

    def fill_range(self, start: int, stop: int, out: np.ndarray, count: int) -> None:
        fill_range(self.inner, start, stop, out, count)
        self._overwrite(start, out)

    def _overwrite(self, start: int, out: np.ndarray) -> None:
        """Set the filled ranges' elements among flat elements [start, start + out.size)."""
        stop = start + out.size
        first = bisect.bisect_right(self.stops, start)  # the first range ending after ``start``
        last = bisect.bisect_left(self.starts, stop)  # the first range starting at or after ``stop``
        for i in range(first, last):
            out[max(self.starts[i], start) - start : min(self.stops[i], stop) - start] = self.values[i]


@dataclass(frozen=True)
class SlicedSource:
    """The sub-tensor ``full[b0[0]:b0[1], b1[0]:b1[1], ...]`` of ``inner``'s tensor of shape ``full_shape``,
    in C order: chunk ``k`` of the slice is made from the elements it covers, row by row (a row: a run of
    the last dimension, contiguous in the full tensor)."""

    inner: Source
    full_shape: tuple[int, ...]
    bounds: tuple[tuple[int, int], ...]

    def fill(self, chunk: int, out: np.ndarray) -> None:
        self.fill_range(chunk * CHUNK_ELEMENTS, chunk * CHUNK_ELEMENTS + out.size, out)

    def fill_range(self, start: int, stop: int, out: np.ndarray, count: int | None = None) -> None:
        """Served elements [start, stop) (``count``, the served tensor's size, is not needed)."""
        full_count = math.prod(self.full_shape)
        if not self.full_shape:  # a scalar: its one element
            fill_range(self.inner, 0, 1, out, 1)
            return
        row = self.bounds[-1][1] - self.bounds[-1][0]
        served_rows = tuple(b - a for a, b in self.bounds[:-1])
        first_row, last_row = start // row, (stop - 1) // row
        rows = np.arange(first_row, last_row + 1)
        coords = np.unravel_index(rows, served_rows) if served_rows else ()
        full_rows = (
            np.ravel_multi_index(
                tuple(c + a for c, (a, _) in zip(coords, self.bounds[:-1], strict=True)), self.full_shape[:-1]
            )
            if served_rows
            else np.zeros(1, dtype=np.int64)
        )
        bases = full_rows * self.full_shape[-1] + self.bounds[-1][0]
        # row r covers served elements [r * row, (r + 1) * row): its part within [start, stop)
        lows = np.maximum(start, rows * row)
        highs = np.minimum(stop, (rows + 1) * row)
        starts = bases + lows - rows * row
        lengths = highs - lows
        segments = getattr(self.inner, "fill_segments", None)
        if segments is not None:
            segments(starts, lengths, out)
            return
        offset = 0
        for begin, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            fill_range(self.inner, begin, begin + length, out[offset : offset + length], full_count)
            offset += length
