"""The dtype table: bfloat16's constants, and what importing the core imports (``service.core.dtypes``)."""

from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np

from service.core.dtypes import BFLOAT16_MAX, largest_finite, numpy_dtype


def test_bfloat16_is_ml_dtypes_own() -> None:
    assert numpy_dtype("bfloat16") == np.dtype(ml_dtypes.bfloat16)
    assert BFLOAT16_MAX == largest_finite("bfloat16") == float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)


def test_the_core_imports_numpy_ma_and_not_ml_dtypes() -> None:
    """In a fresh interpreter: ``numpy.ma`` comes with the core, before any thread (its lazy first import, from
    numba's argument typing on a request thread, raced the warm-up thread's ``ml_dtypes`` import: a 500 in CI);
    ``ml_dtypes`` waits for the first bfloat16."""
    code = (
        "import sys, service.core\n"
        "print('numpy.ma' in sys.modules, 'ml_dtypes' in sys.modules)\n"
        "service.core.dtypes.numpy_dtype('bfloat16')\n"
        "print('ml_dtypes' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["True", "False", "True"], result.stdout + result.stderr
