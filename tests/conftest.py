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
- The longest modules are handed out first (``LONGEST_FIRST``), so that no worker starts a long module while the
  other has nothing left to do; xdist's own order (most tests first) put them last.
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

#: Modules of more than ~12 worker-seconds, longest first (measured on a fresh clone, 2 workers, 2026-12-07). The
#: order changes only the wall time: a stale entry costs a little time, never a test.
LONGEST_FIRST = (
    "tests/fuzz/test_schemathesis.py",
    "tests/clients/",
    "tests/explorer/test_snippets.py",
    "tests/deploy/test_install.py",
    "tests/documentation/",
    "tests/streams/test_jax_init.py",
    "tests/streams/test_jax_random.py",
    "tests/explorer/test_page.py",
    "tests/api/test_hardening.py",
    "tests/api/test_faults.py",
    "tests/api/test_permanent_urls.py",
    "tests/streams/test_flax_keys.py",
    "tests/deploy/test_nginx.py",
    "tests/api/test_model_memory.py",
    "tests/api/test_processes.py",
    "tests/api/test_stream_jax.py",
    "tests/streams/test_initserve2.py",
    "tests/core/test_statistics.py",
    "tests/api/test_read_timeout.py",
    "tests/api/test_permanent_urls_server.py",
)


def _rank(nodeid: str) -> int:
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules of ``LONGEST_FIRST`` first, in its order, then the others in file order (a stable sort keeps
    each module's tests together and in their order)."""
    items.sort(key=lambda item: _rank(item.nodeid))


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
    """``--dist loadscope``, with the modules of each ``SHARED_SCOPES`` entry as one scope, handed out in the
    collection's order (``pytest_collection_modifyitems``)."""
    if config.getoption("dist") != "loadscope":
        return None
    config.option.loadscopereorder = False
    from xdist.scheduler import LoadScopeScheduling

    class SharedScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for scope, prefixes in SHARED_SCOPES.items():
                if nodeid.startswith(prefixes):
                    return scope
            return str(super()._split_scope(nodeid))

    return SharedScopeScheduling(config, log)
