"""The two ways a binary answer goes out: ready buffers, or parts made while the answer is sent.

Both hand the server memoryviews of the arrays (no copy) and neither runs a task group: when a client
leaves, nothing is cancelled, so no traceback keeps a frame, and the block of memory it refers to,
alive until the cyclic garbage collector runs. Every block of an answer is freed when the answer ends,
and its share of the generation budget (its ``Lease``) is given back there, whether the answer was
sent whole, failed or its client left: the one place a lease ends once a response holds it.

Send timeout: the server's ``send`` waits while the socket's buffers are full (flow control). A client
that reads nothing for ``INITSERVE_SEND_TIMEOUT_SECONDS`` is dropped: the answer ends there, unfinished,
so the server closes the connection, and the lease is given back. The server's one-line complaint about
an answer left unfinished is silenced for these (``quiet_abandoned``): the warning logged here says why.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from service.api.admission import FREE, Lease

#: Largest piece of a body handed to the server at once: the server waits for the socket to drain
#: between pieces, so a slow reader never makes it copy a whole tensor (or block) into its write buffer,
#: and a client dropped for its send timeout leaves at most one piece there (the server flushes it, or
#: drops it with the connection).
SEND_BYTES = 1 << 20

#: The parts of a streamed body, in order.
Parts = AsyncGenerator[bytes | memoryview, None]

#: The send timeout when the app has no runtime (``INITSERVE_SEND_TIMEOUT_SECONDS``'s default).
DEFAULT_SEND_TIMEOUT = 30.0

logger = logging.getLogger("initserve.connections")

#: Set in the task of an answer dropped for its send timeout: the server's complaint about it is silenced.
_abandoned: contextvars.ContextVar[bool] = contextvars.ContextVar("initserve_abandoned", default=False)

#: uvicorn's error line when an app returns with its answer unfinished (it then closes the connection).
_UNFINISHED = "ASGI callable returned without completing response"


class SendTimeout(Exception):
    """The client read nothing for the send timeout."""


def _quiet(record: logging.LogRecord) -> bool:
    return not (_abandoned.get() and str(record.msg).startswith(_UNFINISHED))


def quiet_abandoned() -> None:
    """Silence uvicorn's error line about the answers this module drops on purpose (idempotent)."""
    server_logger = logging.getLogger("uvicorn.error")
    if _quiet not in server_logger.filters:
        server_logger.addFilter(_quiet)


def _send_timeout(scope: Scope) -> float:
    app = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    return runtime.settings.send_timeout_seconds if runtime is not None else DEFAULT_SEND_TIMEOUT


def timed(send: Send, scope: Scope) -> Send:
    """``send`` that raises ``SendTimeout`` when one message waits longer than the send timeout."""
    seconds = _send_timeout(scope)

    async def send_in_time(message: Message) -> None:
        try:
            async with asyncio.timeout(seconds):
                await send(message)
        except TimeoutError:
            _abandoned.set(True)
            client = scope.get("client")
            logger.warning(
                "client read nothing for the send timeout; connection closed",
                extra={
                    "fields": {
                        "client": f"{client[0]}:{client[1]}" if client else None,
                        "send_timeout_seconds": seconds,
                        "request_id": scope.get("state", {}).get("request_id"),
                    }
                },
            )
            raise SendTimeout from None

    return send_in_time


def _body(piece: bytes | memoryview, more: bool) -> Message:
    return {"type": "http.response.body", "body": piece, "more_body": more}


class BuffersResponse(Response):
    """A body of ready buffers (the NPY header, the array's memory), sent as they are: no copy,
    no thread hop per part (StreamingResponse iterates a plain iterator on a worker thread)."""

    def __init__(
        self, parts: tuple[bytes | memoryview, ...], headers: dict[str, str], media_type: str, lease: Lease = FREE
    ) -> None:
        super().__init__(headers=headers, media_type=media_type)
        self.headers["Content-Length"] = str(sum(len(part) for part in parts))
        self.parts = parts
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = timed(send, scope)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            pieces = [
                part[start : start + SEND_BYTES] if len(part) > SEND_BYTES else part
                for part in self.parts
                for start in range(0, max(len(part), 1), SEND_BYTES)
            ]
            last = len(pieces) - 1
            for index, piece in enumerate(pieces):
                await send(_body(piece, index < last))
        except SendTimeout:
            return
        finally:
            self.lease.release()


class ClientGone(Exception):
    """The client left while its answer was being made: nothing more is to be sent."""


async def client_gone(request: object, exc: ClientGone) -> Response:
    """The answer to a request whose client left before it was made (exception handler): nothing reaches
    the client; the access log and the metrics say 499 (nginx's "client closed request")."""
    return Response(status_code=499)


async def disconnected(receive: Receive) -> None:
    """Returns when the client has gone (the request body has already been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class StreamedResponse(Response):
    """A body whose parts are made while it is sent: ``make_parts(client_gone)`` is an async generator
    of them (the header, then the blocks as generation delivers them), and ``client_gone`` a future
    done once the client has disconnected.

    A generator that waits for a block stops waiting when the client leaves: it raises ``ClientGone``
    (``blocks_in_order`` does), and its ``finally`` stops the blocks ahead. Nothing is cancelled, unlike
    in Starlette's StreamingResponse (see the module's docstring), and no part is sent once the client
    has gone."""

    def __init__(
        self,
        make_parts: Callable[[asyncio.Future[None]], Parts],
        headers: dict[str, str],
        media_type: str,
        lease: Lease = FREE,
    ) -> None:
        super().__init__(headers=headers, media_type=media_type)  # headers carry the Content-Length
        self.make_parts = make_parts
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client_gone = asyncio.ensure_future(disconnected(receive))
        send = timed(send, scope)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async with aclosing(self.make_parts(client_gone)) as parts:
                async for part in parts:
                    for start in range(0, len(part), SEND_BYTES):
                        if client_gone.done():
                            return
                        await send(_body(part[start : start + SEND_BYTES], True))
            await send(_body(b"", False))
        except (ClientGone, SendTimeout):
            return
        finally:
            client_gone.cancel()
            self.lease.release()
