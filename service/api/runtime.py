"""The generation runtime: one per app, created at start-up, handed to routes by ``Depends(runtime)``.

It owns what every costly route shares: the engine's thread pool (streamed, chunked generation), a
separate bounded pool for heavy work (tensors computed whole with a large cost, such as an orthogonal
QR, and the diagnostics' passes), admission control (budgets of bytes and of flops across requests,
``service.api.admission``, costs from ``service.core.cost``), the look-ahead of streamed answers,
cancellation when a client leaves, and the metrics of what is generated. Routes parse, resolve
(``service.core.resolve``) and respond; they reach nothing else.

Isolation: heavy work never runs on the engine's threads, so a small request's blocks wait at most for
the blocks ahead of them in the engine's queue (a few milliseconds), never for a QR of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, TypeVar

import numpy as np
from fastapi import Depends, Request

from service.api.admission import FREE, Admission, Lease, Overloaded
from service.api.metrics import Metrics
from service.api.responses import ClientGone, disconnected
from service.core import Engine, Generated, TensorPlan, TooLargeError
from service.core.cost import Cost, answer_cost, held_bytes, whole_flops
from service.core.diagnostics import Diagnostics, Report, measure
from service.core.engine import BLOCK_CHUNKS, Block, assemble, block_ranges, fill_block
from service.core.sources import CHUNK_ELEMENTS, WholeSource, innermost, release
from service.settings import Settings

__all__ = ["FREE_ELEMENTS", "INLINE_ELEMENTS", "JSON_BYTES_PER_ELEMENT", "Runtime", "RuntimeDep", "held_bytes"]

#: Tensors up to this many elements (in all, none computed whole) need no lease: their memory is noise.
FREE_ELEMENTS = 4096

#: A whole answer of at most one chunk (none computed whole) is made on the event loop: handing it to the
#: pool and back costs two thread wake-ups, ~300 us on our 2-core VMs, as much as making it (65,536 elements
#: with their statistics: 0.2 ms for initserve-2's float32 normals, 1.1 ms for the slowest, the jax stream's
#: float16 truncated normals). ``bench/bench_service.py --parts small``: 711 -> 937 sequential requests/s
#: of a 256 x 256 float32 tensor.
INLINE_ELEMENTS = CHUNK_ELEMENTS

#: Estimated bytes of JSON text per element of the answer's ``data`` (shortest repr and a comma).
JSON_BYTES_PER_ELEMENT = 24

#: A tensor computed whole whose computation costs at least this many flops (some 10 ms of one core) is
#: computed on the heavy pool; a cheaper one where its first block is made.
HEAVY_FLOPS = 1 << 28

T = TypeVar("T")


def _tiny(plans: Sequence[TensorPlan], elements: int = FREE_ELEMENTS) -> bool:
    return sum(plan.count for plan in plans) <= elements and not any(plan.whole for plan in plans)


def _heavy(plan: TensorPlan) -> bool:
    return plan.whole and whole_flops(plan) >= HEAVY_FLOPS


def _drop(futures: deque[Future[Block]] | list[Future[Block]]) -> None:
    """Drop blocks not yet started (the client left, or a block failed)."""
    for future in futures:
        future.cancel()


class Runtime:
    """The engine, the heavy pool, the admission budgets and the metrics of one app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.engine = Engine(settings.generation_threads(), on_block=self.metrics.blocks.inc)
        #: Heavy work: its own few threads (``INITSERVE_HEAVY_THREADS``); diagnostics make their weights on
        #: them too (``inline``: blocks made on the calling thread), off the engine's threads.
        self.heavy = ThreadPoolExecutor(settings.heavy_threads, thread_name_prefix="initserve-heavy")
        self.inline = Engine(1, on_block=self.metrics.blocks.inc)
        self.admission = Admission(settings.generation_budget(), settings.admission_timeout, settings.work_budget())
        self.metrics.budget_in_use.set_function(lambda: self.admission.in_use)
        self.metrics.work_in_use.set_function(lambda: self.admission.flops_in_use)
        self.ready = False

    def warm_streams(self) -> None:
        """Load the framework streams' compiled kernels on a background thread: the service is ready at
        once, and a first torch-stream request waits only for what is not loaded yet."""
        threading.Thread(target=_warm_streams, name="initserve-warm", daemon=True).start()

    def close(self) -> None:
        self.ready = False
        self.heavy.shutdown(wait=True, cancel_futures=True)
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
        """A share of the budgets for answering ``plans`` (``service.core.cost.answer_cost``, ``extra`` bytes
        more, e.g. the JSON text); tiny tensors need none. Raises ``TooLargeError`` (413) over the flops of
        one request, ``Overloaded`` (503) when the budgets stay full."""
        if _tiny(plans):
            return FREE
        return await self.admit_cost(request, answer_cost(plans, ahead, extra))

    async def admit_cost(self, request: Request, cost: Cost, leave_when_gone: bool = False) -> Lease:
        """A share of the budgets for work of ``cost`` (see ``admit``). With ``leave_when_gone``, a client that
        leaves while waiting for room leaves the line (``ClientGone``): not for work shared by identical
        requests (``service.api.flights``), which others may still wait for."""
        limit = self.settings.max_request_flops
        if cost.flops > limit:
            raise TooLargeError(
                f"this request needs about {cost.flops:.3g} flops of work, over the limit of {limit:.3g} for "
                "one request (INITSERVE_MAX_REQUEST_FLOPS); ask for fewer or smaller tensors computed whole "
                "(orthogonal: a QR of 8/3 n^3 flops for n x n), or fewer schemes or layers"
            )
        lease = self.admission.try_acquire(cost.nbytes, cost.flops)
        if lease is not None:
            return lease
        if not leave_when_gone:
            try:
                return await self.admission.acquire(cost.nbytes, cost.flops)
            except Overloaded:
                self.metrics.rejected.labels(getattr(request.scope.get("route"), "path", "unmatched")).inc()
                raise
        # Waiting in line: a client that leaves meanwhile leaves the line too.
        waiting = asyncio.ensure_future(self.admission.acquire(cost.nbytes, cost.flops))
        client_gone = asyncio.ensure_future(disconnected(request.receive))
        try:
            await asyncio.wait((waiting, client_gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            client_gone.cancel()
        if not waiting.done():
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Overloaded):
                (await waiting).release()  # granted just as the client left
            raise ClientGone
        try:
            return waiting.result()
        except Overloaded:
            self.metrics.rejected.labels(getattr(request.scope.get("route"), "path", "unmatched")).inc()
            raise

    async def on_heavy(
        self,
        work: Callable[[threading.Event], T],
        cost: Cost,
        client_gone: asyncio.Future[None] | None = None,
    ) -> T:
        """``work(cancel)`` run on the heavy pool. When ``client_gone`` is done first, ``cancel`` is set (the
        work stops where it checks it) and ``ClientGone`` is raised at once; ``cost`` stays counted in the
        budgets until the thread is free again (a QR that has begun finishes: the cost model bounds it)."""
        cancel = threading.Event()
        future = self.heavy.submit(work, cancel)
        waited = asyncio.wrap_future(future)
        if client_gone is not None:
            await asyncio.wait((waited, client_gone), return_when=asyncio.FIRST_COMPLETED)
            if not waited.done():
                cancel.set()
                if not future.cancel():  # running: hold its share until it returns
                    self.admission.hold(cost.nbytes, cost.flops, future)
                    waited.add_done_callback(_consume)
                raise ClientGone
        return await waited

    async def prepare(self, plan: TensorPlan, client_gone: asyncio.Future[None] | None = None) -> None:
        """Compute a tensor computed whole on the heavy pool when its computation is heavy (an orthogonal
        QR), so that its blocks only copy; a no-op for any other tensor."""
        if not _heavy(plan):
            return
        source = innermost(plan.source)
        assert isinstance(source, WholeSource)

        def compute(cancel: threading.Event) -> None:
            if not cancel.is_set():
                source.flat()

        await self.on_heavy(compute, Cost(plan.whole_bytes, whole_flops(plan)), client_gone)

    async def diagnose(self, request: Request, diagnostics: Diagnostics, answer: Callable[[Report], T]) -> T:
        """``answer`` (JSON, a chart) of ``diagnostics`` measured, both on the heavy pool under admission (its
        ``cost``); stops between layers and raises ``ClientGone`` when the client leaves."""
        lease = await self.admit_cost(request, diagnostics.cost, leave_when_gone=True)
        client_gone = asyncio.ensure_future(disconnected(request.receive))
        try:
            return await self.on_heavy(
                lambda cancel: answer(measure(diagnostics, self.inline, cancel)), diagnostics.cost, client_gone
            )
        finally:
            client_gone.cancel()
            lease.release()

    async def generate(self, plan: TensorPlan, flat: np.ndarray | None = None) -> Generated:
        """The whole tensor, made on the pool while the event loop stays free (up to ``INLINE_ELEMENTS`` on
        the loop); written into ``flat`` (``plan.count`` elements of its dtype) when given."""
        if flat is None:
            flat = np.empty(plan.count, dtype=plan.numpy_dtype)
        if _tiny([plan], INLINE_ELEMENTS):
            return assemble(
                plan, flat, [fill_block(plan, first, stop, flat=flat) for first, stop in block_ranges(plan.count)]
            )
        await self.prepare(plan)
        consumer_gone = threading.Event()
        futures = [self.engine.submit(plan, a, b, flat=flat, cancel=consumer_gone) for a, b in block_ranges(plan.count)]
        try:
            blocks = [await asyncio.wrap_future(future) for future in futures]
        finally:
            consumer_gone.set()  # a no-op when every block is in; else stops them within a chunk
            _drop(futures)
        return assemble(plan, flat, blocks)

    async def generate_each(self, plans: Sequence[TensorPlan]) -> list[Generated]:
        """Each tensor whole (``generate``), in order, the event loop serving what waits between two: a model
        of many tensors made on the loop holds it one tensor at a time."""
        made = []
        for plan in plans:
            made.append(await self.generate(plan))
            await asyncio.sleep(0)
        return made

    async def blocks(
        self,
        plans: Sequence[TensorPlan],
        ahead: int,
        with_stats: bool = True,
        client_gone: asyncio.Future[None] | None = None,
    ) -> AsyncIterator[tuple[int, Block]]:
        """(index in ``plans``, block) for every block of ``plans`` in order, with at most ``ahead`` blocks
        made or in making ahead. A tensor computed whole is computed first (``prepare``), and frees its
        matrix once its last block is out. Raises ``ClientGone`` as soon as ``client_gone`` is done,
        without waiting for the block in making: the blocks ahead stop within a chunk."""
        queue = deque(
            (index, first, stop) for index, plan in enumerate(plans) for first, stop in block_ranges(plan.count)
        )
        last = {index: stop for index, _, stop in queue}
        pending: deque[tuple[int, int, Future[Block]]] = deque()
        prepared: set[int] = set()
        consumer_gone = threading.Event()
        try:
            while queue or pending:
                while queue and len(pending) < ahead:
                    index, first, stop = queue[0]
                    if index not in prepared:
                        if pending and _heavy(plans[index]):
                            break  # send what is made before waiting for the heavy computation
                        await self.prepare(plans[index], client_gone)
                        prepared.add(index)
                    queue.popleft()
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


def _consume(future: asyncio.Future[object]) -> None:
    """Retrieve an abandoned result, so that asyncio does not log its exception as never retrieved."""
    if not future.cancelled():
        future.exception()


def _warm_streams() -> None:
    from service.core.streams.warm import warm  # imports numba: off the event loop

    warm()


async def runtime(request: Request) -> Runtime:
    """The app's runtime (FastAPI dependency; ``async``: FastAPI runs a plain function on a worker thread,
    a hop to it and back per request)."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(runtime)]
