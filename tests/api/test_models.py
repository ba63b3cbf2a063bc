"""Whole models over HTTP: safetensors, npz and the manifest; seeds by name; bfloat16; limits."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from fastapi.testclient import TestClient

from service.core import DEFAULT_STREAM, STREAM_VERSION
from service.core.model import MAX_ENTRIES, MAX_NAME_LENGTH
from service.core.seeds import derive_seed

from .helpers import PROBLEM, app_client

#: A small model of every kind of entry: presets of the three frameworks and named tensors.
MODEL: dict[str, Any] = {
    "entries": [
        {"preset": "torch.Linear", "prefix": "encoder.0", "in_features": 96, "out_features": 48},
        {"preset": "torch.Embedding", "prefix": "embed", "num_embeddings": 50, "embedding_dim": 16, "padding_idx": 0},
        {"preset": "torch.BatchNorm2d", "prefix": "bn", "num_features": 8},
        {"preset": "keras.LSTM", "prefix": "lstm", "units": 8, "input_dim": 4},
        {"preset": "flax.Dense", "prefix": "head", "features": 10, "in_features": 48},
        {"name": "proj.weight", "shape": [48, 96], "init": {"scheme": "torch.kaiming_normal_", "mode": "fan_out"}},
        {"name": "gate", "shape": [3, 3, 4, 8], "init": {"scheme": "jax.delta_orthogonal"}},
        {"name": "scale", "shape": [16], "init": {"scheme": "ones"}, "dtype": "float64"},
    ],
    "seed": 2026,
}


def _safetensors_header(data: bytes) -> dict[str, Any]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length])


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return answer


def test_safetensors_npz_and_manifest_agree(client: TestClient) -> None:
    st = _post(client, "/v1/models/safetensors", MODEL)
    npz = _post(client, "/v1/models/npz", MODEL)
    manifest = _post(client, "/v1/models/stats", MODEL).json()
    assert st.headers["content-length"] == str(len(st.content))
    assert npz.headers["content-length"] == str(len(npz.content))
    assert st.headers["X-Init-Seed"] == npz.headers["X-Init-Seed"] == "2026"
    tensors = safetensors.numpy.load(st.content)
    with np.load(io.BytesIO(npz.content)) as members:
        assert sorted(members.files) == sorted(tensors)
        for name, array in tensors.items():
            assert members[name].dtype == array.dtype and members[name].tobytes() == array.tobytes(), name
    names = [t["name"] for t in manifest["tensors"]]
    assert names == [
        "encoder.0.weight",
        "encoder.0.bias",
        "embed.weight",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "lstm.kernel",
        "lstm.recurrent_kernel",
        "lstm.bias",
        "head.kernel",
        "head.bias",
        "proj.weight",
        "gate",
        "scale",
    ]
    assert set(tensors) == set(names)
    for entry in manifest["tensors"]:
        array = tensors[entry["name"]]
        assert list(array.shape) == entry["shape"] and array.dtype.name == entry["dtype"]
        assert entry["seed"] == derive_seed(2026, entry["name"])
        empirical = entry["stats"]["empirical"]
        assert empirical["count"] == array.size
        assert empirical["max"] == float(array.max()) and empirical["min"] == float(array.min())
    assert manifest["count"] == sum(a.size for a in tensors.values())
    assert manifest["nbytes"] == sum(a.nbytes for a in tensors.values())
    assert manifest["stream"] == DEFAULT_STREAM and manifest["stream_version"] == STREAM_VERSION
    assert manifest["shared_generator"] is False


def test_layer_values_follow_their_framework(client: TestClient) -> None:
    tensors = safetensors.numpy.load(_post(client, "/v1/models/safetensors", MODEL).content)
    assert np.abs(tensors["encoder.0.weight"]).max() <= 1 / np.sqrt(96)  # kaiming_uniform_(a=sqrt(5))
    assert np.all(tensors["embed.weight"][0] == 0) and np.all(tensors["embed.weight"][1:] != 0)  # padding_idx
    assert tensors["bn.num_batches_tracked"].dtype == np.int64 and tensors["bn.num_batches_tracked"].shape == ()
    bias = tensors["lstm.bias"]  # unit_forget_bias: the forget gate's slice is 1
    assert np.array_equal(bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)].astype(np.float32))
    gate = tensors["gate"].astype(np.float64)  # delta orthogonal: only the centre (1, 1) is non-zero
    assert np.count_nonzero(gate[[0, 2]]) == 0 and np.count_nonzero(gate[:, [0, 2]]) == 0
    np.testing.assert_allclose(gate[1, 1] @ gate[1, 1].T, np.eye(4), atol=1e-5)
    assert tensors["scale"].dtype == np.float64 and np.all(tensors["scale"] == 1)


def test_a_model_tensor_is_the_single_tensor_with_its_derived_seed(client: TestClient) -> None:
    """Model tensor `name` = POST /v1/tensors/npy with seed derive_seed(model seed, name)."""
    tensors = safetensors.numpy.load(_post(client, "/v1/models/safetensors", MODEL).content)
    single = {
        "shape": [48, 96],
        "init": {"scheme": "torch.kaiming_normal_", "mode": "fan_out"},
        "seed": derive_seed(2026, "proj.weight"),
    }
    answer = _post(client, "/v1/tensors/npy", single)
    assert np.load(io.BytesIO(answer.content)).tobytes() == tensors["proj.weight"].tobytes()


def test_same_request_same_bytes(client: TestClient) -> None:
    for path in ("/v1/models/safetensors", "/v1/models/npz"):
        assert _post(client, path, MODEL).content == _post(client, path, MODEL).content


def test_reordering_entries_changes_no_tensor(client: TestClient) -> None:
    reordered = {**MODEL, "entries": list(reversed(MODEL["entries"]))}
    first = safetensors.numpy.load(_post(client, "/v1/models/safetensors", MODEL).content)
    second = safetensors.numpy.load(_post(client, "/v1/models/safetensors", reordered).content)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].tobytes() == second[name].tobytes(), name
    # the npz has no metadata and sorts its members by name: the same file
    assert _post(client, "/v1/models/npz", MODEL).content == _post(client, "/v1/models/npz", reordered).content
    # dropping entries changes nothing either
    fewer = {**MODEL, "entries": MODEL["entries"][3:5]}
    third = safetensors.numpy.load(_post(client, "/v1/models/safetensors", fewer).content)
    for name, array in third.items():
        assert first[name].tobytes() == array.tobytes(), name


def test_safetensors_metadata_carries_request_inits_and_statistics(client: TestClient) -> None:
    answer = _post(client, "/v1/models/safetensors", {**MODEL, "seed": None})
    metadata = _safetensors_header(answer.content)["__metadata__"]
    assert set(metadata) == {"request", "stream", "stream_version", "tensors"}  # mixed layouts: no `format`
    assert metadata["stream"] == DEFAULT_STREAM and metadata["stream_version"] == STREAM_VERSION
    request = json.loads(metadata["request"])
    seed = int(answer.headers["X-Init-Seed"])
    assert request["seed"] == seed and len(request["entries"]) == len(MODEL["entries"])
    # the canonical request: every default filled in, and it names the same model (same file)
    assert request["entries"][0] == {**MODEL["entries"][0], "bias": True}
    assert _post(client, "/v1/models/safetensors", request).content == answer.content
    tensors = {t["name"]: t for t in json.loads(metadata["tensors"])}
    proj = tensors["proj.weight"]
    assert proj["requested_init"] == {
        "scheme": "torch.kaiming_normal_",
        "a": 0.0,
        "mode": "fan_out",
        "nonlinearity": "leaky_relu",
    }
    assert proj["init"] == {"scheme": "he", "distribution": "normal", "mode": "fan_out", "negative_slope": 0.0}
    assert (proj["layout"], proj["fan_in"], proj["fan_out"]) == ("torch", 96, 48)
    assert proj["seed"] == derive_seed(seed, "proj.weight")
    assert proj["stats"]["empirical"]["count"] == 48 * 96  # buffered: measured before sending
    assert tensors["encoder.0.weight"]["preset"] == "torch.Linear"
    # the request echoed in the metadata reproduces the file
    again = _post(client, "/v1/models/safetensors", request)
    assert again.content == answer.content


def test_hugging_face_format_says_the_layout(client: TestClient) -> None:
    """transformers refuses safetensors metadata without `format`; it says which framework's layout the file holds."""
    torch_model = {"entries": MODEL["entries"][:3], "seed": 1}  # torch presets only
    flax_model = {"entries": [MODEL["entries"][4], {"preset": "flax.Embed", "num_embeddings": 9, "features": 4}]}
    keras_model = {"entries": [MODEL["entries"][3]]}
    formats = [
        _safetensors_header(_post(client, "/v1/models/safetensors", body).content)["__metadata__"].get("format")
        for body in (torch_model, flax_model, keras_model, MODEL)
    ]
    assert formats == ["pt", "flax", None, None]
    single = {"shape": [4, 3], "init": {"scheme": "torch.xavier_uniform_"}, "seed": 1}
    header = _safetensors_header(_post(client, "/v1/tensors/safetensors", single).content)
    assert header["__metadata__"]["format"] == "pt"


