"""Empirical statistics converge to the theoretical ones; deterministic schemes are exact.

Random schemes are drawn with >= 10^6 samples in float32 and float64 from a
fixed seed (so nothing is flaky: each case either always passes or always
fails); the empirical variance must lie within 4 standard errors of the
theoretical one, the standard error estimated from the sample's fourth central
moment, sqrt((m4 - m2^2) / n) (the asymptotic SE of the sample variance). The
check is made both on the reported ``variance_z`` and on moments recomputed
independently with NumPy from the returned array.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from service.core import Generated, TensorPlan
from service.core.dtypes import numpy_dtype
from service.core.stats import Empirical, chunk_sums, sum_scale

MakeFn = Callable[..., tuple[TensorPlan, Generated]]

Z_MAX = 4.0

Case = tuple[str, tuple[int, ...], str, str, dict[str, Any]]  # id, shape, layout, scheme, params

KERAS_CONV = (3, 3, 256, 448)  # 1 032 192 elements, fans (2304, 4032)
TORCH_CONV = (448, 256, 3, 3)  # the same layer in torch layout
DENSE = (1024, 1024)  # 1 048 576 elements
MULTI_BLOCK = (1100, 1000)  # 1 100 000 elements: 17 chunks, 2 blocks

VARIANCE_SCALED: list[Case] = [
    *[
        (f"{scheme}-{dist}-{layout}", shape, layout, scheme, {"distribution": dist})
        for scheme in ("glorot", "he", "lecun", "variance_scaling")
        for dist in ("uniform", "normal", "truncated_normal")
        for layout, shape in (("keras", KERAS_CONV), ("torch", TORCH_CONV))
    ],
    *[
        (f"he-{mode}-{dist}", DENSE, "keras", "he", {"mode": mode, "distribution": dist})
        for mode in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
        for dist in ("uniform", "normal", "truncated_normal")
    ],
    *[
        (f"he-slope{slope:g}-{dist}", MULTI_BLOCK, "torch", "he", {"negative_slope": slope, "distribution": dist})
        for slope in (0.2, -0.5, math.sqrt(5.0))
        for dist in ("uniform", "normal", "truncated_normal")
    ],
    ("glorot-gain-tanh", DENSE, "jax", "glorot", {"gain": 5.0 / 3.0}),
    ("glorot-negative-gain", DENSE, "keras", "glorot", {"gain": -2.0, "distribution": "normal"}),
    (
        "vs-2-fan_avg-uniform",
        KERAS_CONV,
        "keras",
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
    ),
    ("vs-0.1-fan_geo_avg-tn", TORCH_CONV, "torch", "variance_scaling", {"scale": 0.1, "mode": "fan_geo_avg"}),
    (
        "vs-7-fan_out-normal",
        DENSE,
        "jax",
        "variance_scaling",
        {"scale": 7.0, "mode": "fan_out", "distribution": "normal"},
    ),
]

PLAIN: list[Case] = [
    ("normal-default", DENSE, "keras", "normal", {}),
    ("normal-shifted", MULTI_BLOCK, "torch", "normal", {"mean": 1.5, "std": 0.3}),
    ("normal-tiny", DENSE, "keras", "normal", {"mean": -1e-3, "std": 1e-4}),
    ("uniform-default", DENSE, "keras", "uniform", {}),
    ("uniform-asymmetric", MULTI_BLOCK, "keras", "uniform", {"low": -3.0, "high": 5.0}),
    ("uniform-symmetric", DENSE, "torch", "uniform", {"low": -0.05, "high": 0.05}),
    ("uniform-positive", DENSE, "keras", "uniform", {"low": 100.0, "high": 100.5}),
    # truncated normal, absolute bounds (torch trunc_normal_ semantics); the comment names the sampler used.
    ("tn-default", DENSE, "keras", "truncated_normal", {}),  # [-2, 2]: normal rejection
    ("tn-keras-like", DENSE, "keras", "truncated_normal", {"std": 0.02, "low": -0.04, "high": 0.04}),
    ("tn-no-effect", DENSE, "keras", "truncated_normal", {"std": 0.02}),  # bounds at +-100 sigma
    ("tn-shifted", MULTI_BLOCK, "keras", "truncated_normal", {"mean": 0.5, "std": 2.0, "low": -1.0, "high": 4.0}),
    ("tn-tail-3-50", DENSE, "keras", "truncated_normal", {"low": 3.0, "high": 50.0}),  # exponential proposal
    ("tn-tail-neg", DENSE, "keras", "truncated_normal", {"low": -50.0, "high": -3.0}),  # mirrored exponential
    ("tn-far-tail", DENSE, "keras", "truncated_normal", {"low": 12.0, "high": 13.0}),  # exponential, upper cut
    ("tn-one-sided-half", DENSE, "keras", "truncated_normal", {"low": 0.0, "high": 10.0}),  # half-normal
    ("tn-upper-cut", DENSE, "keras", "truncated_normal", {"low": 0.5, "high": 2.0}),  # exponential with b
    ("tn-narrow-0", DENSE, "keras", "truncated_normal", {"low": -0.1, "high": 0.05}),  # uniform, holds 0
    ("tn-narrow-side", DENSE, "keras", "truncated_normal", {"low": 0.1, "high": 0.2}),  # uniform, one side
    ("tn-narrow-neg", DENSE, "keras", "truncated_normal", {"low": -5.0, "high": -4.5}),  # uniform, mirrored
    ("tn-narrow-far", DENSE, "keras", "truncated_normal", {"mean": 10.0, "std": 0.5, "low": 2.0, "high": 2.1}),
    ("tn-wide-left", DENSE, "keras", "truncated_normal", {"low": -30.0, "high": 0.25}),  # normal rejection
]

SHAPE_AWARE: list[Case] = [
    ("orthogonal-square", DENSE, "keras", "orthogonal", {}),
    ("orthogonal-tall-gain", (4096, 256), "torch", "orthogonal", {"gain": 2.0}),
    ("orthogonal-wide-conv", (256, 1024, 2, 2), "torch", "orthogonal", {"gain": 0.5}),
    ("sparse-torch", DENSE, "torch", "sparse", {"sparsity": 0.3, "std": 0.05}),
    ("sparse-keras", MULTI_BLOCK, "keras", "sparse", {"sparsity": 0.9}),
    ("sparse-none", DENSE, "torch", "sparse", {"sparsity": 0.0, "std": 2.0}),
]

ALL_CASES = VARIANCE_SCALED + PLAIN + SHAPE_AWARE


def dtype_bound(plan: TensorPlan, bound: float) -> float:
    """A bound as the tensor can hold it: rounded to the sampling dtype, then to the output dtype."""
    return float(np.asarray(bound, np.float64).astype(plan.sampling_dtype).astype(plan.numpy_dtype).astype(np.float64))


@dataclass(frozen=True)
class NumpyMoments:
    """NumPy's population statistics of an array in float64 (``x.mean()``, ``x.var()``, ``x.std()`` =
    sqrt(var), min, max) and its fourth central moment m4 = mean((x - mean)^4), from one set of passes."""

    count: int
    mean: float
    variance: float
    m4: float
    min: float
    max: float

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


def numpy_moments(array: np.ndarray) -> NumpyMoments:
    """As NumPy's ``var`` computes it: the mean, then the mean of the squared deviations (the same sums)."""
    x = array.astype(np.float64).ravel()
    mean = x.mean()
    d2 = x - mean
    np.multiply(d2, d2, out=d2)
    variance = float(d2.mean())
    np.multiply(d2, d2, out=d2)
    return NumpyMoments(x.size, float(mean), variance, float(d2.mean()), float(x.min()), float(x.max()))


