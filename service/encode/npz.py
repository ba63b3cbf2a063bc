"""NPZ: named tensors as a ZIP of ``<name>.npy`` members, written as a stream of known length.

``numpy.savez`` writes an uncompressed (stored) ZIP whose member ``<name>.npy`` holds the NPY file of
array ``<name>``; ``numpy.load`` reads it back as a mapping keyed by ``<name>``. This module writes the
same thing without ever holding more than one piece of data, so the ZIP is laid out for streaming
(PKWARE APPNOTE.TXT 6.3.x):

- each member: a local file header (4.3.7) with general-purpose flag bit 3 set, so its CRC-32 and sizes
  are 0 (4.4.4), then the member data (the NPY v1.0 header and the raw bytes), then a data descriptor
  (4.3.9: signature 0x08074b50, CRC-32, compressed and uncompressed size);
- then the central directory (4.3.12), one record per member with the real CRC and sizes;
- then the end of central directory record (4.3.16).

Members are stored (method 0), dated 1980-01-01 00:00 (the earliest MS-DOS date, 4.4.6), "version
needed" 2.0, with no extra fields and no comments; flag bit 11 marks a name that is not ASCII as UTF-8
(4.4.4, appendix D). So the bytes depend only on the names, shapes, dtypes and values, and the total size
is known before the first byte. ZIP64 is not written: a file of 2^32 - 1 bytes or more, or of more than
65,534 members, is refused. Readers that need sizes in the local header (Java's ``ZipInputStream`` for
stored members) cannot read such a streamed ZIP; readers of the central directory (numpy, Python's
``zipfile``, the Rust ``zip`` crate used by candle) can.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from service.encode.npy import body_view, npy_header
from service.encode.safetensors import Entry, EntryLike, as_entry

# An NPZ is a plain ZIP (IANA application/zip), but generated clients (openapi-python-client) only read
# binary answers declared as application/octet-stream; the filename model.npz says what it is.
MEDIA_TYPE = "application/octet-stream"

MAX_MEMBERS = 65_534
MAX_SIZE = 0xFFFF_FFFF  # sizes and offsets must stay below this 4-byte ZIP64 marker

_VERSION_NEEDED = 20
_VERSION_MADE_BY = (3 << 8) | 20  # UNIX, 2.0 (4.4.2), so that external attributes are UNIX modes
_EXTERNAL_ATTRIBUTES = 0o100644 << 16  # a regular file, rw-r--r--
_FLAG_DATA_DESCRIPTOR = 1 << 3
_FLAG_UTF8 = 1 << 11
_DOS_TIME = 0  # 00:00:00
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 4.3.7, 30 bytes
_DESCRIPTOR = struct.Struct("<IIII")  # 4.3.9 with its signature, 16 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 4.3.12, 46 bytes
_END = struct.Struct("<IHHHHIIH")  # 4.3.16, 22 bytes


def check_npz_dtype(dtype: np.dtype) -> None:
    """NPY (hence NPZ) has numbers only, and no bfloat16: refuse the rest with ValueError."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        raise ValueError("NPZ cannot hold bfloat16 (NPY has no such type); use safetensors for bfloat16")
    if dtype.kind not in "biufc":
        raise ValueError(f"NPZ: unsupported dtype {dtype}")


class _Member:
    """One member's name, NPY header, sizes and offset, all known in advance."""

    def __init__(self, entry: Entry, offset: int) -> None:
        check_npz_dtype(entry.dtype)
        if "\x00" in entry.name:
            raise ValueError(f"NPZ: tensor name {entry.name!r} contains a NUL character")
        try:
            self.name = (entry.name + ".npy").encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"NPZ: tensor name {entry.name!r} is not valid Unicode") from exc
        if len(self.name) > 0xFFFF:
            raise ValueError(f"NPZ: tensor name of {len(self.name)} bytes (the ZIP limit is 65,535)")
        self.flags = _FLAG_DATA_DESCRIPTOR | (0 if entry.name.isascii() else _FLAG_UTF8)
        self.npy_header = npy_header(entry.shape, entry.dtype)
        self.size = len(self.npy_header) + entry.nbytes  # member data: the whole .npy file
        self.offset = offset
        self.local_header = _LOCAL.pack(
            0x04034B50, _VERSION_NEEDED, self.flags, 0, _DOS_TIME, _DOS_DATE, 0, 0, 0, len(self.name), 0
        )
        self.end = offset + len(self.local_header) + len(self.name) + self.size + _DESCRIPTOR.size

    def central_record(self, crc: int) -> bytes:
        """The central directory file header of this member, given its CRC-32."""
        record = _CENTRAL.pack(
            0x02014B50,
            _VERSION_MADE_BY,
            _VERSION_NEEDED,
            self.flags,
            0,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            self.size,
            self.size,
            len(self.name),
            0,
            0,
            0,
            0,
            _EXTERNAL_ATTRIBUTES,
            self.offset,
        )
        return record + self.name


