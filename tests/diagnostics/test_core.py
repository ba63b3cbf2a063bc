"""The diagnostics core beyond the textbook: activations, the documented streams, overflow, limits, verdicts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from service.core import Engine, ParameterError, ShapeError, TooLargeError, make_tensor, resolve_init
from service.core.activations import ACTIVATIONS, LEAKY_RELU_SLOPE, SELU_ALPHA, SELU_LAMBDA, activation
from service.core.diagnostics import (
    EXPLODING_ABOVE,
    VANISHING_BELOW,
    Network,
    Trend,
    _trend,
    check_limits,
    data_generator,
    diagnose,
    layer_seed,
    network,
)

from .helpers import Measure

Z = np.linspace(-6.0, 6.0, 2401)


# -- activations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_matches_central_differences(name: str) -> None:
    f = activation(name, 0.2 if name == "leaky_relu" else None)
    z = Z[np.abs(Z) > 1e-3]  # away from the kinks of relu and leaky_relu
    h = 1e-6
    numeric = (f(z + h) - f(z - h)) / (2 * h)
    np.testing.assert_allclose(f.derivative(z), numeric, atol=1e-7)


def test_activation_values() -> None:
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(activation("linear")(z), z)
    np.testing.assert_array_equal(activation("relu")(z), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(activation("leaky_relu")(z), [-0.02, -0.005, 0, 0.5, 2])
    np.testing.assert_allclose(activation("sigmoid")(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(activation("swish")(z), z / (1 + np.exp(-z)), rtol=1e-15)
    selu = activation("selu")(z)
    np.testing.assert_allclose(selu, np.where(z > 0, SELU_LAMBDA * z, SELU_LAMBDA * SELU_ALPHA * np.expm1(z)))
    assert (SELU_LAMBDA, SELU_ALPHA) == (1.0507009873554805, 1.6732632423543772)  # Klambauer et al. 2017
    assert activation("relu").derivative(np.array([0.0]))[0] == 0.0  # the subgradient at 0, as PyTorch


def test_gelu_is_the_tanh_approximation_within_5e4_of_the_exact_form() -> None:
    exact = np.array([0.5 * z * (1 + math.erf(z / math.sqrt(2))) for z in Z])
    gelu = activation("gelu")(Z)
    assert np.max(np.abs(gelu - exact)) < 5e-4
    u = math.sqrt(2 / math.pi) * (1.0 + 0.044715)
    assert gelu[np.searchsorted(Z, 1.0)] == pytest.approx(0.5 * (1 + math.tanh(u)))


def test_activation_arguments() -> None:
    assert activation("leaky_relu").negative_slope == LEAKY_RELU_SLOPE == 0.01
    assert activation("leaky_relu", 0.2).negative_slope == 0.2
    assert activation("relu").negative_slope is None
    with pytest.raises(ParameterError) as bad:
        activation("softplus")
    assert bad.value.field == "activation"
    with pytest.raises(ParameterError) as bad:
        activation("relu", 0.1)
    assert bad.value.field == "negative_slope"
    with pytest.raises(ParameterError):
        activation("leaky_relu", math.nan)


# -- the documented streams -----------------------------------------------------------------------


def test_layer_seeds_are_53_bit_and_distinct() -> None:
    seeds = [layer_seed(7, layer) for layer in range(1, 1001)]
    assert len(set(seeds)) == 1000
    assert all(0 <= s < 2**53 for s in seeds)
    state = np.random.SeedSequence(7, spawn_key=(2, 1)).generate_state(1, np.uint64)
    assert seeds[0] == int(state[0]) >> 11


def test_numbers_follow_from_the_documented_weights_inputs_and_gradients(engine: Engine) -> None:
    """Redo a 2-layer network by hand: the weights are make_tensor's (as POST /v1/tensors) with the layer
    seeds, inputs and output gradients the documented generators, the math float64."""
    seed, widths, batch = 11, (8, 6, 4), 5
    net = network(widths, activation("tanh"), batch, seed)
    run = diagnose(net, [resolve_init("glorot", {"distribution": "normal"})], engine).runs[0]
    w = [
        make_tensor(
            [a, b], "glorot", seed=layer_seed(seed, i), threads=1, params={"distribution": "normal"}
        ).array.astype(np.float64)
        for i, (a, b) in enumerate(itertools.pairwise(widths), start=1)
    ]
    assert [layer.seed for layer in run.layers] == [layer_seed(seed, 1), layer_seed(seed, 2)]
    x = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(3, 0)))).standard_normal((5, 8))
    np.testing.assert_array_equal(x, data_generator(seed, 0).standard_normal((batch, 8)))
    z1 = x @ w[0]
    h1 = np.tanh(z1)
    z2 = h1 @ w[1]
    h2 = np.tanh(z2)
    g2 = data_generator(seed, 1).standard_normal((batch, 4))
    d2 = g2 * (1 - np.tanh(z2) ** 2)
    d1 = (d2 @ w[1].T) * (1 - np.tanh(z1) ** 2)
    expected = [(z1, h1, d1, x.T @ d1), (z2, h2, d2, h1.T @ d2)]
    for layer, arrays in zip(run.layers, expected, strict=True):
        moments = (layer.pre_activation, layer.activation, layer.pre_activation_grad, layer.weight_grad)
        for moment, array in zip(moments, arrays, strict=True):
            assert moment.mean == pytest.approx(array.mean(), rel=1e-12, abs=1e-15)
            assert moment.variance == pytest.approx(array.var(), rel=1e-12)
    first, second = run.layers
    assert first.pre_activation.relative == 1.0
    assert second.pre_activation.relative == pytest.approx(z2.var() / z1.var(), rel=1e-12)
    assert run.forward.gain == pytest.approx(z2.var() / z1.var(), rel=1e-12)
    assert run.backward.gain == pytest.approx(d1.var() / d2.var(), rel=1e-12)


def test_same_request_same_numbers(measure: Measure) -> None:
    one = measure("gelu", [("he", {}), ("orthogonal", {})], widths=[32, 48, 16, 24], seed=3, batch=16)
    two = measure("gelu", [("he", {}), ("orthogonal", {})], widths=[32, 48, 16, 24], seed=3, batch=16)
    assert one == two
    other = measure("gelu", [("he", {}), ("orthogonal", {})], widths=[32, 48, 16, 24], seed=4, batch=16)
    assert other.runs[0].layers[0].pre_activation != one.runs[0].layers[0].pre_activation


def test_unequal_widths(measure: Measure) -> None:
    report = measure("leaky_relu", [("he", {"negative_slope": 0.2})], widths=[784, 512, 256, 10], batch=32, slope=0.2)
    run = report.runs[0]
    assert [(layer.fan_in, layer.fan_out) for layer in run.layers] == [(784, 512), (512, 256), (256, 10)]
    assert report.network.activation.negative_slope == 0.2
    assert run.forward.gain is not None and run.backward.gain is not None
    assert report.recommendation is None  # one scheme: nothing to recommend


@pytest.mark.parametrize("act", ["sigmoid", "swish", "linear", "leaky_relu"])
def test_every_activation_runs(measure: Measure, act: str) -> None:
    run = measure(act, [("lecun", {})], widths=[16] * 6, batch=8).runs[0]
    assert all(layer.weight_grad.variance is not None for layer in run.layers)


# -- degenerate signals ----------------------------------------------------------------------------


def test_overflow_stops_the_forward_pass(measure: Measure) -> None:
    """N(0, 100^2) weights with ReLU: each layer multiplies the variance by 32 * 1e4 / 2; float64 overflows
    before layer 80. The pass stops there, the verdict is exploding and the backward pass is not measured."""
    run = measure("relu", [("normal", {"std": 100.0})], widths=[32] * 81, batch=8).runs[0]
    assert run.forward == Trend(None, "exploding")
    assert run.backward == Trend(None, None)
    measured = [layer for layer in run.layers if layer.pre_activation.variance is not None]
    assert 40 < len(measured) < 80
    assert all(layer.pre_activation.variance is None for layer in run.layers[len(measured) :])
    assert all(layer.pre_activation_grad.variance is None for layer in run.layers)
    assert math.isinf(run.distance)


def test_zero_weights_vanish(measure: Measure) -> None:
    run = measure("linear", [("zeros", {})], widths=[8] * 4, batch=4).runs[0]
    assert run.forward == Trend(None, "vanishing")  # no signal at all: nothing to take a ratio of
    assert run.backward == Trend(0.0, "vanishing")  # the output gradients die at the first layer back
    assert run.layers[0].pre_activation.variance == 0.0 and run.layers[0].pre_activation.relative is None


def test_recommendation_needs_a_measured_scheme(measure: Measure) -> None:
    report = measure("relu", [("zeros", {}), ("ones", {})], widths=[8] * 4, batch=4)
    assert report.recommendation == 1  # ones: a huge but measured gain beats no signal at all
    report = measure("relu", [("zeros", {}), ("constant", {"value": 0.0})], widths=[8] * 4, batch=4)
    assert report.recommendation is None


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (1.0, VANISHING_BELOW**10, Trend(VANISHING_BELOW, "stable")),
        (1.0, 0.89**10, Trend(0.89, "vanishing")),
        (1.0, EXPLODING_ABOVE**10, Trend(EXPLODING_ABOVE, "stable")),
        (1.0, 1.11**10, Trend(1.11, "exploding")),
        (1.0, 0.0, Trend(0.0, "vanishing")),
        (0.0, 0.0, Trend(None, "vanishing")),
        (1.0, None, Trend(None, "exploding")),
        (None, None, Trend(None, "exploding")),
    ],
)
def test_verdict_thresholds(first: float | None, last: float | None, expected: Trend) -> None:
    trend = _trend(first, last, depth=11)
    assert trend.verdict == expected.verdict
    if expected.gain is None:
        assert trend.gain is None
    else:
        assert trend.gain == pytest.approx(expected.gain, rel=1e-12)


# -- checks and limits -----------------------------------------------------------------------------


def test_network_checks() -> None:
    relu = activation("relu")
    for widths, field in [([8, 8], "widths"), ([8] * 1002, "widths"), ([8, 0, 8], "widths.1")]:
        with pytest.raises(ShapeError) as bad:
            network(widths, relu, 4, 1)
        assert bad.value.field == field
    for kwargs, field in [({"batch": 0}, "batch"), ({"seed": -1}, "seed"), ({"dtype": "int8"}, "dtype")]:
        with pytest.raises(ParameterError) as bad:
            network([8, 8, 8], relu, **{"batch": 4, "seed": 1, **kwargs})
        assert bad.value.field == field


def test_limits() -> None:
    net = Network((256,) * 51, activation("relu"), 256, 1)
    assert net.cost == 50 * 256**2 * 256
    assert net.nbytes == 50 * 256**2 * 4 + 8 * 256 * 51 * 256 + 256**2 * 2 * 8 + 5 * 8 * 256 * 256
    check_limits(net, 3, max_cost=3 * net.cost, max_bytes=net.nbytes)
    with pytest.raises(TooLargeError, match="over the limit"):
        check_limits(net, 3, max_cost=3 * net.cost - 1, max_bytes=None)
    with pytest.raises(TooLargeError, match="bytes"):
        check_limits(net, 1, max_cost=None, max_bytes=net.nbytes - 1)


def test_limits_come_before_any_work(engine: Engine) -> None:
    net = network([4096] * 1001, activation("relu"), 4096, 1)  # hours of work, terabytes of memory
    with pytest.raises(TooLargeError):
        diagnose(net, [resolve_init("he")], engine, max_cost=1 << 33, max_bytes=1 << 28)


def test_a_scheme_that_cannot_make_a_dense_kernel_names_its_field(engine: Engine) -> None:
    net = network([8, 8, 8], activation("relu"), 4, 1)
    with pytest.raises(ShapeError, match="layer 1") as bad:
        diagnose(net, [resolve_init("dirac")], engine)
    assert bad.value.field == "init"
    with pytest.raises(ShapeError) as bad:
        diagnose(net, [resolve_init("he"), resolve_init("dirac")], engine)
    assert bad.value.field == "compare.1"
