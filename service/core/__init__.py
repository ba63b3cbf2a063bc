"""The NumPy core of initserve: fans, schemes, sampling and statistics.

Usable as a library; imports nothing from the HTTP layer::

    >>> from service.core import make_tensor
    >>> t = make_tensor([784, 256], "he", seed=42, threads=1)
    >>> t.array.shape, t.array.dtype.name
    ((784, 256), 'float32')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.core.distributions import TRUNCATED_STD_AT_2, Moments
from service.core.dtypes import DTYPES
from service.core.engine import Engine, Generated
from service.core.errors import InitError, LayoutError, ParameterError, ShapeError, TooLargeError
from service.core.fans import LAYOUTS, FanAxes, Fans, compute_fans
from service.core.gains import calculate_gain
from service.core.plan import MAX_RANK, MAX_SEED, TensorPlan, TensorSpec, plan_tensor
from service.core.resolve import resolve_model, resolve_tensor
from service.core.schemes import SCHEMES, Init, catalogue, resolve_init
from service.core.stats import Comparison, Empirical
from service.core.streams.names import DEFAULT_STREAM, STREAM_VERSIONS, STREAMS

#: The version of the default stream (what an answer to a request naming no stream says).
STREAM_VERSION = STREAM_VERSIONS[DEFAULT_STREAM]

__all__ = [
    "DEFAULT_STREAM",
    "DTYPES",
    "LAYOUTS",
    "MAX_RANK",
    "MAX_SEED",
    "SCHEMES",
    "STREAMS",
    "STREAM_VERSION",
    "TRUNCATED_STD_AT_2",
    "Comparison",
    "Empirical",
    "Engine",
    "FanAxes",
    "Fans",
    "Generated",
    "Init",
    "InitError",
    "LayoutError",
    "Moments",
    "ParameterError",
    "ShapeError",
    "TensorPlan",
    "TensorSpec",
    "TooLargeError",
    "calculate_gain",
    "catalogue",
    "compute_fans",
    "make_tensor",
    "plan_tensor",
    "resolve_init",
    "resolve_model",
    "resolve_tensor",
]


def make_tensor(
    shape: Sequence[int],
    scheme: str,
    *,
    seed: int,
    layout: str | FanAxes | None = None,
    dtype: str = "float32",
    threads: int | None = None,
    params: Mapping[str, object] | None = None,
    stream: str = DEFAULT_STREAM,
) -> Generated:
    """Resolve and generate one tensor with its statistics (a convenience for library use): the same
    request, answered the same way, as ``POST /v1/tensors``.

    ``scheme`` is a canonical scheme or a framework-named initializer (``torch.kaiming_uniform_``) with
    its own ``params``; ``layout`` None: the framework's layout for a framework-named one, else keras.
    """
    request: dict[str, object] = {
        "shape": list(shape),
        "init": {"scheme": scheme, **(params or {})},
        "seed": seed,
        "dtype": dtype,
        "stream": stream,
    }
    if isinstance(layout, FanAxes):
        request["fan_axes"] = {"in_axis": layout.in_axis, "out_axis": layout.out_axis, "batch_axis": layout.batch_axis}
    elif layout is not None:
        request["layout"] = layout
    with Engine(threads) as engine:
        return engine.generate(resolve_tensor(request))
