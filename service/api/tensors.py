"""The tensor operations: HTTP to core calls and back.

Generation runs on the engine's thread pool; the event loop only awaits it,
so no request blocks another. ``.npy`` answers up to ``buffered_npy_bytes``
are generated first (empirical statistics go in headers); larger ones stream
block by block, generation running at most a few blocks ahead of the socket.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from typing import Any

import anyio
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from service.api.admission import FREE, Lease, Leased, Overloaded
from service.api.models import StatsAnswer, TensorAnswer, TensorRequest
from service.api.problems import documented
from service.api.responses import BuffersResponse, ClientGone, Parts, StreamedResponse
from service.core import (
    MAX_SEED,
    STREAM_VERSION,
    Empirical,
    Engine,
    FanAxes,
    Generated,
    InitError,
    LayoutError,
    TensorPlan,
    TensorSpec,
    plan_tensor,
)
from service.core.dtypes import numpy_dtype
from service.core.engine import BLOCK_CHUNKS, Block, assemble, block_ranges, fill_block, statistics
from service.core.frameworks import resolve_any
from service.core.sources import CHUNK_ELEMENTS
from service.core.stats import Comparison
from service.encode import json as json_answer
from service.encode import npy

router = APIRouter(tags=["tensors"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **documented(400, 413, 415, 422, 500),
    503: {
        **documented(503)[503],
        "description": "Busy: the generation budget (INITSERVE_GENERATION_BUDGET_BYTES) stayed full for the "
        "admission timeout; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}},
    },
}


def to_spec(body: TensorRequest) -> tuple[TensorSpec, dict[str, Any] | None]:
    """The core's request, and the framework-named init as asked (None for a canonical scheme);
    picks a seed when none is given.

    The layout is the request's ``layout`` or ``fan_axes`` when given, else the one a framework-named
    init implies (``torch.*``: torch; JAX ``in_axis``/``out_axis``/``batch_axis`` or Keras
    ``input_axes``/``output_axes``: those axes), else keras.
    """
    layout_given = "layout" in body.model_fields_set
    if body.fan_axes is not None and layout_given:
        raise LayoutError("give either layout or fan_axes, not both", "fan_axes")
    resolved = resolve_any(body.init.scheme, body.init.model_dump(exclude={"scheme"}), len(body.shape))  # type: ignore[attr-defined]
    if resolved.axes_given and (layout_given or body.fan_axes is not None):
        raise LayoutError(
            f"{body.init.scheme}'s axis parameters already say how to read the shape; give no layout or fan_axes",  # type: ignore[attr-defined]
            "fan_axes" if body.fan_axes is not None else "layout",
        )
    layout: Any = body.layout if layout_given else (resolved.layout or body.layout)
    if body.fan_axes is not None:
        axes = body.fan_axes
        layout = FanAxes.of(axes.in_axis, axes.out_axis, axes.batch_axis)
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
    return TensorSpec(tuple(body.shape), resolved.init, seed, body.dtype, layout), resolved.requested


def plan_request(spec: TensorSpec, requested: dict[str, Any] | None, max_elements: int) -> TensorPlan:
    """Plan a request's tensor; errors in the fan axes an init's own parameters gave name those parameters."""
    try:
        return plan_tensor(spec, max_elements)
    except InitError as exc:
        if requested is not None and exc.field and exc.field.startswith("fan_axes."):
            raise type(exc)(exc.message, "init." + exc.field.removeprefix("fan_axes.")) from exc
        raise


def _plan(request: Request, body: TensorRequest, max_elements: int) -> tuple[TensorPlan, dict[str, Any] | None]:
    spec, requested = to_spec(body)
    plan = plan_request(spec, requested, max_elements)
    request.app.state.metrics.generated(plan.spec.init.scheme, plan.spec.dtype, plan.count)
    return plan, requested


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _cancel(futures: list[Future[Block]] | deque[Future[Block]]) -> None:
    """Drop blocks not yet started (the client left, or a block failed)."""
    for future in futures:
        future.cancel()


#: Tensors up to this many elements are made on the event loop: that takes less time
#: (tens of microseconds) than handing the work to the pool and back.
INLINE_ELEMENTS = 4096


#: Estimated bytes of JSON text per element of the answer's ``data`` (shortest repr and a comma).
JSON_BYTES_PER_ELEMENT = 24


def lookahead(request: Request, itemsize: int) -> int:
    """Blocks a streamed answer keeps made or in making ahead of the socket: two per generation
    thread, fewer when that many (and the block being sent) would not fit in the generation budget.
    ``itemsize``: the tensor's element size (the largest of a model's)."""
    block_bytes = BLOCK_CHUNKS * CHUNK_ELEMENTS * itemsize
    fits = request.app.state.admission.capacity // block_bytes - 1
    return max(1, min(2 * _engine(request).threads, fits))


#: Peak bytes per element of a tensor computed whole: orthogonal holds about five float64 copies at once
#: (the Gaussian matrix, the QR's copy, Q, R and gain * Q; measured +160 MiB for 2048 x 2048).
WHOLE_BYTES_PER_ELEMENT = 5 * 8


def held_bytes(plan: TensorPlan, streamed_blocks: int | None) -> int:
    """The bytes a request holds while it is answered: the whole tensor when ``streamed_blocks`` is None,
    else that many blocks and the one being sent; a tensor computed whole (orthogonal, sparse) holds its
    float64 computation too."""
    held = plan.nbytes
    if streamed_blocks is not None:
        held = min(held, (streamed_blocks + 1) * BLOCK_CHUNKS * CHUNK_ELEMENTS * plan.numpy_dtype.itemsize)
    if plan.whole:
        held += WHOLE_BYTES_PER_ELEMENT * plan.count
    return held


async def admit(request: Request, plans: TensorPlan | Sequence[TensorPlan], nbytes: int) -> Lease:
    """A share of the generation budget (see ``service.api.admission``) for making ``plans`` (one tensor
    or a model's); tiny tensors (a few thousand elements in all, none computed whole) need none."""
    plans = [plans] if isinstance(plans, TensorPlan) else plans
    if sum(plan.count for plan in plans) <= INLINE_ELEMENTS and not any(plan.whole for plan in plans):
        return FREE
    try:
        return await request.app.state.admission.acquire(nbytes)
    except Overloaded:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        request.app.state.metrics.rejected.labels(route).inc()
        raise


def leased(response: Response, lease: Lease) -> Response:
    return response if lease is FREE else Leased(response, lease)


async def generate(engine: Engine, plan: TensorPlan, flat: np.ndarray | None = None) -> Generated:
    """The whole tensor, made on the pool while the event loop stays free (tiny ones inline); written
    into ``flat`` (``plan.count`` elements of its dtype) when given."""
    if flat is None:
        flat = np.empty(plan.count, dtype=plan.numpy_dtype)
    if plan.count <= INLINE_ELEMENTS and not plan.whole:
        return assemble(
            plan, flat, [fill_block(plan, first, stop, flat=flat) for first, stop in block_ranges(plan.count)]
        )
    consumer_gone = threading.Event()
    futures = [engine.submit(plan, a, b, flat=flat, cancel=consumer_gone) for a, b in block_ranges(plan.count)]
    try:
        blocks = [await asyncio.wrap_future(future) for future in futures]
    finally:
        consumer_gone.set()  # a no-op when every block is in; else stops them within a chunk
        _cancel(futures)
    return assemble(plan, flat, blocks)


#: One block of work: a tensor's plan and its chunks [first_chunk, stop_chunk).
Work = tuple[TensorPlan, int, int]


def blocks_of(plan: TensorPlan) -> list[Work]:
    return [(plan, first, stop) for first, stop in block_ranges(plan.count)]


async def blocks_in_order(
    engine: Engine,
    work: TensorPlan | Sequence[Work],
    lookahead: int,
    with_stats: bool = True,
    client_gone: asyncio.Future[None] | None = None,
) -> AsyncIterator[Block]:
    """The blocks of one tensor (or of a list of work, e.g. a model's tensors one after another), in
    order, with at most ``lookahead`` blocks made or in making ahead. Raises ``ClientGone`` as soon as
    ``client_gone`` is done, without waiting for the block in making: the blocks ahead stop within a chunk."""
    queue = deque(blocks_of(work) if isinstance(work, TensorPlan) else work)
    pending: deque[Future[Block]] = deque()
    consumer_gone = threading.Event()  # stops blocks being made within a chunk
    try:
        while queue or pending:
            while queue and len(pending) < lookahead:
                plan, first, stop = queue.popleft()
                pending.append(engine.submit(plan, first, stop, with_stats, cancel=consumer_gone))
            block = asyncio.wrap_future(pending.popleft())
            if client_gone is not None:
                await asyncio.wait((block, client_gone), return_when=asyncio.FIRST_COMPLETED)
                if not block.done():
                    block.cancel()
                    raise ClientGone
            yield await block
    finally:
        consumer_gone.set()
        _cancel(pending)


def _number(value: float | int) -> str:
    """Shortest decimal that round-trips the float64 (Python's repr)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def init_headers(plan: TensorPlan, empirical: Empirical | None, comparison: Comparison | None) -> dict[str, str]:
    """The ``X-Init-*`` headers; a header whose value would be null is left out."""
    values: dict[str, float | int | str | None] = {
        "X-Init-Seed": plan.spec.seed,
        "X-Init-Fan-In": plan.fans.fan_in if plan.fans else None,
        "X-Init-Fan-Out": plan.fans.fan_out if plan.fans else None,
        "X-Init-Stream-Version": STREAM_VERSION,
        "X-Init-Theoretical-Variance": plan.moments.variance,
    }
    if empirical is not None and comparison is not None:
        values["X-Init-Empirical-Mean"] = empirical.mean
        values["X-Init-Empirical-Variance"] = empirical.variance
        values["X-Init-Variance-Ratio"] = comparison.variance_ratio
    return {k: v if isinstance(v, str) else _number(v) for k, v in values.items() if v is not None}


NPY_HEADERS = {  # the .npy answer's headers: (meaning, when present)
    "Content-Disposition": ('attachment; filename="tensor.npy"', "always"),
    "X-Init-Seed": ("the seed used (chosen by the service when the request had none)", "always"),
    "X-Init-Fan-In": ("fan_in in the request's layout; absent where undefined", "when defined"),
    "X-Init-Fan-Out": ("fan_out in the request's layout; absent where undefined", "when defined"),
    "X-Init-Stream-Version": ("version of the random stream", "always"),
    "X-Init-Theoretical-Variance": ("variance of the sampling distribution", "always"),
    "X-Init-Empirical-Mean": ("mean of the tensor sent", "tensors up to the buffered size (16 MiB by default)"),
    "X-Init-Empirical-Variance": ("population variance of the tensor sent", "tensors up to the buffered size"),
    "X-Init-Variance-Ratio": ("empirical / theoretical variance", "buffered tensors with a variance > 0"),
}
_NPY_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The tensor as NPY v1.0 (`numpy.load` reads it), C order, little-endian.",
        "content": {npy.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            name: {"description": f"{text} ({when})", "schema": {"type": "string"}}
            for name, (text, when) in NPY_HEADERS.items()
        },
    },
    **_ERRORS,
}


@router.post(
    "/v1/tensors",
    operation_id="create_tensor",
    summary="Generate a tensor, answered as JSON with its data",
    response_model=TensorAnswer,
    response_class=JSONResponse,
    responses=_ERRORS,
)
async def create_tensor(request: Request, body: TensorRequest) -> Response:
    plan, requested = _plan(request, body, request.app.state.settings.max_json_elements)
    lease = await admit(request, plan, held_bytes(plan, None) + JSON_BYTES_PER_ELEMENT * plan.count)
    try:
        made = await generate(_engine(request), plan)
        content = await anyio.to_thread.run_sync(
            json_answer.answer, plan, made.empirical, made.comparison, made.array, requested
        )
        del made
        return leased(Response(content, media_type=json_answer.MEDIA_TYPE), lease)
    except BaseException:
        lease.release()
        raise


@router.post(
    "/v1/tensors/stats",
    operation_id="create_tensor_stats",
    summary="Generate a tensor and answer only its statistics",
    response_model=StatsAnswer,
    response_class=JSONResponse,
    responses=_ERRORS,
)
async def create_tensor_stats(request: Request, body: TensorRequest) -> Response:
    plan, requested = _plan(request, body, request.app.state.settings.max_elements)
    engine = _engine(request)
    ahead = lookahead(request, plan.numpy_dtype.itemsize)
    lease = await admit(request, plan, held_bytes(plan, ahead))
    try:
        sums = [s async for block in blocks_in_order(engine, plan, ahead) for s in block.sums]
    finally:
        lease.release()
    empirical, comparison = statistics(plan, sums)
    return Response(json_answer.answer(plan, empirical, comparison, None, requested), media_type=json_answer.MEDIA_TYPE)


@router.post(
    "/v1/tensors/npy",
    operation_id="create_tensor_npy",
    summary="Generate a tensor, answered as .npy bytes",
    response_class=Response,
    responses=_NPY_RESPONSE,
)
async def create_tensor_npy(request: Request, body: TensorRequest) -> Response:
    settings = request.app.state.settings
    npy.check_npy_dtype(numpy_dtype(body.dtype))
    plan, _ = _plan(request, body, settings.max_elements)
    header = npy.npy_header(plan.shape, plan.numpy_dtype)
    engine = _engine(request)
    headers = {
        "Content-Disposition": 'attachment; filename="tensor.npy"',
        "Content-Length": str(len(header) + plan.nbytes),
    }
    if plan.nbytes <= settings.buffered_npy_bytes:
        lease = await admit(request, plan, held_bytes(plan, None))
        try:
            # The whole .npy file in one buffer, the tensor made in place after its header: one body
            # part to send (one write) instead of two, and no copy.
            file, flat = npy.npy_file(header, plan.count, plan.numpy_dtype)
            made = await generate(engine, plan, flat)
        except BaseException:
            lease.release()
            raise
        headers.update(init_headers(plan, made.empirical, made.comparison))
        return leased(BuffersResponse((file,), headers, npy.MEDIA_TYPE), lease)

    ahead = lookahead(request, plan.numpy_dtype.itemsize)
    lease = await admit(request, plan, held_bytes(plan, ahead))

    async def stream(client_gone: asyncio.Future[None]) -> Parts:
        yield header
        async for block in blocks_in_order(engine, plan, ahead, with_stats=False, client_gone=client_gone):
            yield npy.body_view(block.values)

    headers.update(init_headers(plan, None, None))
    return leased(StreamedResponse(stream, headers, npy.MEDIA_TYPE), lease)
