"""The generation runtime: one per app, created at start-up, handed to routes by ``Depends(runtime)``.

It owns what every generating route shares: the engine's thread pool, admission control (a byte
budget across requests, ``service.api.admission``), the look-ahead of streamed answers, the one
estimate of the memory an answer holds, cancellation when a client leaves, and the metrics of what
is generated. Routes parse, resolve (``service.core.resolve``) and respond; they reach nothing else.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from typing import Annotated

import numpy as np
from fastapi import Depends, Request

from service.api.admission import FREE, Admission, Lease, Overloaded
from service.api.metrics import Metrics
from service.api.responses import ClientGone
from service.core import Engine, Generated, TensorPlan
from service.core.engine import BLOCK_CHUNKS, Block, assemble, block_ranges, fill_block
from service.core.sources import CHUNK_ELEMENTS, release
from service.core.streams.names import SEQUENTIAL_STREAMS
from service.settings import Settings

#: Tensors up to this many elements (in all, none computed whole) are made on the event loop: that takes
#: less time (tens of microseconds) than handing the work to the pool and back, and needs no lease.
INLINE_ELEMENTS = 4096

#: Estimated bytes of JSON text per element of the answer's ``data`` (shortest repr and a comma).
JSON_BYTES_PER_ELEMENT = 24


def _tiny(plans: Sequence[TensorPlan]) -> bool:
    return sum(plan.count for plan in plans) <= INLINE_ELEMENTS and not any(plan.whole for plan in plans)


def held_bytes(plans: Sequence[TensorPlan], ahead: int | None) -> int:
    """The bytes an answer of ``plans`` (one tensor, or a model's in the order sent) holds while it is made
    and sent: every tensor when ``ahead`` is None (made before sending); else ``ahead`` blocks and the one
    being sent. A tensor computed whole (orthogonal, sparse) holds its computation too; streamed, the
    largest one and a fifth of it for the matrix of the one before, which the look-ahead may overlap. A
    model of a sequential stream (torch) is drawn whole, every tensor at once, on one generator."""
    total = sum(plan.nbytes for plan in plans)
    whole = [plan.whole_bytes for plan in plans if plan.whole]
    if ahead is None:
        return total + sum(whole)
    if len(plans) > 1 and plans[0].spec.stream in SEQUENTIAL_STREAMS:
        return total + max(whole)
    itemsize = max(plan.numpy_dtype.itemsize for plan in plans)
    streamed = min(total, (ahead + 1) * BLOCK_CHUNKS * CHUNK_ELEMENTS * itemsize)
    overlap = max(whole) // 5 if len(whole) > 1 else 0
    return streamed + max(whole, default=0) + overlap


def _drop(futures: deque[Future[Block]] | list[Future[Block]]) -> None:
    """Drop blocks not yet started (the client left, or a block failed)."""
    for future in futures:
        future.cancel()


class Runtime:
    """The engine, the admission budget and the metrics of one app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.engine = Engine(settings.generation_threads(), on_block=self.metrics.blocks.inc)
        self.admission = Admission(settings.generation_budget(), settings.admission_timeout)
        self.metrics.budget_in_use.set_function(lambda: self.admission.in_use)
        self.ready = False

    def warm_streams(self) -> None:
        """Load the framework streams' compiled kernels on a background thread: the service is ready at
        once, and a first torch-stream request waits only for what is not loaded yet."""
        threading.Thread(target=_warm_streams, name="initserve-warm", daemon=True).start()

    def close(self) -> None:
        self.ready = False
        self.engine.close()

    def counted(self, plans: Sequence[TensorPlan]) -> None:
        """Count the tensors about to be made in the metrics."""
        for plan in plans:
            self.metrics.generated(plan.spec.init.scheme, plan.spec.dtype, plan.count)

    def lookahead(self, plans: Sequence[TensorPlan]) -> int:
        """Blocks a streamed answer keeps made or in making ahead of the socket: two per generation thread,
        fewer when that many (and the block being sent) would not fit in the generation budget."""
        itemsize = max(plan.numpy_dtype.itemsize for plan in plans)
        fits = self.admission.capacity // (BLOCK_CHUNKS * CHUNK_ELEMENTS * itemsize) - 1
        return max(1, min(2 * self.engine.threads, fits))

    async def admit(self, request: Request, plans: Sequence[TensorPlan], ahead: int | None, extra: int = 0) -> Lease:
        """A share of the generation budget for answering ``plans`` (``held_bytes`` and ``extra``, e.g. the
        JSON text); tiny tensors need none. Raises ``Overloaded`` (503) when it stays full."""
        if _tiny(plans):
            return FREE
        try:
            return await self.admission.acquire(held_bytes(plans, ahead) + extra)
        except Overloaded:
            self.metrics.rejected.labels(getattr(request.scope.get("route"), "path", "unmatched")).inc()
            raise

    async def generate(self, plan: TensorPlan, flat: np.ndarray | None = None) -> Generated:
        """The whole tensor, made on the pool while the event loop stays free (tiny ones inline); written
        into ``flat`` (``plan.count`` elements of its dtype) when given."""
        if flat is None:
            flat = np.empty(plan.count, dtype=plan.numpy_dtype)
        if _tiny([plan]):
            return assemble(
                plan, flat, [fill_block(plan, first, stop, flat=flat) for first, stop in block_ranges(plan.count)]
            )
        consumer_gone = threading.Event()
        futures = [self.engine.submit(plan, a, b, flat=flat, cancel=consumer_gone) for a, b in block_ranges(plan.count)]
        try:
            blocks = [await asyncio.wrap_future(future) for future in futures]
        finally:
            consumer_gone.set()  # a no-op when every block is in; else stops them within a chunk
            _drop(futures)
        return assemble(plan, flat, blocks)

    async def blocks(
        self,
        plans: Sequence[TensorPlan],
        ahead: int,
        with_stats: bool = True,
        client_gone: asyncio.Future[None] | None = None,
    ) -> AsyncIterator[tuple[int, Block]]:
        """(index in ``plans``, block) for every block of ``plans`` in order, with at most ``ahead`` blocks
        made or in making ahead. A tensor computed whole frees its matrix once its last block is out.
        Raises ``ClientGone`` as soon as ``client_gone`` is done, without waiting for the block in making:
        the blocks ahead stop within a chunk."""
        queue = deque(
            (index, first, stop) for index, plan in enumerate(plans) for first, stop in block_ranges(plan.count)
        )
        last = {index: stop for index, _, stop in queue}
        pending: deque[tuple[int, int, Future[Block]]] = deque()
        consumer_gone = threading.Event()
        try:
            while queue or pending:
                while queue and len(pending) < ahead:
                    index, first, stop = queue.popleft()
                    future = self.engine.submit(plans[index], first, stop, with_stats, cancel=consumer_gone)
                    pending.append((index, stop, future))
                index, stop, future = pending.popleft()
                block = asyncio.wrap_future(future)
                if client_gone is not None:
                    await asyncio.wait((block, client_gone), return_when=asyncio.FIRST_COMPLETED)
                    if not block.done():
                        block.cancel()
                        raise ClientGone
                yield index, await block
                if stop == last[index]:
                    release(plans[index].source)
        finally:
            consumer_gone.set()
            _drop([future for _, _, future in pending])


def _warm_streams() -> None:
    from service.core.streams.warm import warm  # imports numba: off the event loop

    warm()


def runtime(request: Request) -> Runtime:
    """The app's runtime (FastAPI dependency)."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(runtime)]
