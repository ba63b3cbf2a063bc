"""Invalid requests raise the specific ``InitError`` subclass, naming the field, with an actionable message."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.core import (
    Engine,
    FanAxes,
    InitError,
    LayoutError,
    ParameterError,
    ShapeError,
    TensorPlan,
    TensorSpec,
    TooLargeError,
    calculate_gain,
    plan_tensor,
    resolve_init,
)

PlanFn = Callable[..., TensorPlan]


def test_error_hierarchy() -> None:
    for cls in (ParameterError, ShapeError, LayoutError, TooLargeError):
        assert issubclass(cls, InitError)
    assert issubclass(InitError, ValueError)
    error = ParameterError("scale must be > 0", "init.scale")
    assert (error.message, error.field, str(error)) == ("scale must be > 0", "init.scale", "scale must be > 0")


# -- parameters (resolve_init) ------------------------------------------------------------------------------

PARAMETER_CASES: list[tuple[str, dict[str, Any] | None, str, str]] = [
    # (scheme, params, field, regex the message must match)
    ("variance_scaling", {"scale": 0.0}, "init.scale", r"scale must be > 0, got 0\.0"),
    ("variance_scaling", {"scale": -2.0}, "init.scale", r"scale must be > 0, got -2\.0"),
    ("sparse", {"sparsity": -0.1}, "init.sparsity", r"sparsity must be >= 0, got -0\.1"),
    ("sparse", {"sparsity": 1.0}, "init.sparsity", r"sparsity must be < 1, got 1\.0"),
    ("sparse", {"sparsity": 1.5}, "init.sparsity", r"sparsity must be < 1"),
    ("sparse", {"sparsity": 0.5, "std": -0.01}, "init.std", r"std must be >= 0, got -0\.01"),
    ("normal", {"std": -1.0}, "init.std", r"std must be >= 0, got -1\.0"),
    ("uniform", {"low": 1.0, "high": 1.0}, "init.low", r"low \(1\.0\) must be below high \(1\.0\)"),
    ("uniform", {"low": 2.0}, "init.low", r"low \(2\.0\) must be below high \(1\.0\)"),
    ("truncated_normal", {"std": 0.0}, "init.std", r"std must be > 0, got 0\.0"),
    ("truncated_normal", {"std": -1.0}, "init.std", r"std must be > 0"),
    ("truncated_normal", {"low": 3.0, "high": -3.0}, "init.low", r"low \(3\.0\) must be below high \(-3\.0\)"),
    ("truncated_normal", {"low": 0.5, "high": 0.5}, "init.low", r"must be below high"),
    # non-finite numbers
    ("normal", {"mean": math.nan}, "init.mean", r"mean must be finite, got nan"),
    ("normal", {"std": math.inf}, "init.std", r"std must be finite, got inf"),
    ("glorot", {"gain": -math.inf}, "init.gain", r"gain must be finite"),
    ("uniform", {"high": math.nan}, "init.high", r"high must be finite"),
    ("constant", {"value": math.inf}, "init.value", r"value must be finite"),
    ("he", {"negative_slope": math.nan}, "init.negative_slope", r"negative_slope must be finite"),
    ("variance_scaling", {"scale": math.inf}, "init.scale", r"scale must be finite"),
    ("truncated_normal", {"low": -math.inf}, "init.low", r"low must be finite"),
    ("orthogonal", {"gain": math.nan}, "init.gain", r"gain must be finite"),
    # wrong types
    ("glorot", {"gain": "1.0"}, "init.gain", r"gain must be a number, got '1\.0'"),
    ("normal", {"std": True}, "init.std", r"std must be a number, got True"),
    ("normal", {"mean": None}, "init.mean", r"mean must be a number, got None"),
    ("dirac", {"groups": 1.5}, "init.groups", r"groups must be an integer, got 1\.5"),
    ("dirac", {"groups": 0}, "init.groups", r"groups must be >= 1, got 0"),
    ("dirac", {"groups": False}, "init.groups", r"groups must be a number"),
    # choices are exact and lower-case
    (
        "he",
        {"distribution": "Normal"},
        "init.distribution",
        r"distribution must be one of uniform, normal, "
        r"truncated_normal, got 'Normal'",
    ),
    ("variance_scaling", {"distribution": "untruncated_normal"}, "init.distribution", r"must be one of"),
    ("he", {"mode": "FAN_IN"}, "init.mode", r"mode must be one of fan_in, fan_out, fan_avg, fan_geo_avg"),
    ("variance_scaling", {"mode": "fan_sum"}, "init.mode", r"got 'fan_sum'"),
    # unknown schemes and fields
    ("gorot", None, "init.scheme", r"unknown scheme 'gorot'; expected one of glorot, he, .*xavier, kaiming"),
    ("Glorot", None, "init.scheme", r"unknown scheme 'Glorot'"),
    ("glorot_uniform", None, "init.scheme", r"unknown scheme"),
    (
        "glorot",
        {"mode": "fan_in"},
        "init.mode",
        r"unknown field 'mode' for scheme glorot \(allowed: distribution, "
        r"gain\)",
    ),
    ("he", {"scale": 2.0}, "init.scale", r"unknown field 'scale' for scheme he"),
    ("lecun", {"mode": "fan_avg"}, "init.mode", r"unknown field 'mode' for scheme lecun \(allowed: distribution\)"),
    ("zeros", {"value": 0.0}, "init.value", r"unknown field 'value' for scheme zeros \(allowed: none\)"),
    ("xavier", {"std": 1.0}, "init.std", r"for scheme glorot"),
    # missing required fields
    ("sparse", None, "init.sparsity", r"sparsity is required for scheme sparse"),
    ("sparse", {"std": 0.1}, "init.sparsity", r"sparsity is required"),
    ("constant", None, "init.value", r"value is required for scheme constant"),
]


@pytest.mark.parametrize(("scheme", "params", "field", "message"), PARAMETER_CASES)
def test_bad_parameters(scheme: str, params: dict[str, Any] | None, field: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        resolve_init(scheme, params)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("sparse", {"sparsity": 0.0}),
        ("sparse", {"sparsity": 0.999, "std": 0.0}),
        ("normal", {"std": 0.0}),
        ("variance_scaling", {"scale": 1e-300}),
        ("dirac", {"groups": 2.0}),  # an integral float is an integer
        ("glorot", {"gain": -1}),
        ("uniform", {"low": -1, "high": 0}),
        ("constant", {"value": 0}),
    ],
)
def test_edge_parameters_are_accepted(scheme: str, params: dict[str, Any]) -> None:
    resolve_init(scheme, params)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"low": 31.0}, "init.low"),
        ({"high": -31.0, "low": -40.0}, "init.high"),
        ({"mean": 100.0, "std": 1.0, "low": -2.0, "high": 2.0}, "init.high"),
    ],
)
def test_truncated_normal_without_mass(plan: PlanFn, params: dict[str, Any], field: str) -> None:
    """An interval more than 30 sigma from the mean holds no usable mass: refused, naming the bound."""
    with pytest.raises(ParameterError, match="standard deviations from the mean") as info:
        plan((10,), "truncated_normal", {"high": 50.0, **params})
    assert info.value.field == field


# -- shapes --------------------------------------------------------------------------------------------------

SHAPE_CASES: list[tuple[tuple[Any, ...], str, dict[str, Any] | None, str, str, str]] = [
    # (shape, scheme, params, layout, field, message regex)
    ((3, 3), "dirac", None, "torch", "shape", r"dirac needs a 3-D to 5-D convolution weight, got shape \[3, 3\]"),
    ((3, 3), "dirac", None, "keras", "shape", r"dirac needs a 3-D to 5-D"),
    ((2, 2, 2, 2, 2, 2), "dirac", None, "torch", "shape", r"dirac needs a 3-D to 5-D"),
    (
        (4, 2, 3),
        "dirac",
        {"groups": 3},
        "torch",
        "init.groups",
        r"groups \(3\) must divide the output channels \(4\) of shape \[4, 2, 3\]",
    ),
    ((3, 2, 4), "dirac", {"groups": 3}, "keras", "init.groups", r"must divide the output channels \(4\)"),
    ((3, 2, 4), "identity", None, "keras", "shape", r"identity needs a 2-D shape, got shape \[3, 2, 4\]"),
    ((4,), "identity", None, "keras", "shape", r"identity needs a 2-D shape"),
    ((7,), "orthogonal", None, "keras", "shape", r"orthogonal needs at least 2 dims, got shape \[7\]"),
    ((), "orthogonal", None, "torch", "shape", r"orthogonal needs at least 2 dims"),
    ((2, 3, 4), "sparse", {"sparsity": 0.1}, "torch", "shape", r"sparse needs a 2-D shape"),
    ((3, 0), "normal", None, "keras", "shape.1", r"every dim must be an integer >= 1; shape\[1\] is 0"),
    ((0, 5), "he", None, "keras", "shape.0", r"shape\[0\] is 0"),
    ((4, -1), "zeros", None, "keras", "shape.1", r"shape\[1\] is -1"),
    ((4, 2.0), "zeros", None, "keras", "shape.1", r"shape\[1\] is 2\.0"),
    ((True, 2), "zeros", None, "keras", "shape.0", r"shape\[0\] is True"),
    ((1,) * 9, "zeros", None, "keras", "shape", r"shape has 9 dims; at most 8 are allowed"),
    ((7,), "he", None, "torch", "shape", r"the torch layout needs at least 2 dims"),
    ((), "glorot", None, "jax", "shape", r"the jax layout needs at least 2 dims"),
    ((5,), "lecun", None, "jax", "shape", r"use the keras layout or fan_axes"),
]


@pytest.mark.parametrize(("shape", "scheme", "params", "layout", "field", "message"), SHAPE_CASES)
def test_bad_shapes(
    plan: PlanFn,
    shape: tuple[Any, ...],
    scheme: str,
    params: dict[str, Any] | None,
    layout: str,
    field: str,
    message: str,
) -> None:
    with pytest.raises(ShapeError, match=message) as info:
        plan(shape, scheme, params, layout=layout)
    assert info.value.field == field


@pytest.mark.parametrize(("shape", "layout"), [((1,) * 8, "keras"), ((7,), "keras"), ((), "keras")])
def test_edge_shapes_are_accepted(plan: PlanFn, shape: tuple[int, ...], layout: str) -> None:
    plan(shape, "he", layout=layout)


@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_fanless_schemes_accept_any_shape_in_any_layout(plan: PlanFn, layout: str) -> None:
    for scheme, params in (("zeros", None), ("normal", None), ("truncated_normal", None), ("constant", {"value": 1})):
        p = plan((), scheme, params, layout=layout)
        assert p.fans is None
        assert plan((7,), scheme, params, layout=layout).fans is None
        assert plan((3, 4), scheme, params, layout=layout).fans is not None


# -- request-level fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["pytorch", "Keras", "tensorflow", "", "fan_axes"])
def test_unknown_layout(plan: PlanFn, layout: str) -> None:
    with pytest.raises(LayoutError, match=r"unknown layout '.*'; expected one of keras, jax, torch") as info:
        plan((3, 4), "normal", layout=layout)
    assert info.value.field == "layout"


@pytest.mark.parametrize("dtype", ["float8", "int32", "Float32", "bf16", "float"])
def test_bad_dtype(plan: PlanFn, dtype: str) -> None:
    with pytest.raises(
        ParameterError, match=r"unknown dtype .*expected one of float32, float64, float16, bfloat16"
    ) as info:
        plan((3, 4), "normal", dtype=dtype)
    assert info.value.field == "dtype"


@pytest.mark.parametrize("seed", [-1, 2**53, 2**64, 1.0, True, None, "1"])
def test_bad_seed(plan: PlanFn, seed: Any) -> None:
    with pytest.raises(ParameterError, match=r"seed must be an integer from 0 to 2\^53 - 1") as info:
        plan((3, 4), "normal", seed=seed)
    assert info.value.field == "seed"


@pytest.mark.parametrize("seed", [0, 1, 2**32, 2**53 - 1])
def test_seed_range_edges(plan: PlanFn, seed: int) -> None:
    plan((3, 4), "normal", seed=seed)


@pytest.mark.parametrize(
    ("scheme", "params", "shape"),
    [
        ("orthogonal", None, (4, 4)),
        ("identity", None, (4, 4)),
        ("dirac", None, (4, 4, 3)),
        ("sparse", {"sparsity": 0.5}, (4, 4)),
    ],
)
def test_fan_axes_with_shape_aware_scheme(
    plan: PlanFn, scheme: str, params: dict[str, Any] | None, shape: tuple[int, ...]
) -> None:
    with pytest.raises(LayoutError, match=rf"fan_axes does not apply to {scheme}.*give a layout instead") as info:
        plan(shape, scheme, params, layout=FanAxes.of(0, 1))
    assert info.value.field == "fan_axes"


def test_fan_axes_errors_surface_through_plan(plan: PlanFn) -> None:
    with pytest.raises(LayoutError) as info:
        plan((3, 4), "he", layout=FanAxes.of(0, 2))
    assert info.value.field == "fan_axes.out_axis"


@pytest.mark.parametrize(
    ("shape", "limit"), [((1000, 1001), 1_000_000), ((2**40, 2**40), 2**28), ((2,) * 8, 255), ((5, 5), 24)]
)
def test_over_max_elements(shape: tuple[int, ...], limit: int) -> None:
    spec = TensorSpec(shape, resolve_init("normal"), 0)
    with pytest.raises(TooLargeError, match=rf"has {math.prod(shape)} elements, over the limit of {limit}") as info:
        plan_tensor(spec, max_elements=limit)
    assert info.value.field == "shape"
    plan_tensor(TensorSpec((5, 5), resolve_init("normal"), 0), max_elements=25)


def test_orthogonal_work_limit(plan: PlanFn) -> None:
    """The QR's cost is bounded before any work is done (rows * cols^2 <= 2^36)."""
    with pytest.raises(TooLargeError, match="QR factorisation") as info:
        plan((4096, 8192), "orthogonal")  # 2^25 elements (at the whole-tensor limit), work 2^37
    assert info.value.field == "shape"
    plan((4096, 4096), "orthogonal")  # 2^36: planned, not generated


