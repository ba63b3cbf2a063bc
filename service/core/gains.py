"""Recommended gains per nonlinearity, as PyTorch's ``torch.nn.init.calculate_gain``.

linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid: 1; tanh: 5/3;
relu: sqrt(2); leaky_relu: sqrt(2 / (1 + a^2)) with slope a (default 0.01);
selu: 3/4 (PyTorch's empirical value, PR #50664).
"""

from __future__ import annotations

import math
from typing import Final

from service.core.errors import ParameterError

#: Every nonlinearity ``calculate_gain`` knows, in the order of its docstring (torch/nn/init.py).
NONLINEARITIES: Final[tuple[str, ...]] = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
)
_UNIT_GAIN: Final[frozenset[str]] = frozenset(NONLINEARITIES[:8])


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain PyTorch recommends for ``nonlinearity`` (``param``: leaky-ReLU slope)."""
    if nonlinearity in _UNIT_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not math.isfinite(slope):
            raise ParameterError(f"negative_slope must be a finite number, got {slope!r}", "negative_slope")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 0.75
    raise ParameterError(
        f"unknown nonlinearity {nonlinearity!r}; expected one of {', '.join(NONLINEARITIES)}", "nonlinearity"
    )
