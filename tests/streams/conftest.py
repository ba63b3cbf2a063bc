"""Shared by the JAX-stream tests: ``jax.random`` itself behind the ``RandomBackend`` protocol, the ``rng``
fixture that runs a test with it and with ours, and JAX's persistent compilation cache. JAX is imported
only when a fixture is used (the torch tests in this folder need none of it)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pytest

Key = tuple[int, int]


def _jkey(k: Key) -> Any:
    import jax

    return jax.random.wrap_key_data(np.array(k, dtype=np.uint32))


@lru_cache(maxsize=64)
def _whole(fn: str, k: Key, shape: tuple[int, ...], dtype: str, a: float, b: float) -> np.ndarray:
    import jax

    key = _jkey(k)
    if fn == "uniform":
        values = jax.random.uniform(key, shape, dtype, a, b)
    elif fn == "normal":
        values = jax.random.normal(key, shape, dtype)
    else:
        values = jax.random.truncated_normal(key, a, b, shape, dtype)
    return np.asarray(values).reshape(-1)


@lru_cache(maxsize=4096)
def _key(seed: int) -> Key:
    import jax

    data = np.asarray(jax.random.key_data(jax.random.key(seed)))
    return int(data[0]), int(data[1])


@lru_cache(maxsize=4096)
def _fold_in(k: Key, data: int) -> Key:
    import jax

    out = np.asarray(jax.random.key_data(jax.random.fold_in(_jkey(k), np.uint32(data))))
    return int(out[0]), int(out[1])


class JaxRandom:
    """The ``service.core.streams.jax.random`` API computed with ``jax.random`` (whole, then sliced; keys are
    plain ints, so each key ``jax.random`` makes is asked for once per session)."""

    @staticmethod
    def key(seed: int) -> Key:
        return _key(seed)

    @staticmethod
    def fold_in(k: Key, data: int) -> Key:
        return _fold_in(tuple(k), data)  # type: ignore[arg-type]

    @staticmethod
    def uniform(k: Key, shape: Any, dtype: str, minval: float, maxval: float, start: int, stop: int, out: Any) -> None:
        out[...] = _whole("uniform", tuple(k), tuple(shape), dtype, minval, maxval)[start:stop]

    @staticmethod
    def normal(k: Key, shape: Any, dtype: str, start: int, stop: int, out: Any) -> None:
        out[...] = _whole("normal", tuple(k), tuple(shape), dtype, 0.0, 0.0)[start:stop]

    @staticmethod
    def truncated_normal(
        k: Key, shape: Any, dtype: str, lower: float, upper: float, start: int, stop: int, out: Any
    ) -> None:
        out[...] = _whole("truncated_normal", tuple(k), tuple(shape), dtype, lower, upper)[start:stop]


@pytest.fixture(params=["jax.random", "streams.jax.random"])
def rng(request: pytest.FixtureRequest) -> Any:
    """The random backend: jax.random itself, and ours."""
    if request.param == "jax.random":
        return JaxRandom()
    from service.core.streams.jax import random as ours

    return ours


@pytest.fixture(scope="module")
def jax_compilation_cache(request: pytest.FixtureRequest) -> None:
    """JAX's persistent compilation cache under pytest's cache: the frameworks' eager calls compile one XLA
    program per (function, shape, dtype), about 0.3 s each; cached, a second run skips that. The compiled
    programs are the same, so are the numbers."""
    import jax

    cache = getattr(request.config, "cache", None)
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(cache.mkdir("jax-compilation-cache")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
