"""NPY v1.0 (NEP 1): the header of a C-order little-endian array, and its body as buffers.

The header is the one ``numpy.save`` writes (``numpy.lib.format``), padded so
the data starts at a multiple of 64 bytes; the body is the array's own memory,
passed on as ``memoryview`` s without copies.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from numpy.lib import format as npy_format

from service.core.errors import ParameterError

MEDIA_TYPE = "application/octet-stream"


@functools.cache
def _is_bfloat16(dtype: np.dtype) -> bool:
    return dtype.name == "bfloat16"  # ``dtype.name`` is computed in Python, each time


def check_npy_dtype(dtype: np.dtype) -> None:
    """NPY has no bfloat16 (it would be written as opaque ``|V2``): refuse it."""
    if _is_bfloat16(dtype):
        raise ParameterError(
            "NPY has no bfloat16 type; request bfloat16 as safetensors (POST /v1/tensors/safetensors, "
            "BF16) or as JSON (POST /v1/tensors)",
            "dtype",
        )


def npy_header(shape: Sequence[int], dtype: np.dtype) -> bytes:
    """The NPY v1.0 header of a C-order array, byte for byte what ``numpy.save`` writes."""
    return _npy_header(tuple(shape), dtype)


@functools.lru_cache(maxsize=256)  # a service answers the same few shapes again and again
def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    check_npy_dtype(dtype)
    buffer = io.BytesIO()
    header = {
        "descr": npy_format.dtype_to_descr(dtype.newbyteorder("<")),
        "fortran_order": False,
        "shape": shape,
    }
    npy_format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def npy_file(header: bytes, count: int, dtype: np.dtype) -> tuple[memoryview, np.ndarray]:
    """A whole .npy file's buffer, ``header`` already in it, and the flat array of ``count`` elements
    of ``dtype`` (little-endian) that is its body, to be filled in place. The header's length is a
    multiple of 64 bytes, so the array is as aligned as the buffer."""
    dtype = dtype.newbyteorder("<")
    buffer = np.empty(len(header) + count * dtype.itemsize, dtype=np.uint8)
    buffer[: len(header)] = np.frombuffer(header, dtype=np.uint8)
    return memoryview(buffer), buffer[len(header) :].view(dtype)


def body_view(values: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous little-endian array, without a copy."""
    if values.dtype.byteorder == ">":
        values = values.astype(values.dtype.newbyteorder("<"))
    return memoryview(np.ascontiguousarray(values).reshape(-1).view(np.uint8))
