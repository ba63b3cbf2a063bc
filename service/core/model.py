"""Whole models: named tensors and layer presets, planned together.

A model is a list of entries, each a named tensor (shape, init, layout, dtype)
or a layer preset (``torch.Linear``, ``keras.LSTM``, ...) whose tensors are
named ``<prefix>.<name>``; with a model seed, a dtype and a default layout.
Tensor ``name`` gets the seed ``derive_seed(model_seed, name)``: its bytes are
those of the single-tensor request with that seed, whatever the other entries
are and in whatever order they come.

Layouts: a tensor entry's own layout (or fan axes) if given, else the model's
layout if given, else the one its init implies (``torch.*``: torch; JAX or
Keras axis parameters: those axes), else keras. A preset's tensors always use
their framework's layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from service.core.errors import InitError, LayoutError, ParameterError, TooLargeError
from service.core.fans import FanAxes
from service.core.frameworks import resolve_any
from service.core.plan import TensorPlan, TensorSpec, plan_tensor
from service.core.presets import expand
from service.core.seeds import derive_seed

#: A tensor's full name: what safetensors, npz and state_dict keys use (``encoder.layers.0.weight``).
NAME_PATTERN: Final[str] = r"[A-Za-z0-9_][A-Za-z0-9_.:/\-]*"
MAX_NAME_LENGTH: Final[int] = 256
#: Entries of one model request (tensors and presets; a preset makes several tensors).
MAX_ENTRIES: Final[int] = 1024
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class TensorEntry:
    """One named tensor; ``layout`` None: the model's layout or the init's framework's."""

    name: str
    shape: tuple[int, ...]
    init: str
    params: Mapping[str, Any] = field(default_factory=dict)
    layout: str | FanAxes | None = None
    dtype: str | None = None


@dataclass(frozen=True)
class PresetEntry:
    """A layer preset; its tensors are named ``prefix.<name>`` (just ``<name>`` with an empty prefix)."""

    preset: str
    args: Mapping[str, Any]
    prefix: str = ""


@dataclass(frozen=True)
class ModelSpec:
    entries: tuple[TensorEntry | PresetEntry, ...]
    seed: int
    dtype: str = "float32"
    layout: str | FanAxes | None = None


@dataclass(frozen=True)
class ModelTensor:
    """A planned tensor of a model, with where it came from: ``entry`` (index in the request),
    ``preset`` (the preset that made it, if any) and ``requested`` (its framework-named init as
    asked, None for a canonical scheme)."""

    name: str
    plan: TensorPlan
    entry: int
    preset: str | None
    requested: dict[str, Any] | None


@dataclass(frozen=True)
class ModelPlan:
    spec: ModelSpec
    tensors: tuple[ModelTensor, ...]

    @property
    def count(self) -> int:
        return sum(t.plan.count for t in self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.plan.nbytes for t in self.tensors)


@dataclass(frozen=True)
class ModelLimits:
    """Per-model limits (413 before any work): tensors, elements and bytes in all; elements per tensor."""

    max_tensors: int = 4096
    max_elements: int = 1 << 29
    max_bytes: int = 1 << 31
    max_tensor_elements: int = 1 << 28


def check_name(name: object, where: str) -> str:
    if name == "__metadata__":
        raise ParameterError("__metadata__ is reserved by safetensors and cannot name a tensor", where)
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise ParameterError(
            f"a tensor name is 1 to {MAX_NAME_LENGTH} characters of letters, digits and _ . : / -, "
            f"not starting with . : / or -; got {name!r}",
            where,
        )
    return name


def _prefixed(error: InitError, where: str) -> InitError:
    """The same error, its field placed under the model entry ``where``."""
    inner = error.field or ""
    return type(error)(error.message, f"{where}.{inner}" if inner else where)


@dataclass(frozen=True)
class _Pending:
    name: str
    spec: TensorSpec
    entry: int
    preset: str | None
    requested: dict[str, Any] | None
    where: str
    axes_from_init: bool = False


