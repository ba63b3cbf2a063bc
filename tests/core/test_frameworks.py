"""Framework-named initializers: parameters, defaults, layouts and numbers, against the frameworks.

Expected numbers are the 6-decimal literals of /work/shared/anchors-initializers.md
§7.2 (captured from Keras 3.15.1, JAX 0.10.2 and torch 2.13.0). ``U x``: uniform
limit (``moments.high``); ``N x``: untruncated normal std; ``TN x``: truncated
normal with sigma0 ``x`` (bounds +-2 sigma0, so sigma0 = ``moments.high / 2``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.core import Engine, FanAxes, ParameterError, TensorSpec, compute_fans, plan_tensor
from service.core.errors import ShapeError
from service.core.frameworks import FRAMEWORK_ALIASES, FRAMEWORK_INITS, framework_catalogue, resolve_any
from service.core.schemes import SCHEMES

TOL = 5e-7


def _plan(shape: tuple[int, ...], name: str, params: dict[str, Any] | None = None, seed: int = 0):  # type: ignore[no-untyped-def]
    resolved = resolve_any(name, params or {}, rank=len(shape))
    return plan_tensor(TensorSpec(shape, resolved.init, seed, "float32", resolved.layout))  # type: ignore[arg-type]


def _check(shape: tuple[int, ...], name: str, params: dict[str, Any], kind: str, value: float) -> None:
    moments = _plan(shape, name, params).moments
    if kind == "U":
        assert moments.low == pytest.approx(-value, abs=TOL) and moments.high == pytest.approx(value, abs=TOL)
    elif kind == "N":
        assert moments.low is None and moments.high is None
        assert math.sqrt(moments.variance) == pytest.approx(value, abs=TOL)
    else:
        assert moments.high is not None and moments.high / 2 == pytest.approx(value, abs=TOL)


# (keras/jax kernel shape, torch weight shape, expected per initializer): anchors §7.2, one row per layer kind.
ROWS = {
    "dense": ((784, 256), (256, 784), [0.075955, 0.049854, 0.087482, 0.057419, 0.040602, 0.061859, 0.107417]),
    "conv2d": (
        (3, 3, 64, 128),
        (128, 64, 3, 3),
        [0.058926, 0.038676, 0.102062, 0.066989, 0.047369, 0.072169, 0.083333],
    ),
    "conv1d": ((5, 16, 32), (32, 16, 5), [0.158114, 0.103779, 0.273861, 0.179751, 0.127103, 0.193649, 0.223607]),
    "conv3d": (
        (2, 3, 3, 8, 16),
        (16, 8, 2, 3, 3),
        [0.117851, 0.077353, 0.204124, 0.133979, 0.094737, 0.144338, 0.166667],
    ),
}
# The §7.2 columns as Keras classes, JAX functions and the distribution kind.
KERAS_JAX_COLUMNS = [
    ("keras.GlorotUniform", "jax.glorot_uniform", {}, "U"),
    ("keras.GlorotNormal", "jax.glorot_normal", {}, "TN"),
    ("keras.HeUniform", "jax.he_uniform", {}, "U"),
    ("keras.HeNormal", "jax.he_normal", {}, "TN"),
    ("keras.LecunNormal", "jax.lecun_normal", {}, "TN"),
    ("keras.LecunUniform", "jax.lecun_uniform", {}, "U"),
    (
        "keras.VarianceScaling",
        "jax.variance_scaling",
        {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
        "U",
    ),
]


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("column", range(7))
def test_keras_and_jax_numbers(row: str, column: int) -> None:
    shape, _, expected = ROWS[row]
    keras_name, jax_name, params, kind = KERAS_JAX_COLUMNS[column]
    _check(shape, keras_name, params, kind, expected[column])
    _check(shape, jax_name, params, kind, expected[column])


# torch equivalents of the columns (PyTorch's normal variants are untruncated: their std is the TN
# column's post-truncation std, i.e. sqrt(variance)).
TORCH_COLUMNS = [
    ("torch.xavier_uniform_", {}, "U"),
    ("torch.xavier_normal_", {}, "N"),
    ("torch.kaiming_uniform_", {}, "U"),  # leaky_relu with a = 0: gain sqrt(2)
    ("torch.kaiming_normal_", {"nonlinearity": "relu"}, "N"),
    ("torch.kaiming_normal_", {"nonlinearity": "linear"}, "N"),
    ("torch.kaiming_uniform_", {"nonlinearity": "linear"}, "U"),
    ("torch.xavier_uniform_", {"gain": math.sqrt(2.0)}, "U"),
]


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("column", range(7))
def test_torch_numbers(row: str, column: int) -> None:
    _, shape, expected = ROWS[row]
    name, params, kind = TORCH_COLUMNS[column]
    value = expected[column] * (0.87962566103423978 if kind == "N" and column in (1, 3, 4) else 1.0)
    _check(shape, name, params, kind, value)


@pytest.mark.parametrize(
    ("shape", "bound"), [((256, 784), 0.035714), ((128, 64, 3, 3), 0.041667), ((32, 16, 5), 0.111803)]
)
def test_torch_module_default_kaiming_a_sqrt5(shape: tuple[int, ...], bound: float) -> None:
    """anchors §7.2 last column: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in))."""
    _check(shape, "torch.kaiming_uniform_", {"a": math.sqrt(5.0)}, "U", bound)


def test_other_captured_values() -> None:
    """anchors §7.2 "Other captured values"."""
    _check((256, 784), "torch.kaiming_normal_", {"nonlinearity": "relu", "mode": "fan_out"}, "N", 0.088388)
    _check((128, 64, 3, 3), "torch.kaiming_normal_", {"nonlinearity": "relu", "mode": "fan_out"}, "N", 0.041667)
    geo = {"scale": 1.0, "mode": "fan_geo_avg", "distribution": "uniform"}
    for shape, value in [((784, 256), 0.081832), ((3, 3, 64, 128), 0.060686), ((5, 16, 32), 0.162839)]:
        _check(shape, "jax.variance_scaling", geo, "U", value)
    _check((2, 3, 3, 8, 16), "jax.variance_scaling", geo, "U", 0.121373)
    for shape, value in [((784, 256), 0.035714), ((3, 3, 64, 128), 0.041667)]:
        _check(shape, "keras.VarianceScaling", {"distribution": "untruncated_normal"}, "N", value)
        _check(shape, "jax.variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}, "N", value)


@pytest.mark.parametrize(
    ("nonlinearity", "gain"),
    [("linear", 1.0), ("conv2d", 1.0), ("sigmoid", 1.0), ("tanh", 5 / 3), ("relu", math.sqrt(2.0)), ("selu", 0.75)],
)
def test_torch_kaiming_gain_table(nonlinearity: str, gain: float) -> None:
    """torch calculate_gain (anchors §2.1): std = gain / sqrt(fan_in)."""
    moments = _plan((256, 784), "torch.kaiming_normal_", {"nonlinearity": nonlinearity}).moments
    assert math.sqrt(moments.variance) == pytest.approx(gain / math.sqrt(784), rel=1e-12)


def test_torch_kaiming_leaky_relu_slope() -> None:
    """leaky_relu(0.2): gain 1.386750 (anchors §7.2)."""
    moments = _plan((256, 784), "torch.kaiming_normal_", {"a": 0.2}).moments
    assert math.sqrt(moments.variance) * math.sqrt(784) == pytest.approx(1.386750, abs=TOL)


def test_default_layouts() -> None:
    assert resolve_any("torch.xavier_uniform_").layout == "torch"
    assert resolve_any("keras.GlorotUniform").layout == "keras"
    assert resolve_any("jax.glorot_uniform").layout == "jax"
    assert resolve_any("glorot").layout is None and resolve_any("glorot").requested is None
    # the same (784, 256) numbers come out of each framework's own layout
    assert compute_fans((256, 784), "torch") == compute_fans((784, 256), "keras")


def test_keras_normal_is_truncated_and_untruncated_normal_is_not() -> None:
    """keras VarianceScaling rewrites 'normal' to 'truncated_normal' (anchors §1.2)."""
    assert resolve_any("keras.VarianceScaling", {"distribution": "normal"}).init.params["distribution"] == (
        "truncated_normal"
    )
    assert resolve_any("keras.VarianceScaling", {"distribution": "untruncated_normal"}).init.params["distribution"] == (
        "normal"
    )
    assert resolve_any("jax.variance_scaling", {"scale": 1, "mode": "fan_in", "distribution": "normal"}).init.params[
        "distribution"
    ] == ("normal")


def test_truncation_semantics() -> None:
    """torch trunc_normal_: absolute bounds; Keras TruncatedNormal: mean +- 2 stddev; JAX: bounds in stddev units."""
    torch = resolve_any("torch.trunc_normal_", {"std": 0.02}).init.params
    assert (torch["low"], torch["high"]) == (-2.0, 2.0)
    keras = resolve_any("keras.TruncatedNormal", {"mean": 1.0, "stddev": 0.5}).init.params
    assert (keras["low"], keras["high"]) == (0.0, 2.0)
    jax = resolve_any("jax.truncated_normal", {"stddev": 0.5, "lower": -1.0, "upper": 3.0}).init.params
    assert (jax["low"], jax["high"], jax["std"]) == (-0.5, 1.5, 0.5)
    # No variance correction: keras TruncatedNormal(stddev=1) has variance 0.773741 (anchors §7.3)
    moments = _plan((1000,), "keras.TruncatedNormal", {"stddev": 1.0}).moments
    assert moments.variance == pytest.approx(0.773741, abs=1e-6)


def test_jax_uniform_is_zero_to_scale() -> None:
    moments = _plan((10,), "jax.uniform", {"scale": 0.5}).moments
    assert (moments.low, moments.high) == (0.0, 0.5)
    assert moments.mean == 0.25


def test_defaults_follow_the_frameworks() -> None:
    assert resolve_any("keras.RandomNormal").init.params == {"mean": 0.0, "std": 0.05}
    assert resolve_any("keras.RandomUniform").init.params == {"low": -0.05, "high": 0.05}
    assert resolve_any("keras.Constant").init.params == {"value": 0.0}
    assert resolve_any("jax.normal").init.params == {"mean": 0.0, "std": 0.01}
    assert resolve_any("jax.uniform").init.params == {"low": 0.0, "high": 0.01}
    assert resolve_any("torch.uniform_").init.params == {"low": 0.0, "high": 1.0}
    assert resolve_any("torch.eye_").init.as_dict() == {"scheme": "identity", "gain": 1.0}
    assert resolve_any("torch.kaiming_uniform_").requested == {
        "scheme": "torch.kaiming_uniform_",
        "a": 0.0,
        "mode": "fan_in",
        "nonlinearity": "leaky_relu",
    }


def test_aliases_resolve_and_echo_the_canonical_name() -> None:
    """An alias is echoed under its canonical name (one spelling per request: permanent URLs)."""
    for alias, name in FRAMEWORK_ALIASES.items():
        resolved = resolve_any(alias) if not FRAMEWORK_INITS[name].params or alias != "x" else None
        assert resolved is not None and resolved.requested is not None
        assert resolved.requested["scheme"] == name
        assert resolved.requested == resolve_any(name).requested
        assert resolved.init == resolve_any(name).init


def test_same_bytes_as_the_canonical_request() -> None:
    """A framework-named init makes exactly the tensor of its canonical expansion."""
    with Engine(1) as engine:
        for name, params, shape in [
            ("torch.kaiming_normal_", {}, (64, 32)),
            ("keras.HeNormal", {}, (32, 64)),
            ("jax.orthogonal", {}, (16, 8)),
            ("torch.sparse_", {"sparsity": 0.5}, (16, 8)),
        ]:
            resolved = resolve_any(name, params)
            framework = engine.generate(_plan(shape, name, params, seed=5)).array
            canonical = engine.generate(
                plan_tensor(TensorSpec(shape, resolved.init, 5, "float32", resolved.layout))  # type: ignore[arg-type]
            ).array
            assert framework.tobytes() == canonical.tobytes()


def test_axes_parameters_make_fan_axes() -> None:
    jax = resolve_any("jax.he_normal", {"batch_axis": [0]}, rank=5)
    assert jax.axes_given and jax.layout == FanAxes.of(-2, -1, [0])
    assert compute_fans((8, 3, 3, 64, 128), jax.layout).fan_in == 576  # anchors §3.2
    keras = resolve_any("keras.GlorotUniform", {"input_axes": [0], "output_axes": [1, 2]}, rank=4)
    assert keras.axes_given and keras.layout == FanAxes((0,), (1, 2), (3,))
    # Keras adds no receptive field with explicit axes: fan_in = prod(in axes), fan_out = prod(out axes)
    fans = compute_fans((4, 5, 6, 7), keras.layout)
    assert (fans.fan_in, fans.fan_out) == (4, 30)
    assert not resolve_any("jax.he_normal").axes_given


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("torch.kaiming_uniform_", {"mode": "fan_avg"}, "init.mode"),
        ("torch.kaiming_uniform_", {"nonlinearity": "gelu"}, "init.nonlinearity"),
        ("torch.kaiming_uniform_", {"gain": 2.0}, "init.gain"),
        ("keras.GlorotUniform", {"seed": 3}, "init.seed"),
        ("keras.VarianceScaling", {"mode": "fan_geo_avg"}, "init.mode"),
        ("keras.VarianceScaling", {"scale": 0.0}, "init.scale"),
        ("keras.GlorotUniform", {"input_axes": [0]}, "init.output_axes"),
        ("keras.GlorotUniform", {"input_axes": [0], "output_axes": [0]}, "init.output_axes"),
        ("keras.TruncatedNormal", {"stddev": 0.0}, "init.stddev"),
        ("jax.variance_scaling", {"mode": "fan_in", "distribution": "normal"}, "init.scale"),
        ("jax.uniform", {"scale": -1.0}, "init.scale"),
        ("jax.he_normal", {"in_axis": "x"}, "init.in_axis"),
        ("jax.orthogonal", {"column_axis": 1}, "init.column_axis"),
        ("jax.delta_orthogonal", {"column_axis": 0}, "init.column_axis"),
        ("torch.constant_", {}, "init.val"),
        ("torch.uniform_", {"a": 1.0, "b": 0.0}, "init"),
        ("pytorch.xavier_uniform_", {}, "init.scheme"),
    ],
)
def test_errors_name_the_framework_parameter(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        resolve_any(name, params, rank=4)
    assert caught.value.field == field
    assert caught.value.message


def test_catalogue_lists_every_initializer_with_its_expansion() -> None:
    entries = framework_catalogue()
    assert [e["name"] for e in entries] == list(FRAMEWORK_INITS)
    for entry in entries:
        assert entry["framework"] in ("keras", "torch", "jax") and entry["name"].startswith(entry["framework"] + ".")
        assert entry["expansion"] and entry["source"]
        if entry["default_expansion"] is not None:
            assert entry["default_expansion"]["scheme"] in SCHEMES
        else:
            assert any(f["required"] for f in entry["fields"])
    names = {e["name"] for e in entries}
    for required in ("keras.GlorotNormal", "torch.kaiming_uniform_", "jax.variance_scaling", "jax.delta_orthogonal"):
        assert required in names


# -- delta orthogonal ------------------------------------------------------------------------------------


def test_delta_orthogonal_centre_and_orthogonality() -> None:
    """JAX delta_orthogonal: non-zero only at the centre (k - 1) // 2 (k = 4 -> 1; anchors §3.3, §7.4)."""
    with Engine(1) as engine:
        made = engine.generate(_plan((4, 4, 2, 3), "jax.delta_orthogonal", {"scale": 2.0}, seed=3))
    array = made.array.astype(np.float64)
    nonzero = {tuple(int(i) for i in index[:2]) for index in np.argwhere(array != 0)}
    assert nonzero == {(1, 1)}
    centre = array[1, 1]
    np.testing.assert_allclose(centre @ centre.T, 4.0 * np.eye(2), atol=1e-5)
    theoretical = made.comparison
    assert theoretical.variance_ratio == pytest.approx(1.0, abs=0.2)


