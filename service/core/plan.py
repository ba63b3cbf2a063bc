"""From a request (shape, layout, init, seed, dtype, fills) to a checked plan of the tensor.

Planning does every check and computes everything known before a single
element is drawn: the fans, the theoretical moments and the source of the
values. Nothing is allocated in proportion to the tensor's size.

Fills (``Fill``) overwrite flat ranges of the scheme's values with constants;
the plan's moments are then those of the mixture: the elements left to the
scheme, with its moments, and each filled range, a constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from service.core.distributions import Moments
from service.core.dtypes import DTYPES, INTEGER_DTYPES, largest_finite, numpy_dtype, sampling_dtype
from service.core.errors import LayoutError, ParameterError, ShapeError, TooLargeError
from service.core.fans import LAYOUTS, FanAxes, Fans, Layout, compute_fans
from service.core.schemes import SCHEMES, Context, Init
from service.core.sources import (
    ConstantSource,
    FilledSource,
    PointsSource,
    SlicedSource,
    Source,
    WholeSource,
    innermost,
)
from service.core.stats import sum_scale
from service.core.streams.names import (
    COUNTER_STREAMS,
    DEFAULT_STREAM,
    SEQUENTIAL_STREAMS,
    STREAM_VERSIONS,
    STREAMS,
)

MAX_RANK: Final[int] = 8
MAX_SEED: Final[int] = 2**53 - 1


@dataclass(frozen=True)
class Fill:
    """After the source fills the tensor, flat (C-order) elements [start, stop) are set to ``value``.

    E.g. PyTorch ``Embedding(padding_idx=p)``: row ``p`` is zero; Keras LSTM
    ``unit_forget_bias``: ``bias[units:2 * units]`` is one.
    """

    start: int
    stop: int
    value: float


@dataclass(frozen=True)
class TensorSpec:
    """Everything the tensor is a pure function of (with the stream version)."""

    shape: tuple[int, ...]
    init: Init
    seed: int
    dtype: str = "float32"
    layout: Layout | FanAxes = "keras"
    fills: tuple[Fill, ...] = ()
    stream: str = DEFAULT_STREAM
    #: The part served, ``(start, stop)`` per dimension of ``shape`` (half-open): ``full[s0:e0, s1:e1, ...]``;
    #: None for the whole tensor. Fans, moments and the numbers are the full tensor's.
    slice: tuple[tuple[int, int], ...] | None = None
    #: The framework-named initializer as asked (``{"scheme": "torch.kaiming_uniform_", "a": ...}``, every
    #: default filled in), None for a canonical scheme: a framework stream calls that very function.
    requested: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TensorPlan:
    spec: TensorSpec
    fans: Fans | None
    moments: Moments
    source: Source
    numpy_dtype: np.dtype
    sampling_dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The served shape: the slice's, else the full tensor's."""
        if self.spec.slice is None:
            return self.spec.shape
        return tuple(stop - start for start, stop in self.spec.slice)

    @property
    def count(self) -> int:
        """The served elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.numpy_dtype.itemsize

    @property
    def whole(self) -> bool:
        """Whether the values are computed all at once (orthogonal's QR, sparse's mask, a sequential stream)."""
        return isinstance(innermost(self.source), WholeSource)

    @property
    def whole_bytes(self) -> int:
        """The memory a tensor computed whole holds while it is computed (0 for a chunked one)."""
        source = innermost(self.source)
        return source.peak_bytes * math.prod(self.spec.shape) if isinstance(source, WholeSource) else 0

    @property
    def stream_version(self) -> str:
        return STREAM_VERSIONS[self.spec.stream]

    @property
    def sum_scale(self) -> float:
        return sum_scale(self.moments.std)


def check_slice(bounds: object, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """``bounds`` checked against ``shape``: one ``(start, stop)`` per dimension, integers with
    ``0 <= start < stop <= dim`` (a 422 naming ``slice.<dim>``)."""
    if not isinstance(bounds, (tuple, list)) or len(bounds) != len(shape):
        raise ShapeError(f"slice needs one [start, stop] per dimension of shape {list(shape)}", "slice")
    checked = []
    for axis, (pair, dim) in enumerate(zip(bounds, shape, strict=True)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(_is_integer(v) for v in pair):
            raise ShapeError(f"slice.{axis} must be [start, stop], two integers; got {pair!r}", f"slice.{axis}")
        start, stop = int(pair[0]), int(pair[1])
        if not 0 <= start < stop <= dim:
            raise ShapeError(
                f"slice.{axis} is [{start}, {stop}); it must satisfy 0 <= start < stop <= {dim} (shape[{axis}]): "
                "half-open, not empty, within the dimension",
                f"slice.{axis}",
            )
        checked.append((start, stop))
    return tuple(checked)


def check_shape(shape: tuple[int, ...], max_elements: int | None = None) -> int:
    """The element count of ``shape``; raises for a bad rank or dim, or over ``max_elements``."""
    if len(shape) > MAX_RANK:
        raise ShapeError(f"shape has {len(shape)} dims; at most {MAX_RANK} are allowed", "shape")
    for axis, dim in enumerate(shape):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ShapeError(f"every dim must be an integer >= 1; shape[{axis}] is {dim!r}", f"shape.{axis}")
    count = math.prod(shape)
    if max_elements is not None and count > max_elements:
        raise TooLargeError(f"shape {list(shape)} has {count} elements, over the limit of {max_elements}", "shape")
    return count


def plan_tensor(spec: TensorSpec, max_elements: int | None = None) -> TensorPlan:
    """Check ``spec`` and plan its tensor; raises an ``InitError`` naming the field at fault."""
    shape = tuple(spec.shape)
    count = check_shape(shape, max_elements)
    if spec.dtype not in DTYPES and spec.dtype not in INTEGER_DTYPES:
        raise ParameterError(
            f"unknown dtype {spec.dtype!r}; expected one of {', '.join(DTYPES + INTEGER_DTYPES)}"
            " (int64 only for zeros, ones or an integral constant)",
            "dtype",
        )
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or not 0 <= spec.seed <= MAX_SEED:
        raise ParameterError(f"seed must be an integer from 0 to 2^53 - 1, got {spec.seed!r}", "seed")
    if spec.stream not in STREAMS:
        raise ParameterError(f"unknown stream {spec.stream!r}; expected one of {', '.join(STREAMS)}", "stream")
    if not isinstance(spec.layout, FanAxes) and spec.layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {spec.layout!r}; expected one of {', '.join(LAYOUTS)}", "layout")
    fills = _check_fills(spec.fills, count)
    scheme = SCHEMES[spec.init.scheme]
    if spec.dtype in INTEGER_DTYPES and scheme.name not in INTEGRAL_SCHEMES:
        raise ParameterError(
            f"dtype {spec.dtype} holds only deterministic integral tensors ({', '.join(INTEGRAL_SCHEMES)}), "
            f"not {scheme.name}; use a float dtype",
            "dtype",
        )
    if scheme.shape_aware and isinstance(spec.layout, FanAxes):
        raise LayoutError(
            f"fan_axes does not apply to {scheme.name}, which reads the shape by layout; give a layout instead",
            "fan_axes",
        )
    if scheme.uses_fans:
        fans: Fans | None = compute_fans(shape, spec.layout)
    else:
        try:
            fans = compute_fans(shape, spec.layout)
        except ShapeError:
            fans = None
    sampling = sampling_dtype(spec.dtype)
    try:
        recipe = scheme.build(Context(shape, spec.layout, fans, spec.init.params, spec.seed, sampling))
    except OverflowError as exc:
        raise ParameterError("these parameters overflow float64; use smaller values", "init") from exc
    if spec.dtype in INTEGER_DTYPES and not (
        isinstance(recipe.source, ConstantSource) and float(recipe.source.value).is_integer()
    ):
        raise ParameterError(
            f"dtype {spec.dtype} needs an integral value; use a float dtype for a fractional constant", "dtype"
        )
    check_range(recipe.moments, recipe.reach, spec.dtype)
    source = recipe.source
    if spec.stream in SEQUENTIAL_STREAMS:
        from service.core.streams import sequential  # numba kernels: loaded on first use

        source = sequential.tensor_source(spec, fans)
    elif spec.stream in COUNTER_STREAMS and spec.dtype not in INTEGER_DTYPES:
        from service.core.streams import counter

        source = counter.tensor_source(spec, fans)
    elif spec.stream == "initserve-2":
        from service.core.streams import counter2

        source = counter2.tensor_source(source, sampling)
    moments = recipe.moments
    if fills:
        _check_fill_values(fills, spec.dtype)
        moments = filled_moments(recipe.moments, recipe.source, count, fills)
        if not math.isfinite(moments.variance):
            raise ParameterError("the fill values and the scheme's values are too far apart for float64", "fills")
        source = FilledSource(
            source,
            tuple(f.start for f in fills),
            tuple(f.stop for f in fills),
            tuple(f.value for f in fills),
        )
    if spec.slice is not None:
        source = SlicedSource(source, shape, check_slice(spec.slice, shape))
    return TensorPlan(spec, fans, moments, source, numpy_dtype(spec.dtype), sampling)


#: The schemes an integer dtype can hold: deterministic, with an integral value.
INTEGRAL_SCHEMES: Final[tuple[str, ...]] = ("zeros", "ones", "constant")


def _is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_fills(fills: object, count: int) -> tuple[Fill, ...]:
    """``fills`` as a tuple, checked: ``Fill``s of integer bounds 0 <= start < stop <= count and a
    finite real value, sorted and disjoint."""
    if not isinstance(fills, (tuple, list)):
        raise ParameterError(f"fills must be a tuple of Fill, got {type(fills).__name__}", "fills")
    checked: list[Fill] = []
    for i, f in enumerate(fills):
        if not isinstance(f, Fill):
            raise ParameterError(f"fills[{i}] must be a Fill, got {type(f).__name__}", "fills")
        if not (_is_integer(f.start) and _is_integer(f.stop)):
            raise ParameterError(f"fills[{i}] needs integer start and stop, got {f.start!r}, {f.stop!r}", "fills")
        start, stop = int(f.start), int(f.stop)
        if not 0 <= start < stop <= count:
            raise ShapeError(
                f"fills[{i}] covers [{start}, {stop}); it must satisfy 0 <= start < stop <= {count}, "
                "the tensor's element count",
                "fills",
            )
        value = f.value
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(f"fills[{i}] needs a real value, got {value!r}", "fills")
        try:
            value = float(value)
        except OverflowError:  # an int beyond float64
            raise ParameterError(f"fills[{i}] has a value beyond float64: {f.value!r}", "fills") from None
        if not math.isfinite(value):
            raise ParameterError(f"fills[{i}] has a non-finite value {value!r}", "fills")
        if checked and start < checked[-1].stop:
            raise ParameterError(
                f"fills must be sorted and disjoint; fills[{i}] starts at {start}, "
                f"before fills[{i - 1}] stops at {checked[-1].stop}",
                "fills",
            )
        checked.append(Fill(start, stop, value))
    return tuple(checked)


def _check_fill_values(fills: tuple[Fill, ...], dtype: str) -> None:
    largest = largest_value(dtype)
    for i, f in enumerate(fills):
        if abs(f.value) > largest:
            raise ParameterError(
                f"fills[{i}] has value {f.value:.4g}, beyond the {largest:.4g} served in {dtype}", "fills"
            )
        if dtype in INTEGER_DTYPES and not f.value.is_integer():
            raise ParameterError(f"fills[{i}] has value {f.value!r}, not an integer as {dtype} needs", "fills")


def filled_moments(moments: Moments, source: Source, count: int, fills: tuple[Fill, ...]) -> Moments:
    """The moments of a tensor of ``count`` elements made by ``source`` (of ``moments``), then ``fills``.

    A mixture of groups: each fill, ``m_i`` elements equal to ``c_i``, and the
    ``count - sum(m_i)`` elements left to the source, of its mean and variance.
    mean = sum(n_g mu_g) / n; variance = sum(n_g (v_g + (mu_g - mean)^2)) / n
    (within-group variances plus the spread between groups), in ``math.fsum``.
    For a deterministic source (constant; zeros but a value at given points) the
    elements left are known exactly, and so are the moments and min/max; else
    the support is the source's (``None``: unbounded) joined with the fill values.
    """
    filled = sum(f.stop - f.start for f in fills)
    rest = count - filled
    groups: list[tuple[int, float, float]] = [(f.stop - f.start, float(f.value), 0.0) for f in fills]
    exact = isinstance(source, (ConstantSource, PointsSource))
    if isinstance(source, ConstantSource):
        groups.append((rest, float(source.value), 0.0))
    elif isinstance(source, PointsSource):
        points = source.points
        covered = sum(int(np.searchsorted(points, f.stop)) - int(np.searchsorted(points, f.start)) for f in fills)
        left = int(points.size) - covered
        groups += [(left, float(source.value), 0.0), (rest - left, 0.0, 0.0)]
    else:
        groups.append((rest, moments.mean, moments.variance))
    groups = [g for g in groups if g[0] > 0]
    means = {mu for _, mu, _ in groups}
    mean = means.pop() if len(means) == 1 else math.fsum(n * mu for n, mu, _ in groups) / count
    variance = math.fsum(n * (v + (mu - mean) ** 2) for n, mu, v in groups) / count
    constants = [f.value for f in fills]
    if exact:
        low: float | None = min(mu for _, mu, _ in groups)
        high: float | None = max(mu for _, mu, _ in groups)
    elif rest == 0:
        low, high = min(constants), max(constants)
    else:
        low = None if moments.low is None else min(moments.low, *constants)
        high = None if moments.high is None else max(moments.high, *constants)
    return Moments(mean, variance, low, high)


#: Largest |value| served in float64: keeps the statistics' fourth powers finite.
MAX_FLOAT64_VALUE: Final[float] = 1e150
#: Largest |value| served in an integer dtype: integers are made in float64, exact up to 2^53.
MAX_INTEGER_VALUE: Final[float] = float(2**53)


def largest_value(dtype: str) -> float:
    """The largest |value| served in ``dtype``: what fits it, and half the range of its sampling dtype
    (so that high - low stays finite while sampling); 1e150 in float64, 2^53 in an integer dtype."""
    if dtype in INTEGER_DTYPES:
        return MAX_INTEGER_VALUE
    if dtype == "float64":
        return MAX_FLOAT64_VALUE
    return min(largest_finite(dtype), float(np.finfo(sampling_dtype(dtype)).max) / 2)


def check_range(moments: Moments, reach: float | None, dtype: str) -> None:
    """Refuse parameters whose values would overflow ``dtype``.

    The reach is ``reach`` when the scheme knows it, else the largest bound of
    the support, or |mean| + 10 std where it is unbounded (P(|Z| > 10) is about
    1e-23). It must fit the dtype, and half the range of the sampling dtype (so
    that high - low stays finite while sampling); in float64, 1e150.
    """
    if reach is None and moments.low is not None and moments.high is not None:
        reach = max(abs(moments.low), abs(moments.high))
    elif reach is None:
        reach = abs(moments.mean) + 10.0 * moments.std
    largest = largest_value(dtype)
    if not (math.isfinite(moments.variance) and reach <= largest):
        raise ParameterError(
            f"these parameters give values up to about {reach:.3g}, beyond the {largest:.4g} served "
            f"in {dtype}; use smaller parameters or a wider dtype",
            "init",
        )
