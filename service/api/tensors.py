"""The tensor operations: parse, resolve (``service.core.resolve``), respond.

Generation runs on the runtime's thread pool; the event loop only awaits it, so no request blocks
another. ``.npy`` answers up to ``buffered_npy_bytes`` are generated first (empirical statistics go
in headers); larger ones stream block by block, generation running at most a few blocks ahead of
the socket.

Each POST answers ``Content-Location``, the permanent URL of the same answer (``service.api.permanent``):
``GET /v1/tensors/{token}.npy|.safetensors|.json`` decodes the token back to the request, resolves it
with the same resolver and answers the same bytes, immutable; ``.npy`` also serves byte ranges.
Answers made before they are sent are shared by identical requests in flight (``service.api.flights``).
"""

from __future__ import annotations

import asyncio

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.api import permanent
from service.api.admission import FREE, Lease
from service.api.answers import (
    ERRORS,
    FILE_HEADERS,
    NPY_HEADERS,
    SAFETENSORS_METADATA,
    binary_answer,
    get_answer,
    init_headers,
    safetensors_answer,
)
from service.api.byteranges import Unsatisfiable, byte_range
from service.api.flights import flights
from service.api.histogram import measure
from service.api.permanent import Name, headers_only, not_modified, not_modified_response
from service.api.responses import BuffersResponse, Parts, StreamedResponse
from service.api.runtime import JSON_BYTES_PER_ELEMENT, Runtime, RuntimeDep
from service.api.schemas import StatsAnswer, StatsRequest, TensorAnswer, TensorRequest
from service.core import InitError, TensorPlan, resolve_tensor
from service.core.dtypes import numpy_dtype
from service.core.model import ModelTensor
from service.core.ranges import covering_elements, element_range
from service.encode import json as json_answer
from service.encode import npy, safetensors

router = APIRouter(tags=["tensors"])


def _resolve(runtime: Runtime, body: TensorRequest, max_elements: int) -> tuple[TensorPlan, Name]:
    plan = resolve_tensor(body.model_dump(exclude_unset=True, exclude={"histogram"}), max_elements)
    return plan, permanent.tensor_name(plan, body.seed is not None)


def _resolve_token(runtime: Runtime, token: str, max_elements: int) -> tuple[TensorPlan, Name]:
    """The plan a GET's token names (404 for a bad token, 414 for one too long)."""
    request, json = permanent.decode("tensor", token, TensorRequest)
    try:
        plan = resolve_tensor(request, max_elements)
    except InitError as exc:
        raise permanent.resolving("tensor", exc) from exc
    name = permanent.tensor_name(plan, True)
    permanent.check_canonical("tensor", json, name)
    return plan, name


# -- answers, shared by POST and GET --------------------------------------------------------------------


async def _json_answer(request: Request, runtime: Runtime, plan: TensorPlan, name: Name) -> Response:
    headers = name.headers(request, "json")
    if request.method != "POST" and not_modified(request, headers["ETag"]):
        return not_modified_response(headers)

    async def make() -> tuple[bytes, Lease]:
        runtime.counted([plan])
        lease = await runtime.admit(request, [plan], None, JSON_BYTES_PER_ELEMENT * plan.count)
        try:
            made = await runtime.generate(plan)
            content = await anyio.to_thread.run_sync(
                json_answer.answer, plan, made.empirical, made.comparison, made.array
            )
        except BaseException:
            lease.release()
            raise
        return content, lease

    content, hold = await flights(runtime).share(("tensor.json", name.json), make)
    response = BuffersResponse((content,), headers, json_answer.MEDIA_TYPE, hold)
    return headers_only(response) if request.method == "HEAD" else response


