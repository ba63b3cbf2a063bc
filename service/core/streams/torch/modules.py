"""The draws a PyTorch 2.13.0 module's constructor makes, in order, for every ``torch.*`` layer preset.

``torch.manual_seed(seed)`` then ``torch.nn.Linear(...)``, ``torch.nn.LSTM(...)``, ... consume one
generator, each constructor in its own order, which is not always its ``state_dict`` order:

- ``Linear``, ``Conv*d``, ``ConvTranspose*d`` (torch/nn/modules/linear.py ``reset_parameters``,
  conv.py ``_ConvNd.reset_parameters``): ``kaiming_uniform_(weight, a=math.sqrt(5))``, then
  ``uniform_(bias, -bound, bound)``, ``bound = 1 / math.sqrt(fan_in)``.
- ``LSTM``, ``GRU`` (rnn.py ``RNNBase.reset_parameters``)::

      stdv = 1.0 / math.sqrt(self.hidden_size)
      for weight in self.parameters(): init.uniform_(weight, -stdv, stdv)

  ``parameters()`` is the registration order: per layer and direction ``weight_ih``, ``weight_hh``,
  ``bias_ih``, ``bias_hh``, ``weight_hr`` (the state_dict order).
- ``Embedding`` (sparse.py): ``init.normal_(self.weight)``, then the ``padding_idx`` row zeroed.
- ``MultiheadAttention`` (activation.py): ``out_proj`` is a ``Linear`` built in ``__init__`` (its
  weight, then its bias, drawn) before ``_reset_parameters`` runs ``xavier_uniform_`` on
  ``in_proj_weight`` (or ``q``, ``k``, ``v_proj_weight``), zeroes ``in_proj_bias`` and
  ``out_proj.bias`` (whose draw is thus scratch: it consumed the generator, its values are gone) and
  ``xavier_normal_``s ``bias_k`` and ``bias_v``.
- ``LayerNorm``, ``BatchNorm2d``: constants (and buffers), no draws.

Keras and Flax presets have no torch constructor: in a torch stream their tensors are drawn in the
preset's own order, each through the torch function of its initializer's meaning
(``canonical_call`` of the resolved scheme, in the tensor's layout and fans: a framework-named init
keeps its semantics in any stream).

The names, shapes, initializers and fills come from ``service.core.presets.expand`` (which checks the
arguments); only the order, and the scratch draws, are added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.core.dtypes import numpy_dtype
from service.core.errors import ParameterError
from service.core.fans import compute_fans
from service.core.frameworks import resolve_any
from service.core.plan import Fill
from service.core.presets import PresetTensor, expand, preset_of
from service.core.streams.torch.init import Generator, TorchCall, canonical_call, cast_scalar, torch_call

#: Presets whose constructor draws in state_dict order.
_IN_ORDER: Final[frozenset[str]] = frozenset(
    {
        "torch.Linear",
        "torch.Conv1d",
        "torch.Conv2d",
        "torch.Conv3d",
        "torch.ConvTranspose1d",
        "torch.ConvTranspose2d",
        "torch.ConvTranspose3d",
        "torch.Embedding",
        "torch.LSTM",
        "torch.GRU",
        "torch.LayerNorm",
        "torch.BatchNorm2d",
    }
)


@dataclass(frozen=True)
class Draw:
    """One step of a module's construction: ``call`` on a tensor of ``shape``, then ``fills``.

    ``name``: the state_dict entry whose final value this step makes; None for a scratch step, whose
    values a later step overwrites but whose draws still consume the generator. ``dtype``: None for
    the model's dtype (``num_batches_tracked`` is ``"int64"``).
    """

    name: str | None
    shape: tuple[int, ...]
    call: TorchCall
    dtype: str | None = None
    fills: tuple[Fill, ...] = ()

    def draw(self, gen: Generator, out: np.ndarray) -> None:
        """Fill ``out`` as the constructor does: the call, then the fills (no draws)."""
        self.call.draw(gen, out)
        flat = out.reshape(-1)
        for fill in self.fills:
            flat[fill.start : fill.stop] = fill.value if out.dtype.kind in "iu" else cast_scalar(fill.value, out.dtype)


def _draw(tensor: PresetTensor, name: str | None = None) -> Draw:
    return Draw(
        tensor.name if name is None else name,
        tensor.shape,
        torch_call(tensor.init, tensor.params, tensor.shape),
        tensor.dtype,
        tensor.fills,
    )


def _canonical_draw(tensor: PresetTensor) -> Draw:
    """A Keras or Flax preset's tensor: its initializer resolved to the canonical scheme, through torch."""
    resolved = resolve_any(tensor.init, tensor.params, len(tensor.shape))
    layout = tensor.layout
    fans = compute_fans(tensor.shape, layout) if resolved.init.scheme in _FAN_SCHEMES else None  # type: ignore[arg-type]
    return Draw(
        tensor.name, tensor.shape, canonical_call(resolved.init, fans, tensor.shape, layout), tensor.dtype, tensor.fills
    )


