"""Preset tensor names, shapes, order, initializers and layouts, literal, with their sources.

PyTorch names and shapes: ``state_dict()`` of torch 2.13.0 (also checked against the real modules in
test_preset_torch.py). Keras names and shapes: ``layer.weights`` after ``build`` in Keras 3.15.1
(jax backend), run once to derive the numbers pinned here. Flax names and shapes: flax/linen/linear.py
(``self.param('kernel', ...)``, ``'bias'``, ``'embedding'``; the docstrings' ``tree_map(jnp.shape, variables)``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from service.core.fans import FanAxes, compute_fans
from service.core.params import REQUIRED
from service.core.plan import Fill
from service.core.presets import PRESETS, PresetTensor, expand

from .cases import ALL_CASES, case_id

Expected = list[tuple[str, tuple[int, ...]]]

SHAPES: list[tuple[str, dict[str, Any], Expected]] = [
    # -- torch (torch/nn/modules/*.py; state_dict order) --
    ("torch.Linear", {"in_features": 784, "out_features": 256}, [("weight", (256, 784)), ("bias", (256,))]),
    ("torch.Linear", {"in_features": 3, "out_features": 5, "bias": False}, [("weight", (5, 3))]),
    (
        "torch.Conv1d",
        {"in_channels": 16, "out_channels": 32, "kernel_size": 5},
        [("weight", (32, 16, 5)), ("bias", (32,))],
    ),
    (
        "torch.Conv2d",
        {"in_channels": 64, "out_channels": 128, "kernel_size": 3},
        [("weight", (128, 64, 3, 3)), ("bias", (128,))],
    ),
    # grouped: (out, in / groups, *k) (conv.py:161-174)
    (
        "torch.Conv2d",
        {"in_channels": 64, "out_channels": 128, "kernel_size": 3, "groups": 64},
        [("weight", (128, 1, 3, 3)), ("bias", (128,))],
    ),
    (
        "torch.Conv2d",
        {"in_channels": 4, "out_channels": 6, "kernel_size": [3, 5], "groups": 2, "bias": False},
        [("weight", (6, 2, 3, 5))],
    ),
    (
        "torch.Conv3d",
        {"in_channels": 8, "out_channels": 16, "kernel_size": [2, 3, 3]},
        [("weight", (16, 8, 2, 3, 3)), ("bias", (16,))],
    ),
    (
        "torch.Conv3d",
        {"in_channels": 8, "out_channels": 16, "kernel_size": 3},
        [("weight", (16, 8, 3, 3, 3)), ("bias", (16,))],
    ),
    # transposed: (in, out / groups, *k)
    (
        "torch.ConvTranspose2d",
        {"in_channels": 64, "out_channels": 128, "kernel_size": 3},
        [("weight", (64, 128, 3, 3)), ("bias", (128,))],
    ),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 8, "out_channels": 12, "kernel_size": [2, 4], "groups": 4},
        [("weight", (8, 3, 2, 4)), ("bias", (12,))],
    ),
    ("torch.Embedding", {"num_embeddings": 1000, "embedding_dim": 64}, [("weight", (1000, 64))]),
    (
        "torch.LSTM",
        {"input_size": 32, "hidden_size": 64},
        [("weight_ih_l0", (256, 32)), ("weight_hh_l0", (256, 64)), ("bias_ih_l0", (256,)), ("bias_hh_l0", (256,))],
    ),
    # rnn.py:158-215: per layer, per direction; layer k > 0 takes real_hidden * directions inputs
    (
        "torch.LSTM",
        {"input_size": 10, "hidden_size": 20, "num_layers": 2, "proj_size": 5, "bidirectional": True},
        [
            ("weight_ih_l0", (80, 10)),
            ("weight_hh_l0", (80, 5)),
            ("bias_ih_l0", (80,)),
            ("bias_hh_l0", (80,)),
            ("weight_hr_l0", (5, 20)),
            ("weight_ih_l0_reverse", (80, 10)),
            ("weight_hh_l0_reverse", (80, 5)),
            ("bias_ih_l0_reverse", (80,)),
            ("bias_hh_l0_reverse", (80,)),
            ("weight_hr_l0_reverse", (5, 20)),
            ("weight_ih_l1", (80, 10)),
            ("weight_hh_l1", (80, 5)),
            ("bias_ih_l1", (80,)),
            ("bias_hh_l1", (80,)),
            ("weight_hr_l1", (5, 20)),
            ("weight_ih_l1_reverse", (80, 10)),
            ("weight_hh_l1_reverse", (80, 5)),
            ("bias_ih_l1_reverse", (80,)),
            ("bias_hh_l1_reverse", (80,)),
            ("weight_hr_l1_reverse", (5, 20)),
        ],
    ),
    (
        "torch.LSTM",
        {"input_size": 7, "hidden_size": 9, "num_layers": 2, "bias": False},
        [("weight_ih_l0", (36, 7)), ("weight_hh_l0", (36, 9)), ("weight_ih_l1", (36, 9)), ("weight_hh_l1", (36, 9))],
    ),
    (
        "torch.GRU",
        {"input_size": 10, "hidden_size": 20, "num_layers": 2, "bidirectional": True, "bias": False},
        [
            ("weight_ih_l0", (60, 10)),
            ("weight_hh_l0", (60, 20)),
            ("weight_ih_l0_reverse", (60, 10)),
            ("weight_hh_l0_reverse", (60, 20)),
            ("weight_ih_l1", (60, 40)),
            ("weight_hh_l1", (60, 20)),
            ("weight_ih_l1_reverse", (60, 40)),
            ("weight_hh_l1_reverse", (60, 20)),
        ],
    ),
    (
        "torch.MultiheadAttention",
        {"embed_dim": 64, "num_heads": 8},
        [
            ("in_proj_weight", (192, 64)),
            ("in_proj_bias", (192,)),
            ("out_proj.weight", (64, 64)),
            ("out_proj.bias", (64,)),
        ],
    ),
    # kdim/vdim different from embed_dim: separate q/k/v projections (activation.py:1195-1205); own parameters
    # (bias_k, bias_v) come before the out_proj submodule's in state_dict()
    (
        "torch.MultiheadAttention",
        {"embed_dim": 64, "num_heads": 4, "kdim": 32, "vdim": 16, "add_bias_kv": True},
        [
            ("q_proj_weight", (64, 64)),
            ("k_proj_weight", (64, 32)),
            ("v_proj_weight", (64, 16)),
            ("in_proj_bias", (192,)),
            ("bias_k", (1, 1, 64)),
            ("bias_v", (1, 1, 64)),
            ("out_proj.weight", (64, 64)),
            ("out_proj.bias", (64,)),
        ],
    ),
    (
        "torch.MultiheadAttention",
        {"embed_dim": 12, "num_heads": 3, "bias": False},
        [("in_proj_weight", (36, 12)), ("out_proj.weight", (12, 12))],
    ),
    ("torch.LayerNorm", {"normalized_shape": 64}, [("weight", (64,)), ("bias", (64,))]),
    ("torch.LayerNorm", {"normalized_shape": [3, 4], "bias": False}, [("weight", (3, 4))]),
    ("torch.LayerNorm", {"normalized_shape": [5], "elementwise_affine": False}, []),
    (
        "torch.BatchNorm2d",
        {"num_features": 64},
        [
            ("weight", (64,)),
            ("bias", (64,)),
            ("running_mean", (64,)),
            ("running_var", (64,)),
            ("num_batches_tracked", ()),
        ],
    ),
    (
        "torch.BatchNorm2d",
        {"num_features": 8, "affine": False},
        [("running_mean", (8,)), ("running_var", (8,)), ("num_batches_tracked", ())],
    ),
    ("torch.BatchNorm2d", {"num_features": 8, "track_running_stats": False}, [("weight", (8,)), ("bias", (8,))]),
    # -- Keras 3.15.1 (layer.weights after build) --
    ("keras.Dense", {"units": 256, "input_dim": 784}, [("kernel", (784, 256)), ("bias", (256,))]),
    ("keras.Dense", {"units": 4, "use_bias": False, "input_dim": 3}, [("kernel", (3, 4))]),
    (
        "keras.Conv2D",
        {"filters": 128, "kernel_size": 3, "input_channels": 64},
        [("kernel", (3, 3, 64, 128)), ("bias", (128,))],
    ),
    (
        "keras.Conv2D",
        {"filters": 128, "kernel_size": [3, 5], "groups": 4, "input_channels": 64},
        [("kernel", (3, 5, 16, 128)), ("bias", (128,))],
    ),
    # channels_first keeps the kernel (kh, kw, in, out): Keras 3.15.1 gave (3, 3, 64, 128)
    (
        "keras.Conv2D",
        {"filters": 128, "kernel_size": 3, "data_format": "channels_first", "input_channels": 64},
        [("kernel", (3, 3, 64, 128)), ("bias", (128,))],
    ),
    ("keras.Embedding", {"input_dim": 1000, "output_dim": 64}, [("embeddings", (1000, 64))]),
    (
        "keras.LSTM",
        {"units": 64, "input_dim": 32},
        [("kernel", (32, 256)), ("recurrent_kernel", (64, 256)), ("bias", (256,))],
    ),
    (
        "keras.LSTM",
        {"units": 16, "use_bias": False, "input_dim": 8},
        [("kernel", (8, 64)), ("recurrent_kernel", (16, 64))],
    ),
    ("keras.LayerNormalization", {"input_dim": 32}, [("gamma", (32,)), ("beta", (32,))]),
    ("keras.LayerNormalization", {"center": False, "input_dim": 32}, [("gamma", (32,))]),
    ("keras.LayerNormalization", {"scale": False, "input_dim": 7}, [("beta", (7,))]),
    # -- Flax linen (flax/linen/linear.py) --
    ("flax.Dense", {"features": 256, "in_features": 784}, [("kernel", (784, 256)), ("bias", (256,))]),
    ("flax.Dense", {"features": 4, "use_bias": False, "in_features": 3}, [("kernel", (3, 4))]),
    (
        "flax.Conv",
        {"features": 128, "kernel_size": [3, 3], "in_features": 64},
        [("kernel", (3, 3, 64, 128)), ("bias", (128,))],
    ),
    # an integer kernel_size is a 1-D kernel: linen Conv docstring, kernel_size=(3,) on 3 features -> (3, 3, 4)
    ("flax.Conv", {"features": 4, "kernel_size": 3, "in_features": 3}, [("kernel", (3, 3, 4)), ("bias", (4,))]),
    (
        "flax.Conv",
        {"features": 8, "kernel_size": [3, 3, 3], "feature_group_count": 2, "in_features": 6, "use_bias": False},
        [("kernel", (3, 3, 3, 3, 8))],
    ),
    ("flax.Embed", {"num_embeddings": 1000, "features": 64}, [("embedding", (1000, 64))]),
]


@pytest.mark.parametrize(("preset", "args", "expected"), SHAPES, ids=[case_id(c[:2]) for c in SHAPES])
def test_names_and_shapes(preset: str, args: dict[str, Any], expected: Expected) -> None:
    assert [(t.name, t.shape) for t in expand(preset, args)] == expected


def test_every_preset_has_a_shape_case() -> None:
    assert {c[0] for c in SHAPES} == set(PRESETS)
    assert len(PRESETS) == 19


INITS: list[tuple[str, dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = [
    # linear.py:117-128: kaiming_uniform_(weight, a=sqrt(5)); uniform_(bias, -1/sqrt(fan_in), 1/sqrt(fan_in))
    (
        "torch.Linear",
        {"in_features": 784, "out_features": 256},
        [
            ("weight", "torch.kaiming_uniform_", {"a": math.sqrt(5)}),
            ("bias", "torch.uniform_", {"a": -1 / 28, "b": 1 / 28}),
        ],
    ),
    # conv.py:182-201, bias bound from the stored weight's fan_in: ConvTranspose2d(64, 128, 3) -> 128 * 9 = 1152
    (
        "torch.ConvTranspose2d",
        {"in_channels": 64, "out_channels": 128, "kernel_size": 3},
        [
            ("weight", "torch.kaiming_uniform_", {"a": math.sqrt(5)}),
            ("bias", "torch.uniform_", {"a": -1 / math.sqrt(1152), "b": 1 / math.sqrt(1152)}),
        ],
    ),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4}, [("weight", "torch.normal_", {})]),
    # rnn.py:308-311: every parameter uniform_(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
    (
        "torch.GRU",
        {"input_size": 32, "hidden_size": 64},
        [
            (n, "torch.uniform_", {"a": -0.125, "b": 0.125})
            for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        ],
    ),
    # activation.py:1232-1246
    (
        "torch.MultiheadAttention",
        {"embed_dim": 8, "num_heads": 2, "add_bias_kv": True},
        [
            ("in_proj_weight", "torch.xavier_uniform_", {}),
            ("in_proj_bias", "torch.constant_", {"val": 0.0}),
            ("bias_k", "torch.xavier_normal_", {}),
            ("bias_v", "torch.xavier_normal_", {}),
            ("out_proj.weight", "torch.kaiming_uniform_", {"a": math.sqrt(5)}),
            ("out_proj.bias", "torch.constant_", {"val": 0.0}),
        ],
    ),
    # batchnorm.py:91-104
    (
        "torch.BatchNorm2d",
        {"num_features": 2},
        [
            ("weight", "torch.ones_", {}),
            ("bias", "torch.zeros_", {}),
            ("running_mean", "torch.zeros_", {}),
            ("running_var", "torch.ones_", {}),
            ("num_batches_tracked", "torch.zeros_", {}),
        ],
    ),
    ("torch.LayerNorm", {"normalized_shape": 2}, [("weight", "torch.ones_", {}), ("bias", "torch.zeros_", {})]),
    # anchors 1.8: Keras layer defaults
    ("keras.Dense", {"units": 2, "input_dim": 3}, [("kernel", "keras.GlorotUniform", {}), ("bias", "keras.Zeros", {})]),
    (
        "keras.Conv2D",
        {"filters": 2, "kernel_size": 3, "input_channels": 3},
        [("kernel", "keras.GlorotUniform", {}), ("bias", "keras.Zeros", {})],
    ),
    (
        "keras.Embedding",
        {"input_dim": 5, "output_dim": 3},
        [("embeddings", "keras.RandomUniform", {"minval": -0.05, "maxval": 0.05})],
    ),
    (
        "keras.LSTM",
        {"units": 4, "input_dim": 3},
        [
            ("kernel", "keras.GlorotUniform", {}),
            ("recurrent_kernel", "keras.Orthogonal", {}),
            ("bias", "keras.Zeros", {}),
        ],
    ),
    ("keras.LayerNormalization", {"input_dim": 3}, [("gamma", "keras.Ones", {}), ("beta", "keras.Zeros", {})]),
    # anchors 3.5: Flax defaults
    ("flax.Dense", {"features": 2, "in_features": 3}, [("kernel", "jax.lecun_normal", {}), ("bias", "jax.zeros", {})]),
    (
        "flax.Conv",
        {"features": 2, "kernel_size": 3, "in_features": 3},
        [("kernel", "jax.lecun_normal", {}), ("bias", "jax.zeros", {})],
    ),
    (
        "flax.Embed",
        {"num_embeddings": 5, "features": 3},
        [("embedding", "variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"})],
    ),
]


@pytest.mark.parametrize(("preset", "args", "expected"), INITS, ids=[case_id(c[:2]) for c in INITS])
def test_initializers(preset: str, args: dict[str, Any], expected: list[tuple[str, str, dict[str, Any]]]) -> None:
    tensors = expand(preset, args)
    assert [(t.name, t.init) for t in tensors] == [(n, i) for n, i, _ in expected]
    for tensor, (_, _, params) in zip(tensors, expected, strict=True):
        assert set(tensor.params) == set(params)
        for key, value in params.items():
            assert tensor.params[key] == (pytest.approx(value, rel=1e-15) if isinstance(value, float) else value)


def test_layouts() -> None:
    """torch tensors in the torch layout, Keras in keras, Flax kernels in jax; Flax Embed on explicit axes."""
    for name, args in ALL_CASES:
        for tensor in expand(name, args):
            if name == "flax.Embed":
                assert tensor.layout == FanAxes(in_axis=(1,), out_axis=(0,))
            else:
                assert tensor.layout == {"torch": "torch", "keras": "keras", "flax": "jax"}[name.split(".")[0]]


def test_flax_embed_fan_in_is_features() -> None:
    """JAX's _compute_fans with in_axis=-2, out_axis=0 on (1000, 64) gives fan_in 64.0 (jax 0.10.2); ours too."""
    (embedding,) = expand("flax.Embed", {"num_embeddings": 1000, "features": 64})
    assert isinstance(embedding.layout, FanAxes)
    assert compute_fans(embedding.shape, embedding.layout).fan_in == 64


