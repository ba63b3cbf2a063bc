"""The scheme table: every scheme's parameters, defaults, formula and construction.

This table is the single source of truth: the HTTP request models, the
``GET /v1/schemes`` catalogue and the docs are all generated from ``SCHEMES``.

The variance-scaling family is one rule, ``variance = scale / fan``
(Glorot & Bengio 2010; He et al. 2015; LeCun et al. 1998), with each
distribution hitting that variance exactly: ``uniform`` U(-r, r) with
r = sqrt(3 variance); ``normal`` N(0, variance); ``truncated_normal``
N(0, sigma0^2) truncated at +-2 sigma0, sigma0 = sqrt(variance) / 0.8796...
(Keras 3 / JAX semantics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.core import shaped, stft
from service.core.distributions import Constant, Distribution, Moments, Normal, TruncatedNormal, Uniform
from service.core.errors import ParameterError, ShapeError
from service.core.fans import FanAxes, Fans, fan_for_mode
from service.core.params import REQUIRED, Param, check, field_info
from service.core.sources import ConstantSource, PointsSource, RandomSource, Source, WholeSource

DISTRIBUTIONS: Final[tuple[str, ...]] = ("uniform", "normal", "truncated_normal")
MODES: Final[tuple[str, ...]] = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


@dataclass(frozen=True)
class Context:
    """What a scheme's construction sees: the request, checked, with the fans where defined."""

    shape: tuple[int, ...]
    layout: str | FanAxes
    fans: Fans | None
    params: Mapping[str, Any]
    seed: int
    sampling_dtype: np.dtype


@dataclass(frozen=True)
class Recipe:
    """How to make a tensor's values, the moments they are drawn from, and a bound on |value|
    where the moments alone would misjudge it (``None``: derived from the moments)."""

    source: Source
    moments: Moments
    reach: float | None = None


@dataclass(frozen=True)
class Scheme:
    name: str
    summary: str
    formula: str
    params: tuple[Param, ...]
    build: Callable[[Context], Recipe]
    uses_fans: bool = False
    shape_aware: bool = False
    aliases: tuple[str, ...] = ()
    shapes: str = "any shape"
    check: Callable[[Mapping[str, Any]], None] | None = None


# -- parameters shared by several schemes ---------------------------------------------------------


def _distribution(default: str) -> Param:
    return Param("distribution", "choice", default, "uniform, normal (untruncated) or truncated_normal", DISTRIBUTIONS)


def _mode(default: str) -> Param:
    return Param("mode", "choice", default, "the fan in variance = scale / fan", MODES)


_GAIN = Param("gain", "number", 1.0, "multiplier of the standard deviation (PyTorch's gain)")


# -- construction -------------------------------------------------------------------------------


def variance_scaled(variance: float, distribution: str) -> Distribution:
    """The distribution of mean 0 and exactly ``variance``, in the named family."""
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return Uniform(-limit, limit) if limit > 0.0 else Uniform(0.0, 0.0)
    if distribution == "normal":
        return Normal(0.0, math.sqrt(variance))
    if variance == 0.0:
        return Constant(0.0)  # a gain of 0: sigma0 = 0 and the bounds +-2 sigma0 collapse to 0
    return TruncatedNormal.sigma_relative(variance)


def _random(ctx: Context, distribution: Distribution) -> Recipe:
    return Recipe(RandomSource(distribution, ctx.seed), distribution.moments())


def _scaled(ctx: Context, scale: float, mode: str, distribution: str) -> Recipe:
    """``variance = scale / fan``; the moments carry that variance exactly (not std^2 rounded)."""
    assert ctx.fans is not None
    variance = scale / fan_for_mode(ctx.fans, mode)
    sampled = variance_scaled(variance, distribution)
    bounds = sampled.moments()
    return Recipe(RandomSource(sampled, ctx.seed), Moments(0.0, variance, bounds.low, bounds.high))


def _build_glorot(ctx: Context) -> Recipe:
    return _scaled(ctx, ctx.params["gain"] ** 2, "fan_avg", ctx.params["distribution"])


def _build_he(ctx: Context) -> Recipe:
    scale = 2.0 / (1.0 + ctx.params["negative_slope"] ** 2)
    return _scaled(ctx, scale, ctx.params["mode"], ctx.params["distribution"])


def _build_lecun(ctx: Context) -> Recipe:
    return _scaled(ctx, 1.0, "fan_in", ctx.params["distribution"])