_FAN_SCHEMES: Final[frozenset[str]] = frozenset({"glorot", "he", "lecun", "variance_scaling"})


def _scratch(tensor: PresetTensor) -> Draw:
    return Draw(None, tensor.shape, torch_call(tensor.init, tensor.params, tensor.shape), tensor.dtype, tensor.fills)


def _multihead_attention(tensors: list[PresetTensor]) -> list[Draw]:
    """``MultiheadAttention.__init__`` (torch/nn/modules/activation.py, torch 2.13.0): ``out_proj =
    NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)`` draws first, then
    ``_reset_parameters``::

        xavier_uniform_(in_proj_weight)  # or q_proj_weight, k_proj_weight, v_proj_weight
        constant_(in_proj_bias, 0.0); constant_(out_proj.bias, 0.0)
        xavier_normal_(bias_k); xavier_normal_(bias_v)
    """
    named = {t.name: t for t in tensors}
    weight = named["out_proj.weight"]
    embed_dim = weight.shape[0]
    draws = [_draw(weight)]
    if "out_proj.bias" in named:
        linear = {t.name: t for t in expand("torch.Linear", {"in_features": embed_dim, "out_features": embed_dim})}
        draws.append(_scratch(linear["bias"]))
    order = (
        "in_proj_weight",
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "out_proj.bias",
        "bias_k",
        "bias_v",
    )
    draws.extend(_draw(named[name]) for name in order if name in named)
    return draws


def module_draws(preset: str, args: Mapping[str, Any]) -> list[Draw]:
    """The steps of the ``torch.*`` preset's constructor with ``args``, in the order it consumes the
    generator. The named steps are exactly ``expand(preset, args)``'s tensors (names, shapes, dtypes),
    each once; scratch steps (name None) are draws whose values a later step overwrites. A Keras or
    Flax preset: its tensors in its order, each through ``canonical_call``.

    >>> [(d.name, d.call.kind) for d in module_draws("torch.MultiheadAttention", {"embed_dim": 8, "num_heads": 2})]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('out_proj.weight', 'uniform'), (None, 'uniform'), ('in_proj_weight', 'uniform'),
     ('in_proj_bias', 'constant'), ('out_proj.bias', 'constant')]
    """
    tensors = expand(preset, args)
    if preset == "torch.MultiheadAttention":
        return _multihead_attention(tensors)
    if preset in _IN_ORDER:
        return [_draw(t) for t in tensors]
    if preset_of(preset).framework != "torch":
        return [_canonical_draw(t) for t in tensors]
    raise ParameterError(
        f"the torch stream does not know the order in which {preset}'s constructor draws; "
        "use a torch.* preset or another stream",
        "stream",
    )


def module_tensors(gen: Generator, preset: str, args: Mapping[str, Any], dtype: str) -> dict[str, np.ndarray]:
    """The module's state_dict after ``torch.manual_seed(seed)`` and its construction with ``dtype``
    (``dtype=torch.<dtype>``) on ``gen``, in ``expand``'s (state_dict) order."""
    made: dict[str, np.ndarray] = {}
    for step in module_draws(preset, args):
        out = np.empty(step.shape, dtype=numpy_dtype(step.dtype or dtype))
        step.draw(gen, out)
        if step.name is not None:
            made[step.name] = out
    return {t.name: made[t.name] for t in expand(preset, args)}
