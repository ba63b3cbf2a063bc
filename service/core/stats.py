"""Empirical statistics of a generated tensor, accumulated chunk by chunk.

Each chunk contributes its count, min, max and the power sums
``S_p = sum(((x - c) / s)^p)``, p = 1..4, in float64 about a common shift ``c``
(the theoretical mean) and scale ``s`` (a power of two, 1 unless the values are
extreme). Merging chunks is then plain addition (Chan, Golub &
LeVeque 1979, with a shared origin), done in chunk order so the result is
independent of scheduling; shifting by a value close to the mean keeps the
conversion to central moments well conditioned.

``variance`` is the population variance (divide by n). ``variance_z`` is
``(variance - theoretical) / se`` with ``se = sqrt((m4 - m2^2) / n)``, the
asymptotic standard error of the sample variance estimated from the sample's
fourth central moment ``m4``.

``HistogramBins`` counts a tensor into equal bins chunk by chunk with
``numpy.histogram``'s semantics (each element is placed on its own, so the
chunks' counts add up to the whole tensor's exactly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from service.core.distributions import Moments
from service.core.errors import ParameterError


@dataclass(frozen=True)
class ChunkSums:
    """Sufficient statistics of one chunk: power sums of ``(x - shift) / scale``."""

    count: int
    s1: float
    s2: float
    s3: float
    s4: float
    minimum: float
    maximum: float


def sum_scale(std: float) -> float:
    """The power of two the sums are divided by: 1 for ordinary magnitudes, else about ``std``.

    Dividing by a power of two is exact, and keeps ``(x - c)^4`` summed over
    2^28 elements inside float64's range for any value the planner admits.
    """
    if std == 0.0 or 1e-30 <= std <= 1e30:
        return 1.0
    return math.ldexp(1.0, math.frexp(std)[1])


def chunk_sums(values: np.ndarray, shift: float, scale: float = 1.0, scratch: np.ndarray | None = None) -> ChunkSums:
    """Power sums of ``(values - shift) / scale`` in float64, and the extremes of ``values``.

    Element-wise products and NumPy's pairwise sums only (no BLAS dot, whose
    rounding depends on the BLAS thread count), so the result is reproducible.
    ``scratch``, float64 of shape ``(2, >= values.size)``, is work space reused
    from chunk to chunk (no per-chunk temporaries); the sums do not depend on it.
    """
    n = values.size
    if scratch is None:
        scratch = np.empty((2, n))
    d, d2 = scratch[0, :n], scratch[1, :n]
    np.copyto(d, values, casting="unsafe")  # values.astype(np.float64), into the work space: exact
    # The extremes from the exact float64 copy: NumPy compares float16 and bfloat16 in software (~5 ns an
    # element for each of min and max), which made a half-precision chunk's statistics 6x a float32 one's.
    minimum, maximum = float(np.minimum.reduce(d)), float(np.maximum.reduce(d))
    if shift != 0.0:
        d -= shift
    if scale != 1.0:
        d *= 1.0 / scale
    np.square(d, out=d2)  # d * d, bit for bit
    s1, s2 = float(np.add.reduce(d)), float(np.add.reduce(d2))
    np.multiply(d, d2, out=d)
    s3 = float(np.add.reduce(d))
    np.square(d2, out=d2)
    s4 = float(np.add.reduce(d2))
    return ChunkSums(n, s1, s2, s3, s4, minimum, maximum)


@dataclass(frozen=True)
class Empirical:
    """What the generated tensor actually holds; ``variance_se`` is the standard error of ``variance``."""

    count: int
    mean: float
    variance: float
    std: float
    min: float
    max: float
    variance_se: float

    @classmethod
    def merge(cls, chunks: Iterable[ChunkSums], shift: float, scale: float = 1.0) -> Empirical:
        """Combine chunk sums (in the order given) into the tensor's statistics."""
        n = 0
        s1 = s2 = s3 = s4 = 0.0
        minimum, maximum = math.inf, -math.inf
        for c in chunks:
            n += c.count
            s1 += c.s1
            s2 += c.s2
            s3 += c.s3
            s4 += c.s4
            minimum = min(minimum, c.minimum)
            maximum = max(maximum, c.maximum)
        if n == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        d = s1 / n
        m2 = max(s2 / n - d * d, 0.0)
        m4 = max(s4 / n - 4.0 * d * s3 / n + 6.0 * d * d * s2 / n - 3.0 * d * d * d * d, 0.0)
        se = math.sqrt(max(m4 - m2 * m2, 0.0) / n)
        square = scale * scale
        return cls(n, shift + d * scale, m2 * square, math.sqrt(m2) * scale, minimum, maximum, se * square)


