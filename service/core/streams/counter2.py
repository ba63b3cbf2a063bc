"""The ``initserve-2`` stream's tensors: each element from initserve's own counter-based samplers.

Element ``i`` is a pure function of (seed, ``i``, the distribution's parameters): Philox4x32-10 and
IEEE arithmetic only (``service.core.streams.initserve2``, ``docs/initserve-2.md``), so any chunk or
slice is made on its own, on any thread, with the same bits on every machine. The distribution and its
parameters are the ones the scheme plans for ``initserve-1`` (``service.core.schemes``); deterministic
schemes are the same in every stream. Schemes computed whole (orthogonal's QR, sparse's mask, Keras' STFT)
keep ``initserve-1``'s algorithm: they are not element-addressable by nature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core.distributions import Distribution, Normal, TruncatedNormal, Uniform
from service.core.errors import ParameterError
from service.core.sources import CHUNK_ELEMENTS, RandomSource, Source
from service.core.streams import initserve2


@dataclass(frozen=True)
class PhiloxSource:
    """``distribution``'s values for ``seed``, element by element (float32 or float64: the sampling dtype)."""

    distribution: Distribution
    seed: int

    def fill(self, chunk: int, out: np.ndarray) -> None:
        self.fill_range(chunk * CHUNK_ELEMENTS, chunk * CHUNK_ELEMENTS + out.size, out)

    def fill_range(self, start: int, stop: int, out: np.ndarray, count: int | None = None) -> None:
        d = self.distribution
        if isinstance(d, Uniform) and not d.low < d.high:  # a gain of 0: U(0, 0)
            out.fill(d.low)
        elif isinstance(d, Uniform):
            initserve2.uniform(self.seed, d.low, d.high, start, stop, out)
        elif isinstance(d, Normal):
            initserve2.normal(self.seed, d.mean, d.std, start, stop, out)
        elif isinstance(d, TruncatedNormal):
            initserve2.truncated_normal(self.seed, d.mean, d.std, d.low, d.high, start, stop, out)
        else:  # a constant: no randomness
            d.sample(None, out)  # type: ignore[arg-type]

    def fill_segments(self, starts: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> None:
        """The ranges ``[starts[s], starts[s] + lengths[s])`` one after another in ``out`` (a slice's rows)."""
        d = self.distribution
        if isinstance(d, Normal):
            initserve2.normal_segments(self.seed, d.mean, d.std, starts, lengths, out)
            return
        offset = 0
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            self.fill_range(start, start + length, out[offset : offset + length])
            offset += length


def tensor_source(planned: Source, sampling_dtype: np.dtype) -> Source:
    """The ``initserve-2`` source of a tensor whose ``initserve-1`` source is ``planned``; parameters the
    samplers refuse (e.g. bounds that collapse in float32) are a ``ParameterError`` on ``init``, before any
    work."""
    if not isinstance(planned, RandomSource):
        return planned
    source = PhiloxSource(planned.distribution, planned.seed)
    try:
        source.fill_range(0, 1, np.empty(1, dtype=sampling_dtype))
    except ValueError as exc:
        raise ParameterError(f"the initserve-2 stream cannot draw these parameters: {exc}", "init") from exc
    return source