def test_delta_orthogonal_refuses_in_over_out() -> None:
    with pytest.raises(ShapeError):
        _plan((3, 3, 4, 2), "jax.delta_orthogonal")


# -- STFT (Keras) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"side": "imag", "window": None}, {"window": "hamming", "periodic": True}])
def test_keras_stft_serves_the_stft_kernel(params: dict[str, Any]) -> None:
    """The tensor is service.core.stft.stft_kernel (tested against Keras in test_stft.py), rounded once."""
    from service.core.stft import stft_kernel

    full = {"side": "real", "window": "hann", "scaling": "density", "periodic": False, **params}
    with Engine(1) as engine:
        made = engine.generate(_plan((16, 1, 9), "keras.STFT", params))
    expected = stft_kernel((16, 1, 9), full["side"], full["window"], full["scaling"], full["periodic"])
    assert made.array.tobytes() == expected.astype(np.float32).tobytes()
    assert made.comparison.variance_ratio == pytest.approx(1.0, abs=1e-6)  # deterministic: exact moments


def test_stft_refuses_other_shapes_and_windows() -> None:
    with pytest.raises(ShapeError):
        _plan((16, 2, 9), "keras.STFT")
    with pytest.raises(ParameterError) as caught:
        _plan((16, 1, 9), "keras.STFT", {"window": "kaiser"})
    assert caught.value.field == "init.window"
