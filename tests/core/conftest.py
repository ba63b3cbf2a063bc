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
    stream: str = "initserve-1",
) -> TensorPlan:
    """The core tests pin ``initserve-1`` (its golden hashes, chunking and samplers are what they test; the
    other streams have their own tests in tests/streams and tests/api)."""
    spec = TensorSpec(tuple(shape), resolve_init(scheme, params), seed, dtype, layout, stream=stream)  # type: ignore[arg-type]
    return plan_tensor(spec)


@pytest.fixture(scope="session", autouse=True)
def single_threaded_blas() -> Iterator[None]:
    """Run the tests' own BLAS/LAPACK calls (Gram matrices, determinants) on one thread.

    OpenBLAS by default starts one thread per core *inside* each calling
    thread, which is slow on a loaded machine. The service's own QR (orthogonal)
    limits itself to one BLAS thread whatever is set here;
    test_determinism.test_orthogonal_does_not_depend_on_blas_threads checks it
    by overriding this limit.
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
