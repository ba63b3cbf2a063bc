"""Slices and shards: the served part equals the same slice of the whole, in every stream, dtype and format;
bad bounds are 422s naming ``slice.<dim>`` or ``shard``; the answer says what was served."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.dtypes import numpy_dtype
from tests.api.helpers import load_npy, problem_of

safetensors_numpy = pytest.importorskip("safetensors.numpy")

STREAMS = ["initserve-1", "initserve-2", "torch", "torch-default", "jax", "keras"]


def npy(client: TestClient, body: dict[str, Any]) -> np.ndarray:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    return load_npy(response.content)


def body_for(stream: str, **fields: Any) -> dict[str, Any]:
    # 150,000 elements: three initserve-1 chunks, so slices cross chunk boundaries
    body = {"shape": [300, 500], "init": {"scheme": "he"}, "seed": 17, "stream": stream, **fields}
    if stream.startswith("torch"):
        body["layout"] = "torch"
    return body


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize(
    ("part", "index"),
    [
        ({"slice": [[10, 250], [37, 460]]}, np.s_[10:250, 37:460]),
        ({"slice": [[299, 300]]}, np.s_[299:300, :]),  # omitted dimensions are whole
        ({"shard": {"axis": 1, "index": 3, "count": 4}}, np.s_[:, 375:500]),  # a column-parallel shard
        ({"shard": {"axis": 0, "index": 0, "count": 3}}, np.s_[0:100, :]),  # a row-parallel shard
        ({"shard": {"axis": -1, "index": 1, "count": 5}}, np.s_[:, 100:200]),
    ],
    ids=["slice", "last-row", "column-shard", "row-shard", "negative-axis"],
)
def test_a_part_equals_the_same_slice_of_the_whole(
    client: TestClient, stream: str, part: dict[str, Any], index: Any
) -> None:
    whole = npy(client, body_for(stream))
    assert np.array_equal(npy(client, body_for(stream, **part)), whole[index])


def raw_tensor(file: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """The one tensor of a safetensors file (safetensors.numpy cannot load BF16)."""
    header = int.from_bytes(file[:8], "little")
    return np.frombuffer(file[8 + header :], dtype=numpy_dtype(dtype)).reshape(shape)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_every_dtype_and_format(client: TestClient, dtype: str) -> None:
    body = {"shape": [64, 40, 3], "init": {"scheme": "glorot"}, "seed": 2, "dtype": dtype}
    part = {**body, "slice": [[5, 60], [0, 40], [1, 3]]}
    whole = raw_tensor(client.post("/v1/tensors/safetensors", json=body).content, dtype, (64, 40, 3))
    served = raw_tensor(client.post("/v1/tensors/safetensors", json=part).content, dtype, (55, 40, 2))
    assert served.tobytes() == whole[5:60, :, 1:3].tobytes()
    answer = client.post("/v1/tensors", json=part).json()
    assert answer["shape"] == [55, 40, 2] and answer["full_shape"] == [64, 40, 3]
    assert answer["slice"] == [[5, 60], [0, 40], [1, 3]]
    assert np.asarray(answer["data"], dtype=np.float64).astype(numpy_dtype(dtype)).tobytes() == served.tobytes()


def test_the_statistics_describe_what_was_served(client: TestClient) -> None:
    body = {"shape": [1000, 1000], "init": {"scheme": "he"}, "seed": 4, "shard": {"axis": 1, "index": 0, "count": 10}}
    stats = client.post("/v1/tensors/stats", json=body).json()
    assert stats["stats"]["empirical"]["count"] == 100_000
    assert stats["fan_in"] == 1000  # the full tensor's fans, hence its distribution
    assert abs(stats["stats"]["variance_z"]) < 5


def test_model_entries_take_shards(client: TestClient) -> None:
    """Each rank of a tensor-parallel job fetches its shards of one global model."""
    entries = [
        {"name": "up", "shape": [512, 128], "init": {"scheme": "he"}, "shard": {"axis": 1, "index": 2, "count": 4}},
        {"name": "down", "shape": [128, 512], "init": {"scheme": "he"}, "shard": {"axis": 0, "index": 2, "count": 4}},
    ]
    for stream in ("initserve-1", "jax", "torch"):
        sharded = {"entries": entries, "seed": 9, "stream": stream}
        whole = {
            "entries": [{k: v for k, v in e.items() if k != "shard"} for e in entries],
            "seed": 9,
            "stream": stream,
        }
        part = safetensors_numpy.load(client.post("/v1/models/safetensors", json=sharded).content)
        full = safetensors_numpy.load(client.post("/v1/models/safetensors", json=whole).content)
        assert np.array_equal(part["up"], full["up"][:, 64:96]), stream
        assert np.array_equal(part["down"], full["down"][64:96, :]), stream
    manifest = client.post("/v1/models/stats", json={"entries": entries, "seed": 9}).json()
    up = next(t for t in manifest["tensors"] if t["name"] == "up")
    assert up["shape"] == [512, 32] and up["full_shape"] == [512, 128] and up["slice"] == [[0, 512], [64, 96]]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slice": [[-1, 5]]}, "slice.0"),
        ({"slice": [[0, 10], [7, 7]]}, "slice.1"),  # empty
        ({"slice": [[0, 10], [9, 3]]}, "slice.1"),  # reversed
        ({"slice": [[0, 301]]}, "slice.0"),  # out of range
        ({"slice": [[0, 1], [0, 1], [0, 1]]}, "slice"),  # more bounds than dimensions
        ({"shard": {"axis": 1, "index": 0, "count": 3}}, "shard"),  # 3 does not divide 500
        ({"shard": {"axis": 0, "index": 3, "count": 3}}, "shard.index"),
        ({"shard": {"axis": 2, "index": 0, "count": 1}}, "shard.axis"),
        ({"slice": [[0, 1]], "shard": {"axis": 0, "index": 0, "count": 1}}, "shard"),
    ],
    ids=["negative", "empty", "reversed", "out-of-range", "too-many", "count", "index", "axis", "both"],
)
def test_bad_bounds_are_a_422_naming_the_dimension(client: TestClient, fields: dict[str, Any], field: str) -> None:
    response = client.post("/v1/tensors/npy", json=body_for("initserve-1", **fields))
    assert response.status_code == 422, response.text
    assert problem_of(response)["field"] == field
