"""Load every compiled kernel of the streams before a request needs it (the service does it at start-up)."""

from __future__ import annotations

import numpy as np

from service.core.dtypes import numpy_dtype
from service.core.streams import initserve2
from service.core.streams.jax import random
from service.core.streams.torch.generator import TorchGenerator


def warm() -> None:
    """Compile (or load from numba's cache) every kernel of the streams with a few small draws per dtype:
    the default stream's first, then the jax, keras and flax streams', then torch's (both capabilities).
    About 1 s from the cache; a first compile takes longer."""
    for dtype in ("float32", "float64"):
        out = np.empty(3, dtype=dtype)
        initserve2.uniform(0, -1.0, 1.0, 0, 3, out)
        initserve2.normal(0, 0.0, 1.0, 0, 3, out)
        initserve2.truncated_normal(0, 0.0, 1.0, -2.0, 2.0, 0, 3, out)
    for dtype in ("float32", "float16", "bfloat16"):
        out = np.empty(3, dtype=numpy_dtype(dtype))
        random.uniform(random.key(0), (3,), dtype, -1.0, 1.0, 0, 3, out)
        random.normal(random.key(0), (3,), dtype, 0, 3, out)
        random.truncated_normal(random.key(0), (3,), dtype, -2.0, 2.0, 0, 3, out)
    for capability in ("avx2", "default"):
        gen = TorchGenerator(0, capability)
        for dtype in ("float32", "float64", "float16", "bfloat16"):
            for count in (3, 17):
                out = np.empty(count, dtype=numpy_dtype(dtype))
                gen.uniform_(out, -1.0, 1.0)
                gen.normal_(out, 0.0, 1.0)
        gen.randperm(5)