@pytest.mark.parametrize(
    ("shape", "scheme", "params", "layout"),
    [
        ((8192, 8192), "orthogonal", None, "keras"),  # 2^26 elements (its QR work is over the limit too)
        ((1, (1 << 25) + 1), "orthogonal", None, "keras"),  # a 1 x (2^25 + 1) matrix: tiny QR work
        ((2, 1 << 24, 2), "orthogonal", None, "torch"),  # flattened to 2 x 2^25 in torch layout
        ((1 << 13, (1 << 12) + 1), "sparse", {"sparsity": 0.5}, "keras"),
        (((1 << 25) + 1, 1), "sparse", {"sparsity": 0.5}, "torch"),
    ],
)
def test_whole_tensor_schemes_are_limited_to_2_25_elements(
    plan: PlanFn, shape: tuple[int, ...], scheme: str, params: dict[str, Any] | None, layout: str
) -> None:
    """Orthogonal and sparse are computed whole, in memory: over 2^25 elements is refused before any work."""
    with pytest.raises(TooLargeError, match=rf"{scheme} is computed whole.*{math.prod(shape)} elements.*2\^25") as info:
        plan(shape, scheme, params, layout=layout)
    assert info.value.field == "shape"


@pytest.mark.parametrize(
    ("shape", "scheme", "params"),
    [((1 << 12, 1 << 13), "sparse", {"sparsity": 0.5}), ((1 << 25, 1), "orthogonal", None)],
)
def test_whole_tensor_schemes_at_2_25_elements_are_planned(
    plan: PlanFn, shape: tuple[int, ...], scheme: str, params: dict[str, Any] | None
) -> None:
    assert plan(shape, scheme, params).count == 1 << 25


