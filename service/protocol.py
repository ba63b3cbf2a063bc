"""The HTTP/1.1 protocol ``initserve serve`` runs: uvicorn's httptools protocol with a request read timeout.

uvicorn closes a keep-alive connection that stays silent, but its timer stops at the first byte, and a
new connection gets no timer at all: a client that connects and sends nothing, or trickles a request
head or body a byte at a time (slowloris), holds a connection and a file descriptor for as long as it
likes. Here a connection must deliver each whole request within INITSERVE_REQUEST_READ_TIMEOUT_SECONDS
of opening, or of the previous answer's end, or it is closed. An answer is never cut, however long it
takes to make or to download: the connection is only closed while every request it has delivered has
been answered.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings


@functools.cache
def _timeout() -> float:
    """Read once per process, as the app reads its settings (uvicorn imports this class in each worker)."""
    return Settings().request_read_timeout_seconds


class ReadTimeoutProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection not delivering a whole request in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = _timeout()
        self._delivered = 0  # requests received whole (head and body)
        self._answered = 0  # answers sent whole
        self._timer: asyncio.TimerHandle | None = None

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self.timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        if self._answered >= self._delivered and not self.transport.is_closing():
            self.transport.close()  # waiting for a request that has not come whole in time

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._restart_timer()

    def on_message_complete(self) -> None:
        self._delivered += 1
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._answered += 1
        super().on_response_complete()
        self._restart_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)
