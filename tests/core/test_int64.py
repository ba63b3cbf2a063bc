"""dtype int64: deterministic integral tensors only (PyTorch BatchNorm's ``num_batches_tracked``, a 0-D zero).

Made in float64 and cast, exactly; not one of ``DTYPES`` (the float dtypes of the single-tensor API).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.core import DTYPES, Engine, ParameterError, TensorPlan, TensorSpec, plan_tensor, resolve_init
from service.core.dtypes import INTEGER_DTYPES, numpy_dtype, sampling_dtype
from service.core.plan import Fill
from service.core.sources import CHUNK_ELEMENTS
from service.core.stats import chunk_sums


def build(
    shape: tuple[int, ...], scheme: str, params: dict[str, Any] | None = None, fills: tuple[Fill, ...] = ()
) -> TensorPlan:
    return plan_tensor(TensorSpec(shape, resolve_init(scheme, params), 0, "int64", "torch", fills))


def test_int64_is_an_integer_dtype_not_an_api_dtype() -> None:
    assert INTEGER_DTYPES == ("int64",)
    assert "int64" not in DTYPES
    assert numpy_dtype("int64") == np.dtype(np.int64)
    assert sampling_dtype("int64") == np.dtype(np.float64)


def test_num_batches_tracked() -> None:
    plan = build((), "zeros")
    with Engine(1) as engine:
        gen = engine.generate(plan)
    assert gen.array.shape == () and gen.array.dtype == np.int64 and int(gen.array) == 0
    assert (plan.moments.mean, plan.moments.variance, plan.moments.low, plan.moments.high) == (0.0, 0.0, 0.0, 0.0)
    assert (gen.empirical.count, gen.empirical.mean, gen.empirical.min, gen.empirical.max) == (1, 0.0, 0.0, 0.0)
    assert gen.comparison.variance_ratio is None and gen.comparison.variance_z is None
    assert plan.nbytes == 8


@pytest.mark.parametrize(
    ("scheme", "params", "value"),
    [
        ("zeros", None, 0),
        ("ones", None, 1),
        ("constant", {"value": 7}, 7),
        ("constant", {"value": -3.0}, -3),
        ("constant", {"value": 2.0**53}, 2**53),
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_integral_constants_across_chunks(scheme: str, params: dict[str, Any] | None, value: int, threads: int) -> None:
    shape = (3, 20 * CHUNK_ELEMENTS // 3 + 1)
    plan = build(shape, scheme, params)
    with Engine(threads) as engine:
        gen = engine.generate(plan)
        part = engine.generate_range(plan, CHUNK_ELEMENTS - 5, 17 * CHUNK_ELEMENTS + 3)
    np.testing.assert_array_equal(gen.array, np.full(shape, value, dtype=np.int64))
    assert part.dtype == np.int64 and np.all(part == value)
    assert gen.empirical.mean == float(value) and gen.empirical.variance == 0.0
    assert (gen.empirical.min, gen.empirical.max) == (float(value), float(value))
    assert gen.comparison.variance_ratio is None


def test_fills_on_int64() -> None:
    plan = build((4, 5), "zeros", fills=(Fill(5, 10, 1.0),))
    with Engine(1) as engine:
        gen = engine.generate(plan)
    expected = np.zeros((4, 5), dtype=np.int64)
    expected[1] = 1
    np.testing.assert_array_equal(gen.array, expected)
    assert gen.array.dtype == np.int64
    assert (plan.moments.mean, plan.moments.variance, plan.moments.low, plan.moments.high) == (0.25, 0.1875, 0.0, 1.0)
    with pytest.raises(ParameterError) as info:
        build((4, 5), "zeros", fills=(Fill(5, 10, 0.5),))
    assert info.value.field == "fills"
    with pytest.raises(ParameterError) as info:
        build((4, 5), "zeros", fills=(Fill(5, 10, 2.0**60),))
    assert info.value.field == "fills"


def test_chunk_sums_of_an_int64_array() -> None:
    values = np.arange(-50, 77, dtype=np.int64)
    sums = chunk_sums(values, 3.0)
    d = values.astype(np.float64) - 3.0
    assert (sums.s1, sums.s2, sums.s4) == (d.sum(), (d * d).sum(), (d**4).sum())
    assert (sums.minimum, sums.maximum) == (-50.0, 76.0)


@pytest.mark.parametrize(
    ("scheme", "params", "field"),
    [
        ("normal", None, "dtype"),
        ("he", None, "dtype"),
        ("identity", None, "dtype"),
        ("orthogonal", None, "dtype"),
        ("constant", {"value": 0.5}, "dtype"),
        ("constant", {"value": -1e-300}, "dtype"),
        ("constant", {"value": 2.0**54}, "init"),
    ],
)
def test_non_integral_tensors_are_refused(scheme: str, params: dict[str, Any] | None, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        build((3, 3), scheme, params)
    assert info.value.field == field


def test_unknown_dtype_names_the_integer_dtype() -> None:
    with pytest.raises(ParameterError) as info:
        plan_tensor(TensorSpec((2,), resolve_init("zeros", None), 0, "int32"))
    assert info.value.field == "dtype"
    assert "int64" in info.value.message
