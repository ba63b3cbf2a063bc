"""``"stream": "torch"`` over HTTP: the served bytes are PyTorch 2.13.0's after ``torch.manual_seed(seed)``.

The kernels are tested against torch in ``tests/streams``; here the whole path (request, resolver, plan,
engine, encoders) is: single tensors in every format, canonical schemes through torch's function of the
same meaning, models drawn from one generator in entry order, ``torch-default`` against torch run with
``ATEN_CPU_CAPABILITY=default``, and golden hashes that pin both streams.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import REPO, load_npy, problem_of

torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.torch


def served(client: TestClient, body: dict[str, Any]) -> np.ndarray:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["X-Init-Stream"] == body.get("stream", "initserve-1")
    return load_npy(response.content)


def torch_made(seed: int, shape: tuple[int, ...], make: Callable[[Any], Any], dtype: Any = None) -> np.ndarray:
    torch.manual_seed(seed)
    tensor = make(torch.empty(shape, dtype=dtype or torch.float32))
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy()
    return tensor.numpy()


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


init = torch.nn.init

# (request fields, shape, the torch call that must make the same bits)
SINGLE = [
    (
        {"init": {"scheme": "torch.kaiming_uniform_", "a": 5**0.5}},
        (256, 784),
        lambda t: init.kaiming_uniform_(t, a=5**0.5),
    ),
    (
        {"init": {"scheme": "torch.kaiming_normal_", "mode": "fan_out"}},
        (64, 3, 3, 3),
        lambda t: init.kaiming_normal_(t, mode="fan_out"),
    ),
    ({"init": {"scheme": "torch.xavier_normal_"}}, (17, 3), init.xavier_normal_),
    ({"init": {"scheme": "torch.normal_", "std": 0.02}}, (5, 7), lambda t: init.normal_(t, std=0.02)),
    ({"init": {"scheme": "torch.trunc_normal_", "std": 0.02}}, (300, 40), lambda t: init.trunc_normal_(t, std=0.02)),
    ({"init": {"scheme": "torch.sparse_", "sparsity": 0.3}}, (40, 30), lambda t: init.sparse_(t, sparsity=0.3)),
    # canonical schemes in torch layout: exactly the torch function of the same meaning
    ({"init": {"scheme": "he"}}, (256, 784), init.kaiming_normal_),
    (
        {"init": {"scheme": "he", "distribution": "uniform", "negative_slope": 0.2}},
        (32, 16, 3),
        lambda t: init.kaiming_uniform_(t, a=0.2),
    ),
    ({"init": {"scheme": "glorot"}}, (100, 50), init.xavier_uniform_),
    (
        {"init": {"scheme": "lecun", "distribution": "uniform"}},
        (100, 50),
        lambda t: init.kaiming_uniform_(t, nonlinearity="linear"),
    ),
    ({"init": {"scheme": "uniform", "low": -0.5, "high": 2.0}}, (9,), lambda t: init.uniform_(t, -0.5, 2.0)),
    ({"init": {"scheme": "identity"}}, (5, 8), init.eye_),
]


@pytest.mark.parametrize(("fields", "shape", "make"), SINGLE, ids=[str(f["init"]) for f, _, _ in SINGLE])
@pytest.mark.parametrize("seed", [0, 2**32 + 5])
def test_a_tensor_is_torchs_after_manual_seed(
    client: TestClient, fields: dict[str, Any], shape: tuple[int, ...], make: Callable[[Any], Any], seed: int
) -> None:
    body = {"shape": list(shape), "layout": "torch", "seed": seed, "stream": "torch", **fields}
    assert same_bits(served(client, body), torch_made(seed, shape, make))


def test_seeds_alias_their_low_32_bits_as_torch_manual_seed_does(client: TestClient) -> None:
    body = {"shape": [40, 3], "layout": "torch", "init": {"scheme": "he"}, "stream": "torch"}
    assert same_bits(served(client, {**body, "seed": 2**32 + 9}), served(client, {**body, "seed": 9}))


def test_another_layout_is_torchs_sampler_with_that_layouts_fans(client: TestClient) -> None:
    # keras (in, out) = (784, 256): fan_in 784, as torch's (256, 784); the numbers fill the keras shape
    keras = served(client, {"shape": [784, 256], "init": {"scheme": "he"}, "seed": 3, "stream": "torch"})
    flat = torch_made(3, (256, 784), init.kaiming_normal_).reshape(-1)
    assert same_bits(keras.reshape(-1), flat)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_torchs(client: TestClient, dtype: str) -> None:
    body = {"shape": [100, 30], "layout": "torch", "init": {"scheme": "he"}, "seed": 11, "stream": "torch"}
    response = client.post("/v1/tensors/safetensors", json={**body, "dtype": dtype})
    assert response.status_code == 200, response.text
    header_size = int.from_bytes(response.content[:8], "little")
    raw = response.content[8 + header_size :]
    expected = torch_made(11, (100, 30), init.kaiming_normal_, getattr(torch, dtype))
    assert raw == expected.tobytes()


def test_every_format_serves_the_same_bits(client: TestClient) -> None:
    body = {"shape": [33, 20], "layout": "torch", "init": {"scheme": "glorot"}, "seed": 5, "stream": "torch"}
    npy = served(client, body)
    answer = client.post("/v1/tensors", json=body).json()
    assert answer["stream"] == "torch" and answer["stream_version"] == "2.13.0"
    assert same_bits(np.asarray(answer["data"], dtype=np.float32).reshape(33, 20), npy)
    tensors = safetensors_numpy.load(client.post("/v1/tensors/safetensors", json=body).content)
    assert same_bits(tensors["tensor"], npy)


def test_a_model_is_its_modules_built_in_entry_order(client: TestClient) -> None:
    entries = [
        {"preset": "torch.Linear", "prefix": "fc", "in_features": 30, "out_features": 20},
        {"preset": "torch.LSTM", "prefix": "rnn", "input_size": 8, "hidden_size": 6, "num_layers": 2},
        {"preset": "torch.Embedding", "prefix": "emb", "num_embeddings": 50, "embedding_dim": 4, "padding_idx": 0},
        {"preset": "torch.MultiheadAttention", "prefix": "attn", "embed_dim": 8, "num_heads": 2},
        {"name": "head", "shape": [5, 20], "init": {"scheme": "glorot"}, "layout": "torch"},
        {"preset": "torch.LayerNorm", "prefix": "norm", "normalized_shape": 20},
    ]
    body = {"entries": entries, "seed": 123, "stream": "torch"}
    response = client.post("/v1/models/safetensors", json=body)
    assert response.status_code == 200, response.text
    served_tensors = safetensors_numpy.load(response.content)

    torch.manual_seed(123)
    modules = {
        "fc": torch.nn.Linear(30, 20),
        "rnn": torch.nn.LSTM(8, 6, num_layers=2),
        "emb": torch.nn.Embedding(50, 4, padding_idx=0),
        "attn": torch.nn.MultiheadAttention(8, 2),
    }
    head = init.xavier_uniform_(torch.empty(5, 20))
    modules["norm"] = torch.nn.LayerNorm(20)
    expected = {f"{p}.{k}": v.detach().numpy() for p, m in modules.items() for k, v in m.state_dict().items()}
    expected["head"] = head.numpy()
    assert set(served_tensors) == set(expected)
    differing = [name for name in expected if not same_bits(served_tensors[name], expected[name])]
    assert differing == []

    manifest = client.post("/v1/models/stats", json=body).json()
    assert manifest["shared_generator"] is True and manifest["stream"] == "torch"
    assert {t["seed"] for t in manifest["tensors"]} == {123}


def _default_build(code: str) -> bytes:
    """Raw bytes printed (hex) by torch run with ATEN_CPU_CAPABILITY=default in a fresh process."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return bytes.fromhex(done.stdout.strip())


