"""The JSON answer: request echo, fans, statistics and (optionally) the flat data.

Serialized with orjson straight from the arrays. orjson writes the shortest
decimal that round-trips each float32 (float16 as float32 too; bfloat16 is widened
to float32 first, exactly), so every value parsed back to the tensor's dtype
equals the ``.npy`` value bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from service.core import Comparison, Empirical, FanAxes, TensorPlan
from service.core.model import ModelPlan, ModelTensor
from service.core.streams.names import SEQUENTIAL_STREAMS, STREAM_VERSIONS

MEDIA_TYPE = "application/json"


def layout_fields(plan: TensorPlan) -> dict[str, Any]:
    """``layout`` and ``fan_axes`` as the request gave them (one of them is ``None``)."""
    layout = plan.spec.layout
    if isinstance(layout, FanAxes):
        axes = {
            "in_axis": list(layout.in_axis),
            "out_axis": list(layout.out_axis),
            "batch_axis": list(layout.batch_axis),
        }
        return {"layout": None, "fan_axes": axes}
    return {"layout": layout, "fan_axes": None}


def shape_fields(plan: TensorPlan) -> dict[str, Any]:
    """``shape`` (served), ``full_shape`` and ``slice`` (null for the whole tensor)."""
    bounds = plan.spec.slice
    return {
        "shape": list(plan.shape),
        "full_shape": list(plan.spec.shape),
        "slice": None if bounds is None else [list(pair) for pair in bounds],
    }


def stats_fields(plan: TensorPlan, empirical: Empirical | None, comparison: Comparison | None) -> dict[str, Any]:
    """The ``stats`` object; with ``empirical`` None (a tensor streamed before it was measured), only the
    theoretical part, the rest null."""
    m = plan.moments
    theoretical = {"mean": m.mean, "variance": m.variance, "std": m.std, "low": m.low, "high": m.high}
    if empirical is None or comparison is None:
        return {"theoretical": theoretical, "empirical": None, "variance_ratio": None, "variance_z": None}
    return {
        "theoretical": theoretical,
        "empirical": {
            "count": empirical.count,
            "mean": empirical.mean,
            "variance": empirical.variance,
            "std": empirical.std,
            "min": empirical.min,
            "max": empirical.max,
        },
        "variance_ratio": comparison.variance_ratio,
        "variance_z": comparison.variance_z,
    }


def answer(
    plan: TensorPlan,
    empirical: Empirical,
    comparison: Comparison,
    data: np.ndarray | None,
    histogram: dict[str, Any] | None = None,
) -> bytes:
    """The JSON answer; ``data`` (any shape) is written flat, in C order, when given; ``histogram``
    (edges and counts) goes in ``stats`` when given."""
    spec = plan.spec
    body: dict[str, Any] = {
        **shape_fields(plan),
        "dtype": spec.dtype,
        **layout_fields(plan),
        "seed": spec.seed,
        "init": spec.init.as_dict(),
        "requested_init": spec.requested,
        "fan_in": plan.fans.fan_in if plan.fans else None,
        "fan_out": plan.fans.fan_out if plan.fans else None,
        "stream": spec.stream,
        "stream_version": plan.stream_version,
        "stats": stats_fields(plan, empirical, comparison),
    }
    if histogram is not None:
        body["stats"]["histogram"] = histogram
    if data is not None:
        flat = data.reshape(-1)
        if flat.dtype.name == "bfloat16":
            flat = flat.astype(np.float32)  # exact: bfloat16 is a subset of float32; orjson lacks it
        body["data"] = flat
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def model_tensor_fields(
    tensor: ModelTensor, empirical: Empirical | None, comparison: Comparison | None
) -> dict[str, Any]:
    """One tensor of a model's manifest (``POST /v1/models/stats``, safetensors metadata)."""
    plan = tensor.plan
    return {
        "name": tensor.name,
        "entry": tensor.entry,
        "preset": tensor.preset,
        **shape_fields(plan),
        "dtype": plan.spec.dtype,
        **layout_fields(plan),
        "seed": plan.spec.seed,
        "init": plan.spec.init.as_dict(),
        "requested_init": plan.spec.requested,
        "fan_in": plan.fans.fan_in if plan.fans else None,
        "fan_out": plan.fans.fan_out if plan.fans else None,
        "stats": stats_fields(plan, empirical, comparison),
    }


def model_answer(model: ModelPlan, tensors: list[dict[str, Any]]) -> bytes:
    """The model's manifest, ``tensors`` made by ``model_tensor_fields`` in the model's order."""
    body = {
        "seed": model.spec.seed,
        "dtype": model.spec.dtype,
        "stream": model.spec.stream,
        "stream_version": STREAM_VERSIONS[model.spec.stream],
        "shared_generator": model.spec.stream in SEQUENTIAL_STREAMS,
        "count": model.count,
        "nbytes": model.nbytes,
        "tensors": tensors,
    }
    return orjson.dumps(body)