def assert_reported_stats_match_numpy(plan: TensorPlan, gen: Generated, moments: NumpyMoments | None = None) -> None:
    """The reported empirical statistics are NumPy's own of the returned array (float64)."""
    x = moments or numpy_moments(gen.array)
    emp = gen.empirical
    assert emp.count == x.count == plan.count
    scale = max(abs(x.min), abs(x.max)) or 1.0
    assert emp.mean == pytest.approx(x.mean, rel=1e-9, abs=1e-12 * scale)
    assert emp.variance == pytest.approx(x.variance, rel=1e-9, abs=1e-15 * scale * scale)
    assert emp.std == pytest.approx(x.std, rel=1e-9, abs=1e-12 * scale)
    assert emp.min == pytest.approx(x.min, rel=1e-9)
    assert emp.max == pytest.approx(x.max, rel=1e-9)
    if plan.numpy_dtype in (np.float32, np.float64):
        assert emp.min == x.min
        assert emp.max == x.max


def assert_converges(plan: TensorPlan, gen: Generated, moments: NumpyMoments | None = None) -> None:
    """Mean and variance within 4 standard errors of the theory; values inside the support."""
    m = plan.moments
    x = moments or numpy_moments(gen.array)
    n = x.count
    assert n >= 10**6
    assert m.variance > 0.0

    mean, m2, m4 = x.mean, x.variance, x.m4
    se = math.sqrt((m4 - m2 * m2) / n)
    z = (m2 - m.variance) / se
    assert abs(z) <= Z_MAX, f"variance {m2} vs {m.variance}: z = {z:.2f}"
    assert abs(mean - m.mean) <= Z_MAX * math.sqrt(m.variance / n), f"mean {mean} vs {m.mean}"

    reported = gen.comparison
    assert reported.variance_z is not None
    assert abs(reported.variance_z) <= Z_MAX
    assert reported.variance_z == pytest.approx(z, rel=1e-6, abs=1e-6)
    assert reported.variance_ratio == pytest.approx(m2 / m.variance, rel=1e-9)
    assert gen.empirical.variance_se == pytest.approx(se, rel=1e-6)

    if m.low is not None:
        assert m.high is not None
        assert x.min >= dtype_bound(plan, m.low)
        assert x.max <= dtype_bound(plan, m.high)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("shape", "layout", "scheme", "params"), [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES]
)
def test_empirical_converges_to_theory(
    make: MakeFn, shape: tuple[int, ...], layout: str, scheme: str, params: dict[str, Any], dtype: str
) -> None:
    plan, gen = make(shape, scheme, params, layout=layout, dtype=dtype, seed=20240607)
    assert gen.array.shape == shape
    assert gen.array.dtype == plan.numpy_dtype
    assert np.isfinite(gen.array).all()
    moments = numpy_moments(gen.array)
    assert_converges(plan, gen, moments)
    assert_reported_stats_match_numpy(plan, gen, moments)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("scheme", "params", "layout"),
    [
        ("glorot", {"distribution": "uniform"}, "keras"),
        ("he", {"distribution": "uniform", "negative_slope": 0.3}, "torch"),
        ("lecun", {"distribution": "uniform"}, "jax"),
        ("variance_scaling", {"distribution": "uniform", "scale": 2.0, "mode": "fan_avg"}, "keras"),
        ("glorot", {"distribution": "truncated_normal"}, "torch"),
        ("he", {"distribution": "truncated_normal", "mode": "fan_geo_avg"}, "keras"),
    ],
)
def test_sigma_relative_supports(make: MakeFn, scheme: str, params: dict[str, Any], layout: str, dtype: str) -> None:
    """Uniform within +-r and truncated within +-2 sigma0, r and sigma0 rounded to the dtype; both reached."""
    plan, gen = make(DENSE, scheme, params, layout=layout, dtype=dtype, seed=3)
    m = plan.moments
    assert m.high is not None
    assert m.low == -m.high
    x = gen.array.astype(np.float64)
    bound = dtype_bound(plan, m.high)
    assert -bound <= x.min()
    assert x.max() <= bound
    # Both ends are nearly reached: uniform within 1e-4 r; truncated normal within 1% (density ~0.05/sigma0 there).
    reach = 1e-4 if params["distribution"] == "uniform" else 1e-2
    assert x.max() >= m.high * (1.0 - reach)
    assert x.min() <= -m.high * (1.0 - reach)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    ("scheme", "params"),
    [
        ("glorot", {"distribution": "uniform"}),
        ("he", {"distribution": "truncated_normal"}),
        ("truncated_normal", {"low": 3.0, "high": 50.0}),
        ("uniform", {"low": -3.0, "high": 5.0}),
    ],
)
def test_half_precision_supports_and_reported_stats(
    make: MakeFn, scheme: str, params: dict[str, Any], dtype: str
) -> None:
    plan, gen = make((512, 512), scheme, params, dtype=dtype, seed=11)
    m = plan.moments
    assert m.low is not None
    assert m.high is not None
    x = gen.array.astype(np.float64)
    assert dtype_bound(plan, m.low) <= x.min()
    assert x.max() <= dtype_bound(plan, m.high)
    assert_reported_stats_match_numpy(plan, gen)


