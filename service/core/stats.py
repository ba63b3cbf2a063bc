"""Empirical statistics of a generated tensor, accumulated chunk by chunk.

Each chunk contributes its count, min, max and the power sums
``S_p = sum((x - c)^p)``, p = 1..4, in float64 about a common shift ``c`` (the
theoretical mean). Merging chunks is then plain addition (Chan, Golub &
LeVeque 1979, with a shared origin), done in chunk order so the result is
independent of scheduling; shifting by a value close to the mean keeps the
conversion to central moments well conditioned.

``variance`` is the population variance (divide by n). ``variance_z`` is
``(variance - theoretical) / se`` with ``se = sqrt((m4 - m2^2) / n)``, the
asymptotic standard error of the sample variance estimated from the sample's
fourth central moment ``m4``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from service.core.distributions import Moments


@dataclass(frozen=True)
class ChunkSums:
    """Sufficient statistics of one chunk, about the shift ``shift``."""

    count: int
    s1: float
    s2: float
    s3: float
    s4: float
    minimum: float
    maximum: float


def chunk_sums(values: np.ndarray, shift: float) -> ChunkSums:
    """Power sums of ``values - shift`` in float64, and the extremes of ``values``."""
    d = values.astype(np.float64)
    if shift != 0.0:
        d -= shift
    d2 = d * d
    if values.dtype in (np.float32, np.float64):
        minimum, maximum = float(values.min()), float(values.max())
    else:
        minimum, maximum = float(d.min()) + shift, float(d.max()) + shift
    return ChunkSums(
        count=values.size,
        s1=float(d.sum()),
        s2=float(d2.sum()),
        s3=float(np.dot(d2, d)),
        s4=float(np.dot(d2, d2)),
        minimum=minimum,
        maximum=maximum,
    )


@dataclass(frozen=True)
class Empirical:
    """What the generated tensor actually holds."""

    count: int
    mean: float
    variance: float
    std: float
    min: float
    max: float
    fourth_moment: float

    @classmethod
    def merge(cls, chunks: Iterable[ChunkSums], shift: float) -> Empirical:
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
        m4 = max(s4 / n - 4.0 * d * s3 / n + 6.0 * d * d * s2 / n - 3.0 * d**4, 0.0)
        return cls(n, shift + d, m2, math.sqrt(m2), minimum, maximum, m4)


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
    se = math.sqrt(max(empirical.fourth_moment - empirical.variance**2, 0.0) / empirical.count)
    z = (empirical.variance - theoretical.variance) / se if se > 0.0 else None
    return Comparison(ratio, z)
