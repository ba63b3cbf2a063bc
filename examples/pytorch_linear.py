"""initserve from PyTorch: the weights of an nn.Linear, fetched as .npy and loaded in place.

The request reproduces nn.Linear's own default: kaiming_uniform_(weight, a=sqrt(5)) in PyTorch's
(out, in) layout, and a bias drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the numbers are
initserve's (reproducible from the seed), the distributions PyTorch's.

    python examples/pytorch_linear.py [BASE_URL]     # default http://127.0.0.1:8000
"""

import io
import math
import sys

import httpx
import numpy as np
import torch

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
fan_in, fan_out = 784, 256
bound = 1 / math.sqrt(fan_in)


def fetch(http: httpx.Client, request: dict) -> torch.Tensor:
    r = http.post("/v1/tensors/npy", json=request)
    r.raise_for_status()
    return torch.tensor(np.load(io.BytesIO(r.content), allow_pickle=False))  # a copy, float32


with httpx.Client(base_url=base_url, timeout=30.0) as http:
    he = {"scheme": "he", "distribution": "uniform", "negative_slope": math.sqrt(5)}
    weight = fetch(http, {"shape": [fan_out, fan_in], "layout": "torch", "init": he, "seed": 1})
    bias = fetch(http, {"shape": [fan_out], "init": {"scheme": "uniform", "low": -bound, "high": bound}, "seed": 2})

layer = torch.nn.Linear(fan_in, fan_out)
with torch.no_grad():
    layer.weight.copy_(weight)
    layer.bias.copy_(bias)

# kaiming_uniform_ with a = sqrt(5) has the bound sqrt(6 / ((1 + a^2) * fan_in)) = 1 / sqrt(fan_in).
assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
assert torch.equal(layer.weight, weight)
y = layer(torch.randn(32, fan_in))
print(f"nn.Linear({fan_in}, {fan_out}): weight std {layer.weight.std():.5f} (expected {bound / math.sqrt(3):.5f}),")
print(f"  bias in [{layer.bias.min():.4f}, {layer.bias.max():.4f}], output {tuple(y.shape)}")