def test_calculate_gain_errors() -> None:
    with pytest.raises(ParameterError, match=r"unknown nonlinearity 'gelu'; expected one of .*tanh") as info:
        calculate_gain("gelu")
    assert info.value.field == "nonlinearity"
    with pytest.raises(ParameterError) as info:
        calculate_gain("leaky_relu", math.inf)
    assert info.value.field == "negative_slope"


# -- extreme parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "params", "field"),
    [
        ("normal", {"mean": 10**400}, "init.mean"),
        ("normal", {"std": -(10**400)}, "init.std"),
        ("dirac", {"groups": 10**400}, "init.groups"),
    ],
)
def test_huge_integer_parameter_is_a_parameter_error(scheme: str, params: dict[str, Any], field: str) -> None:
    """An int beyond float64's range is a ParameterError naming the field (not an OverflowError, a 500)."""
    with pytest.raises(ParameterError, match="too large for a float64") as info:
        resolve_init(scheme, params)
    assert info.value.field == field


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_glorot_zero_gain_truncated_normal(make: Callable[..., Any], dtype: str) -> None:
    """gain 0: sigma0 = 0 and the bounds +-2 sigma0 collapse to 0, so the tensor is zeros (as uniform and normal)."""
    plan, gen = make((4, 4), "glorot", {"gain": 0.0, "distribution": "truncated_normal"}, dtype=dtype)
    assert (gen.array.astype(np.float64) == 0.0).all()
    m = plan.moments
    assert (m.mean, m.variance, m.low, m.high) == (0.0, 0.0, 0.0, 0.0)
    assert gen.comparison.variance_ratio is None
    assert gen.comparison.variance_z is None


