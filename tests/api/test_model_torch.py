"""Issue 6 parity over HTTP: a small PyTorch model asked of the service by its presets loads into the real
``nn.Module`` with ``load_state_dict(strict=True)``, and every tensor's statistics agree with PyTorch's own
default init (a freshly built module, ``torch.manual_seed`` fixed).

The layers are large enough for the statistics to mean something: Linear(1024, 512), Conv2d(64, 128, 3),
LSTM(256, 256), Embedding(20000, 64, padding_idx=3), LayerNorm(512) and BatchNorm2d(128) (whose
``num_batches_tracked`` is a 0-D int64). The variances of ours and of torch's agree within 5 standard
errors of their difference, each standard error from the tensor's own fourth central moment,
SE(s^2) = sqrt((m4 - s^4) / n) (as the service's ``variance_z``); the means within 5 standard errors too;
a bounded init's max |w| is at most torch's bound 1/sqrt(fan_in) and within 20/n of it (the max of n
|U(-b, b)| falls below b (1 - t) with probability (1 - t)^n, e^-20 for t = 20/n); constant tensors equal
torch's exactly; the embedding's padding row is exactly zero.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from .helpers import app_client

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
nn = torch.nn

pytestmark = pytest.mark.torch

PADDING_IDX = 3
Z = 5.0  # standard errors allowed (two-sided p ~ 6e-7 per comparison; some 20 comparisons)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(1024, 512)
        self.conv = nn.Conv2d(64, 128, 3)
        self.lstm = nn.LSTM(256, 256)
        self.embed = nn.Embedding(20000, 64, padding_idx=PADDING_IDX)
        self.norm = nn.LayerNorm(512)
        self.bn = nn.BatchNorm2d(128)


ENTRIES: list[dict[str, Any]] = [
    {"preset": "torch.Linear", "prefix": "fc1", "in_features": 1024, "out_features": 512},
    {"preset": "torch.Conv2d", "prefix": "conv", "in_channels": 64, "out_channels": 128, "kernel_size": 3},
    {"preset": "torch.LSTM", "prefix": "lstm", "input_size": 256, "hidden_size": 256},
    {
        "preset": "torch.Embedding",
        "prefix": "embed",
        "num_embeddings": 20000,
        "embedding_dim": 64,
        "padding_idx": PADDING_IDX,
    },
    {"preset": "torch.LayerNorm", "prefix": "norm", "normalized_shape": 512},
    {"preset": "torch.BatchNorm2d", "prefix": "bn", "num_features": 128},
]

#: torch's bound of each uniform tensor: 1/sqrt(fan_in) of the Linear/Conv weight, 1/sqrt(hidden) of the LSTM.
BOUNDS: dict[str, float] = {
    "fc1.weight": 1 / math.sqrt(1024),
    "fc1.bias": 1 / math.sqrt(1024),
    "conv.weight": 1 / math.sqrt(64 * 3 * 3),
    "conv.bias": 1 / math.sqrt(64 * 3 * 3),
    **{f"lstm.{p}_l0": 1 / math.sqrt(256) for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
}
CONSTANT = {f"norm.{p}" for p in ("weight", "bias")} | {
    f"bn.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
}


def request(dtype: str = "float32") -> dict[str, Any]:
    return {"entries": ENTRIES, "seed": 2026, "dtype": dtype}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with app_client() as c:
        yield c


@pytest.fixture(scope="module")
def answer(client: TestClient) -> bytes:
    response = client.post("/v1/models/safetensors", json=request())
    assert response.status_code == 200, response.text[:500]
    return response.content


@pytest.fixture(scope="module")
def ours(answer: bytes) -> dict[str, Any]:
    return safetensors_torch.load(answer)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """PyTorch's own default init of the same module."""
    torch.manual_seed(0)
    return Net().state_dict()


def moments(t: Any) -> tuple[int, float, float, float]:
    """(n, mean, variance, fourth central moment) in float64."""
    x = t.detach().to(torch.float64).reshape(-1)
    mean = x.mean()
    d = x - mean
    return x.numel(), float(mean), float((d * d).mean()), float((d**4).mean())


def test_the_answer_loads_into_the_module_strictly(ours: dict[str, Any], reference: dict[str, Any]) -> None:
    module = Net()
    result = module.load_state_dict(ours, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(ours) == set(reference)
    for name, tensor in reference.items():
        assert ours[name].shape == tensor.shape, name
        assert ours[name].dtype == tensor.dtype, name
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, ours[name]), name


