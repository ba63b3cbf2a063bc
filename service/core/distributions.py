"""The element-wise distributions: their moments and their samplers.

Samplers use only NumPy's own C samplers (``Generator.random``,
``standard_normal``, ``standard_exponential``) and IEEE arithmetic and
comparisons, which round identically on every CPU; no vectorised
transcendental function (``np.exp``, ``np.log``) touches the stream.
Each ``sample(rng, out)`` fills ``out`` (float32 or float64, 1-D) in place,
consuming ``rng`` in a fixed order, so the result depends on nothing but the
generator's state and ``out``'s length and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from service.core.errors import ParameterError

#: Standard deviation of N(0, 1) truncated to [-2, 2]:
#: sqrt(1 - 4 phi(2) / (Phi(2) - Phi(-2))). Keras 3 and JAX divide by it so that
#: a normal truncated at +-2 sigma0 has exactly the target variance.
TRUNCATED_STD_AT_2: Final[float] = 0.87962566103423978

#: Standardized bounds beyond which the truncated-normal moments lose precision.
MAX_STANDARD_BOUND: Final[float] = 30.0


@dataclass(frozen=True)
class Moments:
    """Theoretical moments and support of a distribution (``None``: unbounded)."""

    mean: float
    variance: float
    low: float | None
    high: float | None

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


@dataclass(frozen=True)
class Uniform:
    """U(low, high): mean (low + high) / 2, variance (high - low)^2 / 12."""

    low: float
    high: float

    def moments(self) -> Moments:
        return Moments((self.low + self.high) / 2.0, (self.high - self.low) ** 2 / 12.0, self.low, self.high)

    def sample(self, rng: np.random.Generator, out: np.ndarray) -> None:
        rng.random(dtype=out.dtype, out=out)
        if self.low == -self.high:
            # u * 2r - r in the sampling dtype: 2r is exact, so the result lies in [-r, r].
            out *= 2.0 * out.dtype.type(self.high)
            out -= self.high
        else:
            out *= self.high - self.low
            out += self.low
            np.clip(out, self.low, self.high, out=out)


@dataclass(frozen=True)
class Normal:
    """N(mean, std^2), untruncated."""

    mean: float
    std: float

    def moments(self) -> Moments:
        return Moments(self.mean, self.std**2, None, None)

    def sample(self, rng: np.random.Generator, out: np.ndarray) -> None:
        rng.standard_normal(dtype=out.dtype, out=out)
        if self.std != 1.0:
            out *= self.std
        if self.mean != 0.0:
            out += self.mean


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _mass(alpha: float, beta: float) -> float:
    """Phi(beta) - Phi(alpha), accurate in either tail (complementary error function)."""
    if alpha >= 0.0:
        return 0.5 * (math.erfc(alpha / math.sqrt(2.0)) - math.erfc(beta / math.sqrt(2.0)))
    if beta <= 0.0:
        return 0.5 * (math.erfc(-beta / math.sqrt(2.0)) - math.erfc(-alpha / math.sqrt(2.0)))
    return 1.0 - 0.5 * math.erfc(beta / math.sqrt(2.0)) - 0.5 * math.erfc(-alpha / math.sqrt(2.0))


#: Standardized width below which the closed-form truncated moments cancel badly.
NARROW_WIDTH: Final[float] = 1e-2
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)


def _narrow_moments(alpha: float, beta: float) -> tuple[float, float]:
    """Mean and variance of N(0, 1) on a narrow [alpha, beta], by 16-point Gauss-Legendre.

    The density exp(-z^2 / 2) varies by at most a factor exp(0.3) over the
    interval (|bounds| < 30), so the rule is exact to rounding; working about
    the midpoint c avoids the cancellation of the closed form.
    """
    c, h = 0.5 * (alpha + beta), 0.5 * (beta - alpha)
    t = h * _NODES
    nearest = min(max(0.0, alpha), beta)
    g = _WEIGHTS * np.exp(-0.5 * ((c + t) ** 2 - nearest**2))
    i0, i1, i2 = float(g.sum()), float((g * t).sum()), float((g * t * t).sum())
    return c + i1 / i0, max(i2 / i0 - (i1 / i0) ** 2, 0.0)


Method = Literal["normal", "uniform", "exponential"]


def _choose_method(alpha: float, beta: float) -> Method:
    """The rejection sampler for N(0, 1) restricted to [alpha, beta].

    Chosen by exact arithmetic on the bounds (never by a libm value, which could
    differ between machines), each with acceptance above about 1/3:

    - ``normal``: the interval holds 0 and is at least 1 wide; draw N(0, 1),
      redraw what falls outside.
    - ``uniform``: a narrow interval; propose U(alpha, beta), accept with
      probability exp(-(z^2 - m^2) / 2), m the point of the interval nearest 0
      (tested as E > (z^2 - m^2) / 2 with E ~ Exp(1)).
    - ``exponential``: a wide interval in one tail; Robert (1995) translated
      exponential proposal z = a + E1 / lam, lam = (a + sqrt(a^2 + 4)) / 2,
      accepted when E2 > (z - lam)^2 / 2 and z <= b.
    """
    if alpha <= 0.0 <= beta:
        return "normal" if beta - alpha >= 1.0 else "uniform"
    a, b = (alpha, beta) if alpha > 0.0 else (-beta, -alpha)
    width = b - a
    return "uniform" if width * (2.0 * a + width) <= 2.0 else "exponential"


@dataclass(frozen=True)
class TruncatedNormal:
    """N(mean, std^2) restricted to the absolute interval [low, high].

    With alpha = (low - mean) / std, beta = (high - mean) / std and
    Z = Phi(beta) - Phi(alpha): mean + std (phi(alpha) - phi(beta)) / Z and
    variance std^2 [1 + (alpha phi(alpha) - beta phi(beta)) / Z
    - ((phi(alpha) - phi(beta)) / Z)^2] (Johnson, Kotz & Balakrishnan 1994).
    Keras/JAX truncation is the case low = -2 std, high = 2 std.
    """

    mean: float
    std: float
    low: float
    high: float
    alpha: float = field(init=False)
    beta: float = field(init=False)
    method: Method = field(init=False)

    def __post_init__(self) -> None:
        if not self.std > 0.0:
            raise ParameterError("a truncated normal needs std > 0", "init.std")
        if not self.low < self.high:
            raise ParameterError(f"low ({self.low}) must be below high ({self.high})", "init.low")
        alpha = (self.low - self.mean) / self.std
        beta = (self.high - self.mean) / self.std
        if alpha >= MAX_STANDARD_BOUND or beta <= -MAX_STANDARD_BOUND:
            raise ParameterError(
                f"the interval [{self.low}, {self.high}] lies more than {MAX_STANDARD_BOUND:g} standard "
                f"deviations from the mean {self.mean}; it holds no usable probability mass",
                "init.low" if alpha >= MAX_STANDARD_BOUND else "init.high",
            )
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "method", _choose_method(alpha, beta))

    @classmethod
    def sigma_relative(cls, variance: float) -> TruncatedNormal:
        """Keras 3 / JAX ``truncated_normal`` of variance scaling: sigma0 = sqrt(variance) / 0.8796...,
        truncated at +-2 sigma0, so that the truncated variable has exactly ``variance``."""
        sigma0 = math.sqrt(variance) / TRUNCATED_STD_AT_2
        return cls(0.0, sigma0, -2.0 * sigma0, 2.0 * sigma0)

    def moments(self) -> Moments:
        a, b = self.alpha, self.beta
        if b - a < NARROW_WIDTH:
            shift, variance = _narrow_moments(a, b)
        else:
            mass = _mass(a, b)
            shift = (_phi(a) - _phi(b)) / mass
            variance = 1.0 + (a * _phi(a) - b * _phi(b)) / mass - shift * shift
        return Moments(self.mean + self.std * shift, self.std**2 * max(variance, 0.0), self.low, self.high)

    def sample(self, rng: np.random.Generator, out: np.ndarray) -> None:
        if self.method == "normal":
            _normal_rejection(rng, self.alpha, self.beta, out)
        else:
            flip = self.beta < 0.0  # sample the mirrored interval, then negate
            a, b = (-self.beta, -self.alpha) if flip else (self.alpha, self.beta)
            if self.method == "uniform":
                _uniform_rejection(rng, a, b, out)
            else:
                _exponential_rejection(rng, a, b, out)
            if flip:
                np.negative(out, out=out)
        if self.std != 1.0:
            out *= self.std
        if self.mean != 0.0:
            out += self.mean
        # Rounding to the sampling dtype may step an ulp over a bound; keep the support exact.
        np.clip(out, _in_dtype(self.low, out.dtype), _in_dtype(self.high, out.dtype), out=out)


def _fill_rejected(out: np.ndarray, rejected: np.ndarray, propose) -> None:  # type: ignore[no-untyped-def]
    """Refill ``out[rejected]`` in index order with accepted proposals, in draw order."""
    while rejected.size:
        accepted = propose(rejected.size)
        out[rejected[: accepted.size]] = accepted
        rejected = rejected[accepted.size :]


def _in_dtype(bound: float, dtype: np.dtype) -> float:
    """A bound compared with ``dtype`` values: beyond its range it is infinite (and never overflows a cast)."""
    largest = float(np.finfo(dtype).max)
    return bound if -largest <= bound <= largest else math.copysign(math.inf, bound)


def _normal_rejection(rng: np.random.Generator, alpha: float, beta: float, out: np.ndarray) -> None:
    alpha, beta = _in_dtype(alpha, out.dtype), _in_dtype(beta, out.dtype)
    rng.standard_normal(dtype=out.dtype, out=out)
    rejected = np.flatnonzero(np.abs(out) > beta) if alpha == -beta else np.flatnonzero((out < alpha) | (out > beta))

    def propose(n: int) -> np.ndarray:
        z = rng.standard_normal(n, dtype=out.dtype)
        return z[(z >= alpha) & (z <= beta)]

    _fill_rejected(out, rejected, propose)


def _uniform_rejection(rng: np.random.Generator, a: float, b: float, out: np.ndarray) -> None:
    nearest = 0.0 if a <= 0.0 <= b else a  # b < 0 never happens: the caller mirrors

    def propose(n: int) -> np.ndarray:
        z = rng.random(n, dtype=np.float64) * (b - a) + a
        e = rng.standard_exponential(n)
        return z[e > 0.5 * (z * z - nearest * nearest)].astype(out.dtype)

    _fill_rejected(out, np.arange(out.size), propose)


def _exponential_rejection(rng: np.random.Generator, a: float, b: float, out: np.ndarray) -> None:
    lam = 0.5 * (a + math.sqrt(a * a + 4.0))

    def propose(n: int) -> np.ndarray:
        z = a + rng.standard_exponential(n) / lam
        e = rng.standard_exponential(n)
        d = z - lam
        return z[(e > 0.5 * d * d) & (z <= b)].astype(out.dtype)

    _fill_rejected(out, np.arange(out.size), propose)


@dataclass(frozen=True)
class Constant:
    """Every element equal to ``value``: variance 0, min = max = value."""

    value: float

    def moments(self) -> Moments:
        return Moments(self.value, 0.0, self.value, self.value)

    def sample(self, rng: np.random.Generator | None, out: np.ndarray) -> None:
        out.fill(self.value)


Distribution = Uniform | Normal | TruncatedNormal | Constant
