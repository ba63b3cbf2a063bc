"""initserve from JAX/Flax: every leaf of a Flax model's params tree, fetched as .npy.

The tree's structure comes from the model itself (jax.eval_shape of model.init: shapes only,
nothing drawn); each kernel is then fetched with Flax's default initializer, lecun_normal
(variance 1 / fan_in, truncated normal with the variance correction), in JAX's (in, out) layout,
and each bias is zeros, as Flax's Dense has them.

    python examples/jax_flax.py [BASE_URL]           # default http://127.0.0.1:8000
"""

import io
import sys

import flax.linen as nn
import httpx
import jax
import jax.numpy as jnp
import numpy as np

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(256)(x))
        return nn.Dense(10)(x)


model = MLP()
x = jnp.ones((8, 784), jnp.float32)
leaves, tree = jax.tree_util.tree_flatten_with_path(jax.eval_shape(model.init, jax.random.key(0), x))


def fetch(http: httpx.Client, name: str, shape: tuple[int, ...], seed: int) -> jax.Array:
    init = {"scheme": "lecun", "distribution": "truncated_normal"} if name == "kernel" else {"scheme": "zeros"}
    r = http.post("/v1/tensors/npy", json={"shape": list(shape), "layout": "jax", "init": init, "seed": seed})
    r.raise_for_status()
    return jnp.asarray(np.load(io.BytesIO(r.content), allow_pickle=False))


with httpx.Client(base_url=base_url, timeout=30.0) as http:
    arrays = [fetch(http, path[-1].key, leaf.shape, seed) for seed, (path, leaf) in enumerate(leaves)]
params = jax.tree_util.tree_unflatten(tree, arrays)

y = model.apply(params, x)
kernel = params["params"]["Dense_0"]["kernel"]
assert kernel.shape == (784, 256) and y.shape == (8, 10)
assert float(jnp.abs(kernel).max()) <= 2 * (1 / 784) ** 0.5 / 0.87962566103423978  # truncated at 2 sigma_0
print(jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), params))
print(f"Dense_0 kernel variance {float(kernel.var()):.6f} (expected {1 / 784:.6f}), output {y.shape}")
