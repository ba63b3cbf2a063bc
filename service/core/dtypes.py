"""Output dtypes and the dtype each one is sampled in.

Every float dtype but float64 is sampled in float32 and rounded (round to
nearest even) to the output dtype, so a float16 or bfloat16 tensor is exactly
the float32 tensor of the same request, rounded.

``INTEGER_DTYPES`` (int64) serve deterministic integral tensors only (zeros,
ones, an integral constant: PyTorch BatchNorm's ``num_batches_tracked``); they
are made in float64 and cast, exactly. They are not in ``DTYPES``, the float
dtypes of the single-tensor API.

``ml_dtypes`` (bfloat16) is imported at the first bfloat16 request, not with this module: its import costs
about 1 CPU-s, a third of a server's start-up, and most requests never need it (the start-up warm-up of
the streams loads it on its background thread). Its import adds its types to ``np.sctypeDict``, while
``numpy.ma``'s first import iterates that dict, and NumPy 2 imports ``numpy.ma`` lazily: numba's argument
typing touches ``np.ma.MaskedArray`` at a kernel's first call. A request thread's first kernel call while the
warm-up thread imported ``ml_dtypes`` failed "dictionary changed size during iteration" (a 500 in CI), so
``numpy.ma`` is imported here, with the package, before any thread.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import numpy as np
import numpy.ma  # (imported before any thread can import ml_dtypes: see the module's docstring)

DType = Literal["float32", "float64", "float16", "bfloat16"]
DTYPES: Final[tuple[str, ...]] = get_args(DType)
INTEGER_DTYPES: Final[tuple[str, ...]] = ("int64",)

_NUMPY: Final[dict[str, np.dtype]] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "int64": np.dtype(np.int64),
}
#: The largest finite bfloat16, (2 - 2^-7) x 2^127 (``ml_dtypes.finfo(bfloat16).max``).
BFLOAT16_MAX: Final[float] = (2 - 2**-7) * 2.0**127


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of an output dtype name (bfloat16 from ``ml_dtypes``, imported the first time)."""
    dtype = _NUMPY.get(name)
    if dtype is None:
        if name != "bfloat16":
            raise KeyError(name)
        import ml_dtypes

        dtype = _NUMPY[name] = np.dtype(ml_dtypes.bfloat16)
    return dtype


def largest_finite(name: str) -> float:
    """The largest finite value of a float output dtype."""
    return BFLOAT16_MAX if name == "bfloat16" else float(np.finfo(_NUMPY[name]).max)


def sampling_dtype(name: str) -> np.dtype:
    """float64 for float64 and int64 output, float32 for everything else."""
    return _NUMPY["float64"] if name in ("float64", "int64") else _NUMPY["float32"]