def test_streamed_safetensors_has_theoretical_statistics_only() -> None:
    with app_client(buffered_npy_bytes=1024) as client:
        answer = _post(client, "/v1/models/safetensors", MODEL)
        buffered_tensors = safetensors.numpy.load(answer.content)
    metadata = _safetensors_header(answer.content)["__metadata__"]
    for tensor in json.loads(metadata["tensors"]):
        assert tensor["stats"]["empirical"] is None and tensor["stats"]["theoretical"]["variance"] >= 0
    with app_client() as client:
        reference = safetensors.numpy.load(_post(client, "/v1/models/safetensors", MODEL).content)
    for name, array in reference.items():  # streamed or buffered: the same tensors
        assert buffered_tensors[name].tobytes() == array.tobytes(), name


def test_model_layout_applies_to_named_tensors_not_to_presets(client: TestClient) -> None:
    body = {
        "entries": [
            {"name": "w", "shape": [256, 784], "init": {"scheme": "keras.GlorotUniform"}},
            {"name": "k", "shape": [256, 784], "init": {"scheme": "keras.GlorotUniform"}, "layout": "keras"},
            {"preset": "keras.Dense", "prefix": "dense", "units": 4, "input_dim": 6},
        ],
        "seed": 1,
        "layout": "torch",
    }
    tensors = {t["name"]: t for t in _post(client, "/v1/models/stats", body).json()["tensors"]}
    assert (tensors["w"]["layout"], tensors["w"]["fan_in"]) == ("torch", 784)
    assert (tensors["k"]["layout"], tensors["k"]["fan_in"]) == ("keras", 256)
    assert (tensors["dense.kernel"]["layout"], tensors["dense.kernel"]["fan_in"]) == ("keras", 6)
    without = {**body, "layout": None}
    tensors = {t["name"]: t for t in _post(client, "/v1/models/stats", without).json()["tensors"]}
    assert tensors["w"]["layout"] == "keras"  # the init's framework


