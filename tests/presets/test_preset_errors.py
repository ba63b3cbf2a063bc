"""Bad presets and bad arguments: a ParameterError naming the field at fault (``preset`` or the argument's name).

The cross-argument checks are the frameworks' own constructor checks: torch conv.py:105-124 (groups,
padding='same' with strides), rnn.py:170-180 (proj_size), activation.py:1188-1189 (embed_dim / num_heads),
sparse.py:151-157 (padding_idx); Keras base_conv.py:139-196 (groups, strides with dilation); Flax
linear.py _Conv (feature_group_count, CAUSAL padding only in 1-D).
"""

from __future__ import annotations

from typing import Any

import pytest

from service.core.errors import ParameterError
from service.core.presets import expand, preset_of

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (preset, args, field, a piece of the message)
    ("torch.Linear", {"in_features": 3}, "out_features", "required"),
    (
        "torch.Linear",
        {"in_features": 3, "out_features": 4, "bias_": True},
        "bias_",
        "allowed: in_features, out_features, bias",
    ),
    ("torch.Linear", {"in_features": 3.0, "out_features": 4}, "in_features", "integer"),
    ("torch.Linear", {"in_features": True, "out_features": 4}, "in_features", "integer"),
    ("torch.Linear", {"in_features": "3", "out_features": 4}, "in_features", "integer"),
    ("torch.Linear", {"in_features": 0, "out_features": 4}, "in_features", ">= 1"),
    ("torch.Linear", {"in_features": 2**60, "out_features": 4}, "in_features", "2^53"),
    ("torch.Linear", {"in_features": 3, "out_features": 4, "bias": 1}, "bias", "boolean"),
    ("torch.Linear", {"in_features": None, "out_features": 4}, "in_features", "null"),
    (
        "torch.Conv2d",
        {"in_channels": 6, "out_channels": 8, "kernel_size": 3, "groups": 4},
        "in_channels",
        "divisible by groups",
    ),
    (
        "torch.Conv2d",
        {"in_channels": 8, "out_channels": 6, "kernel_size": 3, "groups": 4},
        "out_channels",
        "divisible by groups",
    ),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": 3, "groups": 0}, "groups", ">= 1"),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": [3, 3, 3]}, "kernel_size", "list of 2"),
    ("torch.Conv1d", {"in_channels": 8, "out_channels": 8, "kernel_size": [3, 3]}, "kernel_size", "list of 1"),
    ("torch.Conv3d", {"in_channels": 8, "out_channels": 8, "kernel_size": [3, 3]}, "kernel_size", "list of 3"),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": []}, "kernel_size", "empty"),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": [3, 0]}, "kernel_size", ">= 1"),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": "3"}, "kernel_size", "integer"),
    ("torch.Conv2d", {"in_channels": 8, "out_channels": 8, "kernel_size": [3, True]}, "kernel_size", "integer"),
    (
        "torch.Conv2d",
        {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": "full"},
        "padding",
        "same, valid",
    ),
    ("torch.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": -1}, "padding", ">= 0"),
    (
        "torch.Conv2d",
        {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": "same", "stride": 2},
        "padding",
        "strided",
    ),
    ("torch.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 0}, "stride", ">= 1"),
    (
        "torch.Conv2d",
        {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding_mode": "wrap"},
        "padding_mode",
        "zeros",
    ),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding_mode": "reflect"},
        "padding_mode",
        "zeros",
    ),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": "same"},
        "padding",
        "integer",
    ),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 6, "out_channels": 4, "kernel_size": 3, "groups": 4},
        "in_channels",
        "divisible",
    ),
    (
        "torch.Embedding",
        {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10},
        "padding_idx",
        "within num_embeddings",
    ),
    (
        "torch.Embedding",
        {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": -11},
        "padding_idx",
        "within num_embeddings",
    ),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 1.5}, "padding_idx", "integer"),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "max_norm": -1.0}, "max_norm", ">= 0"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "proj_size": 8}, "proj_size", "smaller than hidden_size"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "proj_size": -1}, "proj_size", ">= 0"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "num_layers": 0}, "num_layers", ">= 1"),
    ("torch.GRU", {"input_size": 4, "hidden_size": 8, "num_layers": 257}, "num_layers", "<= 256"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "dropout": 1.5}, "dropout", "<= 1"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "dropout": float("nan")}, "dropout", "finite"),
    ("torch.LSTM", {"input_size": 4, "hidden_size": 8, "batch_first": "yes"}, "batch_first", "boolean"),
    ("torch.GRU", {"input_size": 4, "hidden_size": 8, "proj_size": 2}, "proj_size", "allowed"),
    ("torch.MultiheadAttention", {"embed_dim": 10, "num_heads": 3}, "embed_dim", "divisible by num_heads"),
    ("torch.MultiheadAttention", {"embed_dim": 12, "num_heads": 3, "kdim": 0}, "kdim", ">= 1"),
    ("torch.LayerNorm", {}, "normalized_shape", "required"),
    ("torch.LayerNorm", {"normalized_shape": [2, 0]}, "normalized_shape", ">= 1"),
    ("torch.LayerNorm", {"normalized_shape": [1] * 9}, "normalized_shape", "at most 8"),
    ("torch.BatchNorm2d", {"num_features": 4, "momentum": "0.1"}, "momentum", "number"),
    ("torch.BatchNorm2d", {"num_features": 4, "eps": None}, "eps", "null"),
    ("keras.Dense", {"units": 4}, "input_dim", "required"),
    ("keras.Dense", {"units": 4, "input_dim": 3, "bias": True}, "bias", "allowed: units, use_bias, input_dim"),
    (
        "keras.Conv2D",
        {"filters": 128, "kernel_size": 3, "groups": 3, "input_channels": 6},
        "filters",
        "divisible by groups",
    ),
    (
        "keras.Conv2D",
        {"filters": 12, "kernel_size": 3, "groups": 4, "input_channels": 10},
        "input_channels",
        "divisible",
    ),
    (
        "keras.Conv2D",
        {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2, "input_channels": 1},
        "strides",
        "dilation",
    ),
    (
        "keras.Conv2D",
        {"filters": 4, "kernel_size": 3, "padding": "causal", "input_channels": 1},
        "padding",
        "valid, same",
    ),
    ("keras.Conv2D", {"filters": 4, "kernel_size": [3], "input_channels": 1}, "kernel_size", "list of 2"),
    ("keras.LSTM", {"units": 4, "input_dim": 3, "unit_forget_bias": None}, "unit_forget_bias", "null"),
    ("keras.Embedding", {"input_dim": 0, "output_dim": 4}, "input_dim", ">= 1"),
    ("keras.LayerNormalization", {"input_dim": 4, "axis": -1}, "axis", "allowed"),
    ("flax.Dense", {"features": 4}, "in_features", "required"),
    (
        "flax.Conv",
        {"features": 4, "kernel_size": [3, 3], "feature_group_count": 4, "in_features": 6},
        "in_features",
        "divisible",
    ),
    (
        "flax.Conv",
        {"features": 6, "kernel_size": [3, 3], "feature_group_count": 4, "in_features": 8},
        "features",
        "divisible",
    ),
    (
        "flax.Conv",
        {"features": 4, "kernel_size": [3, 3], "strides": [1, 1, 1], "in_features": 1},
        "strides",
        "list of 2",
    ),
    ("flax.Conv", {"features": 4, "kernel_size": [3, 3], "padding": "CAUSAL", "in_features": 1}, "padding", "1-D"),
    ("flax.Conv", {"features": 4, "kernel_size": [3, 3], "padding": "same", "in_features": 1}, "padding", "SAME"),
    (
        "flax.Conv",
        {"features": 4, "kernel_size": [3, 3], "padding": [1, 1, 1], "in_features": 1},
        "padding",
        "list of 2",
    ),
    ("flax.Conv", {"features": 4, "kernel_size": [1] * 7, "in_features": 1}, "kernel_size", "at most 6"),
    ("flax.Embed", {"num_embeddings": 4, "features": -1}, "features", ">= 1"),
]


