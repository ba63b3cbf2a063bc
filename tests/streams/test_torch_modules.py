"""``service.core.streams.torch.modules`` against PyTorch 2.13.0's module constructors, bit for bit.

``torch.manual_seed(seed)`` then a sequence of modules built with ``dtype=...`` on the one default
generator, versus ``module_tensors`` for the same presets on one ``Generator`` (the torch-backed
adapter, and ``TorchGenerator`` once it imports): every state_dict entry equal in every bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.core.presets import expand
from service.core.streams.torch.init import Generator
from service.core.streams.torch.modules import module_draws, module_tensors

from .test_torch_init import _TORCH_DTYPES, GENERATORS, TorchAdapter, bits, to_numpy

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

nn = torch.nn

#: (preset, args, the torch constructor with those args): built in this order on one generator.
SEQUENCE: list[tuple[str, dict[str, Any], Callable[..., Any]]] = [
    ("torch.Linear", {"in_features": 784, "out_features": 256}, lambda **kw: nn.Linear(784, 256, **kw)),
    ("torch.Linear", {"in_features": 5, "out_features": 7, "bias": False}, lambda **kw: nn.Linear(5, 7, False, **kw)),
    (
        "torch.LSTM",
        {"input_size": 10, "hidden_size": 20, "num_layers": 2, "bidirectional": True, "proj_size": 6},
        lambda **kw: nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=6, **kw),
    ),
    (
        "torch.Embedding",
        {"num_embeddings": 100, "embedding_dim": 17, "padding_idx": -3},
        lambda **kw: nn.Embedding(100, 17, padding_idx=-3, **kw),
    ),
    (
        "torch.Conv1d",
        {"in_channels": 16, "out_channels": 32, "kernel_size": 5},
        lambda **kw: nn.Conv1d(16, 32, 5, **kw),
    ),
    (
        "torch.Conv2d",
        {"in_channels": 8, "out_channels": 12, "kernel_size": 3, "groups": 4, "bias": False},
        lambda **kw: nn.Conv2d(8, 12, 3, groups=4, bias=False, **kw),
    ),
    (
        "torch.Conv3d",
        {"in_channels": 4, "out_channels": 6, "kernel_size": [2, 3, 3]},
        lambda **kw: nn.Conv3d(4, 6, (2, 3, 3), **kw),
    ),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 6, "out_channels": 8, "kernel_size": 3, "groups": 2},
        lambda **kw: nn.ConvTranspose2d(6, 8, 3, groups=2, **kw),
    ),
    (
        "torch.GRU",
        {"input_size": 7, "hidden_size": 9, "num_layers": 2, "bidirectional": True},
        lambda **kw: nn.GRU(7, 9, num_layers=2, bidirectional=True, **kw),
    ),
    ("torch.MultiheadAttention", {"embed_dim": 16, "num_heads": 4}, lambda **kw: nn.MultiheadAttention(16, 4, **kw)),
    (
        "torch.MultiheadAttention",
        {"embed_dim": 16, "num_heads": 2, "kdim": 5, "vdim": 7, "add_bias_kv": True},
        lambda **kw: nn.MultiheadAttention(16, 2, kdim=5, vdim=7, add_bias_kv=True, **kw),
    ),
    (
        "torch.MultiheadAttention",
        {"embed_dim": 12, "num_heads": 3, "bias": False, "add_bias_kv": True},
        lambda **kw: nn.MultiheadAttention(12, 3, bias=False, add_bias_kv=True, **kw),
    ),
    ("torch.LayerNorm", {"normalized_shape": [4, 6]}, lambda **kw: nn.LayerNorm([4, 6], **kw)),
    ("torch.BatchNorm2d", {"num_features": 8}, lambda **kw: nn.BatchNorm2d(8, **kw)),
    ("torch.Linear", {"in_features": 33, "out_features": 3}, lambda **kw: nn.Linear(33, 3, **kw)),
]


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("dtype", ("float32", "bfloat16", "float16", "float64"))
@pytest.mark.parametrize("seed", (0, 2**32 + 3))
def test_constructor_sequence_is_torch_bit_for_bit(seed: int, dtype: str, make: Callable[[int], Generator]) -> None:
    torch.manual_seed(seed)
    modules = [build(dtype=_TORCH_DTYPES[dtype]) for _, _, build in SEQUENCE]
    gen = make(seed)
    for (preset, args, _), module in zip(SEQUENCE, modules, strict=True):
        ours = module_tensors(gen, preset, args, dtype)
        theirs = {name: to_numpy(value) for name, value in module.state_dict().items()}
        assert list(ours) == list(theirs), preset
        for name, value in theirs.items():
            assert ours[name].shape == value.shape and ours[name].dtype == value.dtype, (preset, name)
            differing = int(np.count_nonzero(bits(ours[name]) != bits(value)))
            assert differing == 0, f"{preset} {name}: {differing} of {value.size} values differ"


def test_named_draws_are_expand_tensors() -> None:
    """Each of expand's tensors is made by exactly one named step, with its shape and dtype."""
    for preset, args, _ in SEQUENCE:
        named = [(d.name, d.shape, d.dtype) for d in module_draws(preset, args) if d.name is not None]
        expected = [(t.name, t.shape, t.dtype) for t in expand(preset, args)]
        assert sorted(named, key=str) == sorted(expected, key=str), preset


def test_multihead_attention_draw_order() -> None:
    draws = module_draws("torch.MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "add_bias_kv": True})
    assert [d.name for d in draws] == [
        "out_proj.weight",
        None,  # out_proj's Linear bias: drawn, then zeroed by _reset_parameters
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.bias",
        "bias_k",
        "bias_v",
    ]


def test_keras_and_flax_presets_go_through_the_torch_function_of_their_meaning() -> None:
    """keras.Dense's glorot_uniform kernel (in, out) is xavier_uniform_ (symmetric in the fans) drawn in
    the kernel's C order; keras.LSTM's recurrent kernel orthogonal; flax.Embed N(0, 1 / features)."""
    gen = TorchAdapter(3)
    dense = module_tensors(gen, "keras.Dense", {"units": 5, "input_dim": 9}, "float32")
    lstm = module_tensors(gen, "keras.LSTM", {"units": 4, "input_dim": 3}, "float32")
    embed = module_tensors(gen, "flax.Embed", {"num_embeddings": 6, "features": 16}, "float32")
    torch.manual_seed(3)
    kernel = nn.init.xavier_uniform_(torch.empty(9, 5))
    bias = torch.zeros(5)
    lstm_kernel = nn.init.xavier_uniform_(torch.empty(3, 16))
    recurrent = nn.init.orthogonal_(torch.empty(4, 16))
    embedding = nn.init.normal_(torch.empty(6, 16), 0.0, 1.0 / math.sqrt(16))
    assert bits(dense["kernel"]).tolist() == bits(kernel.numpy()).tolist()
    assert bits(dense["bias"]).tolist() == bits(bias.numpy()).tolist()
    assert bits(lstm["kernel"]).tolist() == bits(lstm_kernel.numpy()).tolist()
    np.testing.assert_allclose(lstm["recurrent_kernel"], recurrent.numpy(), rtol=1e-5, atol=1e-6)
    assert lstm["bias"].tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8
    assert bits(embed["embedding"]).tolist() == bits(embedding.numpy()).tolist()
