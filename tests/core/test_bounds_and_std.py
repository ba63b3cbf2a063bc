"""Uniform limits, normal std and truncated-normal sigma0 / post-truncation std, against the frameworks.

Expected numbers are the 6-decimal literals of /work/shared/anchors-initializers.md
section 7.2 ("Scale parameters"), captured from Keras 3.15.1, JAX 0.10.2 and
torch 2.13.0 (Keras and JAX agree to 6 decimals on every row). Notation, as
there: ``U x`` uniform limit, ``N x`` untruncated normal std, ``TN x [y]``
truncated normal with pre-truncation sigma0 ``x`` (bounds +-2 sigma0) and
post-truncation std ``y`` = 0.8796 x.

Our side reads ``plan.moments``: a uniform's limit is ``moments.high`` (and
``-moments.low``), a normal's std is ``moments.std``, a sigma-relative
truncated normal's sigma0 is ``moments.high / 2`` and its post-truncation std
``moments.std``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.core import TRUNCATED_STD_AT_2, ParameterError, TensorPlan, calculate_gain

PlanFn = Callable[..., TensorPlan]

TOL = 5e-7  # the literals have 6 decimals

#: The columns of anchors table 7.2, as (scheme, params) of our service.
COLUMNS: dict[str, tuple[str, dict[str, Any]]] = {
    "glorot_uniform": ("glorot", {"distribution": "uniform"}),
    "glorot_normal": ("glorot", {"distribution": "truncated_normal"}),
    "he_uniform": ("he", {"distribution": "uniform"}),
    "he_normal": ("he", {"distribution": "truncated_normal"}),
    "lecun_normal": ("lecun", {"distribution": "truncated_normal"}),
    "lecun_uniform": ("lecun", {"distribution": "uniform"}),
    "vs2_fan_avg_uniform": ("variance_scaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
}

#: PyTorch's normal variants are untruncated: the same columns with distribution "normal".
TORCH_COLUMNS: dict[str, tuple[str, dict[str, Any]]] = {
    name: (scheme, {**params, "distribution": "normal"} if params["distribution"] == "truncated_normal" else params)
    for name, (scheme, params) in COLUMNS.items()
}

# One expected value per column: ("U", limit) | ("N", std) | ("TN", sigma0, post_std or None).
Expected = tuple[Any, ...]

# Keras/JAX rows of anchors 7.2 (keras layout).
KERAS_ROWS: list[tuple[str, tuple[int, ...], tuple[int, int], dict[str, Expected]]] = [
    (
        "dense",
        (784, 256),
        (784, 256),
        {
            "glorot_uniform": ("U", 0.075955),
            "glorot_normal": ("TN", 0.049854, 0.043853),
            "he_uniform": ("U", 0.087482),
            "he_normal": ("TN", 0.057419, 0.050508),
            "lecun_normal": ("TN", 0.040602, 0.035714),
            "lecun_uniform": ("U", 0.061859),
            "vs2_fan_avg_uniform": ("U", 0.107417),
        },
    ),
    (
        "conv2d",
        (3, 3, 64, 128),
        (576, 1152),
        {
            "glorot_uniform": ("U", 0.058926),
            "glorot_normal": ("TN", 0.038676, 0.034021),
            "he_uniform": ("U", 0.102062),
            "he_normal": ("TN", 0.066989, 0.058926),
            "lecun_normal": ("TN", 0.047369, 0.041667),
            "lecun_uniform": ("U", 0.072169),
            "vs2_fan_avg_uniform": ("U", 0.083333),
        },
    ),
    (
        "conv1d",
        (5, 16, 32),
        (80, 160),
        {
            "glorot_uniform": ("U", 0.158114),
            "glorot_normal": ("TN", 0.103779, 0.091287),
            "he_uniform": ("U", 0.273861),
            "he_normal": ("TN", 0.179751, 0.158114),
            "lecun_normal": ("TN", 0.127103, 0.111803),
            "lecun_uniform": ("U", 0.193649),
            "vs2_fan_avg_uniform": ("U", 0.223607),
        },
    ),
    (
        "conv3d",
        (2, 3, 3, 8, 16),
        (144, 288),
        {
            "glorot_uniform": ("U", 0.117851),
            "glorot_normal": ("TN", 0.077353, 0.068041),
            "he_uniform": ("U", 0.204124),
            "he_normal": ("TN", 0.133979, 0.117851),
            "lecun_normal": ("TN", 0.094737, 0.083333),
            "lecun_uniform": ("U", 0.144338),
            "vs2_fan_avg_uniform": ("U", 0.166667),
        },
    ),
    (
        # "x torch layout (128,64,3,3) fed to Keras/JAX": the wrong reading, reproduced as Keras computes it.
        "torch_shape_in_keras",
        (128, 64, 3, 3),
        (24576, 24576),
        {
            "glorot_uniform": ("U", 0.011049),
            "glorot_normal": ("TN", 0.007252, None),
            "he_uniform": ("U", 0.015625),
            "he_normal": ("TN", 0.010256, None),
            "lecun_normal": ("TN", 0.007252, None),
            "lecun_uniform": ("U", 0.011049),
            "vs2_fan_avg_uniform": ("U", 0.015625),
        },
    ),
]

# PyTorch rows of anchors 7.2 (torch layout; normal variants untruncated; lecun = kaiming_*(nonlinearity="linear"),
# VS(2, fan_avg, uniform) = xavier_uniform_(gain=sqrt 2)). The last column is kaiming_uniform_(a=sqrt 5), the
# nn.Linear / nn.Conv default: our he with negative_slope = sqrt(5) and the uniform distribution.
TORCH_ROWS: list[tuple[str, tuple[int, ...], tuple[int, int], dict[str, Expected]]] = [
    (
        "dense",
        (256, 784),
        (784, 256),
        {
            "glorot_uniform": ("U", 0.075955),
            "glorot_normal": ("N", 0.043853),
            "he_uniform": ("U", 0.087482),
            "he_normal": ("N", 0.050508),
            "lecun_normal": ("N", 0.035714),
            "lecun_uniform": ("U", 0.061859),
            "vs2_fan_avg_uniform": ("U", 0.107417),
            "kaiming_uniform_a_sqrt5": ("U", 0.035714),
        },
    ),
    (
        "conv2d",
        (128, 64, 3, 3),
        (576, 1152),
        {
            "glorot_uniform": ("U", 0.058926),
            "glorot_normal": ("N", 0.034021),
            "he_uniform": ("U", 0.102062),
            "he_normal": ("N", 0.058926),
            "lecun_normal": ("N", 0.041667),
            "lecun_uniform": ("U", 0.072169),
            "vs2_fan_avg_uniform": ("U", 0.083333),
            "kaiming_uniform_a_sqrt5": ("U", 0.041667),
        },
    ),
    (
        "conv1d",
        (32, 16, 5),
        (80, 160),
        {
            "glorot_uniform": ("U", 0.158114),
            "glorot_normal": ("N", 0.091287),
            "he_uniform": ("U", 0.273861),
            "he_normal": ("N", 0.158114),
            "lecun_normal": ("N", 0.111803),
            "lecun_uniform": ("U", 0.193649),
            "vs2_fan_avg_uniform": ("U", 0.223607),
            "kaiming_uniform_a_sqrt5": ("U", 0.111803),
        },
    ),
    (
        "conv3d",
        (16, 8, 2, 3, 3),
        (144, 288),
        {
            "glorot_uniform": ("U", 0.117851),
            "glorot_normal": ("N", 0.068041),
            "he_uniform": ("U", 0.204124),
            "he_normal": ("N", 0.117851),
            "lecun_normal": ("N", 0.083333),
            "lecun_uniform": ("U", 0.144338),
            "vs2_fan_avg_uniform": ("U", 0.166667),
            "kaiming_uniform_a_sqrt5": ("U", 0.083333),
        },
    ),
    (
        # "x Keras layout (784,256) fed to torch"
        "keras_dense_in_torch",
        (784, 256),
        (256, 784),
        {
            "glorot_uniform": ("U", 0.075955),
            "glorot_normal": ("N", 0.043853),
            "he_uniform": ("U", 0.153093),
            "he_normal": ("N", 0.088388),
            "lecun_normal": ("N", 0.062500),
            "lecun_uniform": ("U", 0.108253),
            "vs2_fan_avg_uniform": ("U", 0.107417),
            "kaiming_uniform_a_sqrt5": ("U", 0.062500),
        },
    ),
    (
        # "x Keras layout (3,3,64,128) fed to torch"
        "keras_conv2d_in_torch",
        (3, 3, 64, 128),
        (24576, 24576),
        {
            "glorot_uniform": ("U", 0.011049),
            "glorot_normal": ("N", 0.006379),
            "he_uniform": ("U", 0.015625),
            "he_normal": ("N", 0.009021),
            "lecun_normal": ("N", 0.006379),
            "lecun_uniform": ("U", 0.011049),
            "vs2_fan_avg_uniform": ("U", 0.015625),
            "kaiming_uniform_a_sqrt5": ("U", 0.006379),
        },
    ),
]

TORCH_COLUMNS["kaiming_uniform_a_sqrt5"] = ("he", {"distribution": "uniform", "negative_slope": math.sqrt(5.0)})


def _cases(rows: list[tuple[str, tuple[int, ...], tuple[int, int], dict[str, Expected]]], layout: str) -> list[Any]:
    return [
        pytest.param(layout, shape, fans, column, expected, id=f"{layout}-{name}-{column}")
        for name, shape, fans, columns in rows
        for column, expected in columns.items()
    ]


def _check(plan: TensorPlan, expected: Expected) -> None:
    m = plan.moments
    assert m.mean == 0.0
    kind = expected[0]
    if kind == "U":
        assert m.high is not None
        assert m.low is not None
        assert m.low == -m.high
        assert m.high == pytest.approx(expected[1], abs=TOL)
        assert m.std == pytest.approx(m.high / math.sqrt(3.0), rel=1e-12)
    elif kind == "N":
        assert m.low is None
        assert m.high is None
        assert m.std == pytest.approx(expected[1], abs=TOL)
    else:
        assert m.high is not None
        assert m.low == -m.high
        sigma0 = m.high / 2.0
        assert sigma0 == pytest.approx(expected[1], abs=TOL)
        # Post-truncation std = 0.8796 sigma0 exactly (the moments come from the truncated-normal formula).
        assert m.std == pytest.approx(sigma0 * TRUNCATED_STD_AT_2, rel=1e-12)
        if expected[2] is not None:
            assert m.std == pytest.approx(expected[2], abs=TOL)


@pytest.mark.parametrize(
    ("layout", "shape", "fans", "column", "expected"), [*_cases(KERAS_ROWS, "keras"), *_cases(KERAS_ROWS, "jax")]
)
def test_keras_and_jax_rows(
    plan: PlanFn, layout: str, shape: tuple[int, ...], fans: tuple[int, int], column: str, expected: Expected
) -> None:
    scheme, params = COLUMNS[column]
    p = plan(shape, scheme, params, layout=layout)
    assert (p.fans.fan_in, p.fans.fan_out) == fans  # type: ignore[union-attr]
    _check(p, expected)


@pytest.mark.parametrize(("layout", "shape", "fans", "column", "expected"), _cases(TORCH_ROWS, "torch"))
def test_torch_rows(
    plan: PlanFn, layout: str, shape: tuple[int, ...], fans: tuple[int, int], column: str, expected: Expected
) -> None:
    scheme, params = TORCH_COLUMNS[column]
    p = plan(shape, scheme, params, layout=layout)
    assert (p.fans.fan_in, p.fans.fan_out) == fans  # type: ignore[union-attr]
    _check(p, expected)


@pytest.mark.parametrize(
    ("layout", "shape", "scheme", "params", "expected"),
    [
        # torch kaiming_normal_(nonlinearity="relu", mode="fan_out"): dense 0.088388, conv2d 0.041667 (anchors 7.2).
        ("torch", (256, 784), "he", {"distribution": "normal", "mode": "fan_out"}, ("N", 0.088388)),
        ("torch", (128, 64, 3, 3), "he", {"distribution": "normal", "mode": "fan_out"}, ("N", 0.041667)),
        # JAX variance_scaling(1, "fan_geo_avg", "uniform"): dense 0.081832, conv2d 0.060686, conv1d 0.162839,
        # conv3d 0.121373 (anchors 7.2).
        ("jax", (784, 256), "variance_scaling", {"mode": "fan_geo_avg", "distribution": "uniform"}, ("U", 0.081832)),
        (
            "jax",
            (3, 3, 64, 128),
            "variance_scaling",
            {"mode": "fan_geo_avg", "distribution": "uniform"},
            ("U", 0.060686),
        ),
        ("jax", (5, 16, 32), "variance_scaling", {"mode": "fan_geo_avg", "distribution": "uniform"}, ("U", 0.162839)),
        (
            "jax",
            (2, 3, 3, 8, 16),
            "variance_scaling",
            {"mode": "fan_geo_avg", "distribution": "uniform"},
            ("U", 0.121373),
        ),
        # Keras VS(1, fan_in, "untruncated_normal") = JAX VS(1, fan_in, "normal"): 0.035714 dense, 0.041667 conv2d.
        ("keras", (784, 256), "variance_scaling", {"distribution": "normal"}, ("N", 0.035714)),
        ("keras", (3, 3, 64, 128), "variance_scaling", {"distribution": "normal"}, ("N", 0.041667)),
        # Keras VarianceScaling default = (1, fan_in, truncated_normal) = lecun_normal.
        ("keras", (784, 256), "variance_scaling", {}, ("TN", 0.040602, 0.035714)),
        # Keras "normal" in VarianceScaling means truncated; ours is explicit: he_normal default is untruncated.
        ("keras", (784, 256), "he", {}, ("N", 0.050508)),
        ("keras", (784, 256), "lecun", {}, ("N", 0.035714)),
        # xavier / kaiming aliases.
        ("torch", (256, 784), "xavier", {}, ("U", 0.075955)),
        ("torch", (256, 784), "kaiming", {"distribution": "uniform"}, ("U", 0.087482)),
    ],
)
def test_other_captured_values(
    plan: PlanFn, layout: str, shape: tuple[int, ...], scheme: str, params: dict[str, Any], expected: Expected
) -> None:
    _check(plan(shape, scheme, params, layout=layout), expected)


@pytest.mark.parametrize(
    ("scheme", "params", "variance"),
    [
        ("glorot", {}, 2.0 / (784 + 256)),
        ("glorot", {"gain": 5.0 / 3.0}, (5.0 / 3.0) ** 2 * 2.0 / (784 + 256)),
        ("he", {}, 2.0 / 784),
        ("he", {"mode": "fan_out"}, 2.0 / 256),
        ("he", {"mode": "fan_avg"}, 2.0 / 520),
        ("he", {"mode": "fan_geo_avg"}, 2.0 / math.sqrt(784 * 256)),
        ("he", {"negative_slope": 0.2}, 2.0 / (1.04 * 784)),
        ("lecun", {}, 1.0 / 784),
        ("variance_scaling", {"scale": 3.0, "mode": "fan_out"}, 3.0 / 256),
    ],
)
@pytest.mark.parametrize("distribution", ["uniform", "normal", "truncated_normal"])
def test_every_distribution_hits_the_target_variance(
    plan: PlanFn, scheme: str, params: dict[str, Any], variance: float, distribution: str
) -> None:
    """PRODUCT.md: variance = scale / fan, each distribution hitting it exactly (keras dense (784, 256))."""
    m = plan((784, 256), scheme, {**params, "distribution": distribution}).moments
    assert m.variance == pytest.approx(variance, rel=1e-12)
    assert m.mean == 0.0
    if distribution == "uniform":
        assert m.high == pytest.approx(math.sqrt(3.0 * variance), rel=1e-14)
    elif distribution == "truncated_normal":
        assert m.high == pytest.approx(2.0 * math.sqrt(variance) / TRUNCATED_STD_AT_2, rel=1e-14)
    else:
        assert m.high is None


def test_truncated_std_constant() -> None:
    """0.87962566103423978 = sqrt(1 - 4 phi(2) / (Phi(2) - Phi(-2))), the std of N(0, 1) truncated to [-2, 2]."""
    phi2 = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
    mass = math.erf(2.0 / math.sqrt(2.0))
    assert math.sqrt(1.0 - 4.0 * phi2 / mass) == pytest.approx(TRUNCATED_STD_AT_2, rel=1e-15)


# -- gains: anchors 7.2 "calculate_gain" and 2.1 ------------------------------------------------------

GAINS: list[tuple[str, float | None, float]] = [
    ("linear", None, 1.0),
    ("conv1d", None, 1.0),
    ("conv2d", None, 1.0),
    ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0),
    ("conv_transpose2d", None, 1.0),
    ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 1.666667),
    ("relu", None, 1.414214),
    ("leaky_relu", None, 1.414143),  # default slope 0.01
    ("leaky_relu", 0.2, 1.386750),
    ("leaky_relu", math.sqrt(5.0), 0.577350),  # = 1 / sqrt(3)
    ("selu", None, 0.75),
]


@pytest.mark.parametrize(("nonlinearity", "param", "expected"), GAINS)
def test_calculate_gain(nonlinearity: str, param: float | None, expected: float) -> None:
    assert calculate_gain(nonlinearity, param) == pytest.approx(expected, abs=TOL)


def test_calculate_gain_exact_values() -> None:
    assert calculate_gain("tanh") == 5.0 / 3.0
    assert calculate_gain("relu") == math.sqrt(2.0)
    assert calculate_gain("leaky_relu", 0.0) == math.sqrt(2.0)


@pytest.mark.parametrize(("nonlinearity", "param"), [("gelu", None), ("leaky_relu", True), ("leaky_relu", math.nan)])
def test_calculate_gain_rejects(nonlinearity: str, param: Any) -> None:
    with pytest.raises(ParameterError):
        calculate_gain(nonlinearity, param)


# -- PyTorch itself, when installed ---------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(("nonlinearity", "param", "expected"), GAINS)
def test_calculate_gain_equals_torch(nonlinearity: str, param: float | None, expected: float) -> None:
    torch = pytest.importorskip("torch")
    assert calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


TORCH_SHAPES = [(256, 784), (128, 64, 3, 3), (32, 16, 5), (16, 8, 2, 3, 3)]


@pytest.mark.torch
@pytest.mark.parametrize("shape", TORCH_SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("slope", [0.0, 0.2, math.sqrt(5.0)])
def test_kaiming_formulas_equal_torch(plan: PlanFn, shape: tuple[int, ...], mode: str, slope: float) -> None:
    """torch kaiming_*: std = calculate_gain("leaky_relu", a) / sqrt(fan), bound = sqrt(3) std (init.py:610-669)."""
    torch = pytest.importorskip("torch")
    from torch.nn.init import _calculate_correct_fan

    fan = _calculate_correct_fan(torch.empty(shape), mode)
    std = torch.nn.init.calculate_gain("leaky_relu", slope) / math.sqrt(fan)
    params = {"mode": mode, "negative_slope": slope}
    normal = plan(shape, "he", {**params, "distribution": "normal"}, layout="torch").moments
    uniform = plan(shape, "he", {**params, "distribution": "uniform"}, layout="torch").moments
    assert normal.std == pytest.approx(std, rel=1e-12)
    assert uniform.high == pytest.approx(math.sqrt(3.0) * std, rel=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("shape", TORCH_SHAPES)
@pytest.mark.parametrize("gain", [1.0, 5.0 / 3.0, math.sqrt(2.0)])
def test_xavier_formulas_equal_torch(plan: PlanFn, shape: tuple[int, ...], gain: float) -> None:
    """torch xavier_*: std = gain sqrt(2 / (fan_in + fan_out)), bound = sqrt(3) std (init.py:505-539)."""
    torch = pytest.importorskip("torch")
    from torch.nn.init import _calculate_fan_in_and_fan_out

    fan_in, fan_out = _calculate_fan_in_and_fan_out(torch.empty(shape))
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    normal = plan(shape, "glorot", {"gain": gain, "distribution": "normal"}, layout="torch").moments
    uniform = plan(shape, "glorot", {"gain": gain, "distribution": "uniform"}, layout="torch").moments
    assert normal.std == pytest.approx(std, rel=1e-12)
    assert uniform.high == pytest.approx(math.sqrt(3.0) * std, rel=1e-12)


def _torch_draw(shape: tuple[int, ...], fill: Callable[..., Any], **kwargs: Any) -> np.ndarray:
    """torch's ``fill`` on a float64 tensor from ``Generator().manual_seed(1234)``, on one intra-op thread: the
    generator draws serially either way, and trunc_normal_'s rejection loop (dozens of whole-tensor passes in
    the tails) no longer waits at a thread barrier per pass on a busy machine."""
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(1234)
    tensor = torch.empty(shape, dtype=torch.float64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fill(tensor, generator=generator, **kwargs)
    finally:
        torch.set_num_threads(threads)
    return tensor.numpy()


@pytest.mark.torch
@pytest.mark.parametrize(
    ("fill_name", "kwargs", "scheme", "params"),
    [
        ("xavier_uniform_", {}, "glorot", {}),
        ("xavier_uniform_", {"gain": math.sqrt(2.0)}, "variance_scaling", {"scale": 2.0, "mode": "fan_avg"}),
        ("kaiming_uniform_", {}, "he", {}),
        ("kaiming_uniform_", {"a": math.sqrt(5.0)}, "he", {"negative_slope": math.sqrt(5.0)}),
        ("kaiming_uniform_", {"nonlinearity": "relu", "mode": "fan_out"}, "he", {"mode": "fan_out"}),
        ("kaiming_uniform_", {"nonlinearity": "linear"}, "lecun", {}),
    ],
)
def test_torch_uniform_draws_stay_inside_our_bound(
    plan: PlanFn, fill_name: str, kwargs: dict[str, Any], scheme: str, params: dict[str, Any]
) -> None:
    """torch's uniform draws on a big tensor reach, but never pass, our limit."""
    torch = pytest.importorskip("torch")
    shape = (1024, 256, 2, 2)  # 2^20 elements, torch layout
    drawn = _torch_draw(shape, getattr(torch.nn.init, fill_name), **kwargs)
    m = plan(shape, scheme, {**params, "distribution": "uniform"}, layout="torch").moments
    assert m.high is not None
    peak = float(np.abs(drawn).max())
    assert peak <= m.high
    assert peak >= m.high * (1.0 - 1e-4)  # P(max < (1 - 1e-4) r) = (1 - 1e-4)^(2^20) ~ e^-105