@pytest.mark.parametrize(
    ("scheme", "params", "dtype"),
    [
        ("glorot", {"gain": 1e200}, "float64"),  # gain ** 2 overflows float64
        ("he", {"negative_slope": 1e160}, "float64"),
        ("constant", {"value": 1e5}, "float16"),
        ("constant", {"value": 1e39}, "float32"),
        ("normal", {"std": 1e39}, "float32"),
        ("normal", {"mean": 1e308, "std": 1e308}, "float64"),
        ("uniform", {"low": -1e308, "high": 1e308}, "float64"),
        ("uniform", {"low": -1e300, "high": 1e300}, "float64"),  # values fit, the variance overflows
        ("truncated_normal", {"low": -1e300, "high": 1e300}, "float32"),
        ("variance_scaling", {"scale": 1e300, "distribution": "uniform"}, "float32"),
        ("orthogonal", {"gain": 1e200}, "float32"),
        ("identity", {"gain": 1e39}, "float32"),
        ("sparse", {"sparsity": 0.5, "std": 1e38}, "bfloat16"),
        # the range served: float16 and bfloat16 up to the dtype's max, float32 up to half its max, float64 to 1e150
        ("constant", {"value": 65505.0}, "float16"),
        ("constant", {"value": 3.4e38}, "bfloat16"),
        ("constant", {"value": 1.71e38}, "float32"),
        ("constant", {"value": math.nextafter(1e150, math.inf)}, "float64"),
        ("normal", {"std": 1.01e149}, "float64"),
        ("orthogonal", {"gain": 1.01e150}, "float64"),
        ("identity", {"gain": -2e150}, "float64"),
    ],
)
def test_finite_parameters_that_overflow_the_dtype_are_refused(
    plan: PlanFn, scheme: str, params: dict[str, Any], dtype: str
) -> None:
    """Finite parameters whose values (or their variance) overflow the dtype are a ParameterError, never inf/nan."""
    with pytest.raises(ParameterError, match=rf"overflow float64|beyond the \S+ served in {dtype}") as info:
        plan((4, 4), scheme, params, dtype=dtype)
    assert info.value.field is not None
    assert info.value.field.startswith("init")
    assert "Numerical result" not in info.value.message  # no errno tuple of the OverflowError


