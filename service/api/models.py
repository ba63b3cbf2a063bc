"""The model operations: parse, resolve (``service.core.resolve``), respond.

``POST /v1/models/safetensors``, ``/v1/models/npz`` and ``/v1/models/stats`` answer a model (named
tensors and layer presets, see ``service.core.model``). Files are streamed: the header (safetensors)
or each member's headers (npz) are known before any element is made, so ``Content-Length`` goes
first and the tensors' blocks follow as they are made, a few blocks ahead of the socket. A
safetensors file up to ``buffered_npy_bytes`` is made first, so its metadata carries the empirical
statistics; a larger one carries the theoretical statistics only (``POST /v1/models/stats`` measures).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from service.api.answers import (
    ERRORS,
    FILE_HEADERS,
    SAFETENSORS_METADATA,
    binary_answer,
    request_echo,
    safetensors_answer,
)
from service.api.responses import Parts, StreamedResponse
from service.api.runtime import RuntimeDep
from service.api.schemas import ModelRequest, ModelStatsAnswer
from service.core import ParameterError, TooLargeError, resolve_model
from service.core.engine import statistics
from service.core.model import ModelLimits, ModelPlan, tensors_by_name
from service.core.stats import ChunkSums
from service.core.streams.names import STREAM_VERSIONS
from service.encode import json as json_answer
from service.encode import npy, npz, safetensors

router = APIRouter(tags=["models"])


def _resolve(runtime: RuntimeDep, body: ModelRequest) -> ModelPlan:
    settings = runtime.settings
    limits = ModelLimits(
        max_tensors=settings.max_model_tensors,
        max_elements=settings.max_model_elements,
        max_bytes=settings.max_model_bytes,
        max_tensor_elements=settings.max_elements,
    )
    model = resolve_model(body.model_dump(exclude_unset=True), limits)
    runtime.counted([t.plan for t in model.tensors])
    return model


@router.post(
    "/v1/models/stats",
    operation_id="create_model_stats",
    summary="Plan and generate a model, answer its manifest: every tensor's init, seed and statistics",
    response_model=ModelStatsAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_model_stats(request: Request, body: ModelRequest, runtime: RuntimeDep) -> Response:
    model = _resolve(runtime, body)
    plans = [t.plan for t in model.tensors]
    ahead = runtime.lookahead(plans)
    lease = await runtime.admit(request, plans, ahead)
    sums: list[list[ChunkSums]] = [[] for _ in plans]
    try:
        async for index, block in runtime.blocks(plans, ahead):
            sums[index].extend(block.sums)
    finally:
        lease.release()
    fields = [
        json_answer.model_tensor_fields(t, *statistics(t.plan, s)) for t, s in zip(model.tensors, sums, strict=True)
    ]
    return Response(json_answer.model_answer(model, fields), media_type=json_answer.MEDIA_TYPE)


@router.post(
    "/v1/models/safetensors",
    operation_id="create_model_safetensors",
    summary="Generate a model, answered as a safetensors file",
    response_class=Response,
    responses=binary_answer(
        "The model's tensors as safetensors (official loaders: safetensors.numpy for float types, "
        "safetensors.torch or flax for BF16), sorted by dtype alignment and name. " + SAFETENSORS_METADATA,
        safetensors.MEDIA_TYPE,
        FILE_HEADERS,
    ),
)
async def create_model_safetensors(request: Request, body: ModelRequest, runtime: RuntimeDep) -> Response:
    model = _resolve(runtime, body)
    echo = request_echo(body, model.spec.seed)
    return await safetensors_answer(runtime, request, model.tensors, echo, model.spec.seed, "model.safetensors")


@router.post(
    "/v1/models/npz",
    operation_id="create_model_npz",
    summary="Generate a model, answered as an .npz file (numpy.load)",
    response_class=Response,
    responses=binary_answer(
        "The model's tensors as NPZ (a stored ZIP of .npy members, as numpy.savez writes), members sorted by "
        "name. No bfloat16 (NPY has none): use safetensors.",
        npz.MEDIA_TYPE,
        FILE_HEADERS,
    ),
)
async def create_model_npz(request: Request, body: ModelRequest, runtime: RuntimeDep) -> Response:
    model = _resolve(runtime, body)
    tensors = list(tensors_by_name(model))
    for tensor in tensors:
        if tensor.plan.spec.dtype == "bfloat16":
            field = "dtype" if body.dtype == "bfloat16" else f"entries.{tensor.entry}.dtype"
            raise ParameterError(
                "NPY (and so NPZ) has no bfloat16 type; request POST /v1/models/safetensors for bfloat16", field
            )
    try:
        writer = npz.NpzWriter([(t.name, t.plan.numpy_dtype, t.plan.shape) for t in tensors])
    except ValueError as exc:
        raise TooLargeError(f"{exc}; use POST /v1/models/safetensors", "entries") from exc
    plans = [t.plan for t in tensors]
    ahead = runtime.lookahead(plans)
    lease = await runtime.admit(request, plans, ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        current = -1
        async for index, block in runtime.blocks(plans, ahead, False, client_gone):
            if index != current:
                if current >= 0:
                    yield writer.end()
                yield writer.begin(index)
                current = index
            view = npy.body_view(block.values)
            writer.update(view)
            yield view
        yield writer.end()
        yield writer.finish()

    headers = {
        "Content-Disposition": 'attachment; filename="model.npz"',
        "Content-Length": str(writer.total_size),
        "X-Init-Seed": str(model.spec.seed),
        "X-Init-Stream": model.spec.stream,
        "X-Init-Stream-Version": STREAM_VERSIONS[model.spec.stream],
    }
    return StreamedResponse(stream, headers, npz.MEDIA_TYPE, lease)