@pytest.mark.torch
@pytest.mark.parametrize(
    ("fill_name", "kwargs", "scheme", "params"),
    [
        ("xavier_normal_", {}, "glorot", {}),
        ("xavier_normal_", {"gain": 5.0 / 3.0}, "glorot", {"gain": 5.0 / 3.0}),
        ("kaiming_normal_", {}, "he", {}),
        ("kaiming_normal_", {"a": 0.2}, "he", {"negative_slope": 0.2}),
        ("kaiming_normal_", {"nonlinearity": "relu", "mode": "fan_out"}, "he", {"mode": "fan_out"}),
        ("kaiming_normal_", {"nonlinearity": "linear"}, "lecun", {}),
    ],
)
def test_torch_normal_draws_have_our_variance(
    plan: PlanFn, fill_name: str, kwargs: dict[str, Any], scheme: str, params: dict[str, Any]
) -> None:
    """torch's (untruncated) normal draws have our theoretical variance, within 4 standard errors."""
    torch = pytest.importorskip("torch")
    shape = (1024, 256, 2, 2)
    drawn = _torch_draw(shape, getattr(torch.nn.init, fill_name), **kwargs)
    m = plan(shape, scheme, {**params, "distribution": "normal"}, layout="torch").moments
    n = drawn.size
    assert abs(drawn.mean()) <= 4.0 * math.sqrt(m.variance / n)
    assert abs(drawn.var() - m.variance) <= 4.0 * m.variance * math.sqrt(2.0 / n)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("mean", "std", "low", "high"),
    [
        (0.0, 1.0, -2.0, 2.0),  # trunc_normal_ defaults: anchors 7.3 var 0.7720 (theory 0.773741)
        (0.0, 0.02, -0.04, 0.04),  # anchors 7.3: 3.096e-4
        (0.0, 0.02, -2.0, 2.0),  # no truncation in effect: 0.02^2
        (1.0, 0.5, 1.2, 3.0),  # one-sided
        (0.0, 1.0, 1.5, 4.0),  # tail
        # torch warns "mean is more than 2 std from [a, b]" but samples correctly (uniform-envelope rejection).
        pytest.param(0.0, 1.0, 2.5, 4.0, marks=pytest.mark.filterwarnings("ignore:mean is more than 2 std")),
    ],
)
def test_torch_trunc_normal_has_our_moments(plan: PlanFn, mean: float, std: float, low: float, high: float) -> None:
    """Our truncated_normal (absolute bounds) is torch's trunc_normal_(mean, std, a, b)."""
    torch = pytest.importorskip("torch")
    shape = (1 << 20,)
    drawn = _torch_draw(shape, torch.nn.init.trunc_normal_, mean=mean, std=std, a=low, b=high)
    m = plan(shape, "truncated_normal", {"mean": mean, "std": std, "low": low, "high": high}).moments
    assert (m.low, m.high) == (low, high)
    assert low <= drawn.min()
    assert drawn.max() <= high
    n = drawn.size
    m4 = float(((drawn - drawn.mean()) ** 4).mean())
    assert abs(drawn.mean() - m.mean) <= 4.0 * math.sqrt(m.variance / n)
    assert abs(drawn.var() - m.variance) <= 4.0 * math.sqrt((m4 - drawn.var() ** 2) / n)