@pytest.mark.parametrize(
    ("scheme", "params", "dtype"),
    [
        ("constant", {"value": 30000.0}, "float16"),
        ("constant", {"value": 40000.0}, "float16"),  # beyond half the float16 max: fine
        ("constant", {"value": 65504.0}, "float16"),  # the float16 max
        ("uniform", {"low": -65504.0, "high": 65504.0}, "float16"),
        ("constant", {"value": 1.6e38}, "bfloat16"),  # within half the float32 range it is sampled in
        ("normal", {"std": 1e36}, "float32"),
        ("constant", {"value": 1.7e38}, "float32"),
        ("uniform", {"low": -1.7e38, "high": 1.7e38}, "float32"),
        ("uniform", {"low": -1e30, "high": 1e30}, "float64"),
        ("he", {"negative_slope": 1e100}, "float64"),
        ("uniform", {"low": -1e150, "high": 1e150}, "float64"),  # the float64 cap
        ("constant", {"value": -1e150}, "float64"),
    ],
)
def test_large_but_representable_parameters_give_finite_tensors(
    make: Callable[..., Any], scheme: str, params: dict[str, Any], dtype: str
) -> None:
    _, gen = make((4, 4), scheme, params, dtype=dtype)
    assert np.isfinite(gen.array.astype(np.float64)).all()
    assert math.isfinite(gen.empirical.variance)