def test_bfloat16_end_to_end(client: TestClient) -> None:
    torch = pytest.importorskip("torch")
    import safetensors.torch

    body = {**MODEL, "dtype": "bfloat16"}
    loaded = safetensors.torch.load(_post(client, "/v1/models/safetensors", body).content)
    float32 = safetensors.numpy.load(_post(client, "/v1/models/safetensors", {**MODEL, "dtype": "float32"}).content)
    assert loaded["encoder.0.weight"].dtype == torch.bfloat16
    assert loaded["scale"].dtype == torch.float64  # its own dtype
    assert loaded["bn.num_batches_tracked"].dtype == torch.int64
    # bfloat16 is the float32 tensor rounded to nearest even
    rounded = torch.from_numpy(float32["encoder.0.weight"]).to(torch.bfloat16)
    assert torch.equal(loaded["encoder.0.weight"], rounded)
    header = _safetensors_header(_post(client, "/v1/models/safetensors", body).content)
    assert header["encoder.0.weight"]["dtype"] == "BF16"
    # one tensor: /v1/tensors/safetensors, and the JSON answer's numbers are the same values
    single = {"shape": [8, 4], "init": {"scheme": "he"}, "seed": 3, "dtype": "bfloat16"}
    tensor = safetensors.torch.load(_post(client, "/v1/tensors/safetensors", single).content)["tensor"]
    data = _post(client, "/v1/tensors", single).json()["data"]
    assert torch.equal(tensor.flatten().to(torch.float32), torch.tensor(data, dtype=torch.float32))


