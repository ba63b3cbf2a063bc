"""Layer presets: a layer's default initialization, weights and biases together, per framework.

A preset takes the layer's own constructor arguments (with the framework's
names and defaults) and yields the named tensors that layer creates, with the
framework's parameter names, shapes, layout and initializers, in the
framework's own order (PyTorch: ``state_dict()`` order). Each tensor's
``init`` is a framework-named initializer (``torch.kaiming_uniform_``,
``keras.GlorotUniform``, ``jax.lecun_normal``, ...) or a canonical scheme,
resolved later with ``service.core.frameworks.resolve_any``.

Keras and Flax layers infer their input size when they are built, so those
presets take one extra required argument: ``input_dim`` (Keras ``Dense``,
``LSTM``, ``LayerNormalization``), ``input_channels`` (Keras ``Conv2D``) or
``in_features`` (Flax ``Dense``, ``Conv``). Arguments that do not change the
parameters (stride, padding, dilation, dropout, eps, momentum, ...) are
accepted and checked by type, as the framework's constructor takes them, and
otherwise ignored.

>>> [(t.name, t.shape, t.init) for t in expand("torch.Linear", {"in_features": 784, "out_features": 256})]
[('weight', (256, 784), 'torch.kaiming_uniform_'), ('bias', (256,), 'torch.uniform_')]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from service.core.errors import ParameterError
from service.core.fans import FanAxes, compute_fans
from service.core.params import REQUIRED, Kind, Param, argument_info, check
from service.core.plan import MAX_RANK, Fill

#: The most stacked layers of a recurrent preset: bounds the work of one expansion (torch sets no limit).
MAX_RNN_LAYERS: Final[int] = 256


def _arg(
    name: str,
    kind: Kind,
    default: Any,
    description: str,
    minimum: float | None = None,
    nullable: bool = False,
    choices: tuple[str, ...] = (),
    maximum: float | None = None,
    length: int | None = None,
) -> Param:
    """One constructor argument of a layer (see ``Param``; ``integers`` takes ``length`` and ``choices``)."""
    return Param(
        name, kind, default, description, choices, minimum, maximum, nullable=nullable, length=length, argument=True
    )


@dataclass(frozen=True)
class PresetTensor:
    """One tensor of a layer: ``name`` relative to the layer's prefix, ``dtype`` None = the model's dtype."""

    name: str
    shape: tuple[int, ...]
    init: str
    params: Mapping[str, Any]
    layout: str | FanAxes
    dtype: str | None = None
    fills: tuple[Fill, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        layout: str | dict[str, list[int]] = (
            self.layout
            if isinstance(self.layout, str)
            else {
                "in_axis": list(self.layout.in_axis),
                "out_axis": list(self.layout.out_axis),
                "batch_axis": list(self.layout.batch_axis),
            }
        )
        entry: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "init": self.init,
            "params": dict(self.params),
            "layout": layout,
        }
        if self.dtype is not None:
            entry["dtype"] = self.dtype
        if self.fills:
            entry["fills"] = [{"start": f.start, "stop": f.stop, "value": f.value} for f in self.fills]
        return entry


@dataclass(frozen=True)
class Preset:
    """A layer: its constructor arguments and how they make its tensors (``build`` sees checked args)."""

    name: str
    framework: Literal["torch", "keras", "flax"]
    summary: str
    source: str
    args: tuple[Param, ...]
    build: Callable[[Mapping[str, Any]], list[PresetTensor]]
    example: Mapping[str, Any] = field(default_factory=dict)


def preset_of(name: str) -> Preset:
    """The preset named ``name`` (``torch.Linear``, ``keras.Dense``, ``flax.Dense``, ...)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ParameterError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}", "preset")
    return PRESETS[name]


def expand(name: str, args: Mapping[str, object]) -> list[PresetTensor]:
    """The tensors of preset ``name`` built with ``args``, in the framework's own order.

    Raises ``ParameterError`` with field ``preset`` for an unknown preset, and
    with field = the argument's name for a bad argument.
    """
    preset = preset_of(name)
    if not isinstance(args, Mapping):
        raise ParameterError(f"the arguments of preset {preset.name} must be an object, got {args!r}", "args")
    return preset.build(check(f"preset {preset.name}", preset.args, args))


def _divisible(a: Mapping[str, Any], numerator: str, denominator: str) -> None:
    if a[numerator] % a[denominator] != 0:
        raise ParameterError(
            f"{numerator} ({a[numerator]}) must be divisible by {denominator} ({a[denominator]})", numerator
        )


# -- argument tables -----------------------------------------------------------------------------------