# -- zero-variance random schemes ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("scheme", "params", "value"),
    [
        ("normal", {"mean": 0.25, "std": 0.0}, 0.25),
        ("glorot", {"gain": 0.0, "distribution": "uniform"}, 0.0),
        ("glorot", {"gain": 0.0, "distribution": "normal"}, 0.0),
        ("glorot", {"gain": 0.0, "distribution": "truncated_normal"}, 0.0),
        ("sparse", {"sparsity": 0.5, "std": 0.0}, 0.0),
    ],
)
def test_zero_variance_random_schemes(
    make: MakeFn, scheme: str, params: dict[str, Any], value: float, dtype: str
) -> None:
    plan, gen = make((64, 32), scheme, params, dtype=dtype, layout="torch")
    assert plan.moments.variance == 0.0
    assert (gen.array.astype(np.float64) == value).all()
    assert gen.comparison.variance_ratio is None
    assert gen.comparison.variance_z is None
    assert gen.empirical.variance == 0.0


# -- orthogonal ------------------------------------------------------------------------------------------------


def flattened(array: np.ndarray, layout: str) -> np.ndarray:
    """The matrix each framework flattens to: torch (shape[0], rest), keras/jax (rest, shape[-1])."""
    if layout == "torch":
        return array.reshape(array.shape[0], -1)
    return array.reshape(-1, array.shape[-1])


