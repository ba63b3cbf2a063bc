"""Preset configurations shared by the preset tests: (preset, constructor args)."""

from __future__ import annotations

from typing import Any

#: Every torch preset in several configurations; the args are torch's own keyword arguments, so
#: ``getattr(torch.nn, name[6:])(**args)`` builds the real module (tests/presets/test_preset_torch.py).
TORCH_CASES: list[tuple[str, dict[str, Any]]] = [
    ("torch.Linear", {"in_features": 784, "out_features": 256}),
    ("torch.Linear", {"in_features": 3, "out_features": 5, "bias": False}),
    ("torch.Conv1d", {"in_channels": 16, "out_channels": 32, "kernel_size": 5}),
    ("torch.Conv1d", {"in_channels": 6, "out_channels": 9, "kernel_size": [4], "groups": 3, "padding": "same"}),
    ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3}),
    ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3, "groups": 64}),
    (
        "torch.Conv2d",
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": [3, 5],
            "stride": [2, 1],
            "padding": [1, 2],
            "dilation": 2,
            "groups": 2,
            "bias": False,
            "padding_mode": "reflect",
        },
    ),
    ("torch.Conv3d", {"in_channels": 8, "out_channels": 16, "kernel_size": [2, 3, 3]}),
    ("torch.Conv3d", {"in_channels": 4, "out_channels": 4, "kernel_size": 1, "groups": 4, "bias": False}),
    ("torch.ConvTranspose2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3}),
    (
        "torch.ConvTranspose2d",
        {"in_channels": 8, "out_channels": 12, "kernel_size": [2, 4], "stride": 2, "output_padding": 1, "groups": 4},
    ),
    ("torch.ConvTranspose2d", {"in_channels": 3, "out_channels": 5, "kernel_size": 2, "bias": False, "dilation": 2}),
    ("torch.Embedding", {"num_embeddings": 1000, "embedding_dim": 64}),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": -1}),
    ("torch.Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 9, "max_norm": 1.0}),
    ("torch.LSTM", {"input_size": 32, "hidden_size": 64}),
    ("torch.LSTM", {"input_size": 10, "hidden_size": 20, "num_layers": 2, "bidirectional": True}),
    ("torch.LSTM", {"input_size": 10, "hidden_size": 20, "num_layers": 2, "proj_size": 5, "bidirectional": True}),
    ("torch.LSTM", {"input_size": 7, "hidden_size": 9, "num_layers": 3, "bias": False, "proj_size": 4}),
    ("torch.LSTM", {"input_size": 7, "hidden_size": 9, "batch_first": True, "dropout": 0.0}),
    ("torch.GRU", {"input_size": 32, "hidden_size": 64}),
    ("torch.GRU", {"input_size": 10, "hidden_size": 20, "num_layers": 2, "bidirectional": True}),
    ("torch.GRU", {"input_size": 10, "hidden_size": 20, "num_layers": 3, "bias": False, "dropout": 0.5}),
    ("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 8}),
    ("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 4, "kdim": 32, "vdim": 16}),
    ("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 4, "kdim": 64, "vdim": 16, "add_bias_kv": True}),
    ("torch.MultiheadAttention", {"embed_dim": 12, "num_heads": 3, "bias": False, "add_bias_kv": True}),
    ("torch.MultiheadAttention", {"embed_dim": 12, "num_heads": 1, "bias": False, "batch_first": True}),
    ("torch.LayerNorm", {"normalized_shape": 64}),
    ("torch.LayerNorm", {"normalized_shape": [3, 4], "bias": False}),
    ("torch.LayerNorm", {"normalized_shape": [5], "elementwise_affine": False, "eps": 1e-6}),
    ("torch.BatchNorm2d", {"num_features": 64}),
    ("torch.BatchNorm2d", {"num_features": 8, "affine": False}),
    ("torch.BatchNorm2d", {"num_features": 8, "track_running_stats": False, "momentum": None}),
    ("torch.BatchNorm2d", {"num_features": 8, "bias": False}),
]

KERAS_CASES: list[tuple[str, dict[str, Any]]] = [
    ("keras.Dense", {"units": 256, "input_dim": 784}),
    ("keras.Dense", {"units": 4, "use_bias": False, "input_dim": 3}),
    ("keras.Conv2D", {"filters": 128, "kernel_size": 3, "input_channels": 64}),
    ("keras.Conv2D", {"filters": 128, "kernel_size": [3, 5], "groups": 4, "input_channels": 64}),
    ("keras.Conv2D", {"filters": 128, "kernel_size": 3, "data_format": "channels_first", "input_channels": 64}),
    ("keras.Embedding", {"input_dim": 1000, "output_dim": 64}),
    ("keras.LSTM", {"units": 64, "input_dim": 32}),
    ("keras.LSTM", {"units": 16, "use_bias": False, "input_dim": 8}),
    ("keras.LSTM", {"units": 16, "unit_forget_bias": False, "input_dim": 8}),
    ("keras.LayerNormalization", {"input_dim": 32}),
    ("keras.LayerNormalization", {"center": False, "input_dim": 32}),
    ("keras.LayerNormalization", {"scale": False, "input_dim": 7}),
]

FLAX_CASES: list[tuple[str, dict[str, Any]]] = [
    ("flax.Dense", {"features": 256, "in_features": 784}),
    ("flax.Dense", {"features": 4, "use_bias": False, "in_features": 3}),
    ("flax.Conv", {"features": 128, "kernel_size": [3, 3], "in_features": 64}),
    ("flax.Conv", {"features": 4, "kernel_size": 3, "in_features": 3}),
    ("flax.Conv", {"features": 8, "kernel_size": [3, 3, 3], "feature_group_count": 2, "in_features": 6}),
    ("flax.Embed", {"num_embeddings": 1000, "features": 64}),
]

ALL_CASES = TORCH_CASES + KERAS_CASES + FLAX_CASES


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, args = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in args.items()) + ")"
