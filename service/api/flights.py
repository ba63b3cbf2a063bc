"""Single flight: identical requests arriving while the first is being answered share its work.

An answer made before it is sent (JSON, ``/v1/tensors/stats``, ``/v1/models/stats``, a buffered
``.npy`` or safetensors file) is a pure function of its canonical request, so requests with the same
key (operation and canonical request) that arrive while one is in making wait for it instead of
making their own: one generation, one copy of the bytes, several readers. Streamed answers (files over
the buffered size) are made as they are sent and are not shared.

The work runs as its own task: a waiter that leaves does not cancel it for the others. Its share of
the generation budget (a ``Lease``) is held until the last reader has sent the bytes: each reader gets
a ``Hold`` on the flight, and the flight's lease is given back when the flight has landed (no one can
join any more) and every hold is released. Memory stays bounded as without sharing: the bytes are held
once, under one lease, instead of once per request. A request arriving after the flight has landed
starts a new one: nothing is cached.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from service.api.admission import Lease

T = TypeVar("T")


class _Flight(Generic[T]):
    """One piece of work in making, and its readers."""

    def __init__(self, task: asyncio.Future[tuple[T, Lease]]) -> None:
        self.task = task
        self.joined = 0
        self.released = 0
        self.landed = False

    def settle(self) -> None:
        """Give the lease back once the flight has landed and every reader is done with it."""
        if not (self.landed and self.released == self.joined):
            return
        if self.task.cancelled() or self.task.exception() is not None:
            return  # the work gave its lease back itself
        self.task.result()[1].release()


class Hold(Lease):
    """A reader's hold on a shared answer (releasing it is idempotent, as for any lease)."""

    __slots__ = ("_flight",)

    def __init__(self, flight: _Flight[Any]) -> None:
        super().__init__(None, 0)
        self._flight: _Flight[Any] | None = flight

    def release(self) -> None:
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.released += 1
            flight.settle()


class Flights:
    """The flights in progress of one app, by key; ``joined`` counts requests that shared one."""

    def __init__(self) -> None:
        self._flying: dict[Hashable, _Flight[Any]] = {}
        self.started = 0
        self.joined = 0

    async def share(self, key: Hashable, make: Callable[[], Awaitable[tuple[T, Lease]]]) -> tuple[T, Lease]:
        """The value ``make`` makes (with the lease it holds), shared with identical requests in flight:
        ``(value, hold)``; the caller releases the hold when it has sent the value."""
        flight = self._flying.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(make()))
            self._flying[key] = flight
            self.started += 1
            flight.task.add_done_callback(lambda _: self._land(key, flight))
        else:
            self.joined += 1
        flight.joined += 1
        try:
            value, _ = await asyncio.shield(flight.task)
        except BaseException:
            flight.joined -= 1
            flight.settle()
            raise
        return value, Hold(flight)

    def _land(self, key: Hashable, flight: _Flight[Any]) -> None:
        if self._flying.get(key) is flight:
            del self._flying[key]
        flight.landed = True
        flight.settle()

    @property
    def in_flight(self) -> int:
        return len(self._flying)


_BY_RUNTIME: weakref.WeakKeyDictionary[object, Flights] = weakref.WeakKeyDictionary()


def flights(runtime: object) -> Flights:
    """The flights of an app (one per runtime)."""
    found = _BY_RUNTIME.get(runtime)
    if found is None:
        found = _BY_RUNTIME[runtime] = Flights()
    return found
