"""Tensors of the counter-based framework streams (``jax``, ``keras``, ``flax``): JAX's threefry.

Element ``i`` of a tensor is a pure function of (key, ``i``), so any chunk is made on its own, on any
thread, in any order: these streams run on the engine's chunked path like ``initserve-1``, and a
slice costs only its own elements.

- ``jax`` (and ``flax`` for a single tensor): ``initializer(jax.random.key(seed), shape, dtype)``
  called eagerly. A ``jax.*`` initializer read in its own layout (jax, or its own axis parameters) is
  that very function; anything else goes through ``jax.nn.initializers.variance_scaling`` (or
  ``jax.random``) with the request's fans (``jax.init.canonical_call``).
- ``keras``: ``Initializer(seed=seed)(shape, dtype)`` on the JAX backend; a ``keras.*`` initializer
  in keras layout (or its own axes) is that class, anything else the Keras class of the same meaning.
- ``flax`` models: ``Module.init(jax.random.key(seed), x)["params"]`` of a compact module made of the
  entries' Flax layers, each entry's ``prefix`` its module path (``service.core.streams.jax.flax``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.core.dtypes import numpy_dtype
from service.core.errors import ParameterError
from service.core.fans import FanAxes, Fans
from service.core.plan import TensorSpec
from service.core.presets import expand
from service.core.sources import CHUNK_ELEMENTS, Source, WholeSource
from service.core.streams.jax import random
from service.core.streams.jax.flax import FLAX_LAYERS, embed_call, param_key
from service.core.streams.jax.init import (
    JaxCall,
    Key,
    canonical_call,
    jax_call,
    keras_call,
    keras_canonical_call,
    keras_key,
)

#: The axis parameters by which a framework-named init reads the shape itself.
_AXIS_PARAMS: Final[dict[str, tuple[str, ...]]] = {
    "jax": ("in_axis", "out_axis", "batch_axis"),
    "keras": ("input_axes", "output_axes"),
}


@dataclass(frozen=True)
class CounterSource:
    """The elements of ``call`` on ``key`` for a tensor of ``shape`` and ``dtype``, chunk by chunk."""

    call: JaxCall
    key: Key
    shape: tuple[int, ...]
    dtype: str

    def fill(self, chunk: int, out: np.ndarray) -> None:
        self.fill_range(chunk * CHUNK_ELEMENTS, chunk * CHUNK_ELEMENTS + out.size, out)

    def fill_range(self, start: int, stop: int, out: np.ndarray, count: int | None = None) -> None:
        made = np.empty(out.size, dtype=numpy_dtype(self.dtype)) if out.dtype != numpy_dtype(self.dtype) else out
        self.call.fill(self.key, self.shape, self.dtype, start, stop, made)
        if made is not out:
            out[...] = made  # float16/bfloat16 widened to float32: exact


def _own_function(spec: TensorSpec, framework: str) -> bool:
    """Whether the request names a ``framework.*`` initializer read as that framework reads it."""
    requested = spec.requested
    if requested is None or not requested["scheme"].startswith(framework + "."):
        return False
    if isinstance(spec.layout, FanAxes):
        return any(requested.get(name) is not None for name in _AXIS_PARAMS[framework])
    return spec.layout == framework


def tensor_call(spec: TensorSpec, fans: Fans | None) -> tuple[JaxCall, Key]:
    """The call that makes ``spec``'s tensor in its stream, and its key; raises ``ParameterError`` on
    ``stream`` (or ``dtype``, ``seed``) where the framework cannot make it."""
    params = {k: v for k, v in (spec.requested or {}).items() if k != "scheme"}
    if spec.stream == "keras":
        key = keras_key(spec.seed)
        if _own_function(spec, "keras"):
            call = keras_call(spec.requested["scheme"], params, spec.shape)  # type: ignore[index]
        else:
            call = keras_canonical_call(spec.init, fans, spec.shape, spec.layout)
    else:
        key = random.key(spec.seed)
        if _own_function(spec, "jax"):
            call = jax_call(spec.requested["scheme"], params, spec.shape)  # type: ignore[index]
        else:
            call = canonical_call(spec.init, fans, spec.shape, spec.layout)
    call.check_dtype(spec.dtype)
    return call, key


def source(call: JaxCall, key: Key, shape: tuple[int, ...], dtype: str) -> Source:
    """Chunk by chunk, but for the QR-based calls, which are computed whole (five float64 copies)."""
    if call.kind in ("orthogonal", "delta_orthogonal"):
        return WholeSource(lambda: call.draw(key, shape, dtype))
    return CounterSource(call, key, shape, dtype)


def tensor_source(spec: TensorSpec, fans: Fans | None) -> Source:
    call, key = tensor_call(spec, fans)
    return source(call, key, spec.shape, spec.dtype)


def flax_sources(entries: Sequence[Mapping[str, Any]], seed: int, dtypes: Mapping[str, str]) -> dict[str, Source]:
    """Each param's source in a ``flax`` model: every entry a Flax layer preset whose ``prefix`` is its module
    path (``Dense_0``, ``Block_1.Dense_0``; empty for the module ``init`` is called on), each param drawn
    with its initializer and the key Flax derives from the path (``param_key``). ``dtypes``: each tensor's
    dtype by its full name. A named tensor or another framework's preset is a ``ParameterError`` on
    ``stream`` (Flax derives keys from module paths only)."""
    root = random.key(seed)
    sources: dict[str, Source] = {}
    for index, entry in enumerate(entries):
        preset = entry.get("preset")
        if preset not in FLAX_LAYERS:
            what = f"preset {preset}" if preset else "a named tensor"
            raise ParameterError(
                f"entries.{index} is {what}: the flax stream makes Flax layer presets only "
                f"({', '.join(FLAX_LAYERS)}), whose keys Flax derives from their module paths",
                "stream",
            )
        prefix = entry.get("prefix", "")
        path = tuple(prefix.split(".")) if prefix else ()
        args = {k: v for k, v in entry.items() if k not in ("preset", "prefix")}
        for counter, tensor in enumerate(expand(preset, args), start=1):
            shape = tuple(tensor.shape)
            call = embed_call(shape) if preset == "flax.Embed" else jax_call(tensor.init, tensor.params, shape)
            name = f"{prefix}.{tensor.name}" if prefix else tensor.name
            call.check_dtype(dtypes[name])
            sources[name] = source(call, param_key(root, path, tensor.name, counter), shape, dtypes[name])
    return sources
