"""The HTTP/1.1 connection guard ``initserve serve`` runs in front of uvicorn's protocol.

Design. uvicorn (0.54, 0.55) has no request read timeout, no cap on header size or count, and answers
parse errors in plain text; the service used to subclass uvicorn's private ``HttpToolsProtocol`` and
override its parser callbacks, which tied it to one uvicorn minor version. ``GuardedHTTP`` is instead a
small layer we own on the public ``asyncio.Protocol`` interface: uvicorn's ``http=`` option takes it as
the protocol class; it creates uvicorn's own protocol inside (``httptools`` by name, the arguments passed
through untouched) and sits between it and the socket. Every byte received goes first through the
guard's own ``httptools`` request parser (a public library, the parser uvicorn uses too, so both agree on
where requests begin and end); every byte the inner protocol writes goes through a response parser that
counts finished answers. From those boundaries alone the guard enforces:

- the read timeout: a new connection must send a request's first byte, and every request must arrive
  whole, within INITSERVE_REQUEST_READ_TIMEOUT_SECONDS (of the opening, of its first byte), else the
  connection is closed -- only while every request it delivered has been answered (an answer is never
  cut, however long it takes to make or to download), and after one more turn of the event loop, which
  reads what came while the loop was held. Idle time after an answer is uvicorn's keep-alive;
- the head limits: the request line and header fields may total INITSERVE_MAX_HEADER_BYTES (name +
  value + 4 per field, the URL and method), INITSERVE_MAX_HEADERS fields; over them -> 431 (414 for the
  URL alone). The guard stops reading at the limit, so a 100 MB header costs what 64 KiB costs (a field
  is never accumulated past the limit: httptools joins a field's pieces by bytes concatenation, which is
  quadratic in its size);
- the version and Host rules: no version (HTTP/0.9) -> 400, a version other than 1.0/1.1 -> 505, an
  HTTP/1.1 request without exactly one Host (or HTTP/1.0 with several) -> 400;
- INITSERVE_MAX_CONNECTIONS open connections per process: one more is answered 503 at once and closed;
- malformed requests: 400.

Every refusal is an ``application/problem+json`` answer with ``Connection: close``, sent after the
answers already owed on the connection (pipelining); it is logged with the client's address (logger
``initserve.connections``) and counted (``ConnectionStats``, exported by /metrics). After a refusal the
connection is half-closed and what the client still sends is read and dropped for up to ``LINGER_SECONDS``
(so that a client still sending its too-large head reads the answer instead of a reset), then closed.
Requests after a refused one in the same read are dropped with it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import httptools

from service.settings import Settings

logger = logging.getLogger("initserve.connections")

#: The protocol created inside the guard, by the name uvicorn's ``--http`` option takes.
INNER_PROTOCOL = "httptools"
#: Longest time a refused connection is kept half-closed, reading and dropping what the client sends.
LINGER_SECONDS = 2.0
#: After the read timeout, the wait before the connection is closed: one turn of the event loop, time to read
#: what came in while the loop was held (see ``GuardedHTTP._on_timeout``).
LATE_CHECK_SECONDS = 0.01
_VERSIONS = {"1.0", "1.1"}
_REQUEST_LINE_EXTRA = len(b"  HTTP/1.1\r\n\r\n")  # the request line's spaces, version and the blank line


@dataclass(frozen=True)
class Limits:
    read_timeout: float
    max_header_bytes: int
    max_headers: int
    max_connections: int


@functools.cache
def _limits() -> Limits:
    """Read once per process, as the app reads its settings (uvicorn creates the protocol in each worker)."""
    s = Settings()
    return Limits(s.request_read_timeout_seconds, s.max_header_bytes, s.max_headers, s.max_connections)


@functools.cache
def _inner_class() -> type[asyncio.Protocol]:
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    return import_from_string(HTTP_PROTOCOLS[INNER_PROTOCOL])  # type: ignore[no-any-return]


@dataclass
class ConnectionStats:
    """Connections of this process: open now, and refused by the guard (by reason and status)."""

    open: int = 0
    refused: Counter[tuple[str, int]] = field(default_factory=Counter)


STATS = ConnectionStats()


class Refusal(Exception):
    """A request the guard answers itself: ``status``, a ``reason`` label for metrics and a ``detail``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def refusal_bytes(refusal: Refusal) -> bytes:
    """The whole HTTP/1.1 answer of a refusal: problem+json, ``Connection: close``."""
    from service.api.problems import MEDIA_TYPE, problem_body  # the app's format, imported when first needed

    body = problem_body(refusal.status, refusal.detail)
    phrase = HTTPStatus(refusal.status).phrase
    head = (
        f"HTTP/1.1 {refusal.status} {phrase}\r\ncontent-type: {MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\ndate: {formatdate(usegmt=True)}\r\n"
    )
    if refusal.status == 503:
        head += "retry-after: 1\r\n"
    return (head + "\r\n").encode("latin-1") + body