@dataclass(frozen=True)
class Comparison:
    """Empirical variance against the theoretical one (``None`` where undefined)."""

    variance_ratio: float | None
    variance_z: float | None


def compare(theoretical: Moments, empirical: Empirical) -> Comparison:
    """``ratio = empirical / theoretical`` and the z-score of the empirical variance.

    Both are ``None`` when the theoretical variance is 0; the z-score is also
    ``None`` when its standard error is 0 (a single element, or all equal).
    """
    if theoretical.variance == 0.0 or empirical.count == 0:
        return Comparison(None, None)
    ratio = empirical.variance / theoretical.variance
    se = empirical.variance_se
    z = (empirical.variance - theoretical.variance) / se if se > 0.0 else None
    return Comparison(ratio, z)


#: The most bins a histogram may have.
MAX_BINS = 1024


@dataclass(frozen=True)
class HistogramBins:
    """``bins`` equal bins over ``[low, high]``, with ``numpy.histogram``'s semantics.

    ``low`` and ``high`` are what NumPy takes as the outer edges: the given
    range (Python floats), or the tensor's own min and max as scalars of its
    dtype. The edges are ``numpy.linspace(low, high, bins + 1)`` in
    ``result_type(low, high, tensor)`` (the tensor's dtype for every float
    dtype); bin ``i`` holds ``edges[i] <= x < edges[i + 1]``, the last bin
    also ``x == edges[-1]``; values outside ``[low, high]`` are not counted.
    NumPy decides each element on its own, so the counts of the chunks sum
    to the counts of the whole tensor exactly (``counts``), whatever the
    chunking; no float64 copy of more than one chunk is made.

    ``bfloat16`` (ml_dtypes, a type NumPy's histogram does not handle: its
    bin search goes negative for a range off the bfloat16 grid) is counted
    as its exact float32 widening: ``dtype`` is then float32, one block at a
    time is widened.
    """

    bins: int
    low: float | np.floating
    high: float | np.floating
    dtype: np.dtype

    def edges(self) -> np.ndarray:
        """The ``bins + 1`` edges, in the dtype NumPy computes them in."""
        return np.histogram_bin_edges(np.empty(0, dtype=self.dtype), self.bins, (self.low, self.high))

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` (of ``dtype``) fall in each bin (int64)."""
        flat = values.reshape(-1)
        if flat.dtype != self.dtype:
            flat = flat.astype(self.dtype)  # bfloat16 -> float32, exact
        with np.errstate(under="ignore"):  # a range of subnormals: NumPy's bin search underflows, harmlessly
            counted, _ = np.histogram(flat, self.bins, (self.low, self.high))
        return counted.astype(np.int64, copy=False)


def histogram_bins(
    bins: int, value_range: tuple[float, float] | None, dtype: np.dtype, minimum: float, maximum: float
) -> HistogramBins:
    """The bins of a histogram of a tensor of ``dtype`` (bfloat16: counted as float32) whose extremes are
    ``minimum`` and ``maximum``.

    ``value_range`` None takes ``[minimum, maximum]`` (as NumPy does, in the
    tensor's dtype; equal extremes widen to ``[v - 0.5, v + 0.5]``). Raises
    ``ParameterError`` naming ``histogram.bins`` or ``histogram.range`` when
    the bins are not 1 to ``MAX_BINS``, the range is reversed or not finite,
    or its edges overflow the dtype or are not distinct in it (``histogram``
    when the tensor's own extremes are too close for that many bins).
    """
    if not 1 <= bins <= MAX_BINS:
        raise ParameterError(f"bins must be 1 to {MAX_BINS}, not {bins}", "histogram.bins")
    if dtype.name == "bfloat16":
        dtype = np.dtype(np.float32)
    if value_range is None:
        low, high = dtype.type(minimum), dtype.type(maximum)
        field = "histogram"
    else:
        low, high = float(value_range[0]), float(value_range[1])
        field = "histogram.range"
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ParameterError("the range must be finite", field)
        if low > high:
            raise ParameterError(f"the range's low ({low}) is above its high ({high})", field)
    chosen = HistogramBins(bins, low, high, dtype)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        try:
            edges = chosen.edges()
        except ValueError as exc:  # "Too many bins for data range": fewer distinct edges than bins
            raise ParameterError(f"{exc} ([{low}, {high}] in {dtype.name})", field) from exc
    if not np.isfinite(edges).all():
        raise ParameterError(f"the edges of [{low}, {high}] overflow {dtype.name}", field)
    return chosen
