"""Activation functions and their derivatives, in float64, for the propagation diagnostics.

Each activation is ``f(z)`` with its derivative ``f'(z)``, both vectorized over NumPy arrays:

- ``linear``: f(z) = z, f' = 1.
- ``relu``: f(z) = max(z, 0), f' = 1 for z > 0, else 0 (the subgradient 0 at z = 0, as PyTorch).
- ``leaky_relu``: f(z) = z for z > 0, else a z, with the negative slope a (default 0.01, PyTorch's
  and Keras' ``LeakyReLU`` default); f' = 1 or a.
- ``tanh``: f' = 1 - tanh(z)^2.
- ``sigmoid``: sigma(z) = 1 / (1 + e^-z), computed as (1 + tanh(z / 2)) / 2 (no overflow);
  f' = sigma(z) (1 - sigma(z)).
- ``selu``: f(z) = lambda z for z > 0, else lambda alpha (e^z - 1), with Klambauer et al. 2017's
  constants lambda = 1.0507009873554805, alpha = 1.6732632423543772 (those of PyTorch, Keras, JAX);
  f' = lambda, or lambda alpha e^z.
- ``gelu``: the tanh approximation (Hendrycks & Gimpel 2016), as ``jax.nn.gelu``'s default and
  PyTorch's ``gelu(approximate="tanh")``: f(z) = z/2 (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3);
  f' = (1 + tanh u)/2 + z/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 z^2). The exact form
  z Phi(z) differs from it by less than 5e-4 (NumPy has no vectorized erf).
- ``swish`` (SiLU, Ramachandran et al. 2017; Elfwing et al. 2018): f(z) = z sigma(z),
  f' = sigma(z) (1 + z (1 - sigma(z))).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.core.errors import ParameterError

SELU_LAMBDA: Final[float] = 1.0507009873554805
SELU_ALPHA: Final[float] = 1.6732632423543772
LEAKY_RELU_SLOPE: Final[float] = 0.01
_GELU_C: Final[float] = math.sqrt(2.0 / math.pi)
_GELU_K: Final[float] = 0.044715

ACTIVATIONS: Final[tuple[str, ...]] = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu", "swish")

Array = np.ndarray


def _sigmoid(z: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _selu(z: Array) -> Array:
    return SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))


def _selu_prime(z: Array) -> Array:
    return SELU_LAMBDA * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))


def _gelu_u(z: Array) -> Array:
    return np.tanh(_GELU_C * (z + _GELU_K * z * z * z))


def _gelu(z: Array) -> Array:
    return 0.5 * z * (1.0 + _gelu_u(z))


def _gelu_prime(z: Array) -> Array:
    t = _gelu_u(z)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * z * z)


def _swish_prime(z: Array) -> Array:
    s = _sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


@dataclass(frozen=True)
class Activation:
    """An activation function; ``negative_slope`` is set for ``leaky_relu`` only."""

    name: str
    negative_slope: float | None = None

    def __call__(self, z: Array) -> Array:
        return self._functions()[0](z)

    def derivative(self, z: Array) -> Array:
        """f'(z), elementwise."""
        return self._functions()[1](z)

    def _functions(self) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
        a = self.negative_slope if self.negative_slope is not None else LEAKY_RELU_SLOPE
        table: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
            "linear": (lambda z: z, np.ones_like),
            "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),
            "leaky_relu": (lambda z: np.where(z > 0, z, a * z), lambda z: np.where(z > 0, 1.0, a)),
            "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
            "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
            "selu": (_selu, _selu_prime),
            "gelu": (_gelu, _gelu_prime),
            "swish": (lambda z: z * _sigmoid(z), _swish_prime),
        }
        return table[self.name]


def activation(name: str, negative_slope: float | None = None) -> Activation:
    """The activation ``name``; ``negative_slope`` (leaky_relu only) defaults to 0.01.

    >>> activation("leaky_relu")
    Activation(name='leaky_relu', negative_slope=0.01)
    """
    if name not in ACTIVATIONS:
        raise ParameterError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}", "activation")
    if name != "leaky_relu":
        if negative_slope is not None:
            raise ParameterError(f"negative_slope applies to leaky_relu only, not to {name}", "negative_slope")
        return Activation(name)
    slope = LEAKY_RELU_SLOPE if negative_slope is None else negative_slope
    if isinstance(slope, bool) or not isinstance(slope, int | float) or not math.isfinite(slope):
        raise ParameterError(f"negative_slope must be a finite number, got {slope!r}", "negative_slope")
    return Activation(name, float(slope))