# -- truncated-normal moments against arbitrary precision ------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "std", "low", "high"),
    [
        (0.0, 1.0, -1e-20, 1e-20),  # the closed form's mass underflows relative to its terms
        (0.0, 1.0, -0.004, 0.005),  # holds 0
        (0.0, 1.0, 0.1, 0.1 + 1e-9),
        (0.0, 1.0, 5.0, 5.001),
        (0.0, 1.0, 3.0, 3.0099),  # just under the standardized width 0.01
        (0.0, 1.0, 29.99, 29.999),  # far upper tail
        (0.0, 1.0, -29.999, -29.995),  # far lower tail
        (10.0, 0.5, 2.0, 2.001),  # standardized [-16, -15.998]
        (0.0, 2.0, -0.01, 0.0),
        (0.0, 1e30, -1.0, 1.0),  # standardized +-1e-30
    ],
)
def test_narrow_truncated_normal_moments_equal_mpmath(
    plan: PlanFn, mean: float, std: float, low: float, high: float
) -> None:
    """Narrow intervals (standardized width < 0.01): mean and variance equal the closed form evaluated with
    120 significant digits, to about float64 precision (the standardization of the bounds limits it)."""
    mp = pytest.importorskip("mpmath").mp
    with mp.workdps(120):
        mu, sigma = mp.mpf(mean), mp.mpf(std)
        a, b = (mp.mpf(low) - mu) / sigma, (mp.mpf(high) - mu) / sigma

        def pdf(x: Any) -> Any:
            return mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)

        mass = mp.ncdf(b) - mp.ncdf(a) if b <= 0 else mp.ncdf(-a) - mp.ncdf(-b)
        shift = (pdf(a) - pdf(b)) / mass
        expected_mean = float(mu + sigma * shift)
        expected_variance = float(sigma**2 * (1 + (a * pdf(a) - b * pdf(b)) / mass - shift**2))
    m = plan((10,), "truncated_normal", {"mean": mean, "std": std, "low": low, "high": high}).moments
    assert (m.low, m.high) == (low, high)
    assert m.mean == pytest.approx(expected_mean, rel=1e-14, abs=1e-12 * (high - low))
    assert m.variance == pytest.approx(expected_variance, rel=1e-11)