def gram(w: np.ndarray) -> np.ndarray:
    """W^T W when W is tall (orthonormal columns), W W^T when wide (orthonormal rows)."""
    w = w.astype(np.float64)
    return w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T


@pytest.mark.parametrize("layout", ["keras", "jax", "torch"])
@pytest.mark.parametrize(
    "shape",
    [
        (64, 64),
        (100, 40),
        (40, 100),
        (1, 7),
        (7, 1),
        (3, 3, 64, 128),
        (128, 64, 3, 3),
        (2, 2, 4, 64),
        (16, 2, 2, 2),
        (5, 4, 3),
    ],
)
@pytest.mark.parametrize("gain", [1.0, 2.0, -0.5])
def test_orthogonal_is_orthogonal(make: MakeFn, shape: tuple[int, ...], layout: str, gain: float) -> None:
    plan, gen = make(shape, "orthogonal", {"gain": gain}, layout=layout, seed=99)
    w = flattened(gen.array, layout)
    rows, cols = w.shape
    assert (rows, cols) == (
        (shape[0], math.prod(shape[1:])) if layout == "torch" else (math.prod(shape[:-1]), shape[-1])
    )
    g = gram(w)
    np.testing.assert_allclose(g, gain * gain * np.eye(min(rows, cols)), rtol=0, atol=1e-5 * gain * gain)
    assert plan.moments.variance == pytest.approx(gain * gain / max(rows, cols), rel=1e-12)
    assert plan.moments.mean == 0.0
    assert plan.moments.low is None
    assert plan.moments.high is None
    # The mean square is exactly gain^2 min / (rows cols) = gain^2 / max: every row (or column) has unit norm.
    assert float((gen.array.astype(np.float64) ** 2).mean()) == pytest.approx(gain * gain / max(rows, cols), rel=1e-5)


