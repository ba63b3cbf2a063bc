"""Chunked, parallel generation of a planned tensor, with its statistics.

Work is split into blocks of whole chunks; a block is filled on one thread of
a pool (NumPy releases the GIL while sampling), and its chunk statistics are
computed right after each chunk is made, while it is still in cache. Bytes
never depend on the thread count or the block size: a chunk's values depend
only on the seed and the chunk's index (see ``service.core.sources``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from service.core.plan import TensorPlan
from service.core.sources import CHUNK_ELEMENTS, chunk_bounds, chunk_count
from service.core.stats import ChunkSums, Comparison, Empirical, chunk_sums, compare

#: Chunks per block: the unit of work handed to a thread (1 Mi elements).
BLOCK_CHUNKS = 16

_local = threading.local()


def _work_space(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """This thread's reusable buffers: float64 ``(2, CHUNK_ELEMENTS)`` for the statistics and one chunk
    of ``dtype`` to sample into before a cast. They live as long as the thread (1.25 MiB with float32):
    per-chunk temporaries of this size are handed back to the OS by glibc and page-faulted in again."""
    space = getattr(_local, "space", None)
    if space is None or space[1].dtype != dtype:
        stats = space[0] if space is not None else np.empty((2, CHUNK_ELEMENTS))
        space = _local.space = (stats, np.empty(CHUNK_ELEMENTS, dtype=dtype))
    return space


@dataclass(frozen=True)
class Block:
    """Elements [start, stop) of the flat tensor, in the output dtype, and their chunk sums."""

    start: int
    stop: int
    values: np.ndarray
    sums: tuple[ChunkSums, ...]


@dataclass(frozen=True)
class Generated:
    """A whole tensor and its statistics."""

    array: np.ndarray
    empirical: Empirical
    comparison: Comparison


class Cancelled(Exception):
    """The block's consumer went away (``cancel`` was set): the rest of the block was not made."""


def fill_block(
    plan: TensorPlan,
    first_chunk: int,
    stop_chunk: int,
    with_stats: bool = True,
    flat: np.ndarray | None = None,
    cancel: threading.Event | None = None,
) -> Block:
    """Make chunks [first_chunk, stop_chunk) of ``plan`` on the calling thread.

    The values are written into ``flat`` (the whole flat tensor) when it is
    given, else into a new array of the block's size. ``cancel`` is checked
    before each chunk: once it is set, the block stops within one chunk and
    raises ``Cancelled``.
    """
    start, _ = chunk_bounds(first_chunk, plan.count)
    _, stop = chunk_bounds(stop_chunk - 1, plan.count)
    values = np.empty(stop - start, dtype=plan.numpy_dtype) if flat is None else flat[start:stop]
    stats_space, sampled_space = _work_space(plan.sampling_dtype)
    scratch = sampled_space if plan.numpy_dtype != plan.sampling_dtype else None
    sums = []
    for chunk in range(first_chunk, stop_chunk):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        lo, hi = chunk_bounds(chunk, plan.count)
        out = values[lo - start : hi - start]
        if scratch is None:
            plan.source.fill(chunk, out)
        else:
            sampled = scratch[: hi - lo]
            plan.source.fill(chunk, sampled)
            out[...] = sampled  # round to nearest even
        if with_stats:
            sums.append(chunk_sums(out, plan.moments.mean, plan.sum_scale, stats_space))
    return Block(start, stop, values, tuple(sums))


def block_ranges(count: int) -> list[tuple[int, int]]:
    """The [first_chunk, stop_chunk) ranges of the blocks of a tensor of ``count`` elements."""
    total = chunk_count(count)
    return [(first, min(first + BLOCK_CHUNKS, total)) for first in range(0, total, BLOCK_CHUNKS)]


def statistics(plan: TensorPlan, sums: Iterable[ChunkSums]) -> tuple[Empirical, Comparison]:
    """The tensor's empirical statistics from all its chunk sums, in chunk order."""
    empirical = Empirical.merge(sums, plan.moments.mean, plan.sum_scale)
    return empirical, compare(plan.moments, empirical)


def assemble(plan: TensorPlan, flat: np.ndarray, blocks: list[Block]) -> Generated:
    """The shaped tensor and its statistics, from its flat values and all its blocks in order."""
    empirical, comparison = statistics(plan, (s for block in blocks for s in block.sums))
    return Generated(flat.reshape(plan.shape), empirical, comparison)


class Engine:
    """Generates planned tensors on a pool of ``threads`` threads (1: on the caller's thread).

    ``on_block``, when given, is called (on the thread that made it) after every block made through
    ``submit``: the service counts them in its metrics.
    """

    def __init__(self, threads: int | None = None, on_block: Callable[[], None] | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="initserve") if self.threads > 1 else None
        self._on_block = on_block

    def _fill(
        self,
        plan: TensorPlan,
        first_chunk: int,
        stop_chunk: int,
        with_stats: bool,
        flat: np.ndarray | None,
        cancel: threading.Event | None,
    ) -> Block:
        block = fill_block(plan, first_chunk, stop_chunk, with_stats, flat, cancel)
        if self._on_block is not None:
            self._on_block()
        return block

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self,
        plan: TensorPlan,
        first_chunk: int,
        stop_chunk: int,
        with_stats: bool = True,
        flat: np.ndarray | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[Block]:
        """Schedule one block (see ``fill_block``); with one thread it is made before this returns."""
        if self._pool is None:
            future: Future[Block] = Future()
            try:
                future.set_result(self._fill(plan, first_chunk, stop_chunk, with_stats, flat, cancel))
            except Exception as exc:  # delivered through the future, as the pool would
                future.set_exception(exc)
            return future
        return self._pool.submit(self._fill, plan, first_chunk, stop_chunk, with_stats, flat, cancel)

    def generate(self, plan: TensorPlan) -> Generated:
        """The whole tensor, shaped, with its empirical statistics."""
        flat = np.empty(plan.count, dtype=plan.numpy_dtype)
        futures = [self.submit(plan, first, stop, flat=flat) for first, stop in block_ranges(plan.count)]
        return assemble(plan, flat, [future.result() for future in futures])

    def generate_range(self, plan: TensorPlan, start: int, stop: int) -> np.ndarray:
        """Elements [start, stop) of the flat tensor, equal to the same slice of the whole."""
        if not 0 <= start <= stop <= plan.count:
            raise ValueError(f"range [{start}, {stop}) is outside the tensor's {plan.count} elements")
        if start == stop:
            return np.empty(0, dtype=plan.numpy_dtype)
        first, last = start // CHUNK_ELEMENTS, (stop - 1) // CHUNK_ELEMENTS + 1
        futures = [
            self.submit(plan, c, min(c + BLOCK_CHUNKS, last), with_stats=False)
            for c in range(first, last, BLOCK_CHUNKS)
        ]
        values = np.concatenate([f.result().values for f in futures])
        offset = first * CHUNK_ELEMENTS
        return values[start - offset : stop - offset]
