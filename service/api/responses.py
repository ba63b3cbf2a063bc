"""The two ways a binary answer goes out: ready buffers, or parts made while the answer is sent.

Both hand the server memoryviews of the arrays (no copy) and neither runs a task group: when a client
leaves, nothing is cancelled, so no traceback keeps a frame, and the block of memory it refers to,
alive until the cyclic garbage collector runs. Every block of an answer is freed when the answer ends,
and its share of the generation budget (its ``Lease``) is given back there, whether the answer was
sent whole, failed or its client left: the one place a lease ends once a response holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from service.api.admission import FREE, Lease

#: Largest piece of a buffered body handed to the server at once: the server waits for the socket to
#: drain between pieces, so a slow reader never makes it copy a whole tensor into its write buffer.
SEND_BYTES = 1 << 20

#: The parts of a streamed body, in order.
Parts = AsyncGenerator[bytes | memoryview, None]


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
        finally:
            self.lease.release()


class ClientGone(Exception):
    """The client left while its answer was being made: nothing more is to be sent."""


async def _disconnect(receive: Receive) -> None:
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
        client_gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async with aclosing(self.make_parts(client_gone)) as parts:
                async for part in parts:
                    if client_gone.done():
                        return
                    await send(_body(part, True))
            await send(_body(b"", False))
        except ClientGone:
            return
        finally:
            client_gone.cancel()
            self.lease.release()
