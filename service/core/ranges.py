"""Byte ranges of a ``.npy`` file, as element ranges of its tensor.

The file is ``header`` (``H`` bytes, a multiple of 64) and then the tensor's elements in C order,
``s`` bytes each: byte ``b >= H`` belongs to flat element ``(b - H) // s``. Bytes ``[first, last]``
(inclusive, as HTTP counts) need elements ``[(max(first, H) - H) // s, (last - H) // s + 1)`` when
``last >= H``, none otherwise; of those, the answer drops the ``(max(first, H) - H) % s`` leading bytes
and keeps ``last - first + 1`` bytes in all.

``element_range`` plans just those elements: the plan of the flat tensor's part ``[start, stop)``,
a one-dimensional slice (``SlicedSource``) of the flat tensor, so that a counter-based stream
(initserve-2, jax) makes only them, initserve-1 the chunks of 65,536 elements they touch, and a tensor
computed whole (orthogonal, a sequential stream) the whole tensor, as always.
"""

from __future__ import annotations

from dataclasses import replace

from service.core.plan import TensorPlan
from service.core.sources import SlicedSource


def element_range(plan: TensorPlan, start: int, stop: int) -> TensorPlan:
    """The plan of flat elements ``[start, stop)`` of ``plan``'s (served) tensor, ``0 <= start < stop``."""
    if not 0 <= start < stop <= plan.count:
        raise ValueError(f"elements [{start}, {stop}) are not within the tensor's {plan.count}")
    count = plan.count
    bounds = ((start, stop),)
    spec = replace(plan.spec, shape=(count,), slice=bounds)
    return replace(plan, spec=spec, source=SlicedSource(plan.source, (count,), bounds))


def covering_elements(header_bytes: int, itemsize: int, first: int, last: int) -> tuple[int, int, int]:
    """The elements ``[start, stop)`` that bytes ``[first, last]`` of the file need (``start == stop``:
    none, the bytes are all header) and the bytes to skip at the start of the first one."""
    if last < header_bytes:
        return 0, 0, 0
    offset = max(first, header_bytes) - header_bytes
    return offset // itemsize, (last - header_bytes) // itemsize + 1, offset % itemsize
