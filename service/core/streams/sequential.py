"""Tensors of a sequential stream (``torch``, ``torch-default``): drawn whole, in order, from one generator.

A single tensor is ``torch.manual_seed(seed)`` followed by one ``torch.nn.init`` call on a fresh tensor.
A model is ``torch.manual_seed(seed)`` followed by the construction of each entry in order: a preset's
module draws as its constructor does (``modules.module_draws``), a named tensor by its own call; one
generator throughout, so every tensor depends on the entries before it.

Which torch call: a ``torch.*`` initializer on a torch-layout tensor is that very function
(``torch_call``, with torch's own fans); anything else goes through the torch function of the same
meaning with the request's fans (``canonical_call``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.core.dtypes import largest_finite, numpy_dtype
from service.core.errors import ParameterError
from service.core.fans import Fans
from service.core.plan import TensorSpec
from service.core.sources import WholeSource
from service.core.streams.torch.generator import TorchGenerator
from service.core.streams.torch.init import TorchCall, canonical_call, torch_call
from service.core.streams.torch.modules import Draw, module_draws

#: Peak bytes per element while a tensor is drawn: the tensor (up to 8), its 32-bit draws (up to 8 for
#: float64) and a float64 copy; rejection sampling and QR hold about five float64 copies.
_DRAW_BYTES = 24
_HEAVY_BYTES = 5 * 8
_HEAVY_KINDS = frozenset({"orthogonal", "sparse", "trunc_normal"})


def generator(spec: TensorSpec) -> TorchGenerator:
    """``torch.manual_seed(spec.seed)``'s generator, with the kernels of the spec's stream."""
    return TorchGenerator(spec.seed, "default" if spec.stream == "torch-default" else "avx2")


def tensor_call(spec: TensorSpec, fans: Fans | None) -> TorchCall:
    """The torch call that makes ``spec``'s tensor (raises ``ParameterError`` on ``stream`` when torch
    cannot express its scheme)."""
    requested = spec.requested
    if requested is not None and requested["scheme"].startswith("torch.") and spec.layout == "torch":
        params = {k: v for k, v in requested.items() if k != "scheme"}
        return torch_call(requested["scheme"], params, spec.shape)
    return canonical_call(spec.init, fans, spec.shape, spec.layout)


def check_drawable(call: TorchCall, dtype: str) -> None:
    """Refuse, before any work, what torch itself refuses only once it draws: ``orthogonal_`` in float16 or
    bfloat16 (no half QR on CPU) and a ``fill_`` value beyond the dtype (checked_convert)."""
    if call.kind == "orthogonal" and dtype in ("float16", "bfloat16"):
        raise ParameterError(
            f"PyTorch's orthogonal_ cannot make {dtype}: its QR (geqrf) is not implemented for Half/BFloat16 on "
            "CPU; ask for float32 or float64, or another stream",
            "dtype",
        )
    if call.kind == "constant" and dtype in ("float16", "bfloat16", "float32"):
        largest = largest_finite(dtype)
        if abs(call.value) > largest:
            raise ParameterError(
                f"the fill value {call.value!r} cannot be converted to {dtype} without overflow (PyTorch's fill_ "
                "raises)",
                "dtype",
            )


def _peak_bytes(call: TorchCall) -> int:
    return _HEAVY_BYTES if call.kind in _HEAVY_KINDS else _DRAW_BYTES


def tensor_source(spec: TensorSpec, fans: Fans | None) -> WholeSource:
    """A single tensor of a sequential stream: a fresh generator, one call."""
    call = tensor_call(spec, fans)
    check_drawable(call, spec.dtype)

    def compute() -> np.ndarray:
        out = np.empty(spec.shape, dtype=numpy_dtype(spec.dtype))
        call.draw(generator(spec), out)
        return out

    return WholeSource(compute, _peak_bytes(call))


@dataclass
class SharedDraws:
    """A model's draws on one generator, in entry order; every tensor is made the first time any is asked
    for (each is then handed out once, and dropped by its ``release``)."""

    spec: TensorSpec  #: the seed, stream and dtype of the model (any of its tensors' specs)
    steps: Sequence[tuple[Draw, str]]  #: (draw, the numpy dtype name of its tensor)
    _made: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def array(self, name: str) -> np.ndarray:
        with self._lock:
            if self._made is None:
                made: dict[str, np.ndarray] = {}
                gen = generator(self.spec)
                for step, dtype in self.steps:
                    out = np.empty(step.shape, dtype=numpy_dtype(dtype))
                    step.draw(gen, out)
                    if step.name is not None:
                        made[step.name] = out
                self._made = made
            return self._made[name]


def model_sources(
    entries: Sequence[Mapping[str, Any]],
    tensors: Sequence[tuple[str, int, TensorSpec, Fans | None]],
    dtype: str,
) -> dict[str, WholeSource]:
    """Each tensor's source in a model of a sequential stream: ``entries`` the request's entries (a preset
    entry's module is drawn as its constructor draws, with ``dtype``, the model's), ``tensors`` (name, entry
    index, spec, fans) in entry order. Raises ``ParameterError`` on ``stream`` naming the entry torch cannot
    express."""
    by_entry: dict[int, list[tuple[str, TensorSpec, Fans | None]]] = {}
    for name, index, spec, fans in tensors:
        by_entry.setdefault(index, []).append((name, spec, fans))
    steps: list[tuple[Draw, str]] = []
    peak = 0
    for index, made in sorted(by_entry.items()):
        entry = entries[index]
        try:
            if "preset" in entry:
                prefix = entry.get("prefix", "")
                args = {k: v for k, v in entry.items() if k not in ("preset", "prefix")}
                for draw in module_draws(entry["preset"], args):
                    full = None if draw.name is None else (f"{prefix}.{draw.name}" if prefix else draw.name)
                    check_drawable(draw.call, draw.dtype or dtype)
                    steps.append((Draw(full, draw.shape, draw.call, draw.dtype, draw.fills), draw.dtype or dtype))
                    peak = max(peak, _peak_bytes(draw.call))
            else:
                ((name, spec, fans),) = made
                call = tensor_call(spec, fans)
                check_drawable(call, spec.dtype)
                steps.append((Draw(name, spec.shape, call), spec.dtype))
                peak = max(peak, _peak_bytes(call))
        except ParameterError as exc:
            if exc.field not in ("stream", "dtype"):
                raise
            raise ParameterError(f"entries.{index}: {exc.message}", exc.field) from exc
    shared = SharedDraws(tensors[0][2], steps)
    return {name: WholeSource(_handed_out(shared, name), peak) for name, _, _, _ in tensors}


def _handed_out(shared: SharedDraws, name: str) -> Any:
    return lambda: shared.array(name)