def test_orthogonal_float64_is_orthogonal_to_machine_precision(make: MakeFn) -> None:
    _, gen = make((300, 200), "orthogonal", dtype="float64", seed=5)
    np.testing.assert_allclose(gram(gen.array), np.eye(200), rtol=0, atol=1e-12)


def test_orthogonal_gain_scales_exactly(make: MakeFn) -> None:
    """gain multiplies one and the same Q."""
    _, one = make((60, 30), "orthogonal", dtype="float64", seed=8)
    _, three = make((60, 30), "orthogonal", {"gain": 3.0}, dtype="float64", seed=8)
    np.testing.assert_allclose(three.array, 3.0 * one.array, rtol=1e-15, atol=0)


def test_orthogonal_is_haar_sign_corrected(make: MakeFn) -> None:
    """Without the sign(diag R) fix, Householder QR makes Q[0, 0] < 0 always; Haar makes every entry mean 0.

    Over 400 seeds, each entry of a 3 x 3 Haar-orthogonal matrix has mean 0 and variance 1/3.
    """
    samples = np.stack([make((3, 3), "orthogonal", dtype="float64", seed=s)[1].array for s in range(400)])
    se = math.sqrt(1.0 / 3.0 / len(samples))
    assert np.abs(samples.mean(axis=0)).max() <= Z_MAX * se
    np.testing.assert_allclose((samples**2).mean(axis=0), 1.0 / 3.0, atol=0.08)
    dets = np.linalg.det(samples)
    assert (dets > 0).any()
    assert (dets < 0).any()


def test_orthogonal_keras_and_torch_differ_beyond_2d(make: MakeFn) -> None:
    """2-D shapes flatten identically in every layout; >2-D ones do not."""
    _, k = make((20, 30), "orthogonal", layout="keras", seed=1)
    _, t = make((20, 30), "orthogonal", layout="torch", seed=1)
    np.testing.assert_array_equal(k.array, t.array)
    _, k = make((4, 3, 5), "orthogonal", layout="keras", seed=1)
    _, t = make((4, 3, 5), "orthogonal", layout="torch", seed=1)
    assert not np.array_equal(k.array, t.array)


# -- dirac and identity --------------------------------------------------------------------------------------


def torch_dirac(shape: tuple[int, ...], groups: int = 1) -> np.ndarray:
    """PyTorch dirac_ by hand (torch/nn/init.py:402): W[g * out_g + d, d, k // 2, ...] = 1, d < min(out_g, in)."""
    w = np.zeros(shape, dtype=np.float64)
    out_g = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for d in range(min(out_g, shape[1])):
            w[(g * out_g + d, d, *centre)] = 1.0
    return w


def to_keras(torch_weight: np.ndarray) -> np.ndarray:
    """(out, in, *k) -> (*k, in, out), as a Keras kernel stores the same layer."""
    rank = torch_weight.ndim
    return np.transpose(torch_weight, (*range(2, rank), 1, 0))


def test_hand_built_dirac_matches_the_anchor_examples() -> None:
    """anchors 7.4: dirac_((4,2,4,4)) ones at [0,0,2,2], [1,1,2,2]; groups=3 on (6,2,3) one identity per group."""
    assert [tuple(i) for i in np.argwhere(torch_dirac((4, 2, 4, 4)))] == [(0, 0, 2, 2), (1, 1, 2, 2)]
    assert [tuple(i) for i in np.argwhere(torch_dirac((6, 2, 3), 3))] == [
        (0, 0, 1),
        (1, 1, 1),
        (2, 0, 1),
        (3, 1, 1),
        (4, 0, 1),
        (5, 1, 1),
    ]


