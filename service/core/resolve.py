"""The one resolver: a request, as plain data, to a checked and fully resolved plan.

Every entry point calls it: the HTTP routes (with the request body as parsed JSON), the library
(``make_tensor``) and the command line. It fills every default, picks a seed when none is given,
reads framework-named initializers and their axis parameters, decides each tensor's layout, and
plans: the answer is an immutable ``TensorPlan`` or ``ModelPlan``, or an ``InitError`` whose
``field`` is the dotted path of the culprit in the request's own terms (``init.in_axis``,
``entries.3.shape.1``).

A tensor request::

    {"shape": [784, 256], "init": {"scheme": "he", ...}, "layout": "keras" | "fan_axes": {...},
     "seed": 42, "dtype": "float32", "stream": "initserve-1"}

A model request: ``{"entries": [...], "seed", "dtype", "layout", "stream"}``, each entry a named
tensor (``name``, ``shape``, ``init``, and optionally ``layout`` or ``fan_axes``, ``dtype``) or a
layer preset (``preset``, ``prefix`` and the layer's own arguments).

The layout of a tensor: its own ``layout`` or ``fan_axes`` when given; else the axes a
framework-named init's own parameters give (JAX ``in_axis``/``out_axis``/``batch_axis``, Keras
``input_axes``/``output_axes``); else the model's ``layout``; else the init's framework's
(``torch.*``: torch); else keras. An init's axis parameters and a layout of the tensor's own
contradict each other: a 422.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.core.dtypes import DTYPES
from service.core.errors import InitError, LayoutError, ParameterError, ShapeError, TooLargeError
from service.core.fans import LAYOUTS, FanAxes
from service.core.frameworks import resolve_any
from service.core.model import ModelLimits, ModelPlan, ModelSpec, ModelTensor, check_name
from service.core.plan import MAX_SEED, TensorPlan, TensorSpec, plan_tensor
from service.core.presets import expand
from service.core.seeds import derive_seed
from service.core.sources import with_innermost
from service.core.streams.names import DEFAULT_STREAM, SEQUENTIAL_STREAMS, STREAMS

_TENSOR_FIELDS = frozenset({"shape", "layout", "fan_axes", "init", "seed", "dtype", "stream", "slice", "shard"})
_ENTRY_FIELDS = frozenset({"name", "shape", "layout", "fan_axes", "init", "dtype", "slice", "shard"})
_MODEL_FIELDS = frozenset({"entries", "seed", "dtype", "layout", "stream"})


def resolve_tensor(request: Mapping[str, Any], max_elements: int | None = None) -> TensorPlan:
    """The plan of a single-tensor request; raises an ``InitError`` naming the field at fault."""
    _check_fields(request, _TENSOR_FIELDS, "")
    seed = _seed(request.get("seed"))
    stream = request.get("stream", DEFAULT_STREAM)
    spec, axes_from_init = _tensor_spec(request, seed, request.get("dtype", "float32"), stream, None)
    return _plan(spec, axes_from_init, max_elements)


def resolve_model(request: Mapping[str, Any], limits: ModelLimits | None = None) -> ModelPlan:
    """The plan of a model request; fields at fault are named ``entries.<i>.<field>``, and a model over
    ``limits`` is a ``TooLargeError`` before any tensor is planned."""
    limits = limits or ModelLimits()
    _check_fields(request, _MODEL_FIELDS, "")
    entries = request.get("entries")
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ParameterError("a model needs at least one entry", "entries")
    model = ModelSpec(
        _seed(request.get("seed")),
        request.get("dtype", "float32"),
        _layout_of(request.get("layout"), None),
        request.get("stream", DEFAULT_STREAM),
    )
    _check_model_wide(model)
    pending: list[_Pending] = []
    for index, entry in enumerate(entries):
        where = f"entries.{index}"
        try:
            if not isinstance(entry, Mapping):
                raise ParameterError("an entry is a named tensor or a layer preset (an object)", "")
            if "preset" in entry:
                pending.extend(_preset_tensors(model, index, entry))
            else:
                pending.append(_named_tensor(model, index, entry))
        except InitError as exc:
            raise _under(exc, where) from exc
        if len(pending) > limits.max_tensors:
            raise TooLargeError(f"the model has more than {limits.max_tensors} tensors, the limit", where)
    if not pending:
        raise ParameterError("the model has no tensors (its layers were made without parameters)", "entries")
    seen: dict[str, int] = {}
    for item in pending:
        if item.name in seen:
            raise ParameterError(
                f"two tensors are named {item.name!r} (entries.{seen[item.name]} and entries.{item.entry})",
                f"entries.{item.entry}",
            )
        seen[item.name] = item.entry
    elements = sum(math.prod(item.spec.shape) for item in pending)
    if elements > limits.max_elements:
        raise TooLargeError(f"the model has {elements} elements, over the limit of {limits.max_elements}", "entries")
    tensors = []
    for item in pending:
        try:
            plan = _plan(item.spec, item.axes_from_init, limits.max_tensor_elements)
        except InitError as exc:
            if exc.field == "stream" or (exc.field == "dtype" and item.preset is not None):  # the model's own
                raise type(exc)(f"entries.{item.entry} ({item.name}): {exc.message}", exc.field) from exc
            raise _under(exc, f"entries.{item.entry}") from exc
        tensors.append(ModelTensor(item.name, plan, item.entry, item.preset))
    if model.stream in SEQUENTIAL_STREAMS or model.stream == "flax":
        tensors = _model_wide_sources(entries, tensors, model)
    planned = ModelPlan(model, tuple(tensors))
    if planned.nbytes > limits.max_bytes:
        raise TooLargeError(f"the model has {planned.nbytes} bytes, over the limit of {limits.max_bytes}", "entries")
    return planned


# -- tensors -----------------------------------------------------------------------------------------------


def _tensor_spec(
    request: Mapping[str, Any], seed: int, dtype: str, stream: str, model_layout: str | FanAxes | None
) -> tuple[TensorSpec, bool]:
    """The spec of one tensor (a tensor request or a model's named tensor), and whether its fan axes come
    from the init's own parameters (their errors then name those parameters)."""
    shape = request.get("shape")
    if not isinstance(shape, (list, tuple)):
        raise ParameterError(f"shape must be a list of integers, got {shape!r}", "shape")
    init = request.get("init")
    if not isinstance(init, Mapping) or not isinstance(init.get("scheme"), str):
        raise ParameterError("init must be an object with a scheme name", "init")
    own = _layout_of(request.get("layout"), request.get("fan_axes"))
    resolved = resolve_any(init["scheme"], {k: v for k, v in init.items() if k != "scheme"}, len(shape))
    if resolved.axes_given and own is not None:
        raise LayoutError(
            f"{init['scheme']}'s axis parameters already say how to read the shape; give no layout or fan_axes",
            "fan_axes" if request.get("fan_axes") is not None else "layout",
        )
    if own is not None:
        layout = own
    elif resolved.axes_given:
        layout = resolved.layout
    else:
        layout = model_layout or resolved.layout or "keras"
    bounds = _bounds(request.get("slice"), request.get("shard"), tuple(shape))
    spec = TensorSpec(
        tuple(shape), resolved.init, seed, dtype, layout, stream=stream, slice=bounds, requested=resolved.requested
    )  # type: ignore[arg-type]
    return spec, resolved.axes_given


def _bounds(slice_: object, shard: object, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
    """The part served: ``slice`` (one ``[start, stop]`` per leading dimension; the dimensions it omits
    whole) or ``shard`` (``{"axis", "index", "count"}``: the ``index``-th of ``count`` equal parts of the
    axis, Megatron's tensor-parallel split); None for the whole tensor. ``plan_tensor`` checks the bounds."""
    if slice_ is not None and shard is not None:
        raise ShapeError("give either slice or shard, not both", "shard")
    if slice_ is not None:
        if not isinstance(slice_, (list, tuple)) or len(slice_) > len(shape):
            raise ShapeError(f"slice takes at most one [start, stop] per dimension of shape {list(shape)}", "slice")
        return (
            *(tuple(pair) if isinstance(pair, (list, tuple)) else pair for pair in slice_),
            *((0, dim) for dim in shape[len(slice_) :]),
        )  # type: ignore[return-value]
    if shard is None:
        return None
    if not isinstance(shard, Mapping) or set(shard) != {"axis", "index", "count"}:
        raise ShapeError("shard is {axis, index, count}", "shard")
    _check_fields(shard, frozenset({"axis", "index", "count"}), "shard.")
    axis, index, count = shard["axis"], shard["index"], shard["count"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (axis, index, count)):
        raise ShapeError("shard's axis, index and count are integers", "shard")
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(f"shard.axis {axis} is out of range for shape {list(shape)}", "shard.axis")
    axis %= len(shape)
    if count < 1 or shape[axis] % count:
        raise ShapeError(
            f"shard.count {count} must divide shape[{axis}] = {shape[axis]} (equal parts, as Megatron splits)", "shard"
        )
    if not 0 <= index < count:
        raise ShapeError(f"shard.index must be 0 to {count - 1}, got {index}", "shard.index")
    size = shape[axis] // count
    return tuple((index * size, (index + 1) * size) if a == axis else (0, dim) for a, dim in enumerate(shape))


def _plan(spec: TensorSpec, axes_from_init: bool, max_elements: int | None) -> TensorPlan:
    try:
        return plan_tensor(spec, max_elements)
    except InitError as exc:
        if axes_from_init and exc.field and exc.field.startswith("fan_axes."):
            raise type(exc)(exc.message, "init." + exc.field.removeprefix("fan_axes.")) from exc
        raise


def _layout_of(layout: object, fan_axes: object) -> str | FanAxes | None:
    """A request's own layout: ``layout`` (a name), or ``fan_axes`` (JAX ``variance_scaling`` axes), or None."""
    if fan_axes is None:
        return layout  # type: ignore[return-value]  # plan_tensor checks the name
    if layout is not None:
        raise LayoutError("give either layout or fan_axes, not both", "fan_axes")
    if not isinstance(fan_axes, Mapping) or "in_axis" not in fan_axes or "out_axis" not in fan_axes:
        raise LayoutError("fan_axes needs in_axis and out_axis (and optionally batch_axis)", "fan_axes")
    _check_fields(fan_axes, frozenset({"in_axis", "out_axis", "batch_axis"}), "fan_axes.")
    return FanAxes.of(fan_axes["in_axis"], fan_axes["out_axis"], fan_axes.get("batch_axis", ()))


def _seed(seed: object) -> int:
    """The request's seed, or one picked now (the answer names it, so it can be reproduced)."""
    if seed is None:
        return secrets.randbelow(MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"seed must be an integer from 0 to 2^53 - 1, got {seed!r}", "seed")
    return seed


def _check_fields(request: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    for key in request:
        if key not in known:
            raise ParameterError(f"unknown field {key!r}; expected {', '.join(sorted(known))}", f"{prefix}{key}")


def _under(error: InitError, where: str) -> InitError:
    """The same error, its field placed under the model entry ``where``."""
    inner = error.field or ""
    return type(error)(error.message, f"{where}.{inner}" if inner else where)


# -- models ------------------------------------------------------------------------------------------------


def _check_model_wide(model: ModelSpec) -> None:
    """The model-wide stream, dtype and layout, named as the request names them (each tensor would check
    them again, under its entry)."""
    if model.stream not in STREAMS:
        raise ParameterError(f"unknown stream {model.stream!r}; expected one of {', '.join(STREAMS)}", "stream")
    if model.dtype not in DTYPES:
        raise ParameterError(f"unknown dtype {model.dtype!r}; expected one of {', '.join(DTYPES)}", "dtype")
    if model.layout is not None and model.layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {model.layout!r}; expected one of {', '.join(LAYOUTS)}", "layout")


def _model_wide_sources(
    entries: Sequence[Mapping[str, Any]], tensors: list[ModelTensor], model: ModelSpec
) -> list[ModelTensor]:
    """The model's tensors made together rather than one by one: drawn from one generator in entry order (a
    sequential stream: torch), or keyed by their module paths as Flax's ``Module.init`` keys them (flax)."""
    if model.stream == "flax":
        from service.core.streams.counter import flax_sources  # numba kernels: loaded on first use

        sources = flax_sources(entries, model.seed, {t.name: t.plan.spec.dtype for t in tensors})
    else:
        from service.core.streams.sequential import model_sources

        described = [(t.name, t.entry, t.plan.spec, t.plan.fans) for t in tensors]
        sources = model_sources(entries, described, model.dtype)
    return [replace(t, plan=replace(t.plan, source=with_innermost(t.plan.source, sources[t.name]))) for t in tensors]


@dataclass(frozen=True)
class _Pending:
    """A model's tensor, resolved but not yet planned; ``entry``: the index of the entry that made it."""

    name: str
    spec: TensorSpec
    entry: int
    preset: str | None
    axes_from_init: bool = False


def _tensor_seed(model: ModelSpec, name: str) -> int:
    """A tensor's own seed: derived from the model seed and its name; the model seed itself where the
    tensors share one sequential generator (torch) or Flax derives their keys (flax); in the keras stream
    the derived seed's low 32 bits, as Keras takes no larger seed."""
    if model.stream in SEQUENTIAL_STREAMS or model.stream == "flax":
        return model.seed
    seed = derive_seed(model.seed, name)
    return seed & 0xFFFFFFFF if model.stream == "keras" else seed


def _named_tensor(model: ModelSpec, index: int, entry: Mapping[str, Any]) -> _Pending:
    _check_fields(entry, _ENTRY_FIELDS, "")
    name = check_name(entry.get("name"), "name")
    dtype = entry.get("dtype") or model.dtype
    spec, axes_from_init = _tensor_spec(entry, _tensor_seed(model, name), dtype, model.stream, model.layout)
    return _Pending(name, spec, index, None, axes_from_init)


def _preset_tensors(model: ModelSpec, index: int, entry: Mapping[str, Any]) -> list[_Pending]:
    prefix = entry.get("prefix", "")
    if prefix:
        check_name(prefix, "prefix")
    args = {k: v for k, v in entry.items() if k not in ("preset", "prefix")}
    pending = []
    for made in expand(entry["preset"], args):
        name = f"{prefix}.{made.name}" if prefix else made.name
        resolved = resolve_any(made.init, made.params, len(made.shape))
        spec = TensorSpec(
            made.shape,
            resolved.init,
            _tensor_seed(model, name),
            made.dtype or model.dtype,
            made.layout,  # type: ignore[arg-type]
            made.fills,
            stream=model.stream,
            requested=resolved.requested,
        )
        pending.append(_Pending(name, spec, index, entry["preset"]))
    return pending
