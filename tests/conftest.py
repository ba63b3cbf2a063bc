"""Session set-up shared by every test directory: compiled kernels once, and how xdist splits the suite.

The README's test command is ``python -m pytest -n auto --dist loadscope``: one test module per worker at a
time, so a module's fixtures (a server, a generated client) are made once, and in file order.

- With ``-n``, the streams' numba kernels are compiled once, here, before any worker starts: they are cached on disk
  (``cache=True``, in ``service/core/**/__pycache__``, or under ``NUMBA_CACHE_DIR`` when set), so the workers
  and the servers the tests start load them instead of compiling them again, several processes at once (on a
  fresh clone that compilation is the longest single step of the suite).
- Modules that write the same files run in one worker, one after the other (``SHARED_SCOPES``): the
  TypeScript client's generated types under ``build/clients/ts`` are rewritten by ``tests/clients`` and read by
  ``tests/explorer/test_snippets.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest


def _jax_float16_as_served() -> None:
    """The jax stream's float16 is XLA's on x86-64 CPUs without AVX512-FP16 (``service.core.streams.jax.random``):
    on a CPU with it, the JAX the tests compare with runs as on the others (before any test imports jax)."""
    import llvmlite.binding

    if llvmlite.binding.get_host_cpu_features().get("avx512fp16"):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=AVX2").strip()


_jax_float16_as_served()


SHARED_SCOPES = {"build/clients": ("tests/clients/", "tests/explorer/test_snippets.py")}


# service.core.streams.warm.warm in two halves of about the same work, compiled side by side on a cold cache.
_WARM_HALVES = (
    """
import numpy as np
from service.core.dtypes import numpy_dtype
from service.core.streams.torch.generator import TorchGenerator
for capability in ("avx2", "default"):
    gen = TorchGenerator(0, capability)
    for dtype in ("float32", "float64", "float16", "bfloat16"):
        for count in (3, 17):
            out = np.empty(count, dtype=numpy_dtype(dtype))
            gen.uniform_(out, -1.0, 1.0)
            gen.normal_(out, 0.0, 1.0)
    gen.randperm(5)
""",
    """
import numpy as np
from service.core.dtypes import numpy_dtype
from service.core.streams import initserve2
from service.core.streams.jax import random
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
""",
)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") is not None or not config.getoption("numprocesses", None):
        return  # a worker (the controller did it), or one process, which compiles what it uses as it goes
    from service.core.streams.warm import warm

    halves = [subprocess.Popen([sys.executable, "-c", code]) for code in _WARM_HALVES]
    for half in halves:
        half.wait()
    warm()  # every kernel from the cache now (about 1 s); compiles whatever the halves missed


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope``, with the modules of each ``SHARED_SCOPES`` entry as one scope."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for scope, prefixes in SHARED_SCOPES.items():
                if nodeid.startswith(prefixes):
                    return scope
            return str(super()._split_scope(nodeid))

    return SharedScopeScheduling(config, log)
