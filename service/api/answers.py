"""What the generating routes answer, shared by the tensor and the model routes: the documented errors
and headers, the ``X-Init-*`` headers, the request echo and the safetensors answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from service.api.admission import Lease
from service.api.flights import flights
from service.api.permanent import Name, headers_only, not_modified, not_modified_response
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
        "description": "Busy: the generation budget (INITSERVE_GENERATION_BUDGET_BYTES) or the work budget "
        "(INITSERVE_WORK_BUDGET_FLOPS) stayed full for the admission timeout; retry after `Retry-After` seconds.",
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
    "`__metadata__` holds `request` (the canonical request: every default filled in, the seed explicit), "
    "`stream`, `stream_version`, and `tensors` "
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


#: The headers every answer with a permanent URL carries (POST and GET).
URL_HEADERS = {
    "ETag": ("strong validator: the canonical request, the stream version and the format", "always"),
    "Content-Location": (
        "the permanent GET URL of this answer (POST; absent when its token is over 4096 chars)",
        "POST",
    ),
    "Cache-Control": (
        "GET: public, max-age=31536000, immutable; a POST without a seed: no-store",
        "GET, seedless POST",
    ),
}


def get_answer(
    description: str, media_type: str, headers: dict[str, tuple[str, str]], ranges: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a GET on a permanent URL answering ``media_type``."""
    answers = binary_answer(description, media_type, {**headers, **URL_HEADERS})
    answers[304] = {"description": "Not Modified: `If-None-Match` names the ETag; no body."}
    answers.update(documented(404, 414))
    if ranges:
        answers[206] = {**answers[200], "description": "Partial Content: the byte range asked (`Content-Range`)."}
        answers.update(documented(416))
    return answers


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
    runtime: Runtime, request: Request, tensors: Sequence[ModelTensor], name: Name, seed: int, filename: str
) -> Response:
    """The safetensors file of ``tensors``: made first (empirical statistics in the metadata) up to the
    buffered size, else streamed (theoretical statistics only). ``name``: the canonical request, whose
    JSON the metadata's ``request`` is. HEAD generates only a buffered file (its metadata's length
    depends on the statistics)."""
    spec = tensors[0].plan.spec
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Init-Seed": str(seed),
        "X-Init-Stream": spec.stream,
        "X-Init-Stream-Version": tensors[0].plan.stream_version,
        **name.headers(request, "safetensors"),
    }
    if request.method != "POST" and not_modified(request, headers["ETag"]):
        return not_modified_response(headers)
    echo = name.json.decode()
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

        async def make() -> tuple[tuple[bytes | memoryview, ...], Lease]:
            runtime.counted(plans)
            lease = await runtime.admit(request, plans, None)
            try:
                made = await runtime.generate_each(plans)
                fields = [
                    json_answer.model_tensor_fields(t, m.empirical, m.comparison)
                    for t, m in zip(tensors, made, strict=True)
                ]
                file = layout(fields)
            except BaseException:
                lease.release()
                raise
            arrays = {t.name: m.array for t, m in zip(tensors, made, strict=True)}
            return (file.header, *(npy.body_view(arrays[slot.entry.name]) for slot in file.slots)), lease

        parts, hold = await flights(runtime).share((name.kind + ".safetensors", name.json), make)
        response = BuffersResponse(parts, headers, safetensors.MEDIA_TYPE, hold)
        return headers_only(response) if request.method == "HEAD" else response

    file = layout([json_answer.model_tensor_fields(t, None, None) for t in tensors])
    headers["Content-Length"] = str(file.total_size)
    if request.method == "HEAD":
        return Response(headers=headers)
    by_name = {t.name: t.plan for t in tensors}
    in_file_order = [by_name[slot.entry.name] for slot in file.slots]
    runtime.counted(in_file_order)
    ahead = runtime.lookahead(in_file_order)
    lease = await runtime.admit(request, in_file_order, ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield file.header
        async for _, block in runtime.blocks(in_file_order, ahead, False, client_gone):
            yield npy.body_view(block.values)

    return StreamedResponse(stream, headers, safetensors.MEDIA_TYPE, lease)
