"""What the generating routes answer, shared by the tensor and the model routes: the documented errors
and headers, the ``X-Init-*`` headers, the request echo and the safetensors answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from service.api.problems import documented
from service.api.responses import BuffersResponse, Parts, StreamedResponse
from service.api.runtime import Runtime
from service.core import Comparison, Empirical, TensorPlan, TooLargeError
from service.core.model import ModelTensor
from service.encode import json as json_answer
from service.encode import npy, safetensors

ERRORS: dict[int | str, dict[str, Any]] = {
    **documented(400, 413, 415, 422, 500),
    503: {
        **documented(503)[503],
        "description": "Busy: the generation budget (INITSERVE_GENERATION_BUDGET_BYTES) stayed full for the "
        "admission timeout; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}},
    },
}

NPY_HEADERS = {  # the .npy answer's headers: (meaning, when present)
    "Content-Disposition": ('attachment; filename="tensor.npy"', "always"),
    "X-Init-Seed": ("the seed used (chosen by the service when the request had none)", "always"),
    "X-Init-Fan-In": ("fan_in in the request's layout; absent where undefined", "when defined"),
    "X-Init-Fan-Out": ("fan_out in the request's layout; absent where undefined", "when defined"),
    "X-Init-Stream": ("the stream the numbers come from (initserve-1, torch, ...)", "always"),
    "X-Init-Stream-Version": ("version of the random stream", "always"),
    "X-Init-Theoretical-Variance": ("variance of the sampling distribution", "always"),
    "X-Init-Empirical-Mean": ("mean of the tensor sent", "tensors up to the buffered size (16 MiB by default)"),
    "X-Init-Empirical-Variance": ("population variance of the tensor sent", "tensors up to the buffered size"),
    "X-Init-Variance-Ratio": ("empirical / theoretical variance", "buffered tensors with a variance > 0"),
}
FILE_HEADERS = {  # a file answer's headers (safetensors, npz)
    "Content-Disposition": ("attachment; filename=...", "always"),
    "X-Init-Seed": ("the model seed (chosen by the service when the request had none)", "always"),
    "X-Init-Stream": ("the stream the numbers come from (initserve-1, torch, ...)", "always"),
    "X-Init-Stream-Version": ("version of the random stream", "always"),
}
SAFETENSORS_METADATA = (
    "`__metadata__` holds `request` (the request, seed filled in), `stream`, `stream_version`, and `tensors` "
    "(JSON: each tensor's name, shape, dtype, layout, seed, canonical and requested init, fans and statistics; "
    "empirical statistics when the file is up to the buffered size (16 MiB by default), else theoretical only); "
    "and `format` (`pt` or `flax`, as Hugging Face loaders require) when every tensor is in PyTorch's or JAX's "
    "layout."
)


def binary_answer(
    description: str, media_type: str, headers: dict[str, tuple[str, str]]
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an operation answering a binary file with ``headers``."""
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                name: {"description": f"{text} ({when})", "schema": {"type": "string"}}
                for name, (text, when) in headers.items()
            },
        },
        **ERRORS,
    }