@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("uniform", {"low": -1e100, "high": 1e100}),
        ("normal", {"std": 1e100}),
        ("identity", {"gain": 1e100}),
        ("uniform", {"low": -1e150, "high": 1e150}),  # the float64 cap: (x - c)^4 would overflow unscaled
        ("normal", {"std": 1e-150}),  # and (x - c)^4 would underflow to 0
        ("orthogonal", {"gain": 1e150}),
    ],
)
def test_accepted_plans_have_finite_statistics(plan: PlanFn, scheme: str, params: dict[str, Any]) -> None:
    """Values up to 1e150 in float64 are served with finite statistics (the power sums are scaled)."""
    p = plan((64, 64), scheme, params, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with Engine(1) as engine:
            gen = engine.generate(p)
    x = gen.array.ravel()
    assert np.isfinite(x).all()
    emp = gen.empirical
    assert math.isfinite(emp.variance) and emp.variance > 0.0
    assert math.isfinite(emp.variance_se) and emp.variance_se > 0.0
    assert gen.comparison.variance_z is not None and math.isfinite(gen.comparison.variance_z)
    # NumPy's own, computed on x scaled by a power of two (exact) so that nothing overflows or underflows.
    s = 2.0 ** -math.frexp(float(np.abs(x).max()))[1]
    y = x * s
    m2 = float(y.var())
    m4 = float(((y - y.mean()) ** 4).mean())
    assert emp.variance == pytest.approx(m2 / s**2, rel=1e-9)
    assert emp.variance_se == pytest.approx(math.sqrt((m4 - m2 * m2) / y.size) / s**2, rel=1e-6)


def test_sparse_that_overflows_the_dtype_is_refused(plan: PlanFn) -> None:
    """Sparse's reach is 10 std of its non-zero N(0, std^2) weights, not of the sparse mixture."""
    with pytest.raises(ParameterError, match=r"beyond the \S+ served in float16") as info:
        plan((1000, 1000), "sparse", {"sparsity": 0.99, "std": 20000.0}, layout="torch", dtype="float16")
    assert info.value.field == "init"
    p = plan((1000, 1000), "sparse", {"sparsity": 0.99, "std": 6000.0}, layout="torch", dtype="float16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with Engine(1) as engine:
            gen = engine.generate(p)
    assert np.isfinite(gen.array.astype(np.float64)).all()
    assert math.isfinite(gen.empirical.variance)


def held(p: TensorPlan, bound: float) -> float:
    """A bound as the tensor can hold it: rounded to the sampling dtype, then to the output dtype."""
    return float(np.asarray(bound, np.float64).astype(p.sampling_dtype).astype(p.numpy_dtype).astype(np.float64))


@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("uniform", {"low": -3e38, "high": 3e38}),
        ("uniform", {"low": -3e38, "high": 1e38}),
        ("glorot", {"gain": 1.2e39, "distribution": "uniform"}),  # r = 2.6e38
        ("variance_scaling", {"scale": 1.5e78, "distribution": "uniform"}),  # r = 2.65e38
    ],
)
def test_bfloat16_near_its_max_is_sampled_or_refused(plan: PlanFn, scheme: str, params: dict[str, Any]) -> None:
    """bfloat16 is served up to its max (~3.39e38) but sampled in float32, whose max is about the same:
    a uniform's high - low (or 2 r) must not overflow the float32 sampling. Refused naming init, or a real
    uniform sample (finite, inside the support, with the theoretical variance within 4 standard errors)."""
    try:
        p = plan((64, 64), scheme, params, dtype="bfloat16")
    except ParameterError as error:
        assert error.field == "init"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with Engine(1) as engine:
            gen = engine.generate(p)
    x = gen.array.astype(np.float64)
    assert np.isfinite(x).all()
    assert p.moments.low is not None and p.moments.high is not None
    assert held(p, p.moments.low) <= x.min() < x.max() <= held(p, p.moments.high)
    assert gen.comparison.variance_z is not None
    assert abs(gen.comparison.variance_z) <= 4.0


@pytest.mark.parametrize(
    ("params", "dtype"),
    [
        ({"std": 1e39, "low": -1.0, "high": 1.0}, "float32"),
        ({"std": 1e39, "low": -1.0, "high": 1.0}, "float16"),
        ({"std": 1e39, "low": -1e38, "high": 1e38}, "float32"),
        ({"std": 1e39, "low": -3e38, "high": 3e38}, "bfloat16"),
    ],
)
def test_truncated_normal_std_beyond_float32_is_sampled_or_refused(
    plan: PlanFn, params: dict[str, Any], dtype: str
) -> None:
    """A truncated normal's bounds may fit the dtype while its std does not fit the float32 it is sampled in.
    Refused naming an init field, or a real sample: inside [low, high], not piled on the bounds, with the
    theoretical variance (~(high - low)^2 / 12 here) within 4 standard errors."""
    try:
        p = plan((64, 64), "truncated_normal", params, dtype=dtype)
    except ParameterError as error:
        assert error.field is not None and error.field.startswith("init")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with Engine(1) as engine:
            gen = engine.generate(p)
    x = gen.array.astype(np.float64)
    assert np.isfinite(x).all()
    assert held(p, params["low"]) <= x.min() < x.max() <= held(p, params["high"])
    assert gen.comparison.variance_z is not None
    assert abs(gen.comparison.variance_z) <= 4.0
