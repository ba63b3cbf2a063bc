"""The canonical request: one spelling for every request that means the same tensor or model.

A tensor or model answer is a pure function of its request, so the request can name the answer (its
permanent URL, ``service.encode.token``). Many spellings mean the same request: aliases (``xavier``,
``keras.random_normal``), defaults left out, keys in any order, a ``shard`` or the equal ``slice``, a
seed the service picks. The canonical request is the one spelling, plain data, built from what the
resolver (``service.core.resolve``) made of the request, so that resolving it again gives the same plan:

- a tensor: ``shape`` (the full tensor's), ``init`` (the framework-named initializer as asked with every
  default filled in, under its canonical name; else the canonical scheme with its defaults), ``seed``,
  ``dtype``, ``stream``, the layout (``layout``, or ``fan_axes`` as lists) unless the init's own axis
  parameters give it, and ``slice`` (``[start, stop]`` per dimension) when a part is served;
- a model: ``entries`` (a named tensor as a tensor above, without seed and stream but with its ``name``;
  a preset with its canonical arguments, every default filled in, and its ``prefix`` unless empty),
  ``seed``, ``dtype`` and ``stream``. The model's ``layout`` is left out: every named tensor carries its
  own, and presets use their framework's.

``canonical_json`` writes it as compact JSON with sorted keys: the same canonical request, the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from service.core.fans import FanAxes
from service.core.frameworks import resolve_any
from service.core.model import ModelPlan
from service.core.params import check
from service.core.plan import TensorPlan, TensorSpec
from service.core.presets import preset_of


def canonical_tensor(plan: TensorPlan) -> dict[str, Any]:
    """The canonical request of a resolved single-tensor request."""
    return {**_tensor_fields(plan.spec), "seed": plan.spec.seed, "stream": plan.spec.stream}


def canonical_model(request: Mapping[str, Any], model: ModelPlan) -> dict[str, Any]:
    """The canonical request of a model request, ``model`` being what ``resolve_model`` made of it."""
    named = {t.entry: t for t in model.tensors if t.preset is None}
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(request["entries"]):
        if index in named:
            tensor = named[index]
            entries.append({"name": tensor.name, **_tensor_fields(tensor.plan.spec)})
            continue
        preset = preset_of(entry["preset"])
        args = check(f"preset {preset.name}", preset.args, {k: v for k, v in entry.items() if k not in _PRESET_KEYS})
        prefix = entry.get("prefix") or None
        entries.append({"preset": preset.name, **({"prefix": prefix} if prefix else {}), **args})
    return {"entries": entries, "seed": model.spec.seed, "dtype": model.spec.dtype, "stream": model.spec.stream}


def canonical_json(canonical: Mapping[str, Any]) -> bytes:
    """The canonical request as compact JSON, keys sorted (tuples as lists)."""
    return orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)


_PRESET_KEYS = ("preset", "prefix")


def _tensor_fields(spec: TensorSpec) -> dict[str, Any]:
    """A tensor's shape, init, dtype, layout and slice, canonical."""
    fields: dict[str, Any] = {"shape": list(spec.shape), "dtype": spec.dtype}
    if spec.requested is not None:
        params = {k: v for k, v in spec.requested.items() if k != "scheme"}
        resolved = resolve_any(spec.requested["scheme"], params, len(spec.shape))
        fields["init"] = resolved.requested
        axes_from_init = resolved.axes_given
    else:
        fields["init"] = spec.init.as_dict()
        axes_from_init = False
    if not axes_from_init:
        if isinstance(spec.layout, FanAxes):
            fields["fan_axes"] = {
                "in_axis": list(spec.layout.in_axis),
                "out_axis": list(spec.layout.out_axis),
                "batch_axis": list(spec.layout.batch_axis),
            }
        else:
            fields["layout"] = spec.layout
    if spec.slice is not None:
        fields["slice"] = [list(bounds) for bounds in spec.slice]
    return fields
