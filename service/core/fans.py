"""Fan-in and fan-out of a weight shape, for each framework's layout.

- ``keras`` (also TensorFlow and Flax kernels), Keras 3 ``compute_fans``
  (keras/src/initializers/random_initializers.py): shape ``(..., in, out)``,
  receptive field ``rf = prod(shape[:-2])``, ``fan_in = in * rf``,
  ``fan_out = out * rf``; a 1-D shape ``(n,)`` has ``fan_in = fan_out = n``
  and a scalar has 1 and 1.
- ``jax``, JAX ``_compute_fans`` (jax/_src/nn/initializers.py) with its
  defaults ``in_axis=-2, out_axis=-1``: the same as ``keras`` for 2 dims and
  more; fewer dims raise, as JAX does.
- ``torch``, PyTorch ``_calculate_fan_in_and_fan_out`` (torch/nn/init.py):
  shape ``(out, in, ...)``, ``rf = prod(shape[2:])``, ``fan_in = in * rf``,
  ``fan_out = out * rf``; fewer than 2 dims raise, as PyTorch does.
- ``FanAxes`` (JAX ``variance_scaling(in_axis, out_axis, batch_axis)``): every
  axis not named is receptive field; batch axes count in neither fan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

from service.core.errors import LayoutError, ShapeError

Layout = Literal["keras", "jax", "torch"]
LAYOUTS: Final[tuple[str, ...]] = get_args(Layout)


@dataclass(frozen=True)
class Fans:
    """The fans of a shape: the number of inputs and outputs of one unit."""

    fan_in: int
    fan_out: int


@dataclass(frozen=True)
class FanAxes:
    """Explicit axes, JAX ``variance_scaling`` semantics; negative axes count from the end."""

    in_axis: tuple[int, ...]
    out_axis: tuple[int, ...]
    batch_axis: tuple[int, ...] = ()

    @classmethod
    def of(cls, in_axis: int | Sequence[int], out_axis: int | Sequence[int], batch_axis: Sequence[int] = ()) -> FanAxes:
        """Build from JAX-style arguments, where an axis may be one int or a sequence."""

        def as_tuple(axis: int | Sequence[int]) -> tuple[int, ...]:
            return (axis,) if isinstance(axis, int) else tuple(axis)

        return cls(as_tuple(in_axis), as_tuple(out_axis), as_tuple(batch_axis))

    def normalized(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """The axes as non-negative indices; raises unless all are in range and distinct."""
        groups = {"in_axis": self.in_axis, "out_axis": self.out_axis, "batch_axis": self.batch_axis}
        seen: set[int] = set()
        result = []
        for name, axes in groups.items():
            if name != "batch_axis" and not axes:
                raise LayoutError(f"{name} must name at least one axis", f"fan_axes.{name}")
            normalized = []
            for axis in axes:
                if not -rank <= axis < rank:
                    raise LayoutError(
                        f"axis {axis} is out of range for a shape of rank {rank} (valid: {-rank} to {rank - 1})",
                        f"fan_axes.{name}",
                    )
                axis %= rank
                if axis in seen:
                    raise LayoutError(f"axis {axis} is named more than once in fan_axes", f"fan_axes.{name}")
                seen.add(axis)
                normalized.append(axis)
            result.append(tuple(normalized))
        return result[0], result[1], result[2]


def compute_fans(shape: Sequence[int], layout: Layout | FanAxes = "keras") -> Fans:
    """The fans of ``shape`` read in ``layout``; raises where the framework raises."""
    shape = tuple(shape)
    if isinstance(layout, FanAxes):
        in_axes, out_axes, batch_axes = layout.normalized(len(shape))
        in_size = math.prod(shape[a] for a in in_axes)
        out_size = math.prod(shape[a] for a in out_axes)
        named = set(in_axes) | set(out_axes) | set(batch_axes)
        receptive_field = math.prod(d for a, d in enumerate(shape) if a not in named)
        return Fans(in_size * receptive_field, out_size * receptive_field)
    if layout == "keras":
        if len(shape) == 0:
            return Fans(1, 1)
        if len(shape) == 1:
            return Fans(shape[0], shape[0])
        receptive_field = math.prod(shape[:-2])
        return Fans(shape[-2] * receptive_field, shape[-1] * receptive_field)
    if layout == "jax":
        if len(shape) < 2:
            raise ShapeError(
                f"the jax layout needs at least 2 dims to compute fans (got shape {list(shape)}), "
                "as jax.nn.initializers raises; use the keras layout or fan_axes",
                "shape",
            )
        return compute_fans(shape, "keras")
    if layout == "torch":
        if len(shape) < 2:
            raise ShapeError(
                f"the torch layout needs at least 2 dims to compute fans (got shape {list(shape)}), "
                "as torch.nn.init raises; use the keras layout for a 1-D or scalar shape",
                "shape",
            )
        receptive_field = math.prod(shape[2:])
        return Fans(shape[1] * receptive_field, shape[0] * receptive_field)
    raise LayoutError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)} or fan_axes", "layout")


def fan_for_mode(fans: Fans, mode: str) -> float:
    """The denominator of ``variance = scale / fan`` for a fan mode.

    ``fan_avg = (fan_in + fan_out) / 2`` (Glorot & Bengio 2010);
    ``fan_geo_avg = sqrt(fan_in * fan_out)`` (JAX ``variance_scaling``).
    """
    if mode == "fan_in":
        return float(fans.fan_in)
    if mode == "fan_out":
        return float(fans.fan_out)
    if mode == "fan_avg":
        return (fans.fan_in + fans.fan_out) / 2.0
    if mode == "fan_geo_avg":
        return math.sqrt(fans.fan_in * fans.fan_out)
    raise LayoutError(f"unknown fan mode {mode!r}", "init.mode")