_IGNORED = "; does not change the parameters (accepted and checked, otherwise ignored)"


def _size(name: str, description: str, default: Any = REQUIRED) -> Param:
    return _arg(name, "integer", default, description, minimum=1)


def _flag(name: str, default: bool, description: str) -> Param:
    return _arg(name, "boolean", default, description)


def _ignored_number(name: str, default: float | None, description: str, **bounds: Any) -> Param:
    return _arg(name, "number", default, description + _IGNORED, nullable=default is None, **bounds)


def _ignored_flag(name: str, default: bool, description: str) -> Param:
    return _arg(name, "boolean", default, description + _IGNORED)


# -- PyTorch -----------------------------------------------------------------------------------------------

_TORCH_SQRT5: Final[dict[str, float]] = {"a": math.sqrt(5)}


def _torch(
    name: str, shape: tuple[int, ...], init: str, params: Mapping[str, Any] | None = None, **extra: Any
) -> PresetTensor:
    return PresetTensor(name, shape, init, dict(params or {}), "torch", **extra)


def _torch_bias_bound(weight: tuple[int, ...]) -> dict[str, float]:
    """``uniform_(bias, -bound, bound)``, ``bound = 1 / sqrt(fan_in)`` of the stored weight (Linear, Conv*)."""
    fan_in = compute_fans(weight, "torch").fan_in
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return {"a": -bound, "b": bound}


def _torch_linear(prefix: str, in_features: int, out_features: int, bias: bool) -> list[PresetTensor]:
    """``nn.Linear.reset_parameters``: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(+-1/sqrt(in))."""
    weight = (out_features, in_features)
    tensors = [_torch(f"{prefix}weight", weight, "torch.kaiming_uniform_", _TORCH_SQRT5)]
    if bias:
        tensors.append(_torch(f"{prefix}bias", (out_features,), "torch.uniform_", _torch_bias_bound(weight)))
    return tensors


def _build_torch_linear(a: Mapping[str, Any]) -> list[PresetTensor]:
    return _torch_linear("", a["in_features"], a["out_features"], a["bias"])


_TORCH_PADDING_MODES: Final[tuple[str, ...]] = ("zeros", "reflect", "replicate", "circular")


def _torch_conv_args(rank: int, transposed: bool) -> tuple[Param, ...]:
    def spatial(name: str, default: int, minimum: int, description: str, choices: tuple[str, ...] = ()) -> Param:
        return _arg(name, "integers", default, description, minimum=minimum, choices=choices, length=rank)

    stride = spatial("stride", 1, 1, "stride of the convolution" + _IGNORED)
    dilation = spatial("dilation", 1, 1, "spacing between kernel elements" + _IGNORED)
    groups = _size("groups", "number of blocked connections; in_channels and out_channels must be divisible by it", 1)
    bias = _flag("bias", True, "whether the layer has a bias")
    head = (
        _size("in_channels", "number of channels of the input"),
        _size("out_channels", "number of channels the convolution produces"),
        spatial("kernel_size", REQUIRED, 1, f"size of the kernel: an integer or a list of {rank}"),
        stride,
    )
    if transposed:
        padding = spatial("padding", 0, 0, "implicit zero padding of the input" + _IGNORED)
        output_padding = spatial("output_padding", 0, 0, "size added to one side of the output" + _IGNORED)
        mode = _arg("padding_mode", "choice", "zeros", "only zeros, as in PyTorch" + _IGNORED, choices=("zeros",))
        return (*head, padding, output_padding, groups, bias, dilation, mode)
    padding = spatial(
        "padding", 0, 0, "padding added to the input: integers, same or valid" + _IGNORED, ("same", "valid")
    )
    mode = _arg("padding_mode", "choice", "zeros", "how the input is padded" + _IGNORED, choices=_TORCH_PADDING_MODES)
    return (*head, padding, dilation, groups, bias, mode)


