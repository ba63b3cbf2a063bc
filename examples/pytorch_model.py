"""initserve from PyTorch: a whole model's default initialization in one request, as safetensors.

Each layer is a preset (PyTorch's own default init, its parameter names and shapes); the prefixes
are the module's attribute names, so the answer loads with ``load_state_dict(strict=True)``. Every
tensor's seed is derived from the model seed and its name, so the same request gives the same bytes.

    python examples/pytorch_model.py [BASE_URL]     # default http://127.0.0.1:8000
"""

import json
import sys

import httpx
import safetensors.torch
import torch
from torch import nn

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 64, padding_idx=0)
        self.rnn = nn.LSTM(64, 128, batch_first=True)
        self.norm = nn.LayerNorm(128)
        self.head = nn.Linear(128, 10)


model = {
    "entries": [
        {"preset": "torch.Embedding", "prefix": "embed", "num_embeddings": 1000, "embedding_dim": 64, "padding_idx": 0},
        {"preset": "torch.LSTM", "prefix": "rnn", "input_size": 64, "hidden_size": 128, "batch_first": True},
        {"preset": "torch.LayerNorm", "prefix": "norm", "normalized_shape": 128},
        {"preset": "torch.Linear", "prefix": "head", "in_features": 128, "out_features": 10},
    ],
    "seed": 7,
}
with httpx.Client(base_url=base_url, timeout=60.0) as http:
    answer = http.post("/v1/models/safetensors", json=model)
    answer.raise_for_status()
    manifest = http.post("/v1/models/stats", json=model).json()

net = Net()
net.load_state_dict(safetensors.torch.load(answer.content), strict=True)
assert torch.all(net.embed.weight[0] == 0)  # padding_idx
tokens = torch.randint(1, 1000, (4, 12))
out, _ = net.rnn(net.embed(tokens))
logits = net.head(net.norm(out[:, -1]))
print(f"loaded {len(manifest['tensors'])} tensors ({manifest['nbytes']} bytes), logits {tuple(logits.shape)}")
for tensor in manifest["tensors"]:
    ratio = tensor["stats"]["variance_ratio"]  # null for constant tensors (LayerNorm's weight and bias)
    measured = f"variance ratio {ratio:.4f}" if ratio is not None else "constant"
    print(f"  {tensor['name']} {tensor['shape']}: {json.dumps(tensor['requested_init'])}, {measured}")
