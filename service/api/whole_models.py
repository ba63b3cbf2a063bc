"""Whole models and safetensors: HTTP to core calls and back.

``POST /v1/models/safetensors``, ``/v1/models/npz`` and ``/v1/models/stats`` answer a
model (named tensors and layer presets, see ``service.core.model``);
``POST /v1/tensors/safetensors`` answers one tensor as a one-entry safetensors file.

Files are streamed: the header (safetensors) or each member's headers (npz) are known
before any element is made, so ``Content-Length`` goes first and the tensors' blocks
follow as they are made, a few blocks ahead of the socket. A safetensors file up to
``buffered_npy_bytes`` is made first, so its metadata carries the empirical statistics;
a larger one carries the theoretical statistics only (``POST /v1/models/stats`` measures).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from service.api.models import ModelRequest, ModelStatsAnswer, TensorEntry, TensorRequest
from service.api.responses import BuffersResponse, Parts, StreamedResponse
from service.api.tensors import (
    _ERRORS,
    WHOLE_BYTES_PER_ELEMENT,
    Work,
    _engine,
    _plan,
    admit,
    blocks_in_order,
    blocks_of,
    generate,
    leased,
    lookahead,
)
from service.core import MAX_SEED, STREAM_VERSION, FanAxes, LayoutError, ParameterError, TooLargeError
from service.core.engine import BLOCK_CHUNKS, statistics
from service.core.model import (
    ModelLimits,
    ModelPlan,
    ModelSpec,
    ModelTensor,
    PresetEntry,
    plan_model,
    tensors_by_name,
)
from service.core.model import TensorEntry as CoreTensorEntry
from service.core.sources import CHUNK_ELEMENTS, release
from service.core.stats import ChunkSums
from service.encode import json as json_answer
from service.encode import npy, npz, safetensors

router = APIRouter(tags=["models"])

_FILE_HEADERS = {
    "Content-Disposition": ("attachment; filename=...", "always"),
    "X-Init-Seed": ("the model seed (chosen by the service when the request had none)", "always"),
    "X-Init-Stream-Version": ("version of the random stream", "always"),
}


def _file_response(description: str, media_type: str = safetensors.MEDIA_TYPE) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                name: {"description": f"{text} ({when})", "schema": {"type": "string"}}
                for name, (text, when) in _FILE_HEADERS.items()
            },
        },
        **_ERRORS,
    }


_SAFETENSORS_METADATA = (
    "`__metadata__` holds `request` (the request, seed filled in), `stream_version`, and `tensors` (JSON: each "
    "tensor's name, shape, dtype, layout, seed, canonical and requested init, fans and statistics; empirical "
    "statistics when the file is up to the buffered size (16 MiB by default), else theoretical only); and "
    "`format` (`pt` or `flax`, as Hugging Face loaders require) when every tensor is in PyTorch's or JAX's layout."
)


# -- request to core ---------------------------------------------------------------------------------------


def to_model_spec(body: ModelRequest) -> ModelSpec:
    """The core's model; picks a model seed when none is given."""
    entries: list[CoreTensorEntry | PresetEntry] = []
    for index, entry in enumerate(body.entries):
        if isinstance(entry, TensorEntry):
            if entry.fan_axes is not None and entry.layout is not None:
                raise LayoutError("give either layout or fan_axes, not both", f"entries.{index}.fan_axes")
            layout: Any = entry.layout
            if entry.fan_axes is not None:
                axes = entry.fan_axes
                layout = FanAxes.of(axes.in_axis, axes.out_axis, axes.batch_axis)
            init = entry.init  # type: ignore[attr-defined]
            params = init.model_dump(exclude={"scheme"})
            entries.append(CoreTensorEntry(entry.name, tuple(entry.shape), init.scheme, params, layout, entry.dtype))
        else:
            args = entry.model_dump(exclude={"preset", "prefix"}, exclude_unset=True)
            entries.append(PresetEntry(entry.preset, args, entry.prefix))
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
    return ModelSpec(tuple(entries), seed, body.dtype, body.layout)


def _plan_model(request: Request, body: ModelRequest) -> ModelPlan:
    settings = request.app.state.settings
    limits = ModelLimits(
        max_tensors=settings.max_model_tensors,
        max_elements=settings.max_model_elements,
        max_bytes=settings.max_model_bytes,
        max_tensor_elements=settings.max_elements,
    )
    model = plan_model(to_model_spec(body), limits)
    for tensor in model.tensors:
        plan = tensor.plan
        request.app.state.metrics.generated(plan.spec.init.scheme, plan.spec.dtype, plan.count)
    return model