@pytest.mark.parametrize("name", sorted(set(BOUNDS) | {"embed.weight"}))
def test_statistics_agree_with_torchs_default_init(ours: dict[str, Any], reference: dict[str, Any], name: str) -> None:
    mine, theirs = ours[name], reference[name]
    if name == "embed.weight":  # N(0, 1) with the padding row zero, in both
        assert torch.count_nonzero(mine[PADDING_IDX]) == 0
        assert torch.count_nonzero(theirs[PADDING_IDX]) == 0
        mask = torch.ones(mine.shape[0], dtype=torch.bool)
        mask[PADDING_IDX] = False
        # no other row is zero (a single 0.0 is a normal draw: float32 samplers give one in about 7 million)
        assert torch.all(torch.count_nonzero(mine[mask], dim=1) > 0)
        mine, theirs = mine[mask], theirs[mask]
    n1, mean1, var1, m4_1 = moments(mine)
    n2, mean2, var2, m4_2 = moments(theirs)
    se_var = math.sqrt((m4_1 - var1**2) / n1 + (m4_2 - var2**2) / n2)
    se_mean = math.sqrt(var1 / n1 + var2 / n2)
    print(f"{name}: n {n1}, variance ours {var1:.6g} torch {var2:.6g} (z {(var1 - var2) / se_var:+.2f})")
    assert abs(var1 - var2) <= Z * se_var, (name, var1, var2, se_var)
    assert abs(mean1 - mean2) <= Z * se_mean, (name, mean1, mean2, se_mean)
    if name in BOUNDS:
        bound = torch.tensor(BOUNDS[name], dtype=torch.float32)  # a float32 product never rounds past it
        top = mine.abs().max()
        assert top <= bound and theirs.abs().max() <= bound, (name, float(top), float(bound))
        assert float(top) >= float(bound) * (1 - 20 / n1), (name, float(top), float(bound))
        # the fourth moment of U(-b, b) is b^4 / 5 (the shape, not only the scale, is torch's); x^4 has the
        # standard deviation b^4 sqrt(1/9 - 1/25), so the relative standard error is 1.34 / sqrt(n)
        assert m4_1 == pytest.approx(BOUNDS[name] ** 4 / 5, rel=Z * 1.34 / math.sqrt(n1))
    else:
        assert float(mine.abs().max()) > 4.0  # unbounded normal: 1.28M draws reach past 4 sigma
        # N(0, 1): m4 = 3, and x^4 has the standard deviation sqrt(105 - 9), a relative SE of 3.27 / sqrt(n)
        assert m4_1 == pytest.approx(3.0, rel=Z * 3.27 / math.sqrt(n1))


@pytest.mark.parametrize("name", sorted(CONSTANT))
def test_constant_tensors_equal_torchs_exactly(ours: dict[str, Any], reference: dict[str, Any], name: str) -> None:
    assert ours[name].dtype == reference[name].dtype
    assert torch.equal(ours[name], reference[name]), name


def test_num_batches_tracked_is_a_0d_int64_zero(ours: dict[str, Any]) -> None:
    tensor = ours["bn.num_batches_tracked"]
    assert tensor.dtype == torch.int64 and tensor.shape == () and int(tensor) == 0


def test_bfloat16_loads_into_the_module_in_bfloat16(client: TestClient, ours: dict[str, Any]) -> None:
    response = client.post("/v1/models/safetensors", json=request("bfloat16"))
    assert response.status_code == 200, response.text[:500]
    state = safetensors_torch.load(response.content)
    module = Net().to(torch.bfloat16)
    module.load_state_dict(state, strict=True)
    for name, tensor in module.state_dict().items():
        expected = torch.int64 if name == "bn.num_batches_tracked" else torch.bfloat16
        assert state[name].dtype == tensor.dtype == expected, name
        assert state[name].shape == tensor.shape, name
        assert torch.equal(tensor, state[name]), name
    for name, bound in BOUNDS.items():
        assert state[name].abs().max() <= torch.tensor(bound).to(torch.bfloat16), name
        _, _, var16, _ = moments(state[name])
        _, _, var32, _ = moments(ours[name])
        assert var16 == pytest.approx(var32, rel=0.02), name  # the same draws, each within 2^-8 of itself
    for name in CONSTANT:
        assert torch.equal(state[name].to(torch.float64), ours[name].to(torch.float64)), name
    assert torch.count_nonzero(state["embed.weight"][PADDING_IDX]) == 0


def safetensors_metadata(answer: bytes) -> dict[str, Any]:
    (size,) = struct.unpack("<Q", answer[:8])
    return json.loads(answer[8 : 8 + size])["__metadata__"]


def test_the_manifest_agrees_with_the_safetensors_metadata(
    client: TestClient, answer: bytes, ours: dict[str, Any]
) -> None:
    response = client.post("/v1/models/stats", json=request())
    assert response.status_code == 200, response.text[:500]
    manifest = response.json()
    assert manifest["seed"] == 2026
    metadata = safetensors_metadata(answer)
    assert json.loads(metadata["request"])["seed"] == 2026
    in_file = {t["name"]: t for t in json.loads(metadata["tensors"])}
    listed = {t["name"]: t for t in manifest["tensors"]}
    assert set(listed) == set(in_file) == set(ours)
    for name, tensor in listed.items():
        other = in_file[name]
        for key in ("shape", "dtype", "seed", "init", "requested_init", "layout", "fan_in", "preset", "entry"):
            assert tensor[key] == other[key], (name, key, tensor[key], other[key])
        assert tuple(tensor["shape"]) == tuple(ours[name].shape), name
        empirical, stored = tensor["stats"]["empirical"], other["stats"]["empirical"]
        assert stored is not None, name  # a 9 MiB file is made before it is sent: empirical statistics
        assert empirical["count"] == stored["count"] == ours[name].numel(), name
        assert (empirical["min"], empirical["max"]) == (stored["min"], stored["max"]), name
        assert empirical["variance"] == pytest.approx(stored["variance"], rel=1e-9, abs=1e-300), name
        values = ours[name].to(torch.float64).numpy()
        assert empirical["max"] == float(np.max(values)) and empirical["min"] == float(np.min(values)), name
