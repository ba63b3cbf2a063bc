"""Bounds and standard deviations of every preset's tensors, resolved with ``resolve_any`` and planned.

Literal numbers, each with its source: anchors-initializers.md 7.2 (scale parameters captured from
the libraries' own calls) and 7.4 (module defaults verified with torch 2.13.0, Keras 3.15.1, jax 0.10.2 /
flax 0.12.8), or the formula of the framework's source (anchors 2.7, 1.8, 3.5) where 7.x has no row.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from service.core.distributions import Moments
from service.core.fans import compute_fans
from service.core.frameworks import resolve_any
from service.core.plan import TensorPlan, TensorSpec, plan_tensor
from service.core.presets import PresetTensor, expand

from .cases import ALL_CASES, case_id


def plan(tensor: PresetTensor) -> TensorPlan:
    resolved = resolve_any(tensor.init, tensor.params)
    spec = TensorSpec(tensor.shape, resolved.init, 0, tensor.dtype or "float32", tensor.layout, tensor.fills)  # type: ignore[arg-type]
    return plan_tensor(spec)


def moments(preset: str, args: dict[str, Any]) -> dict[str, Moments]:
    return {t.name: plan(t).moments for t in expand(preset, args)}


def assert_uniform(m: Moments, bound: float, abs_tol: float = 5e-7) -> None:
    """U(-bound, bound): support +-bound, mean 0, variance bound^2 / 3."""
    assert m.low == pytest.approx(-bound, abs=abs_tol)
    assert m.high == pytest.approx(bound, abs=abs_tol)
    assert m.mean == 0.0
    assert m.variance == pytest.approx(m.high**2 / 3, rel=1e-12)


def assert_constant(m: Moments, value: float) -> None:
    assert (m.mean, m.variance, m.low, m.high) == (value, 0.0, value, value)


@pytest.mark.parametrize("case", ALL_CASES, ids=[case_id(c) for c in ALL_CASES])
def test_every_tensor_resolves_and_plans(case: tuple[str, dict[str, Any]]) -> None:
    """Every preset tensor's init is known to resolve_any and plans on its shape; where the resolved init names a
    default layout of its own, it reads the shape's fans as the preset's layout does."""
    for tensor in expand(*case):
        resolved = resolve_any(tensor.init, tensor.params)
        plan(tensor)
        if resolved.layout is not None and len(tensor.shape) >= 2:
            assert compute_fans(tensor.shape, resolved.layout) == compute_fans(tensor.shape, tensor.layout)


# -- PyTorch (anchors 2.7 and 7.4) ------------------------------------------------------------------------------


def test_torch_linear() -> None:
    # anchors 7.4: "torch Linear(784,256) max|w| 0.035714 = 1/sqrt(784), bias <= 1/sqrt(784)"
    m = moments("torch.Linear", {"in_features": 784, "out_features": 256})
    assert_uniform(m["weight"], 0.035714)
    assert_uniform(m["bias"], 0.035714)
    # anchors 7.2: torch kaiming_uniform_(a=sqrt(5)) empirical std 0.020620 = 1/sqrt(3 * 784)
    assert m["weight"].std == pytest.approx(0.020620, abs=5e-7)


@pytest.mark.parametrize(
    ("preset", "args", "bound"),
    [
        # anchors 7.2, last column (torch kaiming_uniform_(a=sqrt(5))): conv1d (32,16,5) 0.111803
        ("torch.Conv1d", {"in_channels": 16, "out_channels": 32, "kernel_size": 5}, 0.111803),
        # anchors 7.4: Conv2d(64,128,3) 0.041667
        ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3}, 0.041667),
        # anchors 7.4: grouped Conv2d(64,128,3,groups=64) 1/3 (fans (9,1152))
        ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3, "groups": 64}, 0.333333),
        # anchors 7.2: conv3d (16,8,2,3,3) 0.083333
        ("torch.Conv3d", {"in_channels": 8, "out_channels": 16, "kernel_size": [2, 3, 3]}, 0.083333),
        # anchors 7.4: ConvTranspose2d(64,128,3) 1/sqrt(1152) (fans (1152,576)): fan_in from out_channels
        ("torch.ConvTranspose2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3}, 0.029463),
    ],
)
def test_torch_conv(preset: str, args: dict[str, Any], bound: float) -> None:
    m = moments(preset, args)
    assert_uniform(m["weight"], bound)
    assert_uniform(m["bias"], bound)  # conv.py:197-200: bias bound 1/sqrt(fan_in) of the stored weight


def test_torch_embedding() -> None:
    # anchors 2.7: N(0, 1) (sparse.py:179-186); anchors 7.4: "Embedding std 1.003, padding row 0"
    m = moments("torch.Embedding", {"num_embeddings": 1000, "embedding_dim": 64})["weight"]
    assert (m.mean, m.std, m.low, m.high) == (0.0, 1.0, None, None)
    # padding row zero: 36 of 40 elements N(0, 1), 4 zeros -> mixture variance 36/40 = 0.9
    padded = moments("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 3})["weight"]
    assert padded.mean == 0.0
    assert padded.variance == pytest.approx(0.9, rel=1e-12)


@pytest.mark.parametrize(
    ("preset", "args", "bound", "count"),
    [
        # anchors 7.4: "LSTM(32,64) every tensor in +-0.125"
        ("torch.LSTM", {"input_size": 32, "hidden_size": 64}, 0.125, 4),
        ("torch.LSTM", {"input_size": 32, "hidden_size": 64, "num_layers": 2, "bidirectional": True}, 0.125, 16),
        # weight_hr too is U(+-1/sqrt(hidden_size)), not 1/sqrt(proj_size) (rnn.py:308-311: self.parameters())
        ("torch.LSTM", {"input_size": 10, "hidden_size": 20, "proj_size": 5}, 0.223607, 5),
        # GRU: the same reset_parameters (rnn.py:308-311)
        ("torch.GRU", {"input_size": 32, "hidden_size": 64}, 0.125, 4),
        ("torch.GRU", {"input_size": 10, "hidden_size": 16, "num_layers": 3, "bias": False}, 0.25, 6),
    ],
)
def test_torch_rnn(preset: str, args: dict[str, Any], bound: float, count: int) -> None:
    m = moments(preset, args)
    assert len(m) == count
    for tensor in m.values():
        assert_uniform(tensor, bound)


def test_torch_multihead_attention() -> None:
    # anchors 7.4: "MHA in_proj +-0.1531 (xavier over (192,64)), biases 0"
    m = moments("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 8, "add_bias_kv": True})
    assert_uniform(m["in_proj_weight"], 0.153093)
    assert_constant(m["in_proj_bias"], 0.0)
    assert_constant(m["out_proj.bias"], 0.0)
    # out_proj keeps the Linear default (anchors 2.7): U(+-1/sqrt(64))
    assert_uniform(m["out_proj.weight"], 0.125)
    # xavier_normal_ on (1, 1, 64): torch fans (64, 64) -> std sqrt(2 / 128) = 0.125, untruncated
    for name in ("bias_k", "bias_v"):
        assert (m[name].mean, m[name].low, m[name].high) == (0.0, None, None)
        assert m[name].std == pytest.approx(0.125, rel=1e-12)


def test_torch_multihead_attention_kdim_vdim() -> None:
    # xavier_uniform_ bound sqrt(6 / (fan_in + fan_out)):
    # q (64,64) sqrt(6/128), k (64,32) sqrt(6/96), v (64,16) sqrt(6/80)
    m = moments("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 4, "kdim": 32, "vdim": 16})
    assert_uniform(m["q_proj_weight"], 0.216506)
    assert_uniform(m["k_proj_weight"], 0.25)
    assert_uniform(m["v_proj_weight"], 0.273861)


def test_torch_norms() -> None:
    # anchors 2.7: LayerNorm / BatchNorm weight 1, bias 0; batchnorm.py:91-97 running_mean 0, running_var 1
    ln = moments("torch.LayerNorm", {"normalized_shape": [3, 4]})
    assert_constant(ln["weight"], 1.0)
    assert_constant(ln["bias"], 0.0)
    bn = moments("torch.BatchNorm2d", {"num_features": 64})
    for name, value in [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)]:
        assert_constant(bn[name], value)
    counter = next(t for t in expand("torch.BatchNorm2d", {"num_features": 64}) if t.name == "num_batches_tracked")
    counter_plan = plan(counter)
    assert counter_plan.numpy_dtype.name == "int64" and counter_plan.shape == ()
    assert_constant(counter_plan.moments, 0.0)


# -- Keras 3 (anchors 1.8, 7.2, 7.4) ------------------------------------------------------------------------------


def test_keras_dense() -> None:
    # anchors 7.4: "Keras Dense(256) on 784: max 0.075955, bias 0"
    m = moments("keras.Dense", {"units": 256, "input_dim": 784})
    assert_uniform(m["kernel"], 0.075955)
    assert_constant(m["bias"], 0.0)


@pytest.mark.parametrize(
    ("args", "bound"),
    [
        # anchors 7.2: Keras conv2d (3,3,64,128) glorot_uniform 0.058926
        ({"filters": 128, "kernel_size": 3, "input_channels": 64}, 0.058926),
        # Keras 3.15.1: Conv2D(128, (3, 5), groups=4) on 64 channels: kernel (3, 5, 16, 128), compute_fans (240, 1920),
        # max|w| 0.052702 of limit sqrt(6 / 2160) = 0.052705
        ({"filters": 128, "kernel_size": [3, 5], "groups": 4, "input_channels": 64}, 0.052705),
    ],
)
def test_keras_conv2d(args: dict[str, Any], bound: float) -> None:
    m = moments("keras.Conv2D", args)
    assert_uniform(m["kernel"], bound)
    assert_constant(m["bias"], 0.0)


def test_keras_embedding() -> None:
    # anchors 1.8 / 7.4: RandomUniform(-0.05, 0.05) (Keras 3.15.1: min -0.049999833, max 0.04999998)
    assert_uniform(moments("keras.Embedding", {"input_dim": 1000, "output_dim": 64})["embeddings"], 0.05, abs_tol=1e-15)


def test_keras_lstm() -> None:
    m = moments("keras.LSTM", {"units": 64, "input_dim": 32})
    # glorot_uniform on (32, 256): sqrt(6 / 288) = 0.144338 (Keras 3.15.1 max|w| 0.14432871)
    assert_uniform(m["kernel"], 0.144338)
    # orthogonal (64, 256): orthonormal rows, variance gain^2 / max(rows, cols) = 1/256
    assert m["recurrent_kernel"].mean == 0.0
    assert m["recurrent_kernel"].variance == pytest.approx(1 / 256, rel=1e-12)
    # anchors 7.4 "LSTM forget-gate bias 1": zeros with bias[64:128] = 1 -> mean 1/4, variance 3/16, support [0, 1]
    bias = m["bias"]
    assert (bias.mean, bias.variance, bias.low, bias.high) == pytest.approx((0.25, 0.1875, 0.0, 1.0), rel=1e-12)
    plain = moments("keras.LSTM", {"units": 64, "unit_forget_bias": False, "input_dim": 32})["bias"]
    assert_constant(plain, 0.0)


def test_keras_layer_normalization() -> None:
    m = moments("keras.LayerNormalization", {"input_dim": 32})
    assert_constant(m["gamma"], 1.0)
    assert_constant(m["beta"], 0.0)


# -- Flax (anchors 3.5, 7.2, 7.4) ------------------------------------------------------------------------------


def test_flax_dense() -> None:
    # anchors 7.2: lecun_normal dense (784,256) TN sigma0 0.040602, post-truncation std [0.035714] = 1/28;
    # anchors 7.4: "Flax Dense std 0.03578 (~1/28), max|w|*28 = 2.2736 <= 2/0.8796"
    m = moments("flax.Dense", {"features": 256, "in_features": 784})
    kernel = m["kernel"]
    assert kernel.mean == 0.0
    assert kernel.std == pytest.approx(0.035714, abs=5e-7)
    assert kernel.high == pytest.approx(2 * 0.040602, abs=2e-6)  # truncated at +-2 sigma0
    assert kernel.low == -kernel.high
    assert kernel.high * 28 == pytest.approx(2.2737, abs=1e-4)
    assert_constant(m["bias"], 0.0)


def test_flax_conv() -> None:
    # anchors 7.2: lecun_normal conv2d (3,3,64,128) TN sigma0 0.047369 [0.041667]
    # (jax 0.10.2: std 0.041680, max|w| 0.094733 of the bound 2 sigma0 = 0.094737)
    m = moments("flax.Conv", {"features": 128, "kernel_size": [3, 3], "in_features": 64})
    assert m["kernel"].std == pytest.approx(0.041667, abs=5e-7)
    assert m["kernel"].high == pytest.approx(0.094737, abs=2e-6)
    assert_constant(m["bias"], 0.0)


def test_flax_embed() -> None:
    # anchors 3.5 / 7.4: variance_scaling(1.0, 'fan_in', 'normal', out_axis=0) -> std 1/sqrt(features), untruncated
    # (verified 0.1256 for features 64; jax 0.10.2 here: 0.125247)
    m = moments("flax.Embed", {"num_embeddings": 1000, "features": 64})["embedding"]
    assert (m.mean, m.low, m.high) == (0.0, None, None)
    assert m.std == pytest.approx(0.125, rel=1e-12)
    assert moments("flax.Embed", {"num_embeddings": 10, "features": 256})["embedding"].std == pytest.approx(1 / 16)


def test_flax_embed_is_not_the_fan_of_num_embeddings() -> None:
    """The embedding's variance does not depend on num_embeddings (fan_in = features, not num_embeddings)."""
    small = moments("flax.Embed", {"num_embeddings": 3, "features": 100})["embedding"]
    large = moments("flax.Embed", {"num_embeddings": 5000, "features": 100})["embedding"]
    assert small.variance == large.variance == pytest.approx(0.01, rel=1e-12)
    assert math.isclose(small.std, 0.1)