def test_torch_default_is_torch_run_with_the_default_kernels(client: TestClient) -> None:
    body = {"shape": [100, 37], "layout": "torch", "init": {"scheme": "he"}, "seed": 21, "stream": "torch-default"}
    code = (
        "import torch; torch.manual_seed(21); "
        "print(torch.nn.init.kaiming_normal_(torch.empty(100, 37)).numpy().tobytes().hex())"
    )
    default = served(client, body)
    assert default.tobytes() == _default_build(code)
    avx = served(client, {**body, "stream": "torch"})
    assert not same_bits(default, avx), "the two builds differ on about a third of normal values"


# SHA-256 of the tensor's bytes: pins the streams (a change is a new stream version, announced). Each was
# computed from torch 2.13.0 itself (ATEN_CPU_CAPABILITY=avx2, resp. default), manual_seed(42), then
# kaiming_normal_ / xavier_uniform_ on a (256, 784) float32 tensor.
GOLDEN = {
    ("torch", "he"): "d1a74dc2109c7bf09a615cc9495638f01cb06fdd1f81febae342a0959ae578cd",
    ("torch", "glorot"): "486b8a5c85d20180f9a9e13e14e95c73ab6f2378a9ff3623b45656370954089a",
    ("torch-default", "he"): "0c6463f430d0e6931e85efbedce2efd7c2ece6abd51620233d0ddbe9b3b2da44",
    ("torch-default", "glorot"): "cfc7a4cbc4e4744d4fa591b3b71eeae4229c869ceb535695ba1ca2cebce1ff84",
}


@pytest.mark.parametrize(("stream", "scheme"), sorted(GOLDEN))
def test_golden_hashes(client: TestClient, stream: str, scheme: str) -> None:
    body = {"shape": [256, 784], "layout": "torch", "init": {"scheme": scheme}, "seed": 42, "stream": stream}
    digest = hashlib.sha256(served(client, body).tobytes()).hexdigest()
    assert digest == GOLDEN[(stream, scheme)]


def test_what_torch_cannot_express_is_a_422_naming_stream(client: TestClient) -> None:
    body = {"shape": [3, 4, 4], "init": {"scheme": "delta_orthogonal"}, "seed": 1, "stream": "torch"}
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 422
    assert problem_of(response)["field"] == "stream"


def test_an_unknown_stream_is_a_422_listing_the_streams(client: TestClient) -> None:
    response = client.post("/v1/tensors/npy", json={"shape": [4], "init": {"scheme": "zeros"}, "stream": "pytorch"})
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["field"] == "stream"
    assert "torch-default" in problem["detail"] and "initserve-1" in problem["detail"]


def test_the_readme_example_is_torchs(client: TestClient, tmp_path: Any) -> None:
    """docs/streams.md "Same numbers as PyTorch": its curl request, saved as w.npy, passes its Python check."""
    readme = (REPO / "docs" / "streams.md").read_text()
    section = readme.split("## Same numbers as PyTorch", 1)[1].split("\n## ", 1)[0]
    curl = section.split("```bash\n", 1)[1].split("```", 1)[0]
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    check = section.split("```python\n", 1)[1].split("```", 1)[0]
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    (tmp_path / "w.npy").write_bytes(response.content)
    subprocess.run([sys.executable, "-c", check], cwd=tmp_path, check=True, timeout=120)


def test_start_up_warms_every_stream_kernel() -> None:
    """The background warm-up the service runs at start-up (INITSERVE_WARM_STREAMS) draws with every
    kernel of the framework streams without an error."""
    from service.core.streams.warm import warm

    warm()
