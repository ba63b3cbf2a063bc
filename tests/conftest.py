"""Session set-up shared by every test directory: compiled kernels once, and how xdist splits the suite.

The README's test command is ``python -m pytest -n auto --dist loadscope``: one test module per worker at a
time, so a module's fixtures (a server, a generated client) are made once, and in file order.

- With ``-n``, the streams' numba kernels are compiled once, here, before any worker starts, by
  ``service.core.streams.warm.warm`` in two processes (its two parts of about the same cost): they are cached on
  disk (``cache=True``, in ``service/core/**/__pycache__``, or under ``NUMBA_CACHE_DIR`` when set), so the
  workers and the servers the tests start load them instead of compiling them again, several processes at once.
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


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") is not None or not config.getoption("numprocesses", None):
        return  # a worker (the controller did it), or one process, which compiles what it uses as it goes
    parts = 2  # the machines' cores
    code = "from service.core.streams.warm import warm; warm(part={part}, parts={parts})"
    running = [subprocess.Popen([sys.executable, "-c", code.format(part=i, parts=parts)]) for i in range(parts)]
    failed = [i for i, process in enumerate(running) if process.wait() != 0]
    if failed:
        raise pytest.UsageError(f"compiling the streams' kernels failed (service.core.streams.warm parts {failed})")


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