async def _npy_answer(request: Request, runtime: Runtime, plan: TensorPlan, name: Name) -> Response:
    header = npy.npy_header(plan.shape, plan.numpy_dtype)
    size = len(header) + plan.nbytes
    headers = {"Content-Disposition": 'attachment; filename="tensor.npy"', **name.headers(request, "npy")}
    if request.method != "POST":
        headers["Accept-Ranges"] = "bytes"
        if not_modified(request, headers["ETag"]):
            return not_modified_response(headers)
        if_range = request.headers.get("if-range")
        try:
            asked = byte_range(request.headers.get("range"), size) if if_range in (None, headers["ETag"]) else None
        except Unsatisfiable:
            raise HTTPException(
                416, f"the range is outside the file's {size} bytes", headers={"Content-Range": f"bytes */{size}"}
            ) from None
        if asked is not None:
            return await _npy_range(request, runtime, plan, header, asked, headers)
        if request.method == "HEAD":  # the length is known: nothing is generated
            return Response(headers={**headers, **init_headers(plan, None, None), "Content-Length": str(size)})

    if plan.nbytes <= runtime.settings.buffered_npy_bytes:

        async def make() -> tuple[tuple[memoryview, dict[str, str]], Lease]:
            runtime.counted([plan])
            lease = await runtime.admit(request, [plan], None)
            try:
                # The whole .npy file in one buffer, the tensor made in place after its header: one body
                # part to send (one write) instead of two, and no copy.
                file, flat = npy.npy_file(header, plan.count, plan.numpy_dtype)
                made = await runtime.generate(plan, flat)
            except BaseException:
                lease.release()
                raise
            return (file, init_headers(plan, made.empirical, made.comparison)), lease

        (file, statistics_headers), hold = await flights(runtime).share(("tensor.npy", name.json), make)
        return BuffersResponse((file,), {**headers, **statistics_headers}, npy.MEDIA_TYPE, hold)

    runtime.counted([plan])
    ahead = runtime.lookahead([plan])
    lease = await runtime.admit(request, [plan], ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield header
        async for _, block in runtime.blocks([plan], ahead, with_stats=False, client_gone=client_gone):
            yield npy.body_view(block.values)

    headers.update(init_headers(plan, None, None), **{"Content-Length": str(size)})
    return StreamedResponse(stream, headers, npy.MEDIA_TYPE, lease)


async def _npy_range(
    request: Request,
    runtime: Runtime,
    plan: TensorPlan,
    header: bytes,
    asked: tuple[int, int],
    headers: dict[str, str],
) -> Response:
    """Bytes ``[first, last]`` of the ``.npy`` file (206): the header's part, then only the elements the
    range covers (``service.core.ranges``), streamed."""
    first, last = asked
    size = len(header) + plan.nbytes
    headers = {
        **headers,
        **init_headers(plan, None, None),
        "Content-Range": f"bytes {first}-{last}/{size}",
        "Content-Length": str(last - first + 1),
    }
    if request.method == "HEAD":
        return Response(status_code=206, headers=headers)
    start, stop, skip = covering_elements(len(header), plan.numpy_dtype.itemsize, first, last)
    part = element_range(plan, start, stop) if stop > start else None
    ahead = runtime.lookahead([plan])
    lease: Lease = FREE
    if part is not None:
        runtime.counted([part])
        lease = await runtime.admit(request, [part], ahead)

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        if first < len(header):
            yield header[first : last + 1]
        if part is None:
            return
        left, cut = last + 1 - max(first, len(header)), skip
        async for _, block in runtime.blocks([part], ahead, with_stats=False, client_gone=client_gone):
            view = npy.body_view(block.values)[cut : cut + left]
            cut, left = 0, left - len(view)
            yield view

    response = StreamedResponse(stream, headers, npy.MEDIA_TYPE, lease)
    response.status_code = 206
    return response


async def _safetensors_answer(request: Request, runtime: Runtime, plan: TensorPlan, name: Name) -> Response:
    return await safetensors_answer(
        runtime, request, [ModelTensor("tensor", plan, 0, None)], name, plan.spec.seed, "tensor.safetensors"
    )


# -- POST ------------------------------------------------------------------------------------------------


@router.post(
    "/v1/tensors",
    operation_id="create_tensor",
    summary="Generate a tensor, answered as JSON with its data",
    response_model=TensorAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_tensor(request: Request, body: TensorRequest, runtime: RuntimeDep) -> Response:
    plan, name = _resolve(runtime, body, runtime.settings.max_json_elements)
    return await _json_answer(request, runtime, plan, name)


@router.post(
    "/v1/tensors/stats",
    operation_id="create_tensor_stats",
    summary="Generate a tensor and answer only its statistics",
    response_model=StatsAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_tensor_stats(request: Request, body: StatsRequest, runtime: RuntimeDep) -> Response:
    plan, name = _resolve(runtime, body, runtime.settings.max_elements)
    options = body.histogram

    async def make() -> tuple[bytes, Lease]:
        runtime.counted([plan])
        ahead = runtime.lookahead([plan])
        lease = await runtime.admit(request, [plan], ahead)
        try:
            empirical, comparison, histogram = await measure(runtime, plan, ahead, options)
        finally:
            lease.release()
        return json_answer.answer(plan, empirical, comparison, None, histogram), FREE

    key = ("tensor.stats", name.json, None if options is None else options.model_dump_json())
    content, hold = await flights(runtime).share(key, make)
    return BuffersResponse((content,), {}, json_answer.MEDIA_TYPE, hold)


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
    plan, name = _resolve(runtime, body, runtime.settings.max_elements)
    return await _npy_answer(request, runtime, plan, name)


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
    plan, name = _resolve(runtime, body, runtime.settings.max_elements)
    return await _safetensors_answer(request, runtime, plan, name)


# -- GET: permanent URLs -----------------------------------------------------------------------------------


@router.get(
    "/v1/tensors/{token}.npy",
    operation_id="get_tensor_npy",
    summary="The .npy answer of a POST /v1/tensors/npy, by its permanent URL (Content-Location)",
    response_class=Response,
    responses=get_answer(
        "The same bytes as the POST whose `Content-Location` this is. Byte ranges: `Range: bytes=a-b`, "
        "`a-`, `-n` -> 206 with `Content-Range`; several ranges -> the whole file (200); outside the "
        "file -> 416. HEAD answers the headers without generating (no `X-Init-Empirical-*`).",
        npy.MEDIA_TYPE,
        {**NPY_HEADERS, "Accept-Ranges": ("bytes", "always"), "Content-Range": ("the range served", "206")},
        ranges=True,
    ),
)
async def get_tensor_npy(request: Request, token: permanent.TensorToken, runtime: RuntimeDep) -> Response:
    plan, name = _resolve_token(runtime, token, runtime.settings.max_elements)
    npy.check_npy_dtype(plan.numpy_dtype)
    return await _npy_answer(request, runtime, plan, name)


@router.get(
    "/v1/tensors/{token}.safetensors",
    operation_id="get_tensor_safetensors",
    summary="The safetensors answer of a POST /v1/tensors/safetensors, by its permanent URL",
    response_class=Response,
    responses=get_answer(
        "The same bytes as the POST whose `Content-Location` this is.", safetensors.MEDIA_TYPE, FILE_HEADERS
    ),
)
async def get_tensor_safetensors(request: Request, token: permanent.TensorToken, runtime: RuntimeDep) -> Response:
    plan, name = _resolve_token(runtime, token, runtime.settings.max_elements)
    return await _safetensors_answer(request, runtime, plan, name)


@router.get(
    "/v1/tensors/{token}.json",
    operation_id="get_tensor_json",
    summary="The JSON answer of a POST /v1/tensors, by its permanent URL",
    response_class=Response,
    responses=get_answer(
        "The same bytes as the POST whose `Content-Location` this is (a `TensorAnswer`).",
        json_answer.MEDIA_TYPE,
        {},
    ),
)
async def get_tensor_json(request: Request, token: permanent.TensorToken, runtime: RuntimeDep) -> Response:
    plan, name = _resolve_token(runtime, token, runtime.settings.max_json_elements)
    return await _json_answer(request, runtime, plan, name)


permanent.add_head(router, "/v1/tensors/{token}.npy", get_tensor_npy)  # HEAD: the same handlers
permanent.add_head(router, "/v1/tensors/{token}.safetensors", get_tensor_safetensors)
permanent.add_head(router, "/v1/tensors/{token}.json", get_tensor_json)
