"""The HTTP/1.1 protocol ``initserve serve`` runs: uvicorn's httptools protocol with a request read timeout.

uvicorn closes a keep-alive connection that stays silent, but its timer stops at the first byte, and a
new connection gets no timer at all: a client that connects and sends nothing, or trickles a request
head or body a byte at a time (slowloris), holds a connection and a file descriptor for as long as it
likes. Here a new connection must send a request's first byte, and every request must arrive whole,
within INITSERVE_REQUEST_READ_TIMEOUT_SECONDS (of the opening, of the first byte), or the connection is
closed. An answer is never cut, however long it takes to make or to download: the connection is only
closed while every request it has delivered has been answered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

logger = logging.getLogger("initserve.connections")


@functools.cache
def _timeout() -> float:
    """Read once per process, as the app reads its settings (uvicorn imports this class in each worker)."""
    return Settings().request_read_timeout_seconds


class ReadTimeoutProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection not delivering a whole request in time.

    The timer runs while the connection owes a request: from its opening, or from the first byte after an
    answer, to the last byte of the request (restarted at a request's first byte). Idle time after an
    answer is uvicorn's keep-alive timeout.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = _timeout()
        self._begun = 0  # requests whose first byte has come
        self._delivered = 0  # requests received whole (head and body)
        self._answered = 0  # answers sent whole
        self._timer: asyncio.TimerHandle | None = None

    def _start_timer(self) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(self.timeout, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        # An answer still going out (a request pipelined behind it is late) is never cut: the timer
        # starts again when that answer is over.
        if self._answered >= self._delivered and not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else None
            fields = {"client": client, "timeout_s": self.timeout, "answered": self._answered}
            logger.info("closed: no whole request in time", extra={"fields": fields})
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_timer()

    def data_received(self, data: bytes) -> None:
        if self._timer is None and self._answered >= self._delivered:
            # Bytes while idle stop uvicorn's keep-alive timer, even bytes that begin no request (the empty
            # lines HTTP allows between requests): a request must now come whole in time.
            self._start_timer()
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._begun += 1
        self._start_timer()
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._delivered += 1
        self._stop_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._answered += 1
        super().on_response_complete()
        if self._begun > self._delivered:  # a pipelined request is still coming in
            self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)
