"""Arrays for the encoder tests: values with all bits in play, and their bits."""

from __future__ import annotations

import numpy as np

UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def sample(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random values of ``dtype`` (floats with a NaN and an infinity when there is room)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-(2**62), 2**62, size=shape, dtype=dtype)
    values = (rng.standard_normal(size=shape) * 10).astype(dtype)
    flat = values.reshape(-1)
    if flat.size >= 2:
        flat[0], flat[1] = np.nan, -np.inf
    return values


def bits(array: np.ndarray) -> np.ndarray:
    """The array's raw bits as unsigned integers (NaNs compare equal bit for bit)."""
    return np.ascontiguousarray(array).view(UINT[array.dtype.itemsize])
