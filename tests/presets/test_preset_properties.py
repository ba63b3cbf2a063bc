"""Property tests: random constructor arguments give the real torch module's state_dict names and shapes.

Skipped when torch is absent. Sizes are kept small so that each module builds in microseconds.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.errors import ParameterError
from service.core.presets import expand

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


def state_of(preset: str, args: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout > 0 with one layer warns in torch
        module = getattr(torch.nn, preset.split(".", 1)[1])(**args)
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def assert_same(preset: str, args: dict[str, Any]) -> None:
    assert [(t.name, t.shape) for t in expand(preset, args)] == state_of(preset, args)


@st.composite
def conv_args(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    rank = draw(st.integers(1, 3))
    transposed = rank == 2 and draw(st.booleans())
    groups = draw(st.integers(1, 4))
    args: dict[str, Any] = {
        "in_channels": groups * draw(st.integers(1, 3)),
        "out_channels": groups * draw(st.integers(1, 3)),
        "kernel_size": draw(st.one_of(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=rank, max_size=rank))),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    if draw(st.booleans()):
        args["stride"] = draw(st.integers(1, 3))
    return (f"torch.ConvTranspose{rank}d" if transposed else f"torch.Conv{rank}d"), args


@SETTINGS
@given(conv_args())
def test_conv(case: tuple[str, dict[str, Any]]) -> None:
    assert_same(*case)


@SETTINGS
@given(
    st.sampled_from(["torch.LSTM", "torch.GRU"]),
    st.integers(1, 6),
    st.integers(2, 6),
    st.integers(1, 3),
    st.booleans(),
    st.booleans(),
    st.integers(0, 5),
)
def test_rnn(preset: str, inputs: int, hidden: int, layers: int, bias: bool, bidirectional: bool, proj: int) -> None:
    args: dict[str, Any] = {
        "input_size": inputs,
        "hidden_size": hidden,
        "num_layers": layers,
        "bias": bias,
        "bidirectional": bidirectional,
    }
    if preset == "torch.LSTM":
        args["proj_size"] = proj % hidden
    assert_same(preset, args)


@SETTINGS
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 9)),
    st.one_of(st.none(), st.integers(1, 9)),
)
def test_multihead_attention(
    heads: int, head_dim: int, bias: bool, add_bias_kv: bool, kdim: int | None, vdim: int | None
) -> None:
    args = {
        "embed_dim": heads * head_dim,
        "num_heads": heads,
        "bias": bias,
        "add_bias_kv": add_bias_kv,
        "kdim": kdim,
        "vdim": vdim,
    }
    assert_same("torch.MultiheadAttention", args)


@SETTINGS
@given(st.integers(1, 20), st.integers(1, 5), st.one_of(st.none(), st.integers(-25, 25)))
def test_embedding(n: int, dim: int, padding_idx: int | None) -> None:
    args = {"num_embeddings": n, "embedding_dim": dim, "padding_idx": padding_idx}
    if padding_idx is not None and not -n <= padding_idx < n:
        with pytest.raises(AssertionError):
            state_of("torch.Embedding", args)  # torch refuses it, and so do we
        with pytest.raises(ParameterError):
            expand("torch.Embedding", args)
        return
    assert_same("torch.Embedding", args)
    (weight,) = expand("torch.Embedding", args)
    module = torch.nn.Embedding(**args)
    if padding_idx is None:
        assert weight.fills == ()
    else:
        assert weight.fills[0].start == module.padding_idx * dim
