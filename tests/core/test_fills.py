"""Fills: flat ranges of a tensor set to constants after its scheme made it.

PyTorch ``Embedding(padding_idx=p)`` zeroes row p; Keras LSTM ``unit_forget_bias`` sets
``bias[units:2 * units]`` to one. The other elements are the same request's without fills, the
bytes do not depend on chunks, blocks, threads or the range asked for, and the plan's moments are
the exact mixture of the scheme's elements and the constants.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest

from service.core import Engine, ParameterError, ShapeError, TensorPlan, TensorSpec, plan_tensor, resolve_init
from service.core.engine import BLOCK_CHUNKS
from service.core.plan import Fill
from service.core.sources import CHUNK_ELEMENTS, FilledSource


def build(
    shape: tuple[int, ...],
    scheme: str,
    params: dict[str, Any] | None = None,
    fills: tuple[Fill, ...] = (),
    *,
    dtype: str = "float32",
    layout: str = "torch",
    seed: int = 3,
) -> TensorPlan:
    return plan_tensor(TensorSpec(shape, resolve_init(scheme, params), seed, dtype, layout, fills))  # type: ignore[arg-type]


def generate(plan: TensorPlan, threads: int = 1) -> np.ndarray:
    with Engine(threads) as engine:
        return engine.generate(plan).array


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def numpy_moments(array: np.ndarray) -> tuple[float, float, float, float]:
    x = array.astype(np.float64).ravel()
    return float(x.mean()), float(x.var()), float(x.min()), float(x.max())


# -- values ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("normal", {}),
        ("uniform", {"low": -1.0, "high": 1.0}),
        ("he", {"distribution": "truncated_normal"}),
        ("orthogonal", {}),
        ("sparse", {"sparsity": 0.5}),
        ("identity", {}),
        ("constant", {"value": 0.25}),
    ],
)
def test_padding_row_is_zero_and_the_rest_unchanged(scheme: str, params: dict[str, Any], dtype: str) -> None:
    """Embedding(1000, 64, padding_idx=7): row 7 is zero, every other element is the unfilled request's."""
    rows, dim, pad = 1000, 64, 7
    filled = build((rows, dim), scheme, params, (Fill(pad * dim, (pad + 1) * dim, 0.0),), dtype=dtype)
    plain = build((rows, dim), scheme, params, dtype=dtype)
    a, b = generate(filled), generate(plain)
    assert a.dtype == b.dtype and a.shape == b.shape == (rows, dim)
    assert not np.any(a[pad])
    assert np.signbit(a[pad].astype(np.float64)).sum() == 0  # +0.0, not -0.0
    np.testing.assert_array_equal(np.delete(a, pad, axis=0), np.delete(b, pad, axis=0))
    assert filled.whole == plain.whole


def test_no_fills_leaves_the_plan_as_before() -> None:
    plan = build((50, 40), "normal")
    assert not isinstance(plan.source, FilledSource)
    assert plan.moments.mean == 0.0 and plan.moments.variance == 1.0


@pytest.mark.parametrize("units", [1, 3, 64, 20000])
def test_keras_lstm_unit_forget_bias(units: int) -> None:
    """zeros of 4 units, ones at [units, 2 units): mean 1/4, variance 3/16, support [0, 1], all exact."""
    plan = build((4 * units,), "zeros", fills=(Fill(units, 2 * units, 1.0),), layout="keras")
    m = plan.moments
    assert (m.mean, m.variance, m.low, m.high) == (0.25, 0.1875, 0.0, 1.0)
    with Engine(1) as engine:
        gen = engine.generate(plan)
    expected = np.zeros(4 * units, dtype=np.float32)
    expected[units : 2 * units] = 1.0
    np.testing.assert_array_equal(gen.array, expected)
    assert gen.empirical.mean == 0.25
    assert gen.empirical.variance == pytest.approx(0.1875, rel=1e-12)
    assert (gen.empirical.min, gen.empirical.max) == (0.0, 1.0)
    assert gen.comparison.variance_ratio == pytest.approx(1.0, rel=1e-12)


# 33 chunks = 3 blocks; fills across chunk boundaries, across the first block boundary, over whole chunks, and at
# both ends of the tensor.
COUNT = 2 * BLOCK_CHUNKS * CHUNK_ELEMENTS + 5 * CHUNK_ELEMENTS // 2
BLOCK = BLOCK_CHUNKS * CHUNK_ELEMENTS
CROSSING_FILLS = (
    Fill(0, 1, 7.0),
    Fill(CHUNK_ELEMENTS - 3, CHUNK_ELEMENTS + 5, 0.0),
    Fill(2 * CHUNK_ELEMENTS - 10, 4 * CHUNK_ELEMENTS + 10, -2.5),
    Fill(BLOCK - 1, BLOCK + 1, 1.0),
    Fill(2 * BLOCK - 100, 2 * BLOCK + CHUNK_ELEMENTS, 0.5),
    Fill(COUNT - 1, COUNT, -7.0),
)