def shortest_decimal(value: float | int) -> str:
    """Shortest decimal that round-trips the float64 (Python's repr)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def init_headers(plan: TensorPlan, empirical: Empirical | None, comparison: Comparison | None) -> dict[str, str]:
    """The ``X-Init-*`` headers of a ``.npy`` answer; a header whose value would be null is left out."""
    values: dict[str, float | int | str | None] = {
        "X-Init-Seed": plan.spec.seed,
        "X-Init-Fan-In": plan.fans.fan_in if plan.fans else None,
        "X-Init-Fan-Out": plan.fans.fan_out if plan.fans else None,
        "X-Init-Stream": plan.spec.stream,
        "X-Init-Stream-Version": plan.stream_version,
        "X-Init-Theoretical-Variance": plan.moments.variance,
    }
    if empirical is not None and comparison is not None:
        values["X-Init-Empirical-Mean"] = empirical.mean
        values["X-Init-Empirical-Variance"] = empirical.variance
        values["X-Init-Variance-Ratio"] = comparison.variance_ratio
    return {k: v if isinstance(v, str) else shortest_decimal(v) for k, v in values.items() if v is not None}


def request_echo(body: BaseModel, seed: int) -> str:
    """The request as JSON with the seed the answer used (sorted keys: the same request, the same text)."""
    echo = body.model_dump(mode="json", exclude_unset=True)
    echo["seed"] = seed
    return orjson.dumps(echo, option=orjson.OPT_SORT_KEYS).decode()


def hugging_face_format(tensors: Sequence[ModelTensor]) -> str | None:
    """The ``format`` Hugging Face loaders require in safetensors metadata (transformers refuses a file whose
    metadata lacks it): ``pt`` when every tensor is in PyTorch's layout, ``flax`` when every tensor is in
    JAX's or comes from a Flax preset (loaders convert ``pt`` files to Flax by transposing kernels, so the
    value must say which layout the file holds); None (left out) for Keras layouts and mixed models."""
    if all(t.plan.spec.layout == "torch" for t in tensors):
        return "pt"
    if all(t.plan.spec.layout == "jax" or (t.preset or "").startswith("flax.") for t in tensors):
        return "flax"
    return None


async def safetensors_answer(
    runtime: Runtime, request: Request, tensors: Sequence[ModelTensor], echo: str, seed: int, filename: str
) -> Response:
    """The safetensors file of ``tensors``: made first (empirical statistics in the metadata) up to the
    buffered size, else streamed (theoretical statistics only)."""
    spec = tensors[0].plan.spec
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Init-Seed": str(seed),
        "X-Init-Stream": spec.stream,
        "X-Init-Stream-Version": tensors[0].plan.stream_version,
    }
    entries = [safetensors.Entry(t.name, t.plan.numpy_dtype, t.plan.shape) for t in tensors]
    plans = [t.plan for t in tensors]

    def layout(fields: list[dict[str, Any]]) -> safetensors.FileLayout:
        metadata = {
            "request": echo,
            "stream": spec.stream,
            "stream_version": headers["X-Init-Stream-Version"],
            "tensors": orjson.dumps(fields).decode(),
        }
        layout_format = hugging_face_format(tensors)
        if layout_format is not None:
            metadata["format"] = layout_format
        try:
            return safetensors.file_layout(entries, metadata)
        except ValueError as exc:  # only the header cap can be hit by a valid request
            raise TooLargeError(str(exc), "entries") from exc

    if sum(plan.nbytes for plan in plans) <= runtime.settings.buffered_npy_bytes:
        lease = await runtime.admit(request, plans, None)
        try:
            made = [await runtime.generate(plan) for plan in plans]
            fields = [
                json_answer.model_tensor_fields(t, m.empirical, m.comparison)
                for t, m in zip(tensors, made, strict=True)
            ]
            file = layout(fields)
        except BaseException:
            lease.release()
            raise
        arrays = {t.name: m.array for t, m in zip(tensors, made, strict=True)}
        parts = (file.header, *(npy.body_view(arrays[slot.entry.name]) for slot in file.slots))
        return BuffersResponse(parts, headers, safetensors.MEDIA_TYPE, lease)

    file = layout([json_answer.model_tensor_fields(t, None, None) for t in tensors])
    by_name = {t.name: t.plan for t in tensors}
    in_file_order = [by_name[slot.entry.name] for slot in file.slots]
    ahead = runtime.lookahead(in_file_order)
    lease = await runtime.admit(request, in_file_order, ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield file.header
        async for _, block in runtime.blocks(in_file_order, ahead, False, client_gone):
            yield npy.body_view(block.values)

    headers["Content-Length"] = str(file.total_size)
    return StreamedResponse(stream, headers, safetensors.MEDIA_TYPE, lease)