def _tensor_entries(spec: ModelSpec, max_tensors: int) -> list[_Pending]:
    """Every tensor of the model, resolved but not yet planned (presets expanded); stops with a
    ``TooLargeError`` as soon as there are more than ``max_tensors``."""
    pending: list[_Pending] = []
    for index, entry in enumerate(spec.entries):
        where = f"entries.{index}"
        try:
            if isinstance(entry, PresetEntry):
                pending.extend(_preset_tensors(spec, index, entry, where))
            else:
                pending.append(_named_tensor(spec, index, entry, where))
        except InitError as exc:
            raise _prefixed(exc, where) from exc
        if len(pending) > max_tensors:
            raise TooLargeError(f"the model has more than {max_tensors} tensors, the limit", where)
    if not pending:
        raise ParameterError("the model has no tensors (its layers were made without parameters)", "entries")
    return pending


def _named_tensor(spec: ModelSpec, index: int, entry: TensorEntry, where: str) -> _Pending:
    name = check_name(entry.name, "name")
    resolved = resolve_any(entry.init, entry.params, len(entry.shape))
    if resolved.axes_given and entry.layout is not None:
        raise LayoutError(f"{entry.init}'s axis parameters already say how to read the shape; give no layout", "layout")
    if entry.layout is not None:
        layout = entry.layout
    elif resolved.axes_given:
        layout = resolved.layout
    else:
        layout = spec.layout or resolved.layout or "keras"
    dtype = entry.dtype or spec.dtype
    tensor = TensorSpec(tuple(entry.shape), resolved.init, derive_seed(spec.seed, name), dtype, layout)  # type: ignore[arg-type]
    axes_from_init = resolved.axes_given and entry.layout is None
    return _Pending(name, tensor, index, None, resolved.requested, where, axes_from_init)


def _preset_tensors(spec: ModelSpec, index: int, entry: PresetEntry, where: str) -> list[_Pending]:
    if entry.prefix:
        check_name(entry.prefix, "prefix")
    pending = []
    for made in expand(entry.preset, entry.args):
        name = f"{entry.prefix}.{made.name}" if entry.prefix else made.name
        resolved = resolve_any(made.init, made.params, len(made.shape))
        dtype = made.dtype or spec.dtype
        seed = derive_seed(spec.seed, name)
        tensor = TensorSpec(made.shape, resolved.init, seed, dtype, made.layout, made.fills)  # type: ignore[arg-type]
        pending.append(_Pending(name, tensor, index, entry.preset, resolved.requested, where))
    return pending


def plan_model(spec: ModelSpec, limits: ModelLimits | None = None) -> ModelPlan:
    """Check ``spec`` and plan every tensor; raises an ``InitError`` naming the field at fault
    (``entries.<i>.<field>``), a ``TooLargeError`` over ``limits`` before any tensor is made."""
    limits = limits or ModelLimits()
    if not spec.entries:
        raise ParameterError("a model needs at least one entry", "entries")
    pending = _tensor_entries(spec, limits.max_tensors)
    seen: dict[str, str] = {}
    for item in pending:
        if item.name in seen:
            raise ParameterError(
                f"two tensors are named {item.name!r} ({seen[item.name]} and {item.where})", item.where
            )
        seen[item.name] = item.where
    elements = sum(math.prod(item.spec.shape) for item in pending)
    if elements > limits.max_elements:
        raise TooLargeError(f"the model has {elements} elements, over the limit of {limits.max_elements}", "entries")
    tensors = []
    for item in pending:
        try:
            plan = plan_tensor(item.spec, limits.max_tensor_elements)
        except InitError as exc:
            if item.axes_from_init and exc.field and exc.field.startswith("fan_axes."):
                exc = type(exc)(exc.message, "init." + exc.field.removeprefix("fan_axes."))
            raise _prefixed(exc, item.where) from exc
        tensors.append(ModelTensor(item.name, plan, item.entry, item.preset, item.requested))
    model = ModelPlan(spec, tuple(tensors))
    if model.nbytes > limits.max_bytes:
        raise TooLargeError(f"the model has {model.nbytes} bytes, over the limit of {limits.max_bytes}", "entries")
    return model


def tensors_by_name(plan: ModelPlan) -> Sequence[ModelTensor]:
    """The model's tensors sorted by name: the order of the files' members, whatever the entries' order."""
    return sorted(plan.tensors, key=lambda t: t.name)
