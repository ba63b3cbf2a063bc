"""Whole models: what a planned model is, its limits and its tensors' names.

A model request (``service.core.resolve.resolve_model``) is a list of entries, each a named
tensor (shape, init, layout, dtype) or a layer preset (``torch.Linear``, ``keras.LSTM``, ...)
whose tensors are named ``<prefix>.<name>``; with a model seed, a dtype, a default layout and a
stream. In the ``initserve-*`` streams tensor ``name`` gets the seed ``derive_seed(model_seed,
name)``: its bytes are those of the single-tensor request with that seed, whatever the other
entries are and in whatever order they come. In a sequential (framework) stream the tensors share
one generator, consumed in entry order, as the framework's modules would consume it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from service.core.errors import ParameterError
from service.core.fans import FanAxes
from service.core.plan import TensorPlan
from service.core.streams.names import DEFAULT_STREAM

#: A tensor's full name: what safetensors, npz and state_dict keys use (``encoder.layers.0.weight``).
NAME_PATTERN: Final[str] = r"[A-Za-z0-9_][A-Za-z0-9_.:/\-]*"
MAX_NAME_LENGTH: Final[int] = 256
#: Entries of one model request (tensors and presets; a preset makes several tensors).
MAX_ENTRIES: Final[int] = 1024
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class ModelSpec:
    """The model-wide choices of a request, defaults filled in and the seed explicit."""

    seed: int
    dtype: str = "float32"
    layout: str | FanAxes | None = None
    stream: str = DEFAULT_STREAM


@dataclass(frozen=True)
class ModelTensor:
    """A planned tensor of a model, with where it came from: ``entry`` (index in the request) and
    ``preset`` (the preset that made it, if any)."""

    name: str
    plan: TensorPlan
    entry: int
    preset: str | None


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


def tensors_by_name(plan: ModelPlan) -> Sequence[ModelTensor]:
    """The model's tensors sorted by name: the order of the files' members, whatever the entries' order."""
    return sorted(plan.tensors, key=lambda t: t.name)