class NpzWriter:
    """Writes an NPZ member by member; the caller sends every returned piece and every view it feeds.

    Protocol, for each member ``i`` in the given order: ``begin(i)``, then ``update(view)`` with the
    tensor's C-order little-endian bytes in any number of pieces, then ``end()``; finally ``finish()``.
    ``total_size`` is the exact length of everything sent. Raises ValueError (at construction) for
    duplicate names, an unsupported dtype (bfloat16 included), more than 65,534 members or a file of
    2^32 - 1 bytes or more; ValueError when a member gets more or fewer bytes than its shape needs;
    RuntimeError when the calls come out of order.
    """

    def __init__(self, entries: Sequence[EntryLike]) -> None:
        entries = [as_entry(entry) for entry in entries]
        names = [entry.name for entry in entries]
        if len(set(names)) != len(names):
            raise ValueError(f"NPZ: duplicate tensor names {sorted({n for n in names if names.count(n) > 1})!r}")
        if len(entries) > MAX_MEMBERS:
            raise ValueError(f"NPZ: {len(entries)} tensors, over the {MAX_MEMBERS} a ZIP without ZIP64 can hold")
        self._members: list[_Member] = []
        offset = 0
        for entry in entries:
            member = _Member(entry, offset)
            self._members.append(member)
            offset = member.end
        self._directory_offset = offset
        self._directory_size = sum(_CENTRAL.size + len(member.name) for member in self._members)
        self.total_size = offset + self._directory_size + _END.size
        if self.total_size >= MAX_SIZE:
            raise ValueError(
                f"NPZ: the file would take {self.total_size} bytes; without ZIP64 it must stay under {MAX_SIZE}"
            )
        self._crcs: list[int] = []
        self._open: _Member | None = None
        self._crc = 0
        self._count = 0

    def __len__(self) -> int:
        return len(self._members)

    def begin(self, index: int) -> bytes:
        """The local file header and the NPY header of member ``index`` (the next one in order)."""
        if self._open is not None or index != len(self._crcs) or index >= len(self._members):
            raise RuntimeError(f"NPZ: begin({index}) out of order (next member: {len(self._crcs)})")
        member = self._open = self._members[index]
        self._crc = zlib.crc32(member.npy_header)
        self._count = len(member.npy_header)
        return member.local_header + member.name + member.npy_header

    def update(self, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Account for the next piece of the open member's bytes (CRC-32 and count); the caller sends it."""
        member = self._open
        if member is None:
            raise RuntimeError("NPZ: update() outside begin()/end()")
        view = memoryview(data)
        count = self._count + view.nbytes
        if count > member.size:
            raise ValueError(f"NPZ: member {member.name!r} got {count} bytes, more than its {member.size}")
        self._crc = zlib.crc32(view, self._crc)
        self._count = count

    def end(self) -> bytes:
        """The data descriptor closing the open member; ValueError if it got fewer bytes than its shape needs."""
        member = self._open
        if member is None:
            raise RuntimeError("NPZ: end() without begin()")
        if self._count != member.size:
            raise ValueError(f"NPZ: member {member.name!r} got {self._count} bytes, expected {member.size}")
        self._crcs.append(self._crc)
        self._open = None
        return _DESCRIPTOR.pack(0x08074B50, self._crc, member.size, member.size)

    def finish(self) -> bytes:
        """The central directory and the end of central directory record, once every member has ended."""
        if self._open is not None or len(self._crcs) != len(self._members):
            raise RuntimeError(f"NPZ: finish() after {len(self._crcs)} of {len(self._members)} members")
        records = b"".join(member.central_record(crc) for member, crc in zip(self._members, self._crcs, strict=True))
        count = len(self._members)
        end = _END.pack(0x06054B50, 0, 0, count, count, self._directory_size, self._directory_offset, 0)
        return records + end


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The whole NPZ of ``arrays``, members in the mapping's order (for tests and small answers)."""
    values = {name: np.asarray(array) for name, array in arrays.items()}
    writer = NpzWriter([Entry(name, array.dtype, array.shape) for name, array in values.items()])
    parts: list[bytes | memoryview] = []
    for index, array in enumerate(values.values()):
        parts.append(writer.begin(index))
        view = body_view(array)
        writer.update(view)
        parts.append(view)
        parts.append(writer.end())
    parts.append(writer.finish())
    return b"".join(parts)
