"""The tensor operations: parse, resolve (``service.core.resolve``), respond.

Generation runs on the runtime's thread pool; the event loop only awaits it, so no request blocks
another. ``.npy`` answers up to ``buffered_npy_bytes`` are generated first (empirical statistics go
in headers); larger ones stream block by block, generation running at most a few blocks ahead of
the socket.
"""

from __future__ import annotations

import asyncio

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from service.api.answers import (
    ERRORS,
    FILE_HEADERS,
    NPY_HEADERS,
    SAFETENSORS_METADATA,
    binary_answer,
    init_headers,
    request_echo,
    safetensors_answer,
)
from service.api.histogram import measure
from service.api.responses import BuffersResponse, Parts, StreamedResponse
from service.api.runtime import JSON_BYTES_PER_ELEMENT, RuntimeDep
from service.api.schemas import StatsAnswer, StatsRequest, TensorAnswer, TensorRequest
from service.core import TensorPlan, resolve_tensor
from service.core.dtypes import numpy_dtype
from service.core.model import ModelTensor
from service.encode import json as json_answer
from service.encode import npy, safetensors

router = APIRouter(tags=["tensors"])


def _resolve(runtime: RuntimeDep, body: TensorRequest, max_elements: int) -> TensorPlan:
    plan = resolve_tensor(body.model_dump(exclude_unset=True, exclude={"histogram"}), max_elements)
    runtime.counted([plan])
    return plan


@router.post(
    "/v1/tensors",
    operation_id="create_tensor",
    summary="Generate a tensor, answered as JSON with its data",
    response_model=TensorAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_tensor(request: Request, body: TensorRequest, runtime: RuntimeDep) -> Response:
    plan = _resolve(runtime, body, runtime.settings.max_json_elements)
    lease = await runtime.admit(request, [plan], None, JSON_BYTES_PER_ELEMENT * plan.count)
    try:
        made = await runtime.generate(plan)
        content = await anyio.to_thread.run_sync(json_answer.answer, plan, made.empirical, made.comparison, made.array)
    except BaseException:
        lease.release()
        raise
    return BuffersResponse((content,), {}, json_answer.MEDIA_TYPE, lease)


@router.post(
    "/v1/tensors/stats",
    operation_id="create_tensor_stats",
    summary="Generate a tensor and answer only its statistics",
    response_model=StatsAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_tensor_stats(request: Request, body: StatsRequest, runtime: RuntimeDep) -> Response:
    plan = _resolve(runtime, body, runtime.settings.max_elements)
    ahead = runtime.lookahead([plan])
    lease = await runtime.admit(request, [plan], ahead)
    try:
        empirical, comparison, histogram = await measure(runtime, plan, ahead, body.histogram)
    finally:
        lease.release()
    return Response(json_answer.answer(plan, empirical, comparison, None, histogram), media_type=json_answer.MEDIA_TYPE)


@router.post(
    "/v1/tensors/npy",
    operation_id="create_tensor_npy",
    summary="Generate a tensor, answered as .npy bytes",
    response_class=Response,
    responses=binary_answer(
        "The tensor as NPY v1.0 (`numpy.load` reads it), C order, little-endian.", npy.MEDIA_TYPE, NPY_HEADERS
    ),
)
async def create_tensor_npy(request: Request, body: TensorRequest, runtime: RuntimeDep) -> Response:
    npy.check_npy_dtype(numpy_dtype(body.dtype))  # before resolving: this error names dtype whatever else is wrong
    plan = _resolve(runtime, body, runtime.settings.max_elements)
    header = npy.npy_header(plan.shape, plan.numpy_dtype)
    headers = {"Content-Disposition": 'attachment; filename="tensor.npy"'}
    if plan.nbytes <= runtime.settings.buffered_npy_bytes:
        lease = await runtime.admit(request, [plan], None)
        try:
            # The whole .npy file in one buffer, the tensor made in place after its header: one body
            # part to send (one write) instead of two, and no copy.
            file, flat = npy.npy_file(header, plan.count, plan.numpy_dtype)
            made = await runtime.generate(plan, flat)
        except BaseException:
            lease.release()
            raise
        headers.update(init_headers(plan, made.empirical, made.comparison))
        return BuffersResponse((file,), headers, npy.MEDIA_TYPE, lease)

    ahead = runtime.lookahead([plan])
    lease = await runtime.admit(request, [plan], ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield header
        async for _, block in runtime.blocks([plan], ahead, with_stats=False, client_gone=client_gone):
            yield npy.body_view(block.values)

    headers.update(init_headers(plan, None, None), **{"Content-Length": str(len(header) + plan.nbytes)})
    return StreamedResponse(stream, headers, npy.MEDIA_TYPE, lease)


@router.post(
    "/v1/tensors/safetensors",
    operation_id="create_tensor_safetensors",
    summary="Generate a tensor, answered as a safetensors file (the one tensor is named `tensor`)",
    response_class=Response,
    responses=binary_answer(
        "One tensor named `tensor`, any dtype (bfloat16 as BF16). " + SAFETENSORS_METADATA,
        safetensors.MEDIA_TYPE,
        FILE_HEADERS,
    ),
)
async def create_tensor_safetensors(request: Request, body: TensorRequest, runtime: RuntimeDep) -> Response:
    plan = _resolve(runtime, body, runtime.settings.max_elements)
    echo = request_echo(body, plan.spec.seed)
    return await safetensors_answer(
        runtime, request, [ModelTensor("tensor", plan, 0, None)], echo, plan.spec.seed, "tensor.safetensors"
    )