def test_dtype_only_for_num_batches_tracked() -> None:
    """num_batches_tracked is torch.tensor(0, dtype=torch.long) (batchnorm.py:75-82); the rest: the model dtype."""
    for name, args in ALL_CASES:
        for tensor in expand(name, args):
            assert tensor.dtype == ("int64" if tensor.name == "num_batches_tracked" else None)


@pytest.mark.parametrize(
    ("args", "row"),
    [({"padding_idx": 0}, 0), ({"padding_idx": 9}, 9), ({"padding_idx": -1}, 9), ({"padding_idx": -10}, 0)],
)
def test_embedding_padding_row_fill(args: dict[str, Any], row: int) -> None:
    """sparse.py:151-158: a negative padding_idx becomes num_embeddings + padding_idx; that row is filled with 0."""
    (weight,) = expand("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, **args})
    assert weight.fills == (Fill(row * 4, row * 4 + 4, 0.0),)


def test_embedding_without_padding_has_no_fill() -> None:
    assert expand("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4})[0].fills == ()


@pytest.mark.parametrize(("unit_forget_bias", "fills"), [(True, (Fill(16, 32, 1.0),)), (False, ())])
def test_keras_lstm_forget_gate_fill(unit_forget_bias: bool, fills: tuple[Fill, ...]) -> None:
    """lstm.py:165-183: bias = concat(zeros(units), ones(units), zeros(2 units)); Keras 3.15.1 gave bias[16:32] = 1."""
    bias = expand("keras.LSTM", {"units": 16, "unit_forget_bias": unit_forget_bias, "input_dim": 8})[2]
    assert bias.name == "bias" and bias.fills == fills


def test_lstm_weight_hr_and_projection() -> None:
    """With proj_size, weight_hh takes proj_size columns and weight_hr is (proj_size, hidden_size) (rnn.py:170-201)."""
    tensors = {t.name: t for t in expand("torch.LSTM", {"input_size": 3, "hidden_size": 8, "proj_size": 2})}
    assert tensors["weight_hh_l0"].shape == (32, 2)
    assert tensors["weight_hr_l0"].shape == (2, 8)
    assert dict(tensors["weight_hr_l0"].params) == {"a": -1 / math.sqrt(8), "b": 1 / math.sqrt(8)}


def test_ignored_args_do_not_change_tensors() -> None:
    base = expand("torch.Conv2d", {"in_channels": 4, "out_channels": 8, "kernel_size": 3})
    varied = expand(
        "torch.Conv2d",
        {
            "in_channels": 4,
            "out_channels": 8,
            "kernel_size": 3,
            "stride": 2,
            "padding": [1, 0],
            "dilation": [2, 3],
            "padding_mode": "circular",
        },
    )
    assert varied == base
    lstm = {"input_size": 4, "hidden_size": 8}
    assert expand("torch.LSTM", {**lstm, "batch_first": True, "dropout": 0.3}) == expand("torch.LSTM", lstm)
    assert expand("torch.BatchNorm2d", {"num_features": 3, "eps": 0.1, "momentum": None}) == expand(
        "torch.BatchNorm2d", {"num_features": 3}
    )


def test_kernel_size_int_or_list() -> None:
    """torch's _pair(3) == (3, 3); Keras standardize_tuple(3, 2) == (3, 3)."""
    assert expand("torch.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3}) == expand(
        "torch.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": [3, 3]}
    )
    assert expand("keras.Conv2D", {"filters": 1, "kernel_size": 3, "input_channels": 1}) == expand(
        "keras.Conv2D", {"filters": 1, "kernel_size": [3, 3], "input_channels": 1}
    )


def test_tensor_as_dict() -> None:
    (embedding,) = expand("torch.Embedding", {"num_embeddings": 3, "embedding_dim": 2, "padding_idx": 1})
    assert embedding.as_dict() == {
        "name": "weight",
        "shape": [3, 2],
        "init": "torch.normal_",
        "params": {},
        "layout": "torch",
        "fills": [{"start": 2, "stop": 4, "value": 0.0}],
    }
    flax = expand("flax.Embed", {"num_embeddings": 3, "features": 2})[0].as_dict()
    assert flax["layout"] == {"in_axis": [1], "out_axis": [0], "batch_axis": []}
    counter = expand("torch.BatchNorm2d", {"num_features": 1})[-1].as_dict()
    assert counter["dtype"] == "int64" and counter["shape"] == []


def test_every_required_arg_is_marked() -> None:
    for preset in PRESETS.values():
        for arg in preset.args:
            assert arg.required == (arg.default is REQUIRED)
        required = {a.name for a in preset.args if a.required}
        assert required <= set(preset.example), preset.name
        assert all(isinstance(t, PresetTensor) for t in expand(preset.name, preset.example))