def _build_variance_scaling(ctx: Context) -> Recipe:
    p = ctx.params
    return _scaled(ctx, p["scale"], p["mode"], p["distribution"])


def _build_orthogonal(ctx: Context) -> Recipe:
    layout = str(ctx.layout)
    rows, cols = shaped.check_orthogonal(ctx.shape, layout)
    gain = ctx.params["gain"]

    def compute() -> np.ndarray:
        return shaped.orthogonal(ctx.shape, layout, gain, ctx.seed)

    return Recipe(WholeSource(compute), Moments(0.0, gain * gain / max(rows, cols), None, None), reach=abs(gain))


def _build_delta_orthogonal(ctx: Context) -> Recipe:
    layout = str(ctx.layout)
    kernel, _, out_channels = shaped.delta_orthogonal_dims(ctx.shape, layout)
    gain = ctx.params["gain"]

    def compute() -> np.ndarray:
        return shaped.delta_orthogonal(ctx.shape, layout, gain, ctx.seed)

    variance = gain * gain / (math.prod(kernel) * out_channels)
    return Recipe(WholeSource(compute), Moments(0.0, variance, None, None), reach=abs(gain))


def _build_stft(ctx: Context) -> Recipe:
    p = ctx.params
    shaped.check_whole(math.prod(ctx.shape), "stft")  # before the kernel is computed, at planning
    kernel = stft.stft_kernel(ctx.shape, p["side"], p["window"], p["scaling"], p["periodic"])
    moments = Moments(float(kernel.mean()), float(kernel.var()), float(kernel.min()), float(kernel.max()))
    return Recipe(WholeSource(lambda: kernel), moments)


def _build_identity(ctx: Context) -> Recipe:
    points = shaped.identity_points(ctx.shape)
    gain = ctx.params["gain"]
    return Recipe(PointsSource(points, gain), shaped.points_moments(math.prod(ctx.shape), points.size, gain))


def _build_dirac(ctx: Context) -> Recipe:
    points = shaped.dirac_points(ctx.shape, str(ctx.layout), ctx.params["groups"])
    return Recipe(PointsSource(points, 1.0), shaped.points_moments(math.prod(ctx.shape), points.size, 1.0))


def _build_sparse(ctx: Context) -> Recipe:
    layout, p = str(ctx.layout), ctx.params
    if len(ctx.shape) != 2:
        raise ShapeError(f"sparse needs a 2-D shape, got shape {list(ctx.shape)}", "shape")
    shaped.check_whole(math.prod(ctx.shape), "sparse")
    n_out = ctx.shape[0] if layout == "torch" else ctx.shape[1]
    kept = (n_out - shaped.sparse_zeros_per_unit(p["sparsity"], n_out)) / n_out

    def compute() -> np.ndarray:
        return shaped.sparse(ctx.shape, layout, p["sparsity"], p["std"], ctx.seed, ctx.sampling_dtype)

    moments = Moments(0.0, p["std"] ** 2 * kept, None, None)
    return Recipe(WholeSource(compute), moments, reach=10.0 * p["std"])


def _build_truncated_normal(ctx: Context) -> Recipe:
    p = ctx.params
    largest = float(np.finfo(ctx.sampling_dtype).max) / 2
    if p["std"] > largest:
        raise ParameterError(f"std must be at most {largest:.4g} to be sampled in {ctx.sampling_dtype}", "init.std")
    return _random(ctx, TruncatedNormal(p["mean"], p["std"], p["low"], p["high"]))


def _constant(value: float) -> Recipe:
    return Recipe(ConstantSource(value), Constant(value).moments())


def _check_low_below_high(params: Mapping[str, Any]) -> None:
    if not params["low"] < params["high"]:
        raise ParameterError(f"low ({params['low']}) must be below high ({params['high']})", "init.low")


# -- the table -------------------------------------------------------------------------------------