@pytest.mark.parametrize(("preset", "args", "field", "message"), CASES)
def test_bad_args(preset: str, args: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        expand(preset, args)
    assert info.value.field == field
    assert message in info.value.message


@pytest.mark.parametrize("name", ["torch.Linearr", "Linear", "keras.linear", "flax.LSTM", "", "torch.RNN"])
def test_unknown_preset(name: str) -> None:
    with pytest.raises(ParameterError) as info:
        expand(name, {})
    assert info.value.field == "preset"
    assert "torch.Linear" in info.value.message  # lists the known ones


def test_preset_of_non_string() -> None:
    with pytest.raises(ParameterError) as info:
        preset_of(3)  # type: ignore[arg-type]
    assert info.value.field == "preset"


def test_args_not_a_mapping() -> None:
    with pytest.raises(ParameterError) as info:
        expand("torch.Linear", [3, 4])  # type: ignore[arg-type]
    assert info.value.field == "args"


def test_valid_edges() -> None:
    """The boundaries the frameworks accept: padding_idx -num_embeddings and num_embeddings - 1, proj_size
    hidden_size - 1, momentum None, dropout 1, a one-element kernel_size list for Conv1d, Flax padding ints."""
    expand("torch.Embedding", {"num_embeddings": 3, "embedding_dim": 2, "padding_idx": -3})
    expand("torch.Embedding", {"num_embeddings": 3, "embedding_dim": 2, "padding_idx": 2})
    expand("torch.LSTM", {"input_size": 2, "hidden_size": 3, "proj_size": 2, "dropout": 1})
    expand("torch.BatchNorm2d", {"num_features": 2, "momentum": None})
    expand("torch.Conv1d", {"in_channels": 1, "out_channels": 1, "kernel_size": [2], "padding": "valid"})
    expand("flax.Conv", {"features": 1, "kernel_size": 3, "padding": "CAUSAL", "in_features": 1})
    expand("flax.Conv", {"features": 1, "kernel_size": [3, 3], "padding": [1, 2], "strides": None, "in_features": 1})
