"""The textbook results of signal propagation, reproduced by measurement (core, no HTTP).

Network: 50 dense layers of width 256 without biases, batch 128, fixed seeds (every number below is a
pure function of the seed, up to BLAS rounding in the last digits: never flaky). At finite width one
draw is noisy (the log of a 50-layer variance ratio spreads by about 0.8 at width 256, i.e. about 0.016
on the log of the per-layer gain), so the assertions are on the per-layer geometric-mean gain, with
tolerances several times that spread, and on several seeds where the claim is an equality.

Theory at infinite width: Var z_{l+1} = n Var(W) E[f(z_l)^2] forward and
Var delta_l = n Var(W) E[f'(z_l)^2] Var delta_{l+1} backward (Glorot & Bengio 2010; He et al. 2015).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.core.activations import SELU_ALPHA, SELU_LAMBDA
from service.core.diagnostics import Report

from .helpers import DEPTH, OLD_HEURISTIC, WIDTH, Measure

HE, GLOROT, LECUN = ("he", {}), ("glorot", {}), ("lecun", {})
STANDARD_NORMAL = ("normal", {"mean": 0.0, "std": 1.0})


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


@pytest.fixture(scope="module")
def relu_compare(measure: Measure) -> Report:
    return measure("relu", [HE, GLOROT, LECUN])


@pytest.fixture(scope="module")
def tanh_compare(measure: Measure) -> Report:
    return measure("tanh", [GLOROT, LECUN, STANDARD_NORMAL, OLD_HEURISTIC])


def test_he_keeps_a_relu_net_stable(measure: Measure, relu_compare: Report) -> None:
    """He et al. 2015: Var(W) = 2 / n gives n Var(W) E[relu(z)^2] / Var z = 2 * 1/2 = 1 per layer."""
    runs = [relu_compare.runs[0]] + [measure("relu", [HE], seed=seed).runs[0] for seed in (2, 3)]
    forward = [run.forward.gain for run in runs]
    backward = [run.backward.gain for run in runs]
    for run in runs:
        assert 0.9 <= run.forward.gain <= 1.1, forward
        assert 0.9 <= run.backward.gain <= 1.1, backward
        assert run.forward.verdict == run.backward.verdict == "stable"
    assert geometric_mean(forward) == pytest.approx(1.0, abs=0.05), forward
    assert geometric_mean(backward) == pytest.approx(1.0, abs=0.05), backward


def test_glorot_halves_a_relu_net_per_layer(relu_compare: Report) -> None:
    """Glorot on square layers: Var(W) = 1 / n, so each ReLU layer halves the variance (gain 0.5)."""
    glorot = relu_compare.runs[1]
    assert glorot.forward.gain == pytest.approx(0.5, abs=0.05)
    assert glorot.backward.gain == pytest.approx(0.5, abs=0.05)
    assert glorot.forward.verdict == glorot.backward.verdict == "vanishing"
    # 0.5 ** 49: the last layer's pre-activations have about 1e-15 of the first one's variance
    assert glorot.layers[-1].pre_activation.relative < 1e-12


def test_old_heuristic_with_tanh_makes_gradients_vanish(tanh_compare: Report) -> None:
    """U(-1/sqrt(n), 1/sqrt(n)) has Var(W) = 1 / (3 n); tanh' is about 1 near 0, so the gradients shrink by
    about n Var(W) = 1/3 per layer on their way back (Glorot & Bengio 2010's "standard" initialization)."""
    old = tanh_compare.runs[3]
    assert old.init.params == {"scale": pytest.approx(1 / 3), "mode": "fan_in", "distribution": "uniform"}
    assert old.backward.verdict == "vanishing"
    assert old.backward.gain == pytest.approx(1 / 3, abs=0.05)
    assert old.layers[0].pre_activation_grad.relative < 1e-18 * old.layers[-1].pre_activation_grad.relative


def test_lecun_normal_with_selu_stays_at_the_fixed_point(measure: Measure) -> None:
    """Klambauer et al. 2017: with Var(W) = 1 / n, SELU maps mean 0, variance 1 to itself, layer after layer.
    Backward, the gain is lambda^2 E[selu'(z)^2 / lambda^2] at z ~ N(0, 1) = 1.0716 (slightly above 1)."""
    for seed in (1, 2):
        run = measure("selu", [("lecun", {"distribution": "normal"})], seed=seed).runs[0]
        assert run.forward.verdict == "stable"
        assert run.forward.gain == pytest.approx(1.0, abs=0.03)
        for layer in run.layers:
            assert 0.75 <= layer.pre_activation.variance <= 1.33, (layer.layer, layer.pre_activation)
            assert abs(layer.activation.mean) < 0.25, (layer.layer, layer.activation)
        phi_minus_2 = 0.5 * math.erfc(2 / math.sqrt(2))
        chi = SELU_LAMBDA**2 * (0.5 + SELU_ALPHA**2 * math.exp(2.0) * phi_minus_2)
        assert chi == pytest.approx(1.0716, abs=1e-4)
        assert run.backward.gain == pytest.approx(chi, abs=0.03)


def _mean_tanh_prime_squared(variance: float) -> float:
    """E[tanh'(z)^2] = E[sech(z)^4] for z ~ N(0, variance), by the trapezoidal rule on a fine grid."""
    std = math.sqrt(variance)
    z = np.linspace(-30.0, 30.0, 600_001)  # sech^4 is below 1e-50 beyond |z| = 30
    density = np.exp(-0.5 * (z / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return float(np.trapezoid(np.cosh(z) ** -4.0 * density, z))


def test_standard_normal_weights_saturate_tanh_and_explode_gradients(tanh_compare: Report) -> None:
    """N(0, 1) weights: Var z = n E[tanh(z)^2], of the order of the width, deep in saturation. Forward the
    variance is then flat relative to layer 1 (verdict stable: the trend, not the level); backward each layer
    multiplies the gradients' variance by n E[tanh'(z)^2], about 256 * 0.034 = 8.6: they explode."""
    normal = tanh_compare.runs[2]
    for layer in normal.layers:
        assert 0.8 * WIDTH <= layer.pre_activation.variance <= 1.2 * WIDTH, (layer.layer, layer.pre_activation)
        assert layer.activation.variance > 0.9  # |tanh| near 1: saturated
    assert normal.forward.verdict == "stable"
    assert normal.backward.verdict == "exploding"
    expected = geometric_mean(
        [WIDTH * _mean_tanh_prime_squared(layer.pre_activation.variance) for layer in normal.layers[:-1]]
    )
    assert 5.0 < expected < 15.0, expected
    assert normal.backward.gain == pytest.approx(expected, rel=0.2)


def test_glorot_and_lecun_keep_tanh_near_the_band(tanh_compare: Report) -> None:
    """With Var(W) = 1 / n the tanh net is in its linear regime, where the variance decays only as a power
    law (about 1 / (2 l)): over 50 layers a gain of about 0.91 per layer, at the edge of the stable band."""
    for run in tanh_compare.runs[:2]:
        assert run.forward.gain == pytest.approx(0.91, abs=0.03)
        assert run.backward.gain == pytest.approx(0.92, abs=0.03)


def test_compare_recommends_he_for_relu(relu_compare: Report) -> None:
    assert [run.init.scheme for run in relu_compare.runs] == ["he", "glorot", "lecun"]
    assert relu_compare.recommendation == 0
    distances = [run.distance for run in relu_compare.runs]
    assert distances[0] < 0.1 < 1.0 < min(distances[1:]), distances


def test_compare_recommends_glorot_or_lecun_for_tanh(tanh_compare: Report) -> None:
    assert [run.init.scheme for run in tanh_compare.runs] == ["glorot", "lecun", "normal", "variance_scaling"]
    assert tanh_compare.recommendation in (0, 1)
    distances = [run.distance for run in tanh_compare.runs]
    assert max(distances[:2]) < 0.3 < 2.0 < min(distances[2:]), distances


def test_the_network_is_as_requested(relu_compare: Report) -> None:
    net = relu_compare.network
    assert net.depth == DEPTH and set(net.widths) == {WIDTH}
    for run in relu_compare.runs:
        assert [layer.layer for layer in run.layers] == list(range(1, DEPTH + 1))
        assert all((layer.fan_in, layer.fan_out) == (WIDTH, WIDTH) for layer in run.layers)
    # every scheme sees the same layer seeds (and inputs): differences come from the schemes alone
    seeds = {tuple(layer.seed for layer in run.layers) for run in relu_compare.runs}
    assert len(seeds) == 1 and len(set(next(iter(seeds)))) == DEPTH
