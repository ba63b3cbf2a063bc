"""``service.core.streams.jax.flax`` against Flax linen 0.12.8 itself: ``Module.init(jax.random.key(seed), x)
['params']`` equals ours bit for bit (nn.Dense, an MLP of 3 Dense, a Conv + Dense, an Embed).

Our params are drawn through ``jax.random`` behind the ``RandomBackend``/``FoldIn`` protocols (``JaxRandom``)
and, once it imports, ``service.core.streams.jax.random``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from service.core.streams.jax.flax import flax_params, param_key, static_hash
from tests.streams.conftest import JaxRandom

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
nn: Any = pytest.importorskip("flax.linen")

pytestmark = [pytest.mark.jax, pytest.mark.usefixtures("jax_compilation_cache")]

SEEDS = (0, 7, 2**31 + 1)


# -- models -------------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Three Dense layers (Dense_0, Dense_1, Dense_2)."""

    @nn.compact
    def __call__(self, x: Any) -> Any:
        x = nn.relu(nn.Dense(64)(x))
        x = nn.relu(nn.Dense(32, use_bias=False)(x))
        return nn.Dense(10)(x)


class ConvNet(nn.Module):
    """A Conv then a Dense (Conv_0, Dense_0)."""

    @nn.compact
    def __call__(self, x: Any) -> Any:
        x = nn.Conv(16, (3, 3))(x)
        return nn.Dense(64)(x.reshape((x.shape[0], -1)))


#: (label, module, input, our layers, top_level). Each Dense kernel is (784, 64), MLP's first: Flax's eager init
#: compiles one XLA program per (function, shape), about a CPU-second for each sampler, and the keys and names
#: under test do not depend on the shapes.
MODELS: list[tuple[str, Any, Any, list[tuple[str, Mapping[str, Any]]], bool]] = [
    (
        "Dense",
        nn.Dense(64),
        np.ones((1, 784), np.float32),
        [("flax.Dense", {"features": 64, "in_features": 784})],
        True,
    ),
    (
        "MLP",
        MLP(),
        np.ones((1, 784), np.float32),
        [
            ("flax.Dense", {"features": 64, "in_features": 784}),
            ("flax.Dense", {"features": 32, "in_features": 64, "use_bias": False}),
            ("flax.Dense", {"features": 10, "in_features": 32}),
        ],
        False,
    ),
    (
        "Conv+Dense",
        ConvNet(),
        np.ones((1, 7, 7, 3), np.float32),
        [
            ("flax.Conv", {"features": 16, "kernel_size": [3, 3], "in_features": 3}),
            ("flax.Dense", {"features": 64, "in_features": 7 * 7 * 16}),
        ],
        False,
    ),
    (
        "Embed",
        nn.Embed(1000, 64),
        np.array([1, 2, 3], np.int32),
        [("flax.Embed", {"num_embeddings": 1000, "features": 64})],
        True,
    ),
]


def _flatten(params: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    flat: dict[tuple[str, ...], np.ndarray] = {}
    for name, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, (*prefix, name)))
        else:
            flat[(*prefix, name)] = np.asarray(value)
    return flat


_THEIRS: dict[tuple[str, int], dict[tuple[str, ...], np.ndarray]] = {}


def _theirs(label: str, module: Any, x: Any, seed: int) -> dict[tuple[str, ...], np.ndarray]:
    """Flax's own ``module.init(jax.random.key(seed), x)['params']``, flattened: made once per model and seed,
    then compared with both backends."""
    if (label, seed) not in _THEIRS:
        _THEIRS[label, seed] = _flatten(module.init(jax.random.key(seed), x)["params"])
    return _THEIRS[label, seed]


@pytest.mark.parametrize(
    ("label", "module", "x", "layers", "top_level"), MODELS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_flax_init_params_bit_exact(
    label: str, module: Any, x: Any, layers: list[tuple[str, Mapping[str, Any]]], top_level: bool, rng: Any
) -> None:
    for seed in SEEDS:
        theirs = _theirs(label, module, x, seed)
        ours = flax_params(layers, rng.key(seed), top_level=top_level, rng=rng)
        assert [(*p.path, p.name) for p in ours] == list(theirs), label
        for p in ours:
            value = p.draw("float32", rng)
            reference = theirs[(*p.path, p.name)]
            assert value.shape == reference.shape and reference.dtype == np.float32
            differ = int(np.count_nonzero(value.view(np.uint32) != reference.view(np.uint32)))
            assert differ == 0, f"{label} seed {seed} {p.full_name}: {differ} of {value.size} values differ"


@pytest.mark.parametrize("dtype", ("bfloat16", "float16"))
def test_flax_param_dtype(dtype: str, rng: Any) -> None:
    np_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(np.float16)
    module = nn.Dense(48, param_dtype=np_dtype)
    theirs = _flatten(module.init(jax.random.key(5), np.ones((1, 20), np.float32))["params"])
    ours = flax_params([("flax.Dense", {"features": 48, "in_features": 20})], rng.key(5), top_level=True, rng=rng)
    for p in ours:
        reference = theirs[(p.name,)]
        assert reference.dtype == np_dtype
        assert np.array_equal(p.draw(dtype, rng).view(np.uint16), reference.view(np.uint16)), p.full_name


def test_static_hash_is_flax_fold_in_static() -> None:
    from flax.core.scope import LazyRng

    root = jax.random.key(3)
    for data in ((1,), ("Dense_0", 1), ("Dense_0", 2), ("Block_1", "Conv_0", 300)):
        expected = np.asarray(jax.random.key_data(LazyRng.create(root, *data).as_jax_rng()))
        assert int.from_bytes(hashlib.sha1(b"".join(_encoded(d) for d in data)).digest()[:4], "big") == static_hash(
            data
        )
        counter, path = data[-1], tuple(str(d) for d in data[:-1])
        assert isinstance(counter, int)
        got = param_key(JaxRandom.key(3), path, "kernel", counter, JaxRandom())
        assert got == (int(expected[0]), int(expected[1])), data


def _encoded(x: str | int) -> bytes:
    return x.encode() if isinstance(x, str) else x.to_bytes((x.bit_length() + 7) // 8, "big")


def test_param_key_counters() -> None:
    """kernel and embedding are a module's first param (counter 1), bias its second (counter 2)."""
    fold = JaxRandom()
    root = JaxRandom.key(0)
    assert param_key(root, ("Dense_0",), "kernel", rng=fold) == param_key(root, ("Dense_0",), "x", 1, fold)
    assert param_key(root, ("Dense_0",), "bias", rng=fold) == param_key(root, ("Dense_0",), "x", 2, fold)
    assert param_key(root, (), "embedding", rng=fold) == param_key(root, (), "x", 1, fold)