def _torch_conv(transposed: bool) -> Callable[[Mapping[str, Any]], list[PresetTensor]]:
    def build(a: Mapping[str, Any]) -> list[PresetTensor]:
        _divisible(a, "in_channels", "groups")
        _divisible(a, "out_channels", "groups")
        if a["padding"] == "same" and any(s != 1 for s in a["stride"]):
            raise ParameterError("padding='same' is not supported for strided convolutions", "padding")
        k, groups = a["kernel_size"], a["groups"]
        if transposed:  # (in, out / groups, *k): torch's fan_in comes from out_channels (anchors 2.2)
            weight = (a["in_channels"], a["out_channels"] // groups, *k)
        else:
            weight = (a["out_channels"], a["in_channels"] // groups, *k)
        tensors = [_torch("weight", weight, "torch.kaiming_uniform_", _TORCH_SQRT5)]
        if a["bias"]:
            tensors.append(_torch("bias", (a["out_channels"],), "torch.uniform_", _torch_bias_bound(weight)))
        return tensors

    return build


def _build_torch_embedding(a: Mapping[str, Any]) -> list[PresetTensor]:
    n, dim, padding_idx = a["num_embeddings"], a["embedding_dim"], a["padding_idx"]
    fills: tuple[Fill, ...] = ()
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ParameterError(
                f"padding_idx must be within num_embeddings ({-n} to {n - 1}), got {padding_idx}", "padding_idx"
            )
        row = padding_idx % n  # a negative index counts from the end, as torch does
        fills = (Fill(row * dim, (row + 1) * dim, 0.0),)
    return [_torch("weight", (n, dim), "torch.normal_", {}, fills=fills)]


def _torch_rnn(mode: Literal["LSTM", "GRU"]) -> Callable[[Mapping[str, Any]], list[PresetTensor]]:
    gates = {"LSTM": 4, "GRU": 3}[mode]

    def build(a: Mapping[str, Any]) -> list[PresetTensor]:
        hidden, proj = a["hidden_size"], a.get("proj_size", 0)
        if proj >= hidden:
            raise ParameterError(f"proj_size ({proj}) has to be smaller than hidden_size ({hidden})", "proj_size")
        real_hidden = proj if proj > 0 else hidden
        directions = 2 if a["bidirectional"] else 1
        bound = 1.0 / math.sqrt(hidden)  # every parameter, including weight_hr: reset_parameters uses hidden_size
        uniform = {"a": -bound, "b": bound}
        tensors = []
        for layer in range(a["num_layers"]):
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                layer_input = a["input_size"] if layer == 0 else real_hidden * directions
                tensors.append(_torch(f"weight_ih{suffix}", (gates * hidden, layer_input), "torch.uniform_", uniform))
                tensors.append(_torch(f"weight_hh{suffix}", (gates * hidden, real_hidden), "torch.uniform_", uniform))
                if a["bias"]:
                    tensors.append(_torch(f"bias_ih{suffix}", (gates * hidden,), "torch.uniform_", uniform))
                    tensors.append(_torch(f"bias_hh{suffix}", (gates * hidden,), "torch.uniform_", uniform))
                if proj > 0:
                    tensors.append(_torch(f"weight_hr{suffix}", (proj, hidden), "torch.uniform_", uniform))
        return tensors

    return build


def _torch_rnn_args(lstm: bool) -> tuple[Param, ...]:
    args = (
        _size("input_size", "number of expected features in the input"),
        _size("hidden_size", "number of features in the hidden state"),
        _arg(
            "num_layers",
            "integer",
            1,
            f"number of stacked recurrent layers (at most {MAX_RNN_LAYERS} here)",
            1,
            maximum=MAX_RNN_LAYERS,
        ),
        _flag("bias", True, "whether the layers have the biases bias_ih and bias_hh"),
        _ignored_flag("batch_first", False, "whether the input is (batch, seq, feature)"),
        _ignored_number("dropout", 0.0, "dropout between layers", minimum=0.0, maximum=1.0),
        _flag("bidirectional", False, "whether each layer also runs in reverse (parameters with suffix _reverse)"),
    )
    if lstm:
        proj = _arg("proj_size", "integer", 0, "size of the projection of h (weight_hr), 0 for none", minimum=0)
        return (*args, proj)
    return args


def _build_torch_mha(a: Mapping[str, Any]) -> list[PresetTensor]:
    e = a["embed_dim"]
    _divisible(a, "embed_dim", "num_heads")
    kdim = a["kdim"] if a["kdim"] is not None else e
    vdim = a["vdim"] if a["vdim"] is not None else e
    tensors = []
    if kdim == e and vdim == e:
        tensors.append(_torch("in_proj_weight", (3 * e, e), "torch.xavier_uniform_"))
    else:
        for name, dim in (("q", e), ("k", kdim), ("v", vdim)):
            tensors.append(_torch(f"{name}_proj_weight", (e, dim), "torch.xavier_uniform_"))
    if a["bias"]:
        tensors.append(_torch("in_proj_bias", (3 * e,), "torch.constant_", {"val": 0.0}))
    if a["add_bias_kv"]:
        tensors.append(_torch("bias_k", (1, 1, e), "torch.xavier_normal_"))
        tensors.append(_torch("bias_v", (1, 1, e), "torch.xavier_normal_"))
    # out_proj is a Linear with its own default init; _reset_parameters only zeroes its bias.
    tensors.append(_torch("out_proj.weight", (e, e), "torch.kaiming_uniform_", _TORCH_SQRT5))
    if a["bias"]:
        tensors.append(_torch("out_proj.bias", (e,), "torch.constant_", {"val": 0.0}))
    return tensors


def _build_torch_layer_norm(a: Mapping[str, Any]) -> list[PresetTensor]:
    shape = a["normalized_shape"]
    shape = (shape,) if isinstance(shape, int) else shape
    if not a["elementwise_affine"]:
        return []
    tensors = [_torch("weight", shape, "torch.ones_")]
    if a["bias"]:
        tensors.append(_torch("bias", shape, "torch.zeros_"))
    return tensors


def _build_torch_batch_norm(a: Mapping[str, Any]) -> list[PresetTensor]:
    n = a["num_features"]
    tensors = []
    if a["affine"]:
        tensors.append(_torch("weight", (n,), "torch.ones_"))
        if a["bias"]:
            tensors.append(_torch("bias", (n,), "torch.zeros_"))
    if a["track_running_stats"]:
        # Buffers: torch fills them with zero_() / fill_(1), the same values as zeros_ / ones_.
        tensors.append(_torch("running_mean", (n,), "torch.zeros_"))
        tensors.append(_torch("running_var", (n,), "torch.ones_"))
        tensors.append(_torch("num_batches_tracked", (), "torch.zeros_", dtype="int64"))
    return tensors


_TORCH_SOURCE = "torch/nn/modules/{} (torch 2.13.0)"


def _torch_conv_preset(rank: int, transposed: bool = False) -> Preset:
    name = f"torch.ConvTranspose{rank}d" if transposed else f"torch.Conv{rank}d"
    layout = (
        "(in_channels, out_channels / groups, *kernel_size)"
        if transposed
        else "(out_channels, in_channels / groups, *kernel_size)"
    )
    note = "; fan_in is computed from out_channels as torch does" if transposed else ""
    examples = {1: (16, 32, 5), 2: (64, 128, 3), 3: (8, 16, [2, 3, 3])}
    cin, cout, k = examples[rank]
    return Preset(
        name,
        "torch",
        f"{name[6:]} default: weight {layout} kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), "
        f"bias U(+-1/sqrt(fan_in)){note}",
        _TORCH_SOURCE.format("conv.py:182-201 (reset_parameters), 161-174 (shapes)"),
        _torch_conv_args(rank, transposed),
        _torch_conv(transposed),
        {"in_channels": cin, "out_channels": cout, "kernel_size": k},
    )


_TORCH_PRESETS: Final[tuple[Preset, ...]] = (
    Preset(
        "torch.Linear",
        "torch",
        "Linear default: weight (out, in) kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(in_features)), "
        "bias U(+-1/sqrt(in_features))",
        _TORCH_SOURCE.format("linear.py:117-128"),
        (
            _size("in_features", "size of each input sample"),
            _size("out_features", "size of each output sample"),
            _flag("bias", True, "whether the layer has a bias"),
        ),
        _build_torch_linear,
        {"in_features": 784, "out_features": 256},
    ),
    _torch_conv_preset(1),
    _torch_conv_preset(2),
    _torch_conv_preset(3),
    _torch_conv_preset(2, transposed=True),
    Preset(
        "torch.Embedding",
        "torch",
        "Embedding default: weight (num_embeddings, embedding_dim) N(0, 1), the padding_idx row zero",
        _TORCH_SOURCE.format("sparse.py:179-186"),
        (
            _size("num_embeddings", "size of the dictionary of embeddings"),
            _size("embedding_dim", "size of each embedding vector"),
            _arg(
                "padding_idx",
                "integer",
                None,
                "row left at zero; negative counts from the end, within -num_embeddings to num_embeddings - 1",
                nullable=True,
            ),
            _ignored_number("max_norm", None, "renormalize embeddings to this norm at lookup", minimum=0.0),
            _ignored_number("norm_type", 2.0, "the p of the p-norm for max_norm"),
            _ignored_flag("scale_grad_by_freq", False, "scale gradients by word frequency"),
            _ignored_flag("sparse", False, "sparse gradients"),
        ),
        _build_torch_embedding,
        {"num_embeddings": 1000, "embedding_dim": 64},
    ),
    Preset(
        "torch.LSTM",
        "torch",
        "LSTM default: every weight_ih/hh/hr and bias_ih/hh U(+-1/sqrt(hidden_size)), gates (i, f, g, o) stacked "
        "in 4 * hidden_size rows, no forget-gate bias; state_dict order per layer and direction",
        _TORCH_SOURCE.format("rnn.py:308-311 (reset_parameters), 158-215 (names and shapes)"),
        _torch_rnn_args(lstm=True),
        _torch_rnn("LSTM"),
        {"input_size": 32, "hidden_size": 64},
    ),
    Preset(
        "torch.GRU",
        "torch",
        "GRU default: every weight_ih/hh and bias_ih/hh U(+-1/sqrt(hidden_size)), gates (r, z, n) stacked "
        "in 3 * hidden_size rows; state_dict order per layer and direction",
        _TORCH_SOURCE.format("rnn.py:308-311 (reset_parameters), 158-215 (names and shapes)"),
        _torch_rnn_args(lstm=False),
        _torch_rnn("GRU"),
        {"input_size": 32, "hidden_size": 64},
    ),
    Preset(
        "torch.MultiheadAttention",
        "torch",
        "MultiheadAttention default: in_proj_weight (3E, E) or q/k/v_proj_weight xavier_uniform_, in_proj_bias 0, "
        "out_proj.weight Linear default kaiming_uniform_(a=sqrt(5)), out_proj.bias 0, bias_k/bias_v (1, 1, E) "
        "xavier_normal_",
        _TORCH_SOURCE.format("activation.py:1232-1246 (_reset_parameters), 1176-1230 (shapes)"),
        (
            _size("embed_dim", "total dimension E of the model; divisible by num_heads"),
            _size("num_heads", "number of parallel attention heads"),
            _ignored_number("dropout", 0.0, "dropout on the attention weights", minimum=0.0, maximum=1.0),
            _flag("bias", True, "whether in_proj and out_proj have biases"),
            _flag("add_bias_kv", False, "whether to add the biases bias_k and bias_v"),
            _ignored_flag("add_zero_attn", False, "add a batch of zeros to the key and value sequences"),
            _arg("kdim", "integer", None, "total number of features for keys (None: embed_dim)", 1, True),
            _arg("vdim", "integer", None, "total number of features for values (None: embed_dim)", 1, True),
            _ignored_flag("batch_first", False, "whether the input is (batch, seq, feature)"),
        ),
        _build_torch_mha,
        {"embed_dim": 64, "num_heads": 8},
    ),
    Preset(
        "torch.LayerNorm",
        "torch",
        "LayerNorm default: weight ones, bias zeros, both of shape normalized_shape",
        _TORCH_SOURCE.format("normalization.py:190-225"),
        (
            _arg("normalized_shape", "integers", REQUIRED, "the trailing shape normalized over", minimum=1),
            _ignored_number("eps", 1e-5, "added to the variance", minimum=0.0),
            _flag("elementwise_affine", True, "whether the layer has weight (and bias)"),
            _flag("bias", True, "whether the layer has a bias (with elementwise_affine)"),
        ),
        _build_torch_layer_norm,
        {"normalized_shape": 64},
    ),
    Preset(
        "torch.BatchNorm2d",
        "torch",
        "BatchNorm2d default: weight ones, bias zeros; buffers running_mean zeros, running_var ones, "
        "num_batches_tracked a 0-D int64 zero",
        _TORCH_SOURCE.format("batchnorm.py:38-104"),
        (
            _size("num_features", "number of channels C"),
            _ignored_number("eps", 1e-5, "added to the variance", minimum=0.0),
            _arg(
                "momentum",
                "number",
                0.1,
                "running-statistics momentum (None: cumulative average)" + _IGNORED,
                nullable=True,
            ),
            _flag("affine", True, "whether the layer has weight and bias"),
            _flag(
                "track_running_stats", True, "whether the layer has the buffers running_mean/var, num_batches_tracked"
            ),
            _flag("bias", True, "whether the layer has a bias (with affine; keyword-only in torch 2.13)"),
        ),
        _build_torch_batch_norm,
        {"num_features": 64},
    ),
)


# -- Keras 3 -------------------------------------------------------------------------------------------------


def _keras(
    name: str, shape: tuple[int, ...], init: str, params: Mapping[str, Any] | None = None, **extra: Any
) -> PresetTensor:
    return PresetTensor(name, shape, init, dict(params or {}), "keras", **extra)


def _build_keras_dense(a: Mapping[str, Any]) -> list[PresetTensor]:
    tensors = [_keras("kernel", (a["input_dim"], a["units"]), "keras.GlorotUniform")]
    if a["use_bias"]:
        tensors.append(_keras("bias", (a["units"],), "keras.Zeros"))
    return tensors


def _build_keras_conv2d(a: Mapping[str, Any]) -> list[PresetTensor]:
    _divisible(a, "filters", "groups")
    _divisible(a, "input_channels", "groups")
    if max(a["strides"]) > 1 and max(a["dilation_rate"]) > 1:
        raise ParameterError("strides > 1 is not supported in conjunction with dilation_rate > 1", "strides")
    # Keras kernels are (*kernel_size, in / groups, filters) whatever data_format.
    kernel = (*a["kernel_size"], a["input_channels"] // a["groups"], a["filters"])
    tensors = [_keras("kernel", kernel, "keras.GlorotUniform")]
    if a["use_bias"]:
        tensors.append(_keras("bias", (a["filters"],), "keras.Zeros"))
    return tensors


def _build_keras_embedding(a: Mapping[str, Any]) -> list[PresetTensor]:
    shape = (a["input_dim"], a["output_dim"])
    return [_keras("embeddings", shape, "keras.RandomUniform", {"minval": -0.05, "maxval": 0.05})]


def _build_keras_lstm(a: Mapping[str, Any]) -> list[PresetTensor]:
    units = a["units"]
    tensors = [
        _keras("kernel", (a["input_dim"], 4 * units), "keras.GlorotUniform"),
        _keras("recurrent_kernel", (units, 4 * units), "keras.Orthogonal"),
    ]
    if a["use_bias"]:
        # unit_forget_bias: concatenate(zeros(units), ones(units), zeros(2 * units)), gates (i, f, c, o)
        fills = (Fill(units, 2 * units, 1.0),) if a["unit_forget_bias"] else ()
        tensors.append(_keras("bias", (4 * units,), "keras.Zeros", fills=fills))
    return tensors


def _build_keras_layer_norm(a: Mapping[str, Any]) -> list[PresetTensor]:
    tensors = []
    if a["scale"]:
        tensors.append(_keras("gamma", (a["input_dim"],), "keras.Ones"))
    if a["center"]:
        tensors.append(_keras("beta", (a["input_dim"],), "keras.Zeros"))
    return tensors


_KERAS_SOURCE = "keras/src/layers/{} (Keras 3.15.1)"

_KERAS_PRESETS: Final[tuple[Preset, ...]] = (
    Preset(
        "keras.Dense",
        "keras",
        "Dense default: kernel (input_dim, units) glorot_uniform, bias zeros",
        _KERAS_SOURCE.format("core/dense.py:89-90"),
        (
            _size("units", "dimensionality of the output space"),
            _flag("use_bias", True, "whether the layer has a bias"),
            _size("input_dim", "size of the last axis of the input (Keras infers it when the layer is built)"),
        ),
        _build_keras_dense,
        {"units": 256, "input_dim": 784},
    ),
    Preset(
        "keras.Conv2D",
        "keras",
        "Conv2D default: kernel (kh, kw, input_channels / groups, filters) glorot_uniform, bias zeros",
        _KERAS_SOURCE.format("convolutional/base_conv.py:102-103 (initializers), 186-196 (kernel shape)"),
        (
            _size("filters", "number of output channels; divisible by groups"),
            _arg("kernel_size", "integers", REQUIRED, "size of the kernel: an integer or a list of 2", 1, length=2),
            _arg("strides", "integers", 1, "strides of the convolution" + _IGNORED, 1, length=2),
            _arg("padding", "choice", "valid", "padding of the input" + _IGNORED, choices=("valid", "same")),
            _arg(
                "data_format",
                "choice",
                None,
                "channels_last or channels_first (the kernel layout is the same)" + _IGNORED,
                nullable=True,
                choices=("channels_last", "channels_first"),
            ),
            _arg("dilation_rate", "integers", 1, "dilation rate of the convolution" + _IGNORED, 1, length=2),
            _size("groups", "number of groups; filters and input_channels must be divisible by it", 1),
            _flag("use_bias", True, "whether the layer has a bias"),
            _size("input_channels", "number of channels of the input (Keras infers it when the layer is built)"),
        ),
        _build_keras_conv2d,
        {"filters": 128, "kernel_size": 3, "input_channels": 64},
    ),
    Preset(
        "keras.Embedding",
        "keras",
        "Embedding default: embeddings (input_dim, output_dim) RandomUniform(-0.05, 0.05)",
        _KERAS_SOURCE.format("core/embedding.py:91"),
        (
            _size("input_dim", "size of the vocabulary"),
            _size("output_dim", "dimension of the dense embedding"),
            _ignored_flag("mask_zero", False, "whether index 0 is a padding value to mask"),
        ),
        _build_keras_embedding,
        {"input_dim": 1000, "output_dim": 64},
    ),
    Preset(
        "keras.LSTM",
        "keras",
        "LSTM default: kernel (input_dim, 4 units) glorot_uniform, recurrent_kernel (units, 4 units) orthogonal, "
        "bias (4 units) zeros with the forget-gate slice [units, 2 units) = 1 (unit_forget_bias); gates (i, f, c, o)",
        _KERAS_SOURCE.format("rnn/lstm.py:94-97 (initializers), 150-190 (weights)"),
        (
            _size("units", "dimensionality of the output space"),
            _flag("use_bias", True, "whether the layer has a bias"),
            _flag("unit_forget_bias", True, "add 1 to the forget-gate bias at initialization"),
            _ignored_number("dropout", 0.0, "dropout on the inputs", minimum=0.0, maximum=1.0),
            _ignored_number("recurrent_dropout", 0.0, "dropout on the recurrent state", minimum=0.0, maximum=1.0),
            _ignored_flag("return_sequences", False, "return the whole sequence"),
            _ignored_flag("return_state", False, "return the last state too"),
            _ignored_flag("go_backwards", False, "process the input backwards"),
            _ignored_flag("stateful", False, "carry the state across batches"),
            _ignored_flag("unroll", False, "unroll the loop"),
            _size("input_dim", "size of the last axis of the input (Keras infers it when the layer is built)"),
        ),
        _build_keras_lstm,
        {"units": 64, "input_dim": 32},
    ),
    Preset(
        "keras.LayerNormalization",
        "keras",
        "LayerNormalization default (axis=-1): gamma (input_dim,) ones, beta (input_dim,) zeros",
        _KERAS_SOURCE.format("normalization/layer_normalization.py:109-112 (initializers)"),
        (
            _ignored_number("epsilon", 1e-3, "added to the variance", minimum=0.0),
            _flag("center", True, "whether the layer has beta"),
            _flag("scale", True, "whether the layer has gamma"),
            _size("input_dim", "size of the normalized last axis (Keras infers it when the layer is built)"),
        ),
        _build_keras_layer_norm,
        {"input_dim": 64},
    ),
)


# -- Flax (linen) -------------------------------------------------------------------------------------------


def _jax(name: str, shape: tuple[int, ...], init: str, params: Mapping[str, Any] | None = None) -> PresetTensor:
    return PresetTensor(name, shape, init, dict(params or {}), "jax")


def _build_flax_dense(a: Mapping[str, Any]) -> list[PresetTensor]:
    tensors = [_jax("kernel", (a["in_features"], a["features"]), "jax.lecun_normal")]
    if a["use_bias"]:
        tensors.append(_jax("bias", (a["features"],), "jax.zeros"))
    return tensors


def _build_flax_conv(a: Mapping[str, Any]) -> list[PresetTensor]:
    k = a["kernel_size"]
    k = (k,) if isinstance(k, int) else k  # an int is a 1-D kernel in Flax, not (k, k)
    if len(k) > MAX_RANK - 2:
        raise ParameterError(f"kernel_size has {len(k)} dims; at most {MAX_RANK - 2} are allowed", "kernel_size")
    for name in ("strides", "input_dilation", "kernel_dilation"):
        if isinstance(a[name], tuple) and len(a[name]) != len(k):
            raise ParameterError(f"{name} must be an integer or a list of {len(k)} integers (one per kernel dim)", name)
    padding = a["padding"]
    if isinstance(padding, tuple) and len(padding) != len(k):
        raise ParameterError(f"padding must be a string, an integer or a list of {len(k)} integers", "padding")
    if padding == "CAUSAL" and len(k) != 1:
        raise ParameterError("CAUSAL padding is only implemented for 1-D convolutions", "padding")
    _divisible(a, "in_features", "feature_group_count")
    _divisible(a, "features", "feature_group_count")
    kernel = (*k, a["in_features"] // a["feature_group_count"], a["features"])
    tensors = [_jax("kernel", kernel, "jax.lecun_normal")]
    if a["use_bias"]:
        tensors.append(_jax("bias", (a["features"],), "jax.zeros"))
    return tensors


#: Flax ``Embed``'s ``variance_scaling(1.0, 'fan_in', 'normal', out_axis=0)`` on (num_embeddings, features): JAX's
#: ``_compute_fans`` reads in_axis=-2 and out_axis=0, the *same* axis, so the "receptive field" is
#: prod(shape) / N / N = features / N and fan_in = N * features / N = features (verified with jax 0.10.2: fans
#: (64.0, 64.0) for (1000, 64)). Our FanAxes refuses an axis named twice, so the preset says the same thing
#: directly: canonical variance_scaling (scale 1, fan_in, untruncated normal) with in_axis=1, out_axis=0,
#: whose fan_in is features. Variance exactly 1 / features, as Flax; a canonical scheme rather than
#: ``jax.variance_scaling`` with different axes, so the init does not pretend to be Flax's own call.
_FLAX_EMBED_AXES: Final[FanAxes] = FanAxes(in_axis=(1,), out_axis=(0,))


def _build_flax_embed(a: Mapping[str, Any]) -> list[PresetTensor]:
    shape = (a["num_embeddings"], a["features"])
    params = {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}
    return [PresetTensor("embedding", shape, "variance_scaling", params, _FLAX_EMBED_AXES)]


_FLAX_SOURCE = "flax/linen/{} (flax 0.12.8)"
_FLAX_PADDINGS: Final[tuple[str, ...]] = ("SAME", "VALID", "CIRCULAR", "CAUSAL", "REFLECT")

_FLAX_PRESETS: Final[tuple[Preset, ...]] = (
    Preset(
        "flax.Dense",
        "flax",
        "linen Dense default: kernel (in_features, features) lecun_normal (truncated, variance 1 / in_features), "
        "bias zeros",
        _FLAX_SOURCE.format("linear.py:49 (default_kernel_init), 247-248"),
        (
            _size("features", "number of output features"),
            _flag("use_bias", True, "whether the layer has a bias"),
            _size("in_features", "size of the last axis of the input (Flax infers it at init)"),
        ),
        _build_flax_dense,
        {"features": 256, "in_features": 784},
    ),
    Preset(
        "flax.Conv",
        "flax",
        "linen Conv default: kernel kernel_size + (in_features / feature_group_count, features) lecun_normal "
        "(truncated), bias zeros; an integer kernel_size is a 1-D kernel",
        _FLAX_SOURCE.format("linear.py:521-522 (initializers), _Conv.__call__ (kernel shape)"),
        (
            _size("features", "number of convolution filters"),
            _arg("kernel_size", "integers", REQUIRED, "shape of the kernel; an integer k is the 1-D kernel (k,)", 1),
            _arg("strides", "integers", 1, "inter-window strides" + _IGNORED, 1, nullable=True),
            _arg(
                "padding",
                "integers",
                "SAME",
                "SAME, VALID, CIRCULAR, CAUSAL, REFLECT, an integer or a list of integers (pairs are not taken)"
                + _IGNORED,
                0,
                choices=_FLAX_PADDINGS,
            ),
            _arg("input_dilation", "integers", 1, "dilation of the input" + _IGNORED, 1, nullable=True),
            _arg("kernel_dilation", "integers", 1, "dilation of the kernel" + _IGNORED, 1, nullable=True),
            _size("feature_group_count", "feature groups; in_features and features must be divisible by it", 1),
            _flag("use_bias", True, "whether the layer has a bias"),
            _size("in_features", "number of channels of the input, its last axis (Flax infers it at init)"),
        ),
        _build_flax_conv,
        {"features": 128, "kernel_size": [3, 3], "in_features": 64},
    ),
    Preset(
        "flax.Embed",
        "flax",
        "linen Embed default: embedding (num_embeddings, features) variance_scaling(1.0, 'fan_in', 'normal', "
        "out_axis=0) = N(0, 1 / features), untruncated",
        _FLAX_SOURCE.format("linear.py:1105-1107"),
        (
            _size("num_embeddings", "number of embeddings (vocabulary size)"),
            _size("features", "number of feature dimensions of each embedding"),
        ),
        _build_flax_embed,
        {"num_embeddings": 1000, "features": 64},
    ),
)

PRESETS: Final[dict[str, Preset]] = {p.name: p for p in (*_TORCH_PRESETS, *_KERAS_PRESETS, *_FLAX_PRESETS)}


def preset_catalogue() -> list[dict[str, Any]]:
    """Every preset with its arguments and the tensors its example arguments yield (for GET /v1/schemes)."""
    return [
        {
            "name": p.name,
            "framework": p.framework,
            "summary": p.summary,
            "source": p.source,
            "args": [argument_info(a) for a in p.args],
            "example": {"args": dict(p.example), "tensors": [t.as_dict() for t in expand(p.name, p.example)]},
        }
        for p in PRESETS.values()
    ]
