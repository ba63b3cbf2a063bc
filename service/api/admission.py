"""Admission control: a budget of bytes being generated at once, across all requests of a process.

A tensor request holds a share of the budget from before its first block is made until the last
byte of its answer has been handed to the server: a buffered answer (JSON, a buffered ``.npy``) its
whole tensor (and, for JSON, an estimate of the text), a streamed one (a large ``.npy``, stats) only
the blocks its look-ahead keeps in memory. A request whose share does not fit waits, first come
first served, at most ``timeout`` seconds on the event loop (no thread is held), then is refused
with 503 and ``Retry-After``. A share larger than the whole budget is cut to the budget: such a
request runs alone rather than never.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.exceptions import HTTPException

#: Retry-After of a refused request, in seconds.
RETRY_AFTER_SECONDS = 1


class Overloaded(HTTPException):
    """The budget stayed full for the whole admission timeout: 503 with Retry-After."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            503,
            f"the service is busy generating other tensors (no room within {timeout:g} s); retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class Lease:
    """A share of the budget; ``release`` (idempotent) gives it back."""

    __slots__ = ("_admission", "nbytes")

    def __init__(self, admission: Admission | None, nbytes: int) -> None:
        self._admission = admission
        self.nbytes = nbytes

    def release(self) -> None:
        admission, self._admission = self._admission, None
        if admission is not None:
            admission._give_back(self.nbytes)


#: A lease on nothing, for work too small to count.
FREE = Lease(None, 0)


class Admission:
    """A byte budget shared by the requests of one event loop (an async, FIFO, weighted semaphore)."""

    def __init__(self, capacity: int, timeout: float) -> None:
        self.capacity = capacity
        self.timeout = timeout
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def share(self, nbytes: int) -> int:
        return max(0, min(nbytes, self.capacity))

    async def acquire(self, nbytes: int) -> Lease:
        """A lease of ``nbytes`` (cut to the capacity); raises ``Overloaded`` after ``timeout`` seconds."""
        n = self.share(nbytes)
        if not self._waiters and self.in_use + n <= self.capacity:
            self.in_use += n
            return Lease(self, n)
        entry = (n, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.timeout):
                await entry[1]
        except BaseException as exc:
            if entry[1].done() and not entry[1].cancelled():  # granted just as the wait ended
                self._give_back(n)
            else:
                if entry in self._waiters:  # not already dropped by _wake (which skips cancelled waiters)
                    self._waiters.remove(entry)
                self._wake()  # the head may have left: those behind it may fit now
            if isinstance(exc, TimeoutError):
                raise Overloaded(self.timeout) from None
            raise
        return Lease(self, n)

    def _give_back(self, n: int) -> None:
        self.in_use -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use + self._waiters[0][0] <= self.capacity:
            n, future = self._waiters.popleft()
            if not future.done():
                self.in_use += n
                future.set_result(None)