def _request_echo(body: ModelRequest | TensorRequest, seed: int) -> str:
    """The request as JSON with the seed the answer used (sorted keys: the same request, the same text)."""
    echo = body.model_dump(mode="json", exclude_unset=True)
    echo["seed"] = seed
    return orjson.dumps(echo, option=orjson.OPT_SORT_KEYS).decode()


# -- generation -------------------------------------------------------------------------------------------


def _held_bytes(tensors: Sequence[ModelTensor], ahead: int | None) -> int:
    """Bytes held while answering: every tensor (``ahead`` None, made before sending), or ``ahead`` blocks
    and the one being sent; a tensor computed whole holds its float64 computation too (streamed: its
    computation and the matrix of the one before, which the look-ahead may overlap)."""
    total = sum(t.plan.nbytes for t in tensors)
    whole = [WHOLE_BYTES_PER_ELEMENT * t.plan.count for t in tensors if t.plan.whole]
    if ahead is None:
        return total + sum(whole)
    itemsize = max(t.plan.numpy_dtype.itemsize for t in tensors)
    streamed = min(total, (ahead + 1) * BLOCK_CHUNKS * CHUNK_ELEMENTS * itemsize)
    return streamed + max(whole, default=0) + max(whole, default=0) // 5


def _work(tensors: Sequence[ModelTensor]) -> list[Work]:
    return [work for tensor in tensors for work in blocks_of(tensor.plan)]


async def _streamed_blocks(
    request: Request,
    tensors: Sequence[ModelTensor],
    ahead: int,
    with_stats: bool,
    client_gone: asyncio.Future[None] | None = None,
) -> AsyncIterator[tuple[int, Any]]:
    """(tensor index, block) for every block of ``tensors`` in order; a tensor computed whole frees its
    matrix once its last block is out."""
    ends = []
    for tensor in tensors:
        ends.append((ends[-1] if ends else 0) + len(blocks_of(tensor.plan)))
    index, seen = 0, 0
    async for block in blocks_in_order(_engine(request), _work(tensors), ahead, with_stats, client_gone):
        while seen >= ends[index]:
            index += 1
        yield index, block
        seen += 1
        if seen == ends[index]:
            release(tensors[index].plan.source)


# -- answers ----------------------------------------------------------------------------------------------


@router.post(
    "/v1/models/stats",
    operation_id="create_model_stats",
    summary="Plan and generate a model, answer its manifest: every tensor's init, seed and statistics",
    response_model=ModelStatsAnswer,
    response_class=JSONResponse,
    responses=_ERRORS,
)
async def create_model_stats(request: Request, body: ModelRequest) -> Response:
    model = _plan_model(request, body)
    tensors = list(model.tensors)
    ahead = lookahead(request, max(t.plan.numpy_dtype.itemsize for t in tensors))
    lease = await admit(request, [t.plan for t in tensors], _held_bytes(tensors, ahead))
    sums: list[list[ChunkSums]] = [[] for _ in tensors]
    try:
        async for index, block in _streamed_blocks(request, tensors, ahead, with_stats=True):
            sums[index].extend(block.sums)
    finally:
        lease.release()
    fields = [json_answer.model_tensor_fields(t, *statistics(t.plan, s)) for t, s in zip(tensors, sums, strict=True)]
    return Response(json_answer.model_answer(model, fields), media_type=json_answer.MEDIA_TYPE)


