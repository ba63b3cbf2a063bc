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

from service.api import permanent
from service.api.admission import FREE, Lease
from service.api.answers import (
    ERRORS,
    FILE_HEADERS,
    SAFETENSORS_METADATA,
    binary_answer,
    get_answer,
    safetensors_answer,
)
from service.api.flights import flights
from service.api.permanent import Name, not_modified, not_modified_response
from service.api.responses import BuffersResponse, Parts, StreamedResponse
from service.api.runtime import Runtime, RuntimeDep
from service.api.schemas import ModelRequest, ModelStatsAnswer
from service.core import InitError, ParameterError, TooLargeError, resolve_model
from service.core.engine import statistics
from service.core.model import ModelLimits, ModelPlan, tensors_by_name
from service.core.stats import ChunkSums
from service.core.streams.names import STREAM_VERSIONS
from service.encode import json as json_answer
from service.encode import npy, npz, safetensors

router = APIRouter(tags=["models"])


def _limits(runtime: Runtime) -> ModelLimits:
    settings = runtime.settings
    return ModelLimits(
        max_tensors=settings.max_model_tensors,
        max_elements=settings.max_model_elements,
        max_bytes=settings.max_model_bytes,
        max_tensor_elements=settings.max_elements,
    )


def _resolve(runtime: Runtime, body: ModelRequest) -> tuple[ModelPlan, Name]:
    request = body.model_dump(exclude_unset=True)
    model = resolve_model(request, _limits(runtime))
    return model, permanent.model_name(request, model, body.seed is not None)


def _resolve_token(runtime: Runtime, token: str) -> tuple[ModelPlan, Name]:
    """The model a GET's token names (404 for a bad token, 414 for one too long)."""
    request, json = permanent.decode("model", token, ModelRequest)
    try:
        model = resolve_model(request, _limits(runtime))
    except InitError as exc:
        raise permanent.resolving("model", exc) from exc
    name = permanent.model_name(request, model, True)
    permanent.check_canonical("model", json, name)
    return model, name


@router.post(
    "/v1/models/stats",
    operation_id="create_model_stats",
    summary="Plan and generate a model, answer its manifest: every tensor's init, seed and statistics",
    response_model=ModelStatsAnswer,
    response_class=JSONResponse,
    responses=ERRORS,
)
async def create_model_stats(request: Request, body: ModelRequest, runtime: RuntimeDep) -> Response:
    model, name = _resolve(runtime, body)
    plans = [t.plan for t in model.tensors]

    async def make() -> tuple[bytes, Lease]:
        runtime.counted(plans)
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
        return json_answer.model_answer(model, fields), FREE

    content, hold = await flights(runtime).share(("model.stats", name.json), make)
    return BuffersResponse((content,), {}, json_answer.MEDIA_TYPE, hold)


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
    model, name = _resolve(runtime, body)
    return await safetensors_answer(runtime, request, model.tensors, name, model.spec.seed, "model.safetensors")


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
    model, name = _resolve(runtime, body)
    return await _npz_answer(request, runtime, model, name)


async def _npz_answer(request: Request, runtime: Runtime, model: ModelPlan, name: Name) -> Response:
    tensors = list(tensors_by_name(model))
    for tensor in tensors:
        if tensor.plan.spec.dtype == "bfloat16":
            field = "dtype" if model.spec.dtype == "bfloat16" else f"entries.{tensor.entry}.dtype"
            raise ParameterError(
                "NPY (and so NPZ) has no bfloat16 type; request POST /v1/models/safetensors for bfloat16", field
            )
    try:
        writer = npz.NpzWriter([(t.name, t.plan.numpy_dtype, t.plan.shape) for t in tensors])
    except ValueError as exc:
        raise TooLargeError(f"{exc}; use POST /v1/models/safetensors", "entries") from exc
    headers = {
        "Content-Disposition": 'attachment; filename="model.npz"',
        "Content-Length": str(writer.total_size),
        "X-Init-Seed": str(model.spec.seed),
        "X-Init-Stream": model.spec.stream,
        "X-Init-Stream-Version": STREAM_VERSIONS[model.spec.stream],
        **name.headers(request, "npz"),
    }
    if request.method != "POST" and not_modified(request, headers["ETag"]):
        return not_modified_response(headers)
    if request.method == "HEAD":  # the length is known: nothing is generated
        return Response(headers=headers)
    plans = [t.plan for t in tensors]
    runtime.counted(plans)
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

    return StreamedResponse(stream, headers, npz.MEDIA_TYPE, lease)


# -- GET: permanent URLs -----------------------------------------------------------------------------------


@router.get(
    "/v1/models/{token}.safetensors",
    operation_id="get_model_safetensors",
    summary="The safetensors answer of a POST /v1/models/safetensors, by its permanent URL",
    response_class=Response,
    responses=get_answer(
        "The same bytes as the POST whose `Content-Location` this is.", safetensors.MEDIA_TYPE, FILE_HEADERS
    ),
)
async def get_model_safetensors(request: Request, token: permanent.ModelToken, runtime: RuntimeDep) -> Response:
    model, name = _resolve_token(runtime, token)
    return await safetensors_answer(runtime, request, model.tensors, name, model.spec.seed, "model.safetensors")


@router.get(
    "/v1/models/{token}.npz",
    operation_id="get_model_npz",
    summary="The .npz answer of a POST /v1/models/npz, by its permanent URL",
    response_class=Response,
    responses=get_answer("The same bytes as the POST whose `Content-Location` this is.", npz.MEDIA_TYPE, FILE_HEADERS),
)
async def get_model_npz(request: Request, token: permanent.ModelToken, runtime: RuntimeDep) -> Response:
    model, name = _resolve_token(runtime, token)
    return await _npz_answer(request, runtime, model, name)


permanent.add_head(router, "/v1/models/{token}.safetensors", get_model_safetensors)
permanent.add_head(router, "/v1/models/{token}.npz", get_model_npz)