_SCHEME_LIST: Final[tuple[Scheme, ...]] = (
    Scheme(
        name="glorot",
        summary="Glorot/Xavier 'normalized' initialization (Glorot & Bengio 2010)",
        formula="variance = gain^2 / fan_avg, fan_avg = (fan_in + fan_out) / 2",
        params=(_distribution("uniform"), _GAIN),
        build=_build_glorot,
        uses_fans=True,
        aliases=("xavier",),
    ),
    Scheme(
        name="he",
        summary="He/Kaiming initialization for (leaky) ReLU (He et al. 2015)",
        formula="variance = 2 / ((1 + negative_slope^2) * fan)",
        params=(
            _distribution("normal"),
            _mode("fan_in"),
            Param("negative_slope", "number", 0.0, "leaky-ReLU negative slope a (0 for ReLU)"),
        ),
        build=_build_he,
        uses_fans=True,
        aliases=("kaiming",),
    ),
    Scheme(
        name="lecun",
        summary="LeCun initialization, the SELU scheme (LeCun et al. 1998; Klambauer et al. 2017)",
        formula="variance = 1 / fan_in",
        params=(_distribution("normal"),),
        build=_build_lecun,
        uses_fans=True,
    ),
    Scheme(
        name="variance_scaling",
        summary="General variance scaling (Keras VarianceScaling, JAX variance_scaling)",
        formula="variance = scale / fan",
        params=(
            Param("scale", "number", 1.0, "scale > 0", exclusive_minimum=0.0),
            _mode("fan_in"),
            _distribution("truncated_normal"),
        ),
        build=_build_variance_scaling,
        uses_fans=True,
    ),
    Scheme(
        name="orthogonal",
        summary="Random (semi-)orthogonal matrix via QR with sign correction (Saxe et al. 2014)",
        formula="W = gain * Q, Q Haar-orthogonal on the flattened shape; variance = gain^2 / max(rows, cols)",
        params=(_GAIN,),
        build=_build_orthogonal,
        shape_aware=True,
        shapes="2 dims or more; torch flattens to (shape[0], prod(rest)), keras/jax to (prod(shape[:-1]), shape[-1])",
    ),
    Scheme(
        name="delta_orthogonal",
        summary="Delta-orthogonal convolution kernel (Xiao et al. 2018; JAX delta_orthogonal)",
        formula="W = 0 except W[(k - 1) // 2, ...] = gain * Q, Q an (in, out) matrix with orthonormal rows; "
        "variance = gain^2 / (prod(k) * out)",
        params=(_GAIN,),
        build=_build_delta_orthogonal,
        shape_aware=True,
        shapes="3-D to 5-D kernels with in <= out: keras/jax (*k, in, out), torch (out, in, *k)",
    ),
    Scheme(
        name="identity",
        summary="Identity matrix times gain (Keras Identity, PyTorch eye_)",
        formula="W = gain * eye(rows, cols)",
        params=(_GAIN,),
        build=_build_identity,
        shape_aware=True,
        shapes="2-D, rectangular allowed",
    ),
    Scheme(
        name="dirac",
        summary="Dirac delta convolution weights, identity-preserving (PyTorch dirac_)",
        formula="W[g * out_g + d, d, k // 2, ...] = 1 for d < min(out / groups, in), else 0",
        params=(Param("groups", "integer", 1, "groups >= 1, dividing the output channels", minimum=1),),
        build=_build_dirac,
        shape_aware=True,
        shapes="3-D to 5-D convolution weights: torch (out, in, *k), keras/jax (*k, in, out)",
    ),
    Scheme(
        name="sparse",
        summary="Sparse normal weights (PyTorch sparse_, after Martens 2010)",
        formula="W ~ N(0, std^2), then ceil(sparsity * n_out) zeros per input unit",
        params=(
            Param(
                "sparsity",
                "number",
                REQUIRED,
                "fraction of zeros per input unit, 0 <= sparsity < 1",
                minimum=0.0,
                exclusive_maximum=1.0,
            ),
            Param("std", "number", 0.01, "standard deviation of the non-zero weights, >= 0", minimum=0.0),
        ),
        build=_build_sparse,
        shape_aware=True,
        shapes="2-D: torch (n_out, n_in), keras/jax (n_in, n_out)",
    ),
    Scheme(
        name="stft",
        summary="Short-time Fourier transform kernel: windowed DFT cosines or sines (Keras STFT)",
        formula="W[t, 0, f] = cos(2 pi t f / N) w[t] / s (real) or -sin(...) (imag), N = 2 (F - 1); "
        "s = sqrt(sum w^2) (density), sum |w| (spectrum), 1 (null); window null: no window and no scaling",
        params=(
            Param("side", "choice", "real", "real (cosines) or imag (minus sines)", stft.SIDES),
            Param(
                "window",
                "choice",
                "hann",
                "a SciPy window name without parameters (scipy.signal.get_window), or null for none",
                tuple(stft.WINDOW_ALIASES),
                nullable=True,
            ),
            Param("scaling", "choice", "density", "density, spectrum or null (none)", stft.SCALINGS, nullable=True),
            Param("periodic", "boolean", False, "periodic window (true, for spectral analysis) or symmetric"),
        ),
        build=_build_stft,
        shape_aware=True,
        shapes="3-D (frame_length, 1, fft_bins), any layout",
    ),
    Scheme(
        name="constant",
        summary="Every element equal to value",
        formula="W = value",
        params=(Param("value", "number", REQUIRED, "the fill value"),),
        build=lambda ctx: _constant(ctx.params["value"]),
    ),
    Scheme(name="zeros", summary="All zeros", formula="W = 0", params=(), build=lambda ctx: _constant(0.0)),
    Scheme(name="ones", summary="All ones", formula="W = 1", params=(), build=lambda ctx: _constant(1.0)),
    Scheme(
        name="normal",
        summary="Normal distribution (PyTorch normal_)",
        formula="W ~ N(mean, std^2)",
        params=(
            Param("mean", "number", 0.0, "mean"),
            Param("std", "number", 1.0, "standard deviation, >= 0", minimum=0.0),
        ),
        build=lambda ctx: _random(ctx, Normal(ctx.params["mean"], ctx.params["std"])),
    ),
    Scheme(
        name="uniform",
        summary="Uniform distribution (PyTorch uniform_)",
        formula="W ~ U(low, high); variance = (high - low)^2 / 12",
        params=(Param("low", "number", 0.0, "lower bound, < high"), Param("high", "number", 1.0, "upper bound")),
        build=lambda ctx: _random(ctx, Uniform(ctx.params["low"], ctx.params["high"])),
        check=_check_low_below_high,
    ),
    Scheme(
        name="truncated_normal",
        summary="Normal truncated to absolute bounds [low, high] (PyTorch trunc_normal_)",
        formula="W ~ N(mean, std^2) restricted to [low, high]",
        params=(
            Param("mean", "number", 0.0, "mean of the untruncated normal"),
            Param("std", "number", 1.0, "standard deviation of the untruncated normal, > 0", exclusive_minimum=0.0),
            Param("low", "number", -2.0, "absolute lower bound, < high"),
            Param("high", "number", 2.0, "absolute upper bound"),
        ),
        build=_build_truncated_normal,
        check=_check_low_below_high,
    ),
)

