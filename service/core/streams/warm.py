"""Load every compiled kernel of the streams before a request needs it (the service does it at start-up).

The work is a list of steps, each a few small draws that compile (or load from numba's cache) a group of
kernels sharing nothing with the other groups, with the CPU-seconds its cold compile took (AMD EPYC Zen 3,
numba 0.6x, one process). ``warm(part=i, parts=n)`` runs the ``i``-th of ``n`` parts of about the same cost
(longest step first onto the cheapest part), so ``n`` processes compile everything side by side on a cold
cache (``tests/conftest.py``); ``warm()`` runs every step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.core.dtypes import numpy_dtype
from service.core.streams import initserve2
from service.core.streams.jax import random
from service.core.streams.torch.generator import TorchGenerator


def _initserve2(dtype: str) -> None:
    out = np.empty(3, dtype=dtype)
    initserve2.uniform(0, -1.0, 1.0, 0, 3, out)
    initserve2.normal(0, 0.0, 1.0, 0, 3, out)
    initserve2.truncated_normal(0, 0.0, 1.0, -2.0, 2.0, 0, 3, out)


def _jax(dtype: str) -> None:
    """The jax stream's three samplers: one kernel each for the dtype, whatever ``out``'s dtype."""
    out = np.empty(3, dtype=numpy_dtype(dtype))
    random.uniform(random.key(0), (3,), dtype, -1.0, 1.0, 0, 3, out)
    random.normal(random.key(0), (3,), dtype, 0, 3, out)
    random.truncated_normal(random.key(0), (3,), dtype, -2.0, 2.0, 0, 3, out)


def _jax_keys() -> None:
    """``bits32``, ``split`` and ``fold_in`` (the flax stream's keys)."""
    random.bits32(random.key(0), 0, 3)
    random.fold_in(random.split(random.key(0), 2)[0], 1)


def _torch(dtypes: tuple[str, ...]) -> None:
    """torch's generator for both capabilities (a runtime argument of the same kernels), short and vectorized
    lengths; float16/bfloat16 draw through the float32 kernels, so they go with float32."""
    for capability in ("avx2", "default"):
        gen = TorchGenerator(0, capability)
        for dtype in dtypes:
            for count in (3, 17):
                out = np.empty(count, dtype=numpy_dtype(dtype))
                gen.uniform_(out, -1.0, 1.0)
                gen.normal_(out, 0.0, 1.0)


def _torch_randperm() -> None:
    for capability in ("avx2", "default"):
        TorchGenerator(0, capability).randperm(5)


#: (cold-compile CPU-seconds, step): the default stream's first, then the jax, keras and flax streams', then torch's.
STEPS: tuple[tuple[float, Callable[[], None]], ...] = (
    (11.6, lambda: _initserve2("float32")),
    (7.1, lambda: _initserve2("float64")),
    (7.7, lambda: _jax("float32")),
    (8.9, lambda: _jax("float16")),
    (12.2, lambda: _jax("bfloat16")),
    (0.7, _jax_keys),
    (15.2, lambda: _torch(("float32", "float16", "bfloat16"))),
    (7.9, lambda: _torch(("float64",))),
    (1.2, _torch_randperm),
)


def partition(parts: int) -> list[list[int]]:
    """The indices of ``STEPS`` in each of ``parts`` parts: longest step first, onto the part with the least cost
    so far (ties to the lowest part)."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    loads = [0.0] * parts
    chosen: list[list[int]] = [[] for _ in range(parts)]
    for i in sorted(range(len(STEPS)), key=lambda i: -STEPS[i][0]):
        p = loads.index(min(loads))
        loads[p] += STEPS[i][0]
        chosen[p].append(i)
    return [sorted(c) for c in chosen]


def warm(part: int | None = None, parts: int = 2) -> None:
    """Compile (or load from numba's cache) the kernels of part ``part`` of ``parts`` (every kernel if ``part``
    is None) with a few small draws per dtype. About 1 s from the cache; a first compile takes longer."""
    if part is not None and not 0 <= part < parts:
        raise ValueError(f"part must be in [0, {parts}), got {part}")
    steps = range(len(STEPS)) if part is None else partition(parts)[part]
    for i in steps:
        STEPS[i][1]()