def test_npz_and_npy_refuse_bfloat16_pointing_to_safetensors(client: TestClient) -> None:
    answer = client.post("/v1/models/npz", json={**MODEL, "dtype": "bfloat16"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert "safetensors" in answer.json()["detail"] and answer.json()["field"] == "dtype"
    entry = {"name": "x", "shape": [2], "init": {"scheme": "zeros"}, "dtype": "bfloat16"}
    answer = client.post("/v1/models/npz", json={"entries": [entry]})
    assert answer.status_code == 422 and answer.json()["field"] == "entries.0.dtype"
    answer = client.post("/v1/tensors/npy", json={"shape": [2], "init": {"scheme": "zeros"}, "dtype": "bfloat16"})
    assert answer.status_code == 422 and "/v1/tensors/safetensors" in answer.json()["detail"]


def test_single_tensor_safetensors_equals_npy(client: TestClient) -> None:
    body = {"shape": [64, 32], "init": {"scheme": "keras.HeNormal"}, "seed": 9}
    answer = _post(client, "/v1/tensors/safetensors", body)
    assert answer.headers["content-disposition"] == 'attachment; filename="tensor.safetensors"'
    tensor = safetensors.numpy.load(answer.content)["tensor"]
    npy = np.load(io.BytesIO(_post(client, "/v1/tensors/npy", body).content))
    assert tensor.tobytes() == npy.tobytes()
    metadata = _safetensors_header(answer.content)["__metadata__"]
    (only,) = json.loads(metadata["tensors"])
    assert only["requested_init"]["scheme"] == "keras.HeNormal" and only["seed"] == 9


def test_the_largest_model_request_the_entry_limits_allow_fits_the_body_limit(client: TestClient) -> None:
    """1024 entries (the most), each with a 256-character name (the longest) and a spelled-out init: the
    default body limit must not refuse a request its entry limits accept."""
    init = {"scheme": "variance_scaling", "scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}
    entries = [
        {"name": f"{i:04d}".ljust(MAX_NAME_LENGTH, "w"), "shape": [2, 2], "layout": "torch", "init": init}
        for i in range(MAX_ENTRIES)
    ]
    body = {"entries": entries, "seed": 1, "dtype": "float32"}
    assert len(json.dumps(body)) > 400_000
    answer = _post(client, "/v1/models/stats", body)
    assert len(answer.json()["tensors"]) == MAX_ENTRIES
    refused = client.post("/v1/models/stats", json={**body, "entries": [*entries, entries[0]]})
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM  # the entry limit, not the size


@pytest.mark.parametrize(
    ("overrides", "entries"),
    [
        ({"max_model_tensors": 3}, [{"preset": "torch.LSTM", "input_size": 2, "hidden_size": 2}]),
        ({"max_model_elements": 100}, [{"name": "w", "shape": [11, 10], "init": {"scheme": "zeros"}}]),
        ({"max_model_bytes": 400}, [{"name": "w", "shape": [11, 10], "init": {"scheme": "zeros"}}]),
        ({"max_elements": 100}, [{"name": "w", "shape": [11, 10], "init": {"scheme": "zeros"}}]),
    ],
)
def test_over_the_limits_is_413_before_any_work(overrides: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    with app_client(**overrides) as client:
        for path in ("/v1/models/safetensors", "/v1/models/npz", "/v1/models/stats"):
            answer = client.post(path, json={"entries": entries, "seed": 0})
            assert answer.status_code == 413, answer.text
            assert answer.headers["content-type"] == PROBLEM
        metrics = client.get("/metrics").text
    assert not any(
        line.startswith("initserve_blocks_total ") and not line.endswith(" 0.0") for line in metrics.splitlines()
    )


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"preset": "torch.Linear", "in_features": 0, "out_features": 2}, "entries.0.in_features"),
        ({"preset": "torch.Linear", "in_features": 2}, "entries.0.out_features"),
        ({"preset": "torch.Linear", "in_features": 2, "out_features": 2, "stride": 1}, "entries.0.stride"),
        ({"preset": "torch.Nope"}, "entries.0.preset"),
        ({"preset": "torch.Linear", "prefix": ".x", "in_features": 2, "out_features": 2}, "entries.0.prefix"),
        (
            {"preset": "torch.Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2},
            "entries.0.in_channels",
        ),
        (
            {"preset": "torch.Embedding", "num_embeddings": 3, "embedding_dim": 2, "padding_idx": 3},
            "entries.0.padding_idx",
        ),
        ({"name": "a b", "shape": [2], "init": {"scheme": "zeros"}}, "entries.0.name"),
        ({"name": "__metadata__", "shape": [2], "init": {"scheme": "zeros"}}, "entries.0.name"),
        ({"name": "w", "shape": [2, 3], "init": {"scheme": "he", "scale": 2}}, "entries.0.init.scale"),
        ({"name": "w", "shape": [2, 3], "init": {"scheme": "hex"}}, "entries.0.init.scheme"),
        ({"name": "w", "shape": [2, 3], "init": {"scheme": "jax.he_normal", "in_axis": 5}}, "entries.0.init.in_axis"),
        ({"name": "w", "shape": [2], "init": {"scheme": "torch.xavier_uniform_"}}, "entries.0.shape"),
        (
            {
                "name": "w",
                "shape": [2, 3],
                "init": {"scheme": "he"},
                "layout": "torch",
                "fan_axes": {"in_axis": 0, "out_axis": 1},
            },
            "entries.0.fan_axes",
        ),
    ],
)
def test_bad_entries_are_422_naming_the_field(client: TestClient, entry: dict[str, Any], field: str) -> None:
    answer = client.post("/v1/models/stats", json={"entries": [entry]})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["field"] == field


def test_duplicate_names_are_422(client: TestClient) -> None:
    body = {
        "entries": [
            {"preset": "torch.Linear", "prefix": "fc", "in_features": 2, "out_features": 2},
            {"name": "fc.weight", "shape": [2, 2], "init": {"scheme": "zeros"}},
        ]
    }
    answer = client.post("/v1/models/safetensors", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == "entries.1"
    assert "fc.weight" in answer.json()["detail"]
    assert client.post("/v1/models/stats", json={"entries": []}).status_code == 422


def test_catalogue_lists_presets(client: TestClient) -> None:
    presets = {p["name"]: p for p in client.get("/v1/schemes").json()["presets"]}
    for name in ("torch.Linear", "torch.LSTM", "torch.MultiheadAttention", "keras.LSTM", "flax.Embed"):
        assert name in presets
    linear = presets["torch.Linear"]
    assert [a["name"] for a in linear["args"]][:3] == ["in_features", "out_features", "bias"]
    assert [t["name"] for t in linear["example"]["tensors"]] == ["weight", "bias"]
