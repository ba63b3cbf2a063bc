"""Admission control: one budget of bytes and one of CPU work (flops) in flight, across all requests of
a process; every costly request (tensors, models, diagnostics) holds a share of both while it runs.

A request's share is its ``Cost`` (``service.core.cost``: peak bytes as allocated, flops): a tensor or a
model answer holds it from before its first block is made until the last byte of its answer has been
handed to the server (a buffered answer its whole tensor, a streamed one the blocks its look-ahead keeps),
a diagnostics request while it is measured. A request whose share does not fit waits, first come first
served, at most ``timeout`` seconds on the event loop (no thread is held), then is refused with 503 and
``Retry-After``. A byte share larger than the whole byte budget is cut to it: such a request runs alone
rather than never (the routes' own limits refuse, with 413, what could never be served). Work a client
abandoned while a thread was in a call that cannot be interrupted (a QR) stays counted (``hold``) until
that call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from concurrent.futures import Future

from starlette.exceptions import HTTPException

#: Retry-After of a refused request, in seconds.
RETRY_AFTER_SECONDS = 1


class Overloaded(HTTPException):
    """The budget stayed full for the whole admission timeout: 503 with Retry-After."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            503,
            f"the service is busy with other work (no room within {timeout:g} s); retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class Lease:
    """A share of the budgets; ``release`` (idempotent) gives it back."""

    __slots__ = ("_admission", "flops", "nbytes")

    def __init__(self, admission: Admission | None, nbytes: int, flops: int = 0) -> None:
        self._admission = admission
        self.nbytes = nbytes
        self.flops = flops

    def release(self) -> None:
        admission, self._admission = self._admission, None
        if admission is not None:
            admission._give_back(self.nbytes, self.flops)


#: A lease on nothing, for work too small to count.
FREE = Lease(None, 0)


class Admission:
    """Budgets of bytes and flops shared by the requests of one event loop (an async, FIFO, weighted
    semaphore in two dimensions)."""

    def __init__(self, capacity: int, timeout: float, flops_capacity: int | None = None) -> None:
        self.capacity = capacity
        self.flops_capacity = flops_capacity
        self.timeout = timeout
        self.in_use = 0
        self.flops_in_use = 0
        self.refused_at = -float("inf")  # time.monotonic() of the last refusal
        self._waiters: deque[tuple[int, int, asyncio.Future[None]]] = deque()

    def share(self, nbytes: int) -> int:
        return max(0, min(nbytes, self.capacity))

    def _fits(self, nbytes: int, flops: int) -> bool:
        if self.in_use + nbytes > self.capacity:
            return False
        return self.flops_capacity is None or flops == 0 or self.flops_in_use + flops <= self.flops_capacity

    @property
    def waiting(self) -> int:
        """Requests waiting for room."""
        return len(self._waiters)

    def busy(self) -> bool:
        """Whether requests are waiting for room, or one was refused within the last ``RETRY_AFTER_SECONDS``:
        a balancer should send work elsewhere (``/readyz`` answers 503)."""
        return bool(self._waiters) or time.monotonic() - self.refused_at < RETRY_AFTER_SECONDS

    def try_acquire(self, nbytes: int, flops: int = 0) -> Lease | None:
        """A lease of ``nbytes`` (cut to the capacity) and ``flops`` if it fits now and nobody waits, else None."""
        n = self.share(nbytes)
        if self._waiters or not self._fits(n, flops):
            return None
        self.in_use += n
        self.flops_in_use += flops
        return Lease(self, n, flops)

    async def acquire(self, nbytes: int, flops: int = 0) -> Lease:
        """A lease of ``nbytes`` (cut to the capacity) and ``flops``; raises ``Overloaded`` after ``timeout`` s."""
        lease = self.try_acquire(nbytes, flops)
        if lease is not None:
            return lease
        n = self.share(nbytes)
        entry = (n, flops, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.timeout):
                await entry[2]
        except BaseException as exc:
            if entry[2].done() and not entry[2].cancelled():  # granted just as the wait ended
                self._give_back(n, flops)
            else:
                if entry in self._waiters:  # not already dropped by _wake (which skips cancelled waiters)
                    self._waiters.remove(entry)
                self._wake()  # the head may have left: those behind it may fit now
            if isinstance(exc, TimeoutError):
                self.refused_at = time.monotonic()
                raise Overloaded(self.timeout) from None
            raise
        return Lease(self, n, flops)

    def hold(self, nbytes: int, flops: int, until: Future[object]) -> None:
        """Count ``nbytes`` and ``flops`` as in use, whatever the room, until ``until`` (work running on a
        thread) is done: the share of work its client abandoned but that cannot be stopped at once."""
        if until.done():
            return
        loop = asyncio.get_running_loop()
        self.in_use += nbytes
        self.flops_in_use += flops

        def give_back(_: Future[object]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
                loop.call_soon_threadsafe(self._give_back, nbytes, flops)

        until.add_done_callback(give_back)

    def _give_back(self, n: int, flops: int = 0) -> None:
        self.in_use -= n
        self.flops_in_use -= flops
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0], self._waiters[0][1]):
            n, flops, future = self._waiters.popleft()
            if not future.done():
                self.in_use += n
                self.flops_in_use += flops
                future.set_result(None)
