"""``"stream": "jax" | "keras" | "flax"`` over HTTP: the served bytes are JAX 0.10.2's, Keras 3.15.1's
(JAX backend) and Flax 0.12.8's.

The kernels and initializers are tested against the frameworks in ``tests/streams``; here the whole
path (request, resolver, plan, chunked engine, encoders) is, with golden hashes computed from JAX itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import REPO, load_npy, problem_of

os.environ.setdefault("KERAS_BACKEND", "jax")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
nn = pytest.importorskip("flax.linen")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.jax

inits = jax.nn.initializers


@pytest.fixture(scope="module")
def keras() -> Any:
    """Keras (JAX backend), imported by the tests that use it: collecting this module (every xdist worker does)
    does not import it (about 2 CPU-seconds)."""
    return pytest.importorskip("keras")


def served(client: TestClient, body: dict[str, Any]) -> np.ndarray:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["X-Init-Stream"] == body["stream"]
    return load_npy(response.content)


def same_bits(ours: np.ndarray, theirs: Any) -> bool:
    theirs = np.asarray(theirs)
    return ours.shape == theirs.shape and ours.tobytes() == theirs.tobytes()


def test_jax_initializers_are_jaxs(client: TestClient) -> None:
    key = jax.random.key(5)
    cases = [
        ({"init": {"scheme": "jax.he_normal"}, "layout": "jax"}, inits.he_normal()),
        ({"init": {"scheme": "jax.glorot_uniform"}, "layout": "jax"}, inits.glorot_uniform()),
        ({"init": {"scheme": "jax.normal", "stddev": 0.02}, "layout": "jax"}, inits.normal(0.02)),
        # canonical schemes: variance_scaling with the request's fans (jax layout: JAX's defaults)
        ({"init": {"scheme": "he"}}, inits.variance_scaling(2.0, "fan_in", "normal")),
        ({"init": {"scheme": "glorot"}}, inits.variance_scaling(1.0, "fan_avg", "uniform")),
        ({"init": {"scheme": "lecun", "distribution": "truncated_normal"}}, inits.lecun_normal()),
    ]
    for fields, initializer in cases:
        body = {"shape": [784, 256], "seed": 5, "stream": "jax", **fields}
        assert same_bits(served(client, body), initializer(key, (784, 256), jnp.float32)), fields


def test_keras_initializers_are_keras(client: TestClient, keras: Any) -> None:
    cases = [
        ({"scheme": "keras.HeNormal"}, keras.initializers.HeNormal(seed=11)),
        ({"scheme": "keras.GlorotUniform"}, keras.initializers.GlorotUniform(seed=11)),
        ({"scheme": "keras.RandomNormal", "stddev": 0.5}, keras.initializers.RandomNormal(stddev=0.5, seed=11)),
        ({"scheme": "glorot"}, keras.initializers.GlorotUniform(seed=11)),  # the class of the same meaning
    ]
    for init, initializer in cases:
        body = {"shape": [3, 3, 16, 32], "init": init, "seed": 11, "stream": "keras"}
        assert same_bits(served(client, body), initializer((3, 3, 16, 32), "float32")), init


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_is_jaxs(client: TestClient, dtype: str) -> None:
    body = {"shape": [300, 70], "layout": "jax", "init": {"scheme": "jax.lecun_normal"}, "seed": 2, "stream": "jax"}
    response = client.post("/v1/tensors/safetensors", json={**body, "dtype": dtype})
    assert response.status_code == 200, response.text
    header_size = int.from_bytes(response.content[:8], "little")
    expected = inits.lecun_normal()(jax.random.key(2), (300, 70), getattr(jnp, dtype))
    assert response.content[8 + header_size :] == np.asarray(expected).tobytes()


def test_every_format_and_thread_count_serves_the_same_bits(client: TestClient) -> None:
    # 1.2 M elements: 19 chunks, made on two threads in any order
    body = {"shape": [1200, 1000], "init": {"scheme": "he"}, "seed": 8, "stream": "jax"}
    npy = served(client, body)
    assert same_bits(npy, inits.variance_scaling(2.0, "fan_in", "normal")(jax.random.key(8), (1200, 1000)))
    small = {**body, "shape": [40, 30]}
    answer = client.post("/v1/tensors", json=small).json()
    assert answer["stream"] == "jax" and answer["stream_version"] == "0.10.2"
    tensors = safetensors_numpy.load(client.post("/v1/tensors/safetensors", json=small).content)
    assert same_bits(np.asarray(answer["data"], dtype=np.float32).reshape(40, 30), tensors["tensor"])
    assert same_bits(served(client, small), tensors["tensor"])


class _Mlp(nn.Module):
    @nn.compact
    def __call__(self, x: Any) -> Any:
        x = nn.Conv(8, (3, 3))(x)
        x = nn.Dense(16)(x)
        return nn.Dense(4, use_bias=False)(x)


def test_a_flax_model_is_module_init(client: TestClient) -> None:
    params = _Mlp().init(jax.random.key(3), jnp.ones((1, 5, 5, 2)))["params"]
    entries = [
        {"preset": "flax.Conv", "prefix": "Conv_0", "in_features": 2, "features": 8, "kernel_size": [3, 3]},
        {"preset": "flax.Dense", "prefix": "Dense_0", "in_features": 8, "features": 16},
        {"preset": "flax.Dense", "prefix": "Dense_1", "in_features": 16, "features": 4, "use_bias": False},
    ]
    response = client.post("/v1/models/safetensors", json={"entries": entries, "seed": 3, "stream": "flax"})
    assert response.status_code == 200, response.text
    ours = safetensors_numpy.load(response.content)
    expected = {f"{module}.{name}": value for module, group in params.items() for name, value in group.items()}
    assert set(ours) == set(expected)
    assert [name for name in expected if not same_bits(ours[name], expected[name])] == []


def test_a_keras_model_tensor_is_the_single_request_with_its_manifest_seed(client: TestClient, keras: Any) -> None:
    body = {"entries": [{"preset": "keras.Dense", "prefix": "d", "input_dim": 20, "units": 10}], "seed": 4}
    manifest = client.post("/v1/models/stats", json={**body, "stream": "keras"}).json()
    kernel = next(t for t in manifest["tensors"] if t["name"] == "d.kernel")
    assert 0 <= kernel["seed"] < 2**32  # Keras takes 32-bit seeds
    model = safetensors_numpy.load(client.post("/v1/models/safetensors", json={**body, "stream": "keras"}).content)
    expected = keras.initializers.GlorotUniform(seed=kernel["seed"])((20, 10), "float32")
    assert same_bits(model["d.kernel"], expected)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shape": [4, 4], "init": {"scheme": "he"}, "stream": "jax", "dtype": "float64"}, "dtype"),
        ({"shape": [4, 4], "init": {"scheme": "he"}, "stream": "keras", "seed": 2**32}, "seed"),
        (
            {"shape": [4, 4], "init": {"scheme": "sparse", "sparsity": 0.5}, "layout": "torch", "stream": "jax"},
            "stream",
        ),
    ],
    ids=["jax-float64", "keras-seed-over-32-bits", "jax-dirac"],
)
def test_what_the_framework_cannot_make_is_a_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 422, response.text
    assert problem_of(response)["field"] == field


def test_a_flax_model_takes_only_flax_layers(client: TestClient) -> None:
    entries = [{"name": "w", "shape": [4, 4], "init": {"scheme": "he"}}]
    response = client.post("/v1/models/safetensors", json={"entries": entries, "seed": 1, "stream": "flax"})
    assert response.status_code == 422
    assert problem_of(response)["field"] == "stream"


# SHA-256 of the tensor's bytes, computed from JAX 0.10.2 / Keras 3.15.1 themselves (key 42, (256, 784) float32):
# jax.nn.initializers.he_normal(), glorot_uniform(); keras.initializers.HeNormal(seed=42), GlorotUniform(seed=42).
GOLDEN = {
    ("jax", "jax.he_normal"): "217c103681c43602a142196b62973ae0ebc42be6cdeb0acb93555c27840ff5bf",
    ("jax", "jax.glorot_uniform"): "c5191924e6d6c966f4cfe1145cd18868f99187d0fcde4f733b7e5aa328e09f0c",
    ("keras", "keras.HeNormal"): "02b85a3b83018b456947c5dec5e87be1b250df776e06ea815a5ebcf9a7ae628d",
    ("keras", "keras.GlorotUniform"): "0219d5edebcbf7c7af678e8b6743d3de720b4cf32ee106a8ffcb1d1eee35290a",
}


@pytest.mark.parametrize(("stream", "scheme"), sorted(GOLDEN))
def test_golden_hashes(client: TestClient, stream: str, scheme: str) -> None:
    body = {"shape": [256, 784], "init": {"scheme": scheme}, "seed": 42, "stream": stream}
    if stream == "jax":
        body["layout"] = "jax"
    digest = hashlib.sha256(served(client, body).tobytes()).hexdigest()
    assert digest == GOLDEN[(stream, scheme)]


def test_the_readme_example_is_jaxs(client: TestClient, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/streams.md "Same numbers as JAX, Keras and Flax": its curl request, saved as w.npy, passes its check,
    run as a script of its own (empty globals: it imports what it uses) in this process, whose JAX has compiled
    the same call already (a child process would import JAX and compile it again)."""
    readme = (REPO / "docs" / "streams.md").read_text()
    section = readme.split("## Same numbers as JAX, Keras and Flax", 1)[1].split("\n## ", 1)[0]
    curl = section.split("```bash\n", 1)[1].split("```", 1)[0]
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    check = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "w.npy").write_bytes(client.post("/v1/tensors/npy", json=body).content)
    monkeypatch.chdir(tmp_path)
    exec(compile(check, "docs/streams.md", "exec"), {"__name__": "__main__"})
