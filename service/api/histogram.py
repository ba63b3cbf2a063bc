"""The statistics pass of ``POST /v1/tensors/stats``, with the optional histogram.

The tensor is made block by block and never held whole: each block's chunk sums come from the engine, and
each block is counted into the histogram's bins (``service.core.stats.HistogramBins``) on a worker thread
while the next blocks are being made. With an explicit range one pass does both. Without one the bins
span the tensor's [min, max], known only at the end, so a second pass makes the tensor again (the same
bytes: it is a pure function of the request) and counts it.
"""

from __future__ import annotations

from typing import Any

import anyio
import numpy as np

from service.api.runtime import Runtime
from service.api.schemas import HistogramOptions
from service.core import Comparison, Empirical, TensorPlan
from service.core.engine import statistics
from service.core.stats import ChunkSums, HistogramBins, histogram_bins


async def _count(runtime: Runtime, plan: TensorPlan, ahead: int, bins: HistogramBins) -> np.ndarray:
    counts = np.zeros(bins.bins, dtype=np.int64)
    async for _, block in runtime.blocks([plan], ahead, with_stats=False):
        counts += await anyio.to_thread.run_sync(bins.counts, block.values)
    return counts


async def measure(
    runtime: Runtime, plan: TensorPlan, ahead: int, options: HistogramOptions | None
) -> tuple[Empirical, Comparison, dict[str, Any] | None]:
    """The served tensor's statistics and, when ``options`` asks for it, its histogram as answered
    (``{"edges": [...], "counts": [...]}``). Raises ``ParameterError`` naming ``histogram.*`` for bins the
    tensor's dtype cannot hold, before anything is made when the range is given."""
    given = None if options is None or options.range is None else (options.range[0], options.range[1])
    bins = None
    if options is not None and given is not None:
        bins = histogram_bins(options.bins, given, plan.numpy_dtype, 0.0, 0.0)
    sums: list[ChunkSums] = []
    counts = None if bins is None else np.zeros(bins.bins, dtype=np.int64)
    async for _, block in runtime.blocks([plan], ahead):
        sums.extend(block.sums)
        if bins is not None and counts is not None:
            counts += await anyio.to_thread.run_sync(bins.counts, block.values)
    empirical, comparison = statistics(plan, sums)
    if options is None:
        return empirical, comparison, None
    if bins is None:
        bins = histogram_bins(options.bins, None, plan.numpy_dtype, empirical.min, empirical.max)
        counts = await _count(runtime, plan, ahead, bins)
    assert counts is not None
    histogram = {"edges": bins.edges().astype(np.float64).tolist(), "counts": counts.tolist()}
    return empirical, comparison, histogram
