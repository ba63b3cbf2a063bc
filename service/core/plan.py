"""From a request (shape, layout, init, seed, dtype) to a checked plan of the tensor.

Planning does every check and computes everything known before a single
element is drawn: the fans, the theoretical moments and the source of the
values. Nothing is allocated in proportion to the tensor's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import ml_dtypes
import numpy as np

from service.core.distributions import Moments
from service.core.dtypes import DTYPES, numpy_dtype, sampling_dtype
from service.core.errors import LayoutError, ParameterError, ShapeError, TooLargeError
from service.core.fans import LAYOUTS, FanAxes, Fans, Layout, compute_fans
from service.core.schemes import SCHEMES, Context, Init
from service.core.sources import Source, WholeSource
from service.core.stats import sum_scale

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
        return self.spec.shape

    @property
    def count(self) -> int:
        return math.prod(self.spec.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.numpy_dtype.itemsize

    @property
    def whole(self) -> bool:
        """Whether the values are computed all at once (orthogonal's QR, sparse's mask)."""
        return isinstance(self.source, WholeSource)

    @property
    def sum_scale(self) -> float:
        return sum_scale(self.moments.std)


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
    check_shape(shape, max_elements)
    if spec.dtype not in DTYPES:
        raise ParameterError(f"unknown dtype {spec.dtype!r}; expected one of {', '.join(DTYPES)}", "dtype")
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or not 0 <= spec.seed <= MAX_SEED:
        raise ParameterError(f"seed must be an integer from 0 to 2^53 - 1, got {spec.seed!r}", "seed")
    if not isinstance(spec.layout, FanAxes) and spec.layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {spec.layout!r}; expected one of {', '.join(LAYOUTS)}", "layout")
    scheme = SCHEMES[spec.init.scheme]
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
    check_range(recipe.moments, recipe.reach, spec.dtype)
    return TensorPlan(spec, fans, recipe.moments, recipe.source, numpy_dtype(spec.dtype), sampling)


#: Largest |value| served in float64: keeps the statistics' fourth powers finite.
MAX_FLOAT64_VALUE: Final[float] = 1e150


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
    largest = min(float(ml_dtypes.finfo(numpy_dtype(dtype)).max), float(np.finfo(sampling_dtype(dtype)).max) / 2)
    if dtype == "float64":
        largest = MAX_FLOAT64_VALUE
    if not (math.isfinite(moments.variance) and reach <= largest):
        raise ParameterError(
            f"these parameters give values up to about {reach:.3g}, beyond the {largest:.4g} served "
            f"in {dtype}; use smaller parameters or a wider dtype",
            "init",
        )