async def _safetensors(
    request: Request, tensors: Sequence[ModelTensor], echo: str, seed: int, filename: str
) -> Response:
    """The safetensors answer of ``tensors``: made first (empirical statistics in the metadata) up to the
    buffered size, else streamed (theoretical statistics only)."""
    settings = request.app.state.settings
    entries = [safetensors.Entry(t.name, t.plan.numpy_dtype, t.plan.shape) for t in tensors]
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Init-Seed": str(seed),
        "X-Init-Stream-Version": STREAM_VERSION,
    }

    def metadata(fields: list[dict[str, Any]]) -> dict[str, str]:
        text = orjson.dumps(fields).decode()
        entries = {"request": echo, "stream_version": STREAM_VERSION, "tensors": text}
        layout_format = hugging_face_format(tensors)
        return entries if layout_format is None else {**entries, "format": layout_format}

    total = sum(t.plan.nbytes for t in tensors)
    if total <= settings.buffered_npy_bytes:
        lease = await admit(request, [t.plan for t in tensors], _held_bytes(tensors, None))
        try:
            made = [await generate(_engine(request), t.plan) for t in tensors]
        except BaseException:
            lease.release()
            raise
        fields = [
            json_answer.model_tensor_fields(t, m.empirical, m.comparison) for t, m in zip(tensors, made, strict=True)
        ]
        layout = _file_layout(entries, metadata(fields))
        arrays = {t.name: m.array for t, m in zip(tensors, made, strict=True)}
        parts = (layout.header, *(npy.body_view(arrays[slot.entry.name]) for slot in layout.slots))
        headers["Content-Length"] = str(layout.total_size)
        return leased(BuffersResponse(parts, headers, safetensors.MEDIA_TYPE), lease)

    layout = _file_layout(entries, metadata([json_answer.model_tensor_fields(t, None, None) for t in tensors]))
    by_name = {t.name: t for t in tensors}
    in_file_order = [by_name[slot.entry.name] for slot in layout.slots]
    ahead = lookahead(request, max(t.plan.numpy_dtype.itemsize for t in tensors))
    lease = await admit(request, [t.plan for t in tensors], _held_bytes(tensors, ahead))

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield layout.header
        async for _, block in _streamed_blocks(request, in_file_order, ahead, False, client_gone):
            yield npy.body_view(block.values)

    headers["Content-Length"] = str(layout.total_size)
    return leased(StreamedResponse(stream, headers, safetensors.MEDIA_TYPE), lease)


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


def _file_layout(entries: list[safetensors.Entry], metadata: dict[str, str]) -> safetensors.FileLayout:
    try:
        return safetensors.file_layout(entries, metadata)
    except ValueError as exc:  # only the header cap can be hit by a valid request
        raise TooLargeError(str(exc), "entries") from exc


@router.post(
    "/v1/models/safetensors",
    operation_id="create_model_safetensors",
    summary="Generate a model, answered as a safetensors file",
    response_class=Response,
    responses=_file_response(
        "The model's tensors as safetensors (official loaders: safetensors.numpy for float types, "
        "safetensors.torch or flax for BF16), sorted by dtype alignment and name. " + _SAFETENSORS_METADATA
    ),
)
async def create_model_safetensors(request: Request, body: ModelRequest) -> Response:
    model = _plan_model(request, body)
    echo = _request_echo(body, model.spec.seed)
    return await _safetensors(request, model.tensors, echo, model.spec.seed, "model.safetensors")


@router.post(
    "/v1/models/npz",
    operation_id="create_model_npz",
    summary="Generate a model, answered as an .npz file (numpy.load)",
    response_class=Response,
    responses=_file_response(
        "The model's tensors as NPZ (a stored ZIP of .npy members, as numpy.savez writes), members sorted by "
        "name. No bfloat16 (NPY has none): use safetensors.",
        npz.MEDIA_TYPE,
    ),
)
async def create_model_npz(request: Request, body: ModelRequest) -> Response:
    model = _plan_model(request, body)
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
    ahead = lookahead(request, max(t.plan.numpy_dtype.itemsize for t in tensors))
    lease = await admit(request, [t.plan for t in tensors], _held_bytes(tensors, ahead))

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        current = -1
        async for index, block in _streamed_blocks(request, tensors, ahead, False, client_gone):
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
        "X-Init-Stream-Version": STREAM_VERSION,
    }
    return leased(StreamedResponse(stream, headers, npz.MEDIA_TYPE), lease)


@router.post(
    "/v1/tensors/safetensors",
    operation_id="create_tensor_safetensors",
    tags=["tensors"],
    summary="Generate a tensor, answered as a safetensors file (the one tensor is named `tensor`)",
    response_class=Response,
    responses=_file_response("One tensor named `tensor`, any dtype (bfloat16 as BF16). " + _SAFETENSORS_METADATA),
)
async def create_tensor_safetensors(request: Request, body: TensorRequest) -> Response:
    plan, requested = _plan(request, body, request.app.state.settings.max_elements)
    tensor = ModelTensor("tensor", plan, 0, None, requested)
    echo = _request_echo(body, plan.spec.seed)
    return await _safetensors(request, [tensor], echo, plan.spec.seed, "tensor.safetensors")
