"""Three Python clients that fetch a ``.npy`` answer into a NumPy array, for the benchmarks.

- ``fetch_npy_httpx``: httpx, the body streamed into one preallocated buffer. httpx (h11 and httpcore
  underneath) copies each received piece several times in Python (into h11's receive buffer, out of
  it twice, into ``bytes``): about 80 ms of client CPU per 64 MiB on our 2-core machines, whatever
  the read size, even from a server that sends ready bytes.
- ``NpyConnection``: the standard library's ``http.client`` on one keep-alive connection; it reads the
  NPY header, allocates the array and ``readinto``s the body straight into the array's memory (the
  socket's only copy). This is how a Python program that cares about speed should fetch tensors.
- ``AsyncNpyConnection``: the same over ``asyncio`` streams, for concurrent connections without
  threads (the small-request benchmark).
"""

from __future__ import annotations

import ast
import asyncio
import http.client
import json
from typing import Any

import httpx
import numpy as np

PATH = "/v1/tensors/npy"
_JSON_HEADERS = {"Content-Type": "application/json"}


def parse_npy_header(prefix: bytes) -> tuple[int, np.dtype, tuple[int, ...]]:
    """(header length, dtype, shape) of an NPY v1.0 file from its first bytes (at least the header)."""
    if prefix[:6] != b"\x93NUMPY":
        raise ValueError("not an NPY file")
    length = 10 + int.from_bytes(prefix[8:10], "little")
    header = ast.literal_eval(prefix[10:length].decode("latin-1"))
    if header["fortran_order"]:
        raise ValueError("Fortran order is not expected")
    return length, np.dtype(header["descr"]), tuple(header["shape"])


def fetch_npy_httpx(client: httpx.Client, body: dict[str, Any]) -> np.ndarray:
    """POST with httpx, stream the body into one preallocated buffer, view it as the array."""
    with client.stream("POST", PATH, json=body) as response:
        response.raise_for_status()
        buffer = bytearray(int(response.headers["content-length"]))
        view, position = memoryview(buffer), 0
        for part in response.iter_raw():
            view[position : position + len(part)] = part
            position += len(part)
    offset, dtype, shape = parse_npy_header(bytes(buffer[:4096]))
    return np.frombuffer(buffer, dtype=dtype, offset=offset).reshape(shape)


class NpyConnection:
    """One keep-alive ``http.client`` connection that reads ``.npy`` answers into fresh arrays."""

    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def fetch(self, body: dict[str, Any]) -> np.ndarray:
        payload = json.dumps(body).encode()
        try:
            self.connection.request("POST", PATH, body=payload, headers=_JSON_HEADERS)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the idle keep-alive connection (uvicorn: after 5 s); open a new one.
            self.connection.close()
            self.connection.request("POST", PATH, body=payload, headers=_JSON_HEADERS)
            response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {response.read()[:200]!r}")
        prefix = response.read(10)
        rest = response.read(int.from_bytes(prefix[8:10], "little"))
        _, dtype, shape = parse_npy_header(prefix + rest)
        array = np.empty(shape, dtype)
        view, position = memoryview(array.reshape(-1)).cast("B"), 0
        while position < len(view):
            got = response.readinto(view[position:])
            if not got:
                raise RuntimeError("the answer ended early")
            position += got
        return array

    def close(self) -> None:
        self.connection.close()


class AsyncNpyConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams; ``fetch`` returns the answer's bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> AsyncNpyConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def fetch(self, body: dict[str, Any]) -> bytes:
        payload = json.dumps(body).encode()
        self.writer.write(
            f"POST {PATH} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        answer = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{status}: {answer[:200]!r}")
        return answer

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