DIRAC_CASES: list[tuple[tuple[int, ...], int]] = [
    ((4, 2, 4, 4), 1),
    ((6, 2, 3), 3),
    ((6, 2, 3), 1),
    ((2, 4, 5), 1),  # out < in
    ((8, 3, 2), 2),  # even kernel: centre k // 2 = 1
    ((4, 4, 3, 3, 3), 2),
    ((3, 3, 1, 1, 1), 3),
    ((16, 16, 3, 3), 4),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(("torch_shape", "groups"), DIRAC_CASES)
def test_dirac_exact(make: MakeFn, torch_shape: tuple[int, ...], groups: int, dtype: str) -> None:
    expected = torch_dirac(torch_shape, groups)
    plan, gen = make(torch_shape, "dirac", {"groups": groups}, layout="torch", dtype=dtype)
    np.testing.assert_array_equal(gen.array.astype(np.float64), expected)
    keras = to_keras(expected)
    for layout in ("keras", "jax"):
        kplan, kgen = make(keras.shape, "dirac", {"groups": groups}, layout=layout, dtype=dtype)
        np.testing.assert_array_equal(kgen.array.astype(np.float64), keras)
        assert kplan.moments == plan.moments
    ones = int(expected.sum())
    m = plan.moments
    p = ones / expected.size
    assert (m.mean, m.low, m.high) == (pytest.approx(p), 0.0, 1.0)
    assert m.variance == pytest.approx(p * (1.0 - p))
    assert_reported_stats_match_numpy(plan, gen)


@pytest.mark.parametrize(("rows", "cols"), [(3, 5), (5, 3), (4, 4), (1, 1), (1, 9), (300, 400)])
@pytest.mark.parametrize("gain", [1.0, 2.5, -1.0])
@pytest.mark.parametrize("layout", ["keras", "torch"])
def test_identity_exact(make: MakeFn, rows: int, cols: int, gain: float, layout: str) -> None:
    plan, gen = make((rows, cols), "identity", {"gain": gain}, layout=layout, dtype="float64")
    expected = gain * np.eye(rows, cols)
    np.testing.assert_array_equal(gen.array, expected)
    assert plan.moments.low == float(expected.min())
    assert plan.moments.high == float(expected.max())
    assert plan.moments.mean == pytest.approx(float(expected.mean()), rel=1e-12)
    assert plan.moments.variance == pytest.approx(float(expected.var()), rel=1e-12, abs=1e-300)
    assert_reported_stats_match_numpy(plan, gen)


def test_identity_and_dirac_cross_chunks(make: MakeFn) -> None:
    """A big identity spans many chunks of 65536 elements; every diagonal element lands in its chunk."""
    _, gen = make((700, 1000), "identity", {"gain": 0.5})
    np.testing.assert_array_equal(gen.array, 0.5 * np.eye(700, 1000, dtype=np.float32))
    _, gen = make((64, 64, 5, 5), "dirac", layout="torch")
    np.testing.assert_array_equal(gen.array, torch_dirac((64, 64, 5, 5)))


@pytest.mark.torch
@pytest.mark.parametrize(("torch_shape", "groups"), DIRAC_CASES)
def test_dirac_equals_torch(make: MakeFn, torch_shape: tuple[int, ...], groups: int) -> None:
    torch = pytest.importorskip("torch")
    w = torch.empty(torch_shape)
    torch.nn.init.dirac_(w, groups)
    _, gen = make(torch_shape, "dirac", {"groups": groups}, layout="torch")
    np.testing.assert_array_equal(gen.array, w.numpy())
    _, gen = make(to_keras(w.numpy()).shape, "dirac", {"groups": groups}, layout="keras")
    np.testing.assert_array_equal(gen.array, to_keras(w.numpy()))


@pytest.mark.torch
@pytest.mark.parametrize(("rows", "cols"), [(3, 5), (5, 3), (4, 4)])
def test_identity_equals_torch_eye(make: MakeFn, rows: int, cols: int) -> None:
    torch = pytest.importorskip("torch")
    w = torch.empty(rows, cols)
    torch.nn.init.eye_(w)
    _, gen = make((rows, cols), "identity", layout="torch")
    np.testing.assert_array_equal(gen.array, w.numpy())
    _, gen = make((rows, cols), "identity", {"gain": 3.0}, layout="keras")
    np.testing.assert_array_equal(gen.array, 3.0 * w.numpy())


# -- sparse -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_out", "n_in", "sparsity"),
    [(50, 40, 0.3), (10, 20, 0.7), (10, 5, 0.1), (7, 3, 0.5), (100, 3, 0.99), (1, 4, 0.5), (33, 17, 0.0)],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_sparse_zeros_per_input_unit(make: MakeFn, n_out: int, n_in: int, sparsity: float, dtype: str) -> None:
    """Exactly ceil(sparsity * n_out) zeros among each input unit's n_out weights (torch's own arithmetic:
    0.7 * 10 = 7.000000000000001 gives 8, as torch.nn.init.sparse_ does)."""
    zeros = math.ceil(sparsity * n_out)
    _, torch_gen = make((n_out, n_in), "sparse", {"sparsity": sparsity}, layout="torch", dtype=dtype, seed=17)
    _, keras_gen = make((n_in, n_out), "sparse", {"sparsity": sparsity}, layout="keras", dtype=dtype, seed=17)
    t = torch_gen.array.astype(np.float64)
    k = keras_gen.array.astype(np.float64)
    assert ((t == 0).sum(axis=0) == zeros).all()  # torch (n_out, n_in): a column per input unit
    assert ((k == 0).sum(axis=1) == zeros).all()  # keras (n_in, n_out): a row per input unit
    np.testing.assert_array_equal(k, t.T)


def test_sparse_mask_follows_the_seed(make: MakeFn) -> None:
    _, a = make((40, 30), "sparse", {"sparsity": 0.5}, layout="torch", seed=1)
    _, b = make((40, 30), "sparse", {"sparsity": 0.5}, layout="torch", seed=2)
    assert not np.array_equal(a.array == 0, b.array == 0)


@pytest.mark.torch
@pytest.mark.parametrize(("n_out", "n_in", "sparsity"), [(50, 40, 0.3), (10, 20, 0.7), (100, 3, 0.99)])
def test_sparse_zero_count_equals_torch(make: MakeFn, n_out: int, n_in: int, sparsity: float) -> None:
    torch = pytest.importorskip("torch")
    w = torch.empty(n_out, n_in)
    torch.nn.init.sparse_(w, sparsity, std=0.01, generator=torch.Generator().manual_seed(0))
    _, gen = make((n_out, n_in), "sparse", {"sparsity": sparsity}, layout="torch")
    np.testing.assert_array_equal((gen.array == 0).sum(axis=0), (w.numpy() == 0).sum(axis=0))


# -- constants ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("scheme", "params", "value"),
    [("zeros", {}, 0.0), ("ones", {}, 1.0), ("constant", {"value": -0.375}, -0.375), ("constant", {"value": 3}, 3.0)],
)
@pytest.mark.parametrize("shape", [(), (1,), (5, 7), (3, 300, 300)])
def test_constants_exact(
    make: MakeFn, scheme: str, params: dict[str, Any], value: float, dtype: str, shape: tuple[int, ...]
) -> None:
    plan, gen = make(shape, scheme, params, dtype=dtype)
    assert gen.array.shape == shape
    np.testing.assert_array_equal(gen.array.astype(np.float64), np.full(shape, value))
    m = plan.moments
    assert (m.mean, m.variance, m.low, m.high) == (value, 0.0, value, value)
    assert gen.comparison.variance_ratio is None
    assert gen.comparison.variance_z is None
    assert_reported_stats_match_numpy(plan, gen)


