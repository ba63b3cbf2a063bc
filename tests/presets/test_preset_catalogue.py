"""preset_catalogue(): every preset, its arguments and the tensors of its example, as JSON (GET /v1/schemes)."""

from __future__ import annotations

import json

from service.core.presets import PRESETS, expand, preset_catalogue

NAMES = [
    "torch.Linear",
    "torch.Conv1d",
    "torch.Conv2d",
    "torch.Conv3d",
    "torch.ConvTranspose2d",
    "torch.Embedding",
    "torch.LSTM",
    "torch.GRU",
    "torch.MultiheadAttention",
    "torch.LayerNorm",
    "torch.BatchNorm2d",
    "keras.Dense",
    "keras.Conv2D",
    "keras.Embedding",
    "keras.LSTM",
    "keras.LayerNormalization",
    "flax.Dense",
    "flax.Conv",
    "flax.Embed",
]


def test_catalogue_lists_every_preset_in_order() -> None:
    catalogue = preset_catalogue()
    assert [entry["name"] for entry in catalogue] == NAMES == list(PRESETS)
    assert [entry["framework"] for entry in catalogue] == [name.split(".")[0] for name in NAMES]


def test_catalogue_is_json() -> None:
    catalogue = preset_catalogue()
    assert json.loads(json.dumps(catalogue)) == catalogue


def test_catalogue_entries() -> None:
    for entry in preset_catalogue():
        assert set(entry) == {"name", "framework", "summary", "source", "args", "example"}
        assert entry["summary"] and entry["source"]
        for arg in entry["args"]:
            assert {"name", "kind", "required", "description"} <= set(arg)
            assert arg["kind"] in {"integer", "boolean", "integers", "number", "choice"}
            assert ("default" in arg) != arg["required"]
            if arg["kind"] == "choice":
                assert arg["choices"]
        tensors = [t.as_dict() for t in expand(entry["name"], entry["example"]["args"])]
        assert entry["example"]["tensors"] == tensors and tensors


def test_catalogue_examples() -> None:
    """The examples are the layers of the anchors' verified cases (anchors 7.4)."""
    by_name = {entry["name"]: entry for entry in preset_catalogue()}
    linear = by_name["torch.Linear"]["example"]
    assert linear["args"] == {"in_features": 784, "out_features": 256}
    assert [(t["name"], t["shape"]) for t in linear["tensors"]] == [("weight", [256, 784]), ("bias", [256])]
    assert by_name["keras.LSTM"]["example"]["tensors"][2]["fills"] == [{"start": 64, "stop": 128, "value": 1.0}]
    assert by_name["torch.BatchNorm2d"]["example"]["tensors"][-1] == {
        "name": "num_batches_tracked",
        "shape": [],
        "init": "torch.zeros_",
        "params": {},
        "layout": "torch",
        "dtype": "int64",
    }


def test_catalogue_args() -> None:
    by_name = {entry["name"]: entry for entry in preset_catalogue()}
    conv = {a["name"]: a for a in by_name["torch.Conv2d"]["args"]}
    assert list(conv) == [
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
    ]
    assert conv["kernel_size"] == {
        "name": "kernel_size",
        "kind": "integers",
        "required": True,
        "description": "size of the kernel: an integer or a list of 2",
        "minimum": 1,
        "length": 2,
    }
    assert conv["padding"]["choices"] == ["same", "valid"] and conv["padding"]["default"] == 0
    assert "ignored" in conv["stride"]["description"]
    assert conv["padding_mode"]["choices"] == ["zeros", "reflect", "replicate", "circular"]
    transposed = [a["name"] for a in by_name["torch.ConvTranspose2d"]["args"]]
    assert transposed == [
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "output_padding",
        "groups",
        "bias",
        "dilation",
        "padding_mode",
    ]
    embedding = {a["name"]: a for a in by_name["torch.Embedding"]["args"]}
    assert embedding["padding_idx"]["nullable"] and embedding["padding_idx"]["default"] is None
    lstm = [a["name"] for a in by_name["torch.LSTM"]["args"]]
    assert lstm == [
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
    ]
    assert "proj_size" not in [a["name"] for a in by_name["torch.GRU"]["args"]]
    for name, extra in [
        ("keras.Dense", "input_dim"),
        ("keras.Conv2D", "input_channels"),
        ("keras.LSTM", "input_dim"),
        ("keras.LayerNormalization", "input_dim"),
        ("flax.Dense", "in_features"),
        ("flax.Conv", "in_features"),
    ]:
        arg = by_name[name]["args"][-1]
        assert arg["name"] == extra and arg["required"] and "infer" in arg["description"]
