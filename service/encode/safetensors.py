"""safetensors: a set of named tensors with a str->str metadata map, as one byte-reproducible file.

Format (huggingface/safetensors ``README.md``, "Format"; writer and reader in ``safetensors/src/tensor.rs``):
an 8-byte little-endian u64 ``N``, then ``N`` bytes of UTF-8 JSON, then the byte buffer. The JSON maps
each tensor name to ``{"dtype": "F32", "shape": [3, 5], "data_offsets": [begin, end]}`` (offsets relative
to the start of the buffer, ``end`` one past the last byte) and may hold ``"__metadata__"``, a str->str
map. Tensors are little-endian, C order, without strides; the reader caps ``N`` at 100,000,000 bytes.

This module writes the header exactly as the official writer (``safetensors.serialize``) does: tensors
sorted by dtype alignment, largest first (the order of its ``Dtype`` enum, ``I64 > F64 > F32 > BF16 > F16``),
then by name; ``__metadata__`` first; compact JSON with each entry's keys in the order ``dtype``,
``shape``, ``data_offsets``; spaces appended so that ``8 + N`` is a multiple of 8, which aligns every
tensor. The official writer keeps the metadata in a hash map, so its key order (and its bytes) vary
from call to call; here the metadata keys are sorted, so the same inputs give the same bytes. Without
metadata the bytes equal the official writer's.

The header and the total size are computed before any tensor exists (:func:`file_layout`), so an HTTP
answer can send ``Content-Length`` first and stream the bodies after the header, in ``FileLayout.slots``
order, with no copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from service.encode.npy import body_view

MEDIA_TYPE = "application/octet-stream"

# numpy dtype name -> safetensors dtype name.
DTYPES: dict[str, str] = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",  # ml_dtypes.bfloat16
    "int64": "I64",
}
# Position in the official writer's ``Dtype`` enum ("in increasing alignment order"), which sorts the bodies.
_RANK = {"F16": 0, "BF16": 1, "F32": 2, "F64": 3, "I64": 4}

MAX_HEADER_SIZE = 100_000_000  # the reader's MAX_HEADER_SIZE (safetensors/src/tensor.rs)
METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class Entry:
    """A tensor to be written: its name, numpy dtype and shape (``()`` for a 0-D tensor)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        shape = tuple(self.shape)
        if not all(isinstance(dim, int | np.integer) and not isinstance(dim, bool) and dim >= 0 for dim in shape):
            raise ValueError(f"tensor {self.name!r}: the shape must be non-negative integers, got {shape!r}")
        object.__setattr__(self, "shape", tuple(int(dim) for dim in shape))

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's body: element count times item size."""
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass(frozen=True)
class Slot:
    """Where one tensor's body lies: ``[begin, end)`` from the start of the byte buffer."""

    entry: Entry
    begin: int
    end: int


@dataclass(frozen=True)
class FileLayout:
    """A safetensors file before its bodies exist.

    ``header`` is the u64 length and the padded JSON; then come the bodies of ``slots``, in that order,
    each ``slot.entry.nbytes`` C-order little-endian bytes; ``total_size`` is the length of the whole file.
    """

    header: bytes
    slots: tuple[Slot, ...]
    total_size: int

    @property
    def offsets(self) -> dict[str, tuple[int, int]]:
        """Each tensor's ``[begin, end)`` relative to the byte buffer, as in the header's ``data_offsets``."""
        return {slot.entry.name: (slot.begin, slot.end) for slot in self.slots}


EntryLike = Entry | tuple[str, np.dtype, Sequence[int]]


def as_entry(entry: EntryLike) -> Entry:
    """An :class:`Entry`, from itself or from a ``(name, dtype, shape)`` tuple."""
    return entry if isinstance(entry, Entry) else Entry(*entry)


def safetensors_dtype(dtype: np.dtype) -> str:
    """The safetensors name of a numpy dtype; ValueError for dtypes the service does not write."""
    name = DTYPES.get(np.dtype(dtype).name)
    if name is None:
        raise ValueError(f"safetensors: unsupported dtype {np.dtype(dtype)} (supported: {', '.join(DTYPES)})")
    return name


def file_layout(entries: Sequence[EntryLike], metadata: Mapping[str, str] | None = None) -> FileLayout:
    """The header, body order, offsets and total size of the safetensors file holding ``entries``.

    ``metadata`` (str->str) becomes ``__metadata__`` when it is non-empty. Raises ValueError for an
    unsupported dtype, a duplicate name, the name ``__metadata__``, a non-str metadata key or value,
    text that is not valid Unicode, or a header over 100,000,000 bytes.
    """
    entries = [as_entry(entry) for entry in entries]
    names = [entry.name for entry in entries]
    if not all(isinstance(name, str) for name in names):
        raise ValueError("safetensors: tensor names must be str")
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"safetensors: duplicate tensor names {duplicates!r}")
    if METADATA_KEY in names:
        raise ValueError(f"safetensors: {METADATA_KEY!r} is reserved and cannot name a tensor")
    kinds = {entry.name: safetensors_dtype(entry.dtype) for entry in entries}
    ordered = sorted(entries, key=lambda entry: (-_RANK[kinds[entry.name]], entry.name))

    document: dict[str, object] = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(
                    f"safetensors: metadata must map str to str, got {key!r}: {type(value).__name__} "
                    "(convert numbers to strings)"
                )
        document[METADATA_KEY] = {key: metadata[key] for key in sorted(metadata)}
    slots = []
    offset = 0
    for entry in ordered:
        slot = Slot(entry, offset, offset + entry.nbytes)
        slots.append(slot)
        offset = slot.end
        document[entry.name] = {
            "dtype": kinds[entry.name],
            "shape": list(entry.shape),
            "data_offsets": [slot.begin, slot.end],
        }
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"safetensors: a name or metadata string is not valid Unicode ({exc.reason})") from exc
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_SIZE:
        raise ValueError(
            f"safetensors: the header would take {len(text)} bytes, over the format's cap of {MAX_HEADER_SIZE}"
        )
    header = len(text).to_bytes(8, "little") + text
    return FileLayout(header=header, slots=tuple(slots), total_size=len(header) + offset)


def encode(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The whole safetensors file of ``arrays`` in memory (for tests and small answers)."""
    values = {name: np.asarray(array) for name, array in arrays.items()}
    layout = file_layout([Entry(name, array.dtype, array.shape) for name, array in values.items()], metadata)
    parts = [layout.header]
    parts.extend(body_view(values[slot.entry.name]) for slot in layout.slots)
    return b"".join(parts)