# -- chunk sums ---------------------------------------------------------------------------------------------


def test_chunk_sums_merge_to_numpy_statistics() -> None:
    """Chunks of uneven sizes, merged in order, give NumPy's population moments of the whole; ``variance_se``
    is sqrt((m4 - m2^2) / n), the standard error of the population variance."""
    x = np.random.default_rng(5).standard_normal(200_001) * 3.0 + 1.0
    bounds = [0, 1, 65_536, 65_537, 150_000, x.size]
    emp = Empirical.merge([chunk_sums(x[a:b], 1.0) for a, b in itertools.pairwise(bounds)], 1.0)
    m2 = float(x.var())
    m4 = float(((x - x.mean()) ** 4).mean())
    assert emp.count == x.size
    assert emp.mean == pytest.approx(float(x.mean()), rel=1e-12)
    assert emp.variance == pytest.approx(m2, rel=1e-12)
    assert emp.std == pytest.approx(float(x.std()), rel=1e-12)
    assert emp.variance_se == pytest.approx(math.sqrt((m4 - m2 * m2) / x.size), rel=1e-9)
    assert (emp.min, emp.max) == (float(x.min()), float(x.max()))
    assert Empirical.merge([], 0.0).count == 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "int64"])
def test_chunk_sums_of_any_dtype_are_those_of_its_float64_values(dtype: str) -> None:
    """A chunk's sums and extremes are those of its values widened to float64 (exact for the float dtypes),
    whatever dtype NumPy would compare them in: -0.0 kept as the minimum where it is one."""
    x = (np.random.default_rng(7).standard_normal(70_000) * 40.0).astype(numpy_dtype(dtype))
    x[:3] = [0, 0, 0]
    if dtype != "int64":
        x[1] = -0.0
        x[3:] = np.abs(x[3:])  # the zeros are the minimum: which one of -0.0 and 0.0 comes out is checked
    for shift, scale in ((0.0, 1.0), (0.3, 1.0), (1.5, 2.0**-4)):
        sums = chunk_sums(x, shift, scale)
        wide = chunk_sums(x.astype(np.float64), shift, scale)
        assert repr(sums) == repr(wide)
        assert repr((sums.minimum, sums.maximum)) == repr((float(x.min()), float(x.max())))


@pytest.mark.parametrize("exponent", [-60, -1, 1, 60])
def test_power_of_two_scale_is_exact(exponent: int) -> None:
    """Dividing the sums by a power of two changes nothing but the range they live in: bit-identical results."""
    x = np.random.default_rng(6).uniform(-2.0, 5.0, 10_000).astype(np.float32)
    chunks = [x[:4_000], x[4_000:]]
    plain = Empirical.merge([chunk_sums(c, 1.5) for c in chunks], 1.5)
    scale = 2.0**exponent
    scaled = Empirical.merge([chunk_sums(c, 1.5, scale) for c in chunks], 1.5, scale)
    assert scaled == plain


@pytest.mark.parametrize("std", [0.0, 1e-30, 1e-3, 1.0, 1e30])
def test_sum_scale_is_one_for_ordinary_magnitudes(std: float) -> None:
    assert sum_scale(std) == 1.0


@pytest.mark.parametrize("std", [1e-300, 1e-150, 1e-31, 1e31, 1e100, 1e150])
def test_sum_scale_is_a_power_of_two_near_extreme_std(std: float) -> None:
    scale = sum_scale(std)
    assert math.frexp(scale)[0] == 0.5  # a power of two
    assert 0.5 <= std / scale <= 2.0
