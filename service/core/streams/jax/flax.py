"""Flax linen (0.12.8) parameter keys and the params of the ``flax.*`` presets: the ``flax`` stream's models.

``Module.init(jax.random.key(seed), x)`` gives every ``self.param(name, init_fn, shape, dtype)`` the key
``scope.make_rng('params')`` of its module's scope (flax/core/scope.py)::

    def make_rng(self, name='params'):
        self.rng_counters[name] += 1
        return LazyRng.create(self.rngs[name], self.rng_counters[name]).as_jax_rng()

where a child scope's rng is ``LazyRng.create(parent_rng, child_name)`` (``Scope.push``), so a param's
key is ``_fold_in_static(root, (*module_path, counter))``::

    m = hashlib.sha1()
    for x in data:                       # config.flax_fix_rng_separator is False by default: no b'\\0'
        m.update(x.encode('utf-8') if isinstance(x, str) else x.to_bytes((x.bit_length() + 7) // 8, 'big'))
    return random.fold_in(rng, jnp.uint32(int.from_bytes(m.digest()[:4], byteorder='big')))

``counter`` is the module's count of ``make_rng('params')`` calls so far, 1-based: Dense and Conv create
``kernel`` (1) then ``bias`` (2); Embed creates ``embedding`` (1). A plain ``nn.Dense(...).init(key, x)``
has the empty module path (kernel: SHA-1 of ``b'\\x01'``); the first Dense of a compact MLP is
``Dense_0`` (SHA-1 of ``b'Dense_0\\x01'``). Submodules of a compact module are named
``f"{ClassName}_{i}"``, ``i`` counting per class name in creation order (``Dense_0``, ``Conv_0``,
``Dense_1``). Verified against flax 0.12.8 / jax 0.10.2 (tests/streams/test_flax_keys.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

import numpy as np

from service.core.errors import ParameterError
from service.core.presets import expand
from service.core.streams.jax.init import (
    JaxCall,
    Key,
    RandomBackend,
    jax_call,
    jax_denominator,
    jax_fans,
    variance_scaling_call,
)

#: The rng counter of each param of the Flax layers served: the order the module creates them in.
PARAM_COUNTERS: Final[dict[str, int]] = {"kernel": 1, "embedding": 1, "bias": 2}

#: The Flax presets (service/core/presets.py) and their linen class names.
FLAX_LAYERS: Final[dict[str, str]] = {"flax.Dense": "Dense", "flax.Conv": "Conv", "flax.Embed": "Embed"}


class FoldIn(Protocol):
    """``jax.random.fold_in`` on raw threefry keys (``service.core.streams.jax.random.fold_in``)."""

    def fold_in(self, k: Key, data: int) -> Key:
        """``jax.random.key_data(jax.random.fold_in(key, data))``."""
        ...


def _default_fold_in() -> FoldIn:
    from service.core.streams.jax import random as jax_random

    return cast(FoldIn, jax_random)


def static_hash(data: Sequence[str | int]) -> int:
    """flax/core/scope.py ``_fold_in_static``'s hash of the static data: the first 4 bytes of
    SHA-1 over the strings (UTF-8) and ints (big-endian, minimal length), read big-endian.

    >>> hex(static_hash((1,)))  # sha1(b'\\x01')
    '0xbf8b4530'
    """
    m = hashlib.sha1()
    for x in data:
        if isinstance(x, str):
            m.update(x.encode("utf-8"))
        else:
            m.update(x.to_bytes((x.bit_length() + 7) // 8, byteorder="big"))
    return int.from_bytes(m.digest()[:4], byteorder="big")


def param_key(
    root: Key, module_path: tuple[str, ...], name: str, counter: int | None = None, rng: FoldIn | None = None
) -> Key:
    """The key Flax gives param ``name`` of the module at ``module_path`` (``()`` for the module ``init``
    is called on, ``("Dense_0",)`` for its first Dense, ...) under ``Module.init(root, ...)``:
    ``fold_in(root, static_hash((*module_path, counter)))``. ``counter``: the param's rng counter in its
    module (default: ``PARAM_COUNTERS[name]``, kernel/embedding 1, bias 2, as Dense, Conv and Embed)."""
    if counter is None:
        if name not in PARAM_COUNTERS:
            raise ParameterError(f"no rng counter known for a Flax param named {name!r}; give counter", "name")
        counter = PARAM_COUNTERS[name]
    rng = _default_fold_in() if rng is None else rng
    return rng.fold_in(root, static_hash((*module_path, counter)))


@dataclass(frozen=True)
class FlaxParam:
    """One param of a Flax model: its module path, name, shape, initializer and key."""

    path: tuple[str, ...]
    name: str
    shape: tuple[int, ...]
    call: JaxCall
    key: Key

    @property
    def prefix(self) -> str:
        """The module path joined with dots (``"Dense_0"``; ``""`` for the root module)."""
        return ".".join(self.path)

    @property
    def full_name(self) -> str:
        """``prefix.name`` (``"Dense_0.kernel"``), or ``name`` for the root module."""
        return f"{self.prefix}.{self.name}" if self.path else self.name

    def fill(
        self, dtype: str | np.dtype, start: int, stop: int, out: np.ndarray, rng: RandomBackend | None = None
    ) -> None:
        """Flat elements ``[start, stop)`` of the param (see ``JaxCall.fill``)."""
        self.call.fill(self.key, self.shape, dtype, start, stop, out, rng)

    def draw(self, dtype: str | np.dtype, rng: RandomBackend | None = None) -> np.ndarray:
        """The whole param, shaped."""
        return self.call.draw(self.key, self.shape, dtype, rng)


def embed_call(shape: tuple[int, ...]) -> JaxCall:
    """flax/linen/linear.py ``Embed``: ``default_embed_init = variance_scaling(1.0, 'fan_in', 'normal',
    out_axis=0)`` with JAX's ``_compute_fans`` (in_axis=-2 and out_axis=0 are the same axis of
    ``(num_embeddings, features)``: ``fan_in = N * (N * F / N / N)`` in floats, about ``F``)."""
    fan_in, fan_out = jax_fans(shape, -2, 0, ())
    origin = "flax.linen.Embed: jax.nn.initializers.variance_scaling(1.0, 'fan_in', 'normal', out_axis=0)"
    return variance_scaling_call(1.0, jax_denominator(fan_in, fan_out, "fan_in"), "normal", origin)


def flax_params(
    layers: Sequence[tuple[str, Mapping[str, Any]]],
    root: Key,
    *,
    top_level: bool = False,
    rng: FoldIn | None = None,
) -> list[FlaxParam]:
    """The params of a compact linen module that creates ``layers`` in order (``(preset, args)``:
    ``("flax.Dense", {"features": 256, "in_features": 784})``, ``flax.Conv``, ``flax.Embed``; the args of
    ``service.core.presets.expand``), under ``Module.init(root, x)``: each layer's module path is
    ``(f"{Class}_{i}",)``, each param drawn with its preset initializer (``jax_call``; Embed with Flax's
    own ``variance_scaling(..., out_axis=0)``) and its ``param_key``. ``top_level``: ``layers`` is one
    layer that ``init`` is called on directly (module path ``()``).
    """
    if top_level and len(layers) != 1:
        raise ParameterError("top_level takes exactly one layer (the module init is called on)", "layers")
    counts: dict[str, int] = {}
    params: list[FlaxParam] = []
    for preset, args in layers:
        if preset not in FLAX_LAYERS:
            raise ParameterError(
                f"the flax stream serves the presets {', '.join(FLAX_LAYERS)}, not {preset!r}", "preset"
            )
        cls = FLAX_LAYERS[preset]
        index = counts.get(cls, 0)
        counts[cls] = index + 1
        path: tuple[str, ...] = () if top_level else (f"{cls}_{index}",)
        for counter, tensor in enumerate(expand(preset, args), start=1):
            shape = tuple(tensor.shape)
            call = embed_call(shape) if preset == "flax.Embed" else jax_call(tensor.init, tensor.params, shape)
            key = param_key(root, path, tensor.name, counter, rng)
            params.append(FlaxParam(path, tensor.name, shape, call, key))
    return params
