"""Shared fixtures of the core tests: plan and generate a tensor in one call."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest
from threadpoolctl import threadpool_limits

from service.core import Engine, FanAxes, Generated, TensorPlan, TensorSpec, plan_tensor, resolve_init


def build_plan(
    shape: tuple[int, ...],
    scheme: str,
    params: Mapping[str, object] | None = None,
    *,
    layout: str | FanAxes = "keras",
    dtype: str = "float32",
    seed: int = 0,
) -> TensorPlan:
    return plan_tensor(TensorSpec(tuple(shape), resolve_init(scheme, params), seed, dtype, layout))  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS/LAPACK on one thread.

    The orthogonal scheme's QR (``np.linalg.qr``) and the engine's chunk
    statistics (``np.dot``) call OpenBLAS, which by default starts one thread
    per core *inside* each engine thread: on a loaded 2-core machine a QR of
    576 x 128 then takes ~1.8 s instead of 0.02 s. Worse, the QR's result
    depends on the BLAS thread count (see test_determinism's strict xfail), so
    golden hashes are only meaningful with a fixed count.
    """
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A single-threaded engine (bytes never depend on the thread count; test_determinism checks it)."""
    with Engine(1) as e:
        yield e


@pytest.fixture(scope="session")
def plan() -> Callable[..., TensorPlan]:
    return build_plan


@pytest.fixture(scope="session")
def make(engine: Engine) -> Callable[..., tuple[TensorPlan, Generated]]:
    def _make(
        shape: tuple[int, ...],
        scheme: str,
        params: Mapping[str, object] | None = None,
        *,
        layout: str | FanAxes = "keras",
        dtype: str = "float32",
        seed: int = 0,
    ) -> tuple[TensorPlan, Generated]:
        p = build_plan(shape, scheme, params, layout=layout, dtype=dtype, seed=seed)
        return p, engine.generate(p)

    return _make