@pytest.mark.parametrize(
    ("scheme", "params", "dtype"),
    [("normal", {}, "float32"), ("uniform", {"low": -1.0, "high": 1.0}, "bfloat16"), ("identity", {}, "float64")],
)
def test_fills_across_chunks_blocks_threads_and_ranges(scheme: str, params: dict[str, Any], dtype: str) -> None:
    shape = (COUNT // 4, 4)
    plain = generate(build(shape, scheme, params, dtype=dtype)).ravel()
    expected = plain.copy()
    for f in CROSSING_FILLS:
        expected[f.start : f.stop] = f.value
    plan = build(shape, scheme, params, CROSSING_FILLS, dtype=dtype)
    with Engine(1) as one, Engine(2) as two:
        a, b = one.generate(plan), two.generate(plan)
        np.testing.assert_array_equal(a.array.ravel(), expected)
        assert digest(a.array) == digest(b.array)
        assert a.empirical == b.empirical and a.comparison == b.comparison
        for start, stop in [
            (0, 1),
            (CHUNK_ELEMENTS - 4, CHUNK_ELEMENTS + 6),
            (2 * CHUNK_ELEMENTS - 11, 4 * CHUNK_ELEMENTS + 11),
            (BLOCK - 2, BLOCK + 2),
            (BLOCK + 3, 2 * BLOCK + 3),
            (COUNT - 200, COUNT),
            (0, COUNT),
        ]:
            for engine in (one, two):
                np.testing.assert_array_equal(engine.generate_range(plan, start, stop), expected[start:stop])


@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("normal", {"mean": 0.5, "std": 2.0}),
        ("uniform", {"low": -1.0, "high": 3.0}),
        ("he", {"distribution": "uniform"}),
    ],
)
def test_empirical_variance_matches_the_mixture(scheme: str, params: dict[str, Any]) -> None:
    """Half the elements filled with three constants: the empirical variance is within 5 standard errors of the
    mixture's, as the engine's z-score reports."""
    shape = (2048, 1024)
    n = 2048 * 1024
    fills = (Fill(0, n // 8, 3.0), Fill(n // 4, n // 2, -1.0), Fill(3 * n // 4, 7 * n // 8, 0.0))
    plan = build(shape, scheme, params, fills, seed=11)
    plain = build(shape, scheme, params).moments
    groups = [(n // 8, 3.0, 0.0), (n // 4, -1.0, 0.0), (n // 8, 0.0, 0.0), (n // 2, plain.mean, plain.variance)]
    mean = sum(k * mu for k, mu, _ in groups) / n
    variance = sum(k * (v + (mu - mean) ** 2) for k, mu, v in groups) / n
    assert plan.moments.mean == pytest.approx(mean, rel=1e-14, abs=1e-15)
    assert plan.moments.variance == pytest.approx(variance, rel=1e-14)
    with Engine(2) as engine:
        gen = engine.generate(plan)
    assert gen.comparison.variance_z is not None
    assert abs(gen.comparison.variance_z) < 5.0
    assert abs(gen.empirical.mean - mean) < 5.0 * math.sqrt(variance / n)
    x = gen.array.astype(np.float64)
    assert gen.empirical.variance == pytest.approx(float(x.var()), rel=1e-9)


# -- moments and support --------------------------------------------------------------------------------------------


def test_support_of_a_bounded_random_scheme_joins_the_fill_values() -> None:
    plan = build((100, 10), "uniform", {"low": -1.0, "high": 1.0}, (Fill(10, 20, 5.0), Fill(30, 31, -0.5)))
    assert (plan.moments.low, plan.moments.high) == (-1.0, 5.0)
    plan = build((100, 10), "uniform", {"low": -1.0, "high": 1.0}, (Fill(10, 20, -4.0),))
    assert (plan.moments.low, plan.moments.high) == (-4.0, 1.0)


def test_an_unbounded_scheme_stays_unbounded() -> None:
    plan = build((100, 10), "normal", None, (Fill(0, 10, 0.0),))
    assert (plan.moments.low, plan.moments.high) == (None, None)
    assert plan.moments.variance == pytest.approx(0.99, rel=1e-15)


def test_fills_over_every_element_leave_only_their_values() -> None:
    fills = (Fill(0, 600, -1.0), Fill(600, 1000, 2.0))
    for scheme, params in [("normal", None), ("uniform", {"low": -9.0, "high": 9.0}), ("constant", {"value": 5.0})]:
        plan = build((10, 100), scheme, params, fills)
        m = plan.moments
        assert (m.mean, m.low, m.high) == (0.2, -1.0, 2.0)
        assert m.variance == pytest.approx(0.6 * 1.2**2 + 0.4 * 1.8**2, rel=1e-15)
        assert numpy_moments(generate(plan)) == pytest.approx((m.mean, m.variance, m.low, m.high), rel=1e-12)


@pytest.mark.parametrize(
    ("shape", "scheme", "params", "fills"),
    [
        # identity 4 x 4: the diagonal is flat 0, 5, 10, 15.
        ((4, 4), "identity", {"gain": 2.0}, (Fill(0, 1, 0.0),)),
        ((4, 4), "identity", {"gain": 2.0}, (Fill(1, 5, -1.0), Fill(10, 11, 3.0))),
        # Every zero filled with the gain: the tensor is constant.
        ((2, 2), "identity", {"gain": 2.0}, (Fill(1, 3, 2.0),)),
        # Every diagonal element filled: no gain left, the min is the fill.
        ((2, 2), "identity", {"gain": 2.0}, (Fill(0, 1, 0.5), Fill(3, 4, 0.5))),
        ((3, 2), "identity", {}, (Fill(2, 6, 1.0),)),
        ((300, 300), "identity", {}, (Fill(0, 301 * 150, 0.0),)),
        ((4, 4, 3, 3), "dirac", {}, (Fill(0, 20, -0.25),)),
        ((10,), "constant", {"value": 0.1}, (Fill(0, 3, 0.1),)),
        ((10,), "constant", {"value": 0.1}, (Fill(0, 3, 0.2), Fill(5, 10, 0.1))),
        ((10,), "ones", {}, (Fill(0, 10, 0.0),)),
    ],
)
def test_deterministic_schemes_have_exact_moments(
    shape: tuple[int, ...], scheme: str, params: dict[str, Any], fills: tuple[Fill, ...]
) -> None:
    plan = build(shape, scheme, params, fills, dtype="float64")
    array = generate(plan)
    mean, variance, low, high = numpy_moments(array)
    m = plan.moments
    assert (m.low, m.high) == (low, high)
    assert m.mean == pytest.approx(mean, rel=1e-14, abs=1e-16)
    assert m.variance == pytest.approx(variance, rel=1e-12, abs=1e-16)
    if low == high:
        assert m.variance == 0.0 and m.mean == low


def test_a_constant_filled_with_its_own_value_has_no_variance() -> None:
    with Engine(1) as engine:
        gen = engine.generate(build((7, 3), "constant", {"value": 0.1}, (Fill(2, 9, 0.1),)))
    assert gen.comparison.variance_ratio is None and gen.comparison.variance_z is None


def test_orthogonal_with_a_fill_is_still_whole_and_its_reach_still_checked() -> None:
    plan = build((64, 32), "orthogonal", None, (Fill(0, 32, 0.0),))
    assert plan.whole
    with pytest.raises(ParameterError) as info:
        build((64, 32), "orthogonal", {"gain": 1e5}, (Fill(0, 32, 0.0),), dtype="float16")
    assert info.value.field == "init"


def test_a_tiny_fill_does_not_hide_an_overflowing_scheme() -> None:
    """The scheme's own range is checked on its own moments, not the mixture's (smaller) spread."""
    with pytest.raises(ParameterError) as info:
        build((100, 100), "normal", {"std": 1e4}, (Fill(0, 9999, 0.0),), dtype="float16")
    assert info.value.field == "init"


# -- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fills", "error"),
    [
        ((Fill(-1, 3, 0.0),), ShapeError),
        ((Fill(3, 3, 0.0),), ShapeError),
        ((Fill(5, 4, 0.0),), ShapeError),
        ((Fill(0, 61, 0.0),), ShapeError),
        ((Fill(60, 61, 0.0),), ShapeError),
        ((Fill(10, 20, 0.0), Fill(0, 5, 1.0)), ParameterError),
        ((Fill(0, 10, 0.0), Fill(9, 12, 1.0)), ParameterError),
        ((Fill(0, 10, 0.0), Fill(0, 10, 1.0)), ParameterError),
        ((Fill(0, 1, math.nan),), ParameterError),
        ((Fill(0, 1, math.inf),), ParameterError),
        ((Fill(0, 1, True),), ParameterError),
        ((Fill(0, 1, "1"),), ParameterError),  # type: ignore[arg-type]
        ((Fill(0.0, 1, 0.0),), ParameterError),  # type: ignore[arg-type]
        ((Fill(0, True, 0.0),), ParameterError),
        (((0, 1, 0.0),), ParameterError),
        ((Fill(0, 1, 10**400),), ParameterError),
        ((Fill(0, 1, 1e39),), ParameterError),
        (Fill(0, 1, 0.0), ParameterError),
    ],
)
def test_bad_fills_are_refused(fills: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        build((6, 10), "normal", fills=fills)
    assert info.value.field == "fills"  # type: ignore[attr-defined]


def test_fill_values_must_fit_the_dtype() -> None:
    build((6, 10), "zeros", fills=(Fill(0, 1, 60000.0),), dtype="float16")
    with pytest.raises(ParameterError) as info:
        build((6, 10), "zeros", fills=(Fill(0, 1, 70000.0),), dtype="float16")
    assert info.value.field == "fills"
    build((6, 10), "zeros", fills=(Fill(0, 1, 1e100),), dtype="float64")


def test_adjacent_fills_and_numpy_integers_are_accepted() -> None:
    fills = (Fill(np.int64(0), np.int64(10), np.float32(1.5)), Fill(10, 20, 2))  # type: ignore[arg-type]
    array = generate(build((6, 10), "zeros", fills=fills)).ravel()
    np.testing.assert_array_equal(array[:20], [1.5] * 10 + [2.0] * 10)
    assert not np.any(array[20:])