class _Requests:
    """httptools callbacks on the received bytes: request boundaries and the head rules."""

    def __init__(self, guard: GuardedHTTP, limits: Limits) -> None:
        self.guard = guard
        self.limits = limits
        self.parser = httptools.HttpRequestParser(self)
        self.in_head = False
        self.head_bytes = 0  # exact: method, URL, fields (name + value + 4), request line's rest
        self.head_fed = 0  # bytes received while the head was incomplete, after the read that began it
        self.fields = 0
        self.hosts = 0

    def feed(self, data: bytes) -> None:
        """Raises ``Refusal`` for a request the guard refuses."""
        if self.in_head:
            self.head_fed += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:  # no upgrade is served: HTTP/1.1 goes on
            self.parser = httptools.HttpRequestParser(self)
            self.feed(data[upgrade.args[0] :])
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, Refusal):
                raise exc.__context__ from None
            raise Refusal(400, "malformed", f"malformed HTTP request: {exc}") from None
        except httptools.HttpParserError as exc:
            raise Refusal(400, "malformed", f"malformed HTTP request: {exc}") from None
        if self.in_head and self.head_fed > self.limits.max_header_bytes:
            self._too_large()

    def _too_large(self) -> None:
        limits = self.limits
        raise Refusal(
            431,
            "header_bytes",
            f"the request head exceeds {limits.max_header_bytes} bytes (INITSERVE_MAX_HEADER_BYTES)",
        )

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = self.head_fed = self.fields = self.hosts = 0
        self.guard.request_begun()

    def on_url(self, url: bytes) -> None:
        self.head_bytes += len(url)
        if self.head_bytes > self.limits.max_header_bytes:
            raise Refusal(414, "url_bytes", f"the URL exceeds {self.limits.max_header_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields += 1
        self.head_bytes += len(name) + len(value) + 4
        if self.fields > self.limits.max_headers:
            raise Refusal(
                431,
                "header_count",
                f"the request has over {self.limits.max_headers} header fields (INITSERVE_MAX_HEADERS)",
            )
        if self.head_bytes > self.limits.max_header_bytes:
            self._too_large()
        if name.lower() == b"host":
            self.hosts += 1

    def on_headers_complete(self) -> None:
        self.in_head = False
        method = self.parser.get_method()
        if self.head_bytes + len(method) + _REQUEST_LINE_EXTRA > self.limits.max_header_bytes:
            self._too_large()
        version = self.parser.get_http_version()
        if version == "0.9":
            raise Refusal(400, "no_version", "the request line has no HTTP version (HTTP/1.1 expected)")
        if version not in _VERSIONS:
            raise Refusal(400, "version", f"HTTP/{version} is not served here: send HTTP/1.1 (or 1.0)")
        if (version == "1.1" and self.hosts != 1) or self.hosts > 1:
            raise Refusal(400, "host", f"an HTTP/{version} request needs exactly one Host header (got {self.hosts})")
        self.guard.request_head(method)

    def on_message_complete(self) -> None:
        self.guard.request_delivered()


class _Answers:
    """Counts the answers in the bytes the inner protocol writes (HTTP/1.1 framing, parsed by httptools).

    An answer to HEAD ends with its head (found here: a response parser cannot be told so); an interim
    1xx answer is not an answer. Each answer gets a fresh parser, so that it is read as its request's."""

    def __init__(self, guard: GuardedHTTP) -> None:
        self.guard = guard
        self.methods: deque[bytes] = deque()  # of the requests not answered yet, in order
        self.parser: httptools.HttpResponseParser | None = None
        self.between = True  # the parser is between two answers
        self.status = 0
        self.head_only: bytes | None = None  # in a HEAD answer's head: its bytes so far
        self.blind = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        while data and not self.blind:
            if self.parser is None and self.head_only is None:  # an answer starts
                if self.methods and self.methods[0] == b"HEAD":
                    self.head_only = b""
                else:
                    self.parser = httptools.HttpResponseParser(self)
            if self.head_only is not None:
                seen = self.head_only + bytes(data)
                end = seen.find(b"\r\n\r\n")
                if end < 0:
                    self.head_only = seen
                    return
                self.head_only, data = None, seen[end + 4 :]
                if seen[9:10] != b"1":  # "HTTP/1.1 1xx": interim
                    self._answered()
                continue
            assert self.parser is not None
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError as exc:  # never seen: stop counting, stop cutting on timeouts
                logger.warning("answers not counted on this connection: %s", exc)
                self.blind = True
                self.guard.answers_lost()
            if self.between:
                self.parser = None
            return

    def on_message_begin(self) -> None:
        self.between = False

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        self.between = True
        if not 100 <= self.status < 200:  # not an interim answer (100 Continue)
            self._answered()

    def _answered(self) -> None:
        if self.methods:
            self.methods.popleft()
        self.guard.answer_complete()


class _TransportView:
    """The socket's transport as the inner protocol sees it: the same, but what it writes is watched."""

    def __init__(self, transport: asyncio.Transport, answers: _Answers) -> None:
        self._transport = transport
        self._answers = answers

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)
        self._answers.feed(data)  # no copy: httptools reads any buffer

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHTTP(asyncio.Protocol):
    """uvicorn's HTTP/1.1 protocol behind the guard (see the module docstring); uvicorn passes its
    arguments, the guard passes them on to the inner protocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.limits = _limits()
        self._args, self._kwargs = args, kwargs
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.client: str | None = None
        self.loop = asyncio.get_running_loop()
        self._requests = _Requests(self, self.limits)
        self._answers = _Answers(self)
        self._begun = 0  # requests whose first byte has come
        self._delivered = 0  # requests received whole (head and body)
        self._answered = 0  # answers written whole
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: Refusal | None = None  # set: the guard answers this, then closes
        self._refusal_sent = False
        self._blind = False  # the answers cannot be counted (never seen)
        self._counted = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport (uvloop's is no subclass)
        peer = transport.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else None
        if STATS.open >= self.limits.max_connections:
            detail = f"the server has {STATS.open} connections open (INITSERVE_MAX_CONNECTIONS); retry later"
            self._refuse(Refusal(503, "connections", detail))
            return
        STATS.open += 1
        self._counted = True
        self.inner = _inner_class()(*self._args, **self._kwargs)
        self.inner.connection_made(_TransportView(transport, self._answers))  # type: ignore[arg-type]
        self._start_timer()

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:  # refused: dropped while lingering
            return
        if self._timer is None and self._answered >= self._delivered:
            # Bytes while idle stop uvicorn's keep-alive timer, even bytes that begin no request (the empty
            # lines HTTP allows between requests): a request must now come whole in time.
            self._start_timer()
        try:
            self._requests.feed(data)
        except Refusal as refusal:
            self._refuse(refusal)
            return
        assert self.inner is not None
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.inner is not None and self._refusal is None:
            return self.inner.eof_received()  # type: ignore[attr-defined,no-any-return]
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        if self._counted:
            STATS.open -= 1
            self._counted = False
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    # -- request and answer boundaries --------------------------------------------------------------
    def request_begun(self) -> None:
        self._begun += 1
        self._start_timer()

    def request_head(self, method: bytes) -> None:
        self._answers.methods.append(method)

    def request_delivered(self) -> None:
        self._delivered += 1
        self._stop_timer()

    def answer_complete(self) -> None:
        self._answered += 1
        if self._refusal is not None:
            self._send_refusal_when_due()
        elif self._begun > self._delivered:  # a pipelined request is still coming in
            self._start_timer()

    def answers_lost(self) -> None:
        """The answers can no longer be counted: no timeout cuts this connection any more."""
        self._stop_timer()
        self._blind = True

    # -- timers and refusals ------------------------------------------------------------------------
    def _start_timer(self) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(self.limits.read_timeout, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        # libuv runs due timers before it reads the sockets: when the event loop was held past the deadline
        # (a stopped or starved process), bytes that came meanwhile are read first, on the loop's next turn;
        # a request they complete stops this last check (``request_delivered``).
        self._timer = self.loop.call_later(LATE_CHECK_SECONDS, self._close_if_late)

    def _close_if_late(self) -> None:
        self._timer = None
        # An answer still going out (a request pipelined behind it is late) is never cut: the timer
        # starts again when that answer is over.
        assert self.transport is not None
        if self._answered >= self._delivered and not self._blind and not self.transport.is_closing():
            fields = {"client": self.client, "timeout_s": self.limits.read_timeout, "answered": self._answered}
            logger.info("closed: no whole request in time", extra={"fields": fields})
            self.transport.close()

    def _refuse(self, refusal: Refusal) -> None:
        self._stop_timer()
        self._refusal = refusal
        STATS.refused[refusal.reason, refusal.status] += 1
        fields = {"client": self.client, "status": refusal.status, "reason": refusal.reason, "detail": refusal.detail}
        logger.info("refused", extra={"fields": fields})
        self._send_refusal_when_due()

    def _send_refusal_when_due(self) -> None:
        transport = self.transport
        assert transport is not None and self._refusal is not None
        if self._refusal_sent or transport.is_closing():
            return
        if self._blind:
            transport.close()
            return
        if self._answered < self._delivered:
            return  # sent after the answers owed
        self._refusal_sent = True
        transport.write(refusal_bytes(self._refusal))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(min(LINGER_SECONDS, self.limits.read_timeout), transport.close)
        else:
            transport.close()