SCHEMES: Final[dict[str, Scheme]] = {scheme.name: scheme for scheme in _SCHEME_LIST}
ALIASES: Final[dict[str, str]] = {alias: s.name for s in _SCHEME_LIST for alias in s.aliases}


# -- resolution ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    """A scheme with every parameter resolved (defaults filled in), in table order."""

    scheme: str
    params: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, **self.params}


def scheme_of(name: str) -> Scheme:
    """The scheme named ``name`` or by one of its aliases (``xavier``, ``kaiming``)."""
    canonical = ALIASES.get(name, name)
    if canonical not in SCHEMES:
        known = ", ".join([*SCHEMES, *ALIASES])
        raise ParameterError(f"unknown scheme {name!r}; expected one of {known}", "init.scheme")
    return SCHEMES[canonical]


def resolve_init(scheme: str, params: Mapping[str, object] | None = None) -> Init:
    """Check ``params`` against the table and fill in the defaults.

    >>> resolve_init("kaiming", {"mode": "fan_out"}).as_dict()
    {'scheme': 'he', 'distribution': 'normal', 'mode': 'fan_out', 'negative_slope': 0.0}
    """
    entry = scheme_of(scheme)
    resolved = check(f"scheme {entry.name}", entry.params, params or {}, "init.")
    if entry.check is not None:
        entry.check(resolved)
    return Init(entry.name, resolved)


def catalogue() -> list[dict[str, Any]]:
    """Every scheme with its fields, defaults and formula, as served by ``GET /v1/schemes``."""
    return [
        {
            "scheme": s.name,
            "aliases": list(s.aliases),
            "summary": s.summary,
            "formula": s.formula,
            "uses_fans": s.uses_fans,
            "shapes": s.shapes,
            "fields": [field_info(p) for p in s.params],
        }
        for s in _SCHEME_LIST
    ]
