"""Presets against the real PyTorch modules (torch 2.13.0 in the dev venv; skipped when torch is absent).

For every torch preset in several configurations (tests/presets/cases.py: bidirectional, num_layers=2,
proj_size, kdim/vdim, add_bias_kv, groups, bias=False, padding_idx, ...): the names, order, shapes and
dtypes equal ``module.state_dict()``, the values torch's ``reset_parameters`` draws fall in the preset's
planned support with the planned mean and variance, and tensors made by our engine from the presets load
into the module with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.core.engine import Engine
from service.core.frameworks import resolve_any
from service.core.plan import TensorPlan, TensorSpec, plan_tensor
from service.core.presets import PresetTensor, expand
from service.core.seeds import derive_seed

from .cases import TORCH_CASES, case_id

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def module_of(preset: str, args: dict[str, Any]) -> Any:
    """The real module: the preset's args are the constructor's own keyword arguments."""
    torch.manual_seed(0)
    return getattr(torch.nn, preset.split(".", 1)[1])(**args)


def plan(tensor: PresetTensor, seed: int = 0) -> TensorPlan:
    resolved = resolve_any(tensor.init, tensor.params)
    spec = TensorSpec(tensor.shape, resolved.init, seed, tensor.dtype or "float32", tensor.layout, tensor.fills)  # type: ignore[arg-type]
    return plan_tensor(spec)


@pytest.mark.parametrize("case", TORCH_CASES, ids=[case_id(c) for c in TORCH_CASES])
def test_names_order_shapes_dtypes_equal_state_dict(case: tuple[str, dict[str, Any]]) -> None:
    state = module_of(*case).state_dict()
    tensors = expand(*case)
    assert [(t.name, t.shape) for t in tensors] == [(k, tuple(v.shape)) for k, v in state.items()]
    for tensor in tensors:
        assert (tensor.dtype == "int64") == (state[tensor.name].dtype == torch.int64)
        if tensor.dtype is None:
            assert state[tensor.name].dtype == torch.float32


@pytest.mark.parametrize("case", TORCH_CASES, ids=[case_id(c) for c in TORCH_CASES])
def test_torch_values_follow_the_planned_distribution(case: tuple[str, dict[str, Any]]) -> None:
    """torch's own init against our plan's moments: inside the support, the mean and variance within 6 standard
    errors (large tensors), constants equal."""
    state = module_of(*case).state_dict()
    for tensor in expand(*case):
        m = plan(tensor).moments
        values = state[tensor.name].double().numpy().ravel()
        n = values.size
        if m.variance == 0.0:
            assert np.all(values == m.mean), tensor.name
            continue
        if m.low is not None and m.high is not None:
            slack = 1e-7 * max(abs(m.low), abs(m.high))
            assert values.min() >= m.low - slack and values.max() <= m.high + slack, tensor.name
        if n >= 1000:
            assert abs(values.mean() - m.mean) <= 6 * m.std / math.sqrt(n), tensor.name
            assert values.var() / m.variance == pytest.approx(1.0, abs=6 * math.sqrt(2 / n)), tensor.name


@pytest.mark.parametrize(
    ("preset", "args", "name", "bound"),
    [
        # anchors 7.4 (torch 2.13.0): the max |w| of a big layer reaches the bound
        ("torch.Linear", {"in_features": 784, "out_features": 256}, "weight", 1 / 28),
        ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3}, "weight", 0.041667),
        ("torch.Conv2d", {"in_channels": 64, "out_channels": 128, "kernel_size": 3, "groups": 64}, "weight", 1 / 3),
        (
            "torch.ConvTranspose2d",
            {"in_channels": 64, "out_channels": 128, "kernel_size": 3},
            "weight",
            1 / math.sqrt(1152),
        ),
        ("torch.LSTM", {"input_size": 32, "hidden_size": 64}, "weight_hh_l0", 0.125),
        ("torch.GRU", {"input_size": 32, "hidden_size": 64}, "weight_hh_l0", 0.125),
        ("torch.MultiheadAttention", {"embed_dim": 64, "num_heads": 8}, "in_proj_weight", 0.153093),
    ],
)
def test_torch_max_reaches_the_planned_bound(preset: str, args: dict[str, Any], name: str, bound: float) -> None:
    values = module_of(preset, args).state_dict()[name].abs()
    tensor = next(t for t in expand(preset, args) if t.name == name)
    high = plan(tensor).moments.high
    assert high == pytest.approx(bound, abs=5e-7)
    assert 0.995 * high <= float(values.max()) <= high * (1 + 1e-7)


@pytest.mark.parametrize("padding_idx", [0, 4, -1, -10])
def test_embedding_padding_row_is_torchs(padding_idx: int) -> None:
    args = {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": padding_idx}
    module = module_of("torch.Embedding", args)
    (weight,) = expand("torch.Embedding", args)
    (fill,) = weight.fills
    assert fill.start == module.padding_idx * 4 and fill.stop == fill.start + 4 and fill.value == 0.0
    assert torch.all(module.weight[module.padding_idx] == 0)


SMALL_MODEL: list[tuple[str, dict[str, Any]]] = [
    ("torch.Linear", {"in_features": 12, "out_features": 8}),
    ("torch.Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}),
    ("torch.ConvTranspose2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 2}),
    ("torch.LSTM", {"input_size": 5, "hidden_size": 7, "num_layers": 2, "bidirectional": True, "proj_size": 3}),
    ("torch.GRU", {"input_size": 5, "hidden_size": 7}),
    ("torch.Embedding", {"num_embeddings": 20, "embedding_dim": 6, "padding_idx": 2}),
    ("torch.MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "kdim": 4, "vdim": 6, "add_bias_kv": True}),
    ("torch.LayerNorm", {"normalized_shape": [2, 3]}),
    ("torch.BatchNorm2d", {"num_features": 6}),
]


def test_generated_presets_load_into_the_modules() -> None:
    """Tensors made by the engine from the presets load with load_state_dict(strict=True) into a Sequential-like
    container of the real modules, with the padding row zero and every value inside the planned support."""
    container = torch.nn.ModuleDict({str(i): module_of(*case) for i, case in enumerate(SMALL_MODEL)})
    state: dict[str, Any] = {}
    with Engine(1) as engine:
        for i, case in enumerate(SMALL_MODEL):
            for tensor in expand(*case):
                full = f"{i}.{tensor.name}"
                p = plan(tensor, derive_seed(7, full))
                array = engine.generate(p).array
                if p.moments.low is not None and p.moments.high is not None:
                    assert p.moments.low <= array.min() and array.max() <= p.moments.high, full
                state[full] = torch.from_numpy(np.ascontiguousarray(array))
    container.load_state_dict(state, strict=True)
    assert torch.all(container["5"].weight[2] == 0)
    assert container["8"].num_batches_tracked.dtype == torch.int64
    assert container["8"].num_batches_tracked.item() == 0
