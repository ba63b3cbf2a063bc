"""Fixtures of the diagnostics tests: one engine, BLAS on one thread, a helper to measure a network."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from threadpoolctl import threadpool_limits

from service.core import Engine, resolve_init
from service.core.activations import activation
from service.core.diagnostics import Report, diagnose, network

from .helpers import BATCH, DEPTH, WIDTH, Measure, Scheme


@pytest.fixture(scope="session", autouse=True)
def single_threaded_blas() -> Iterator[None]:
    """One BLAS thread, as the service runs (its lifespan limits BLAS to one thread)."""
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with Engine(2) as e:
        yield e


@pytest.fixture(scope="session")
def measure(engine: Engine) -> Measure:
    """``measure(activation, [(scheme, params), ...], seed=1, widths=None, batch=BATCH, slope=None)``."""

    def run(
        act: str,
        schemes: Sequence[Scheme],
        *,
        seed: int = 1,
        widths: Sequence[int] | None = None,
        batch: int = BATCH,
        slope: float | None = None,
    ) -> Report:
        net = network(widths or [WIDTH] * (DEPTH + 1), activation(act, slope), batch, seed)
        return diagnose(net, [resolve_init(name, params) for name, params in schemes], engine)

    return run
