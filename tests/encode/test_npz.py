"""The streaming NPZ writer (service/encode/npz.py), read back with numpy, zipfile and unzip."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from service.encode import npz
from service.encode.npy import body_view
from service.encode.npz import NpzWriter, encode
from service.encode.safetensors import Entry

from .arrays import bits, sample

MODEL = {
    "bn.num_batches_tracked": np.array(0, dtype=np.int64),
    "decoder/out.weight": sample(np.float16, (2, 5), 1),
    "encoder.0.bias": sample(np.float32, (4,), 2),
    "encoder.0.weight": sample(np.float32, (4, 3), 3),
    "empty": np.zeros((0, 3), dtype=np.float64),
    "gain": np.array(0.25, dtype=np.float64),
    "naïve/ém": sample(np.float64, (3, 2, 2), 4),
}


def streamed(arrays: dict[str, np.ndarray], piece: int | None = None) -> bytes:
    """The NPZ as an HTTP layer would send it, feeding each body in pieces of ``piece`` bytes (or varied)."""
    writer = NpzWriter([(name, array.dtype, array.shape) for name, array in arrays.items()])
    out = bytearray()
    for index, array in enumerate(arrays.values()):
        out += writer.begin(index)
        view = body_view(array)
        position, step = 0, 1
        while position < len(view):
            size = piece if piece is not None else step
            writer.update(view[position : position + size])
            out += view[position : position + size]
            position += size
            step = step * 3 % 17 + 1  # 1, 4, 13, 6, ...: uneven pieces
        writer.update(b"")  # an empty piece changes nothing
        out += writer.end()
    out += writer.finish()
    assert writer.total_size == len(out)
    return bytes(out)


def test_numpy_load_reads_every_member_bit_equal() -> None:
    data = encode(MODEL)
    with np.load(io.BytesIO(data)) as loaded:
        assert loaded.files == list(MODEL)
        for name, array in MODEL.items():
            assert loaded[name].dtype == array.dtype
            assert loaded[name].shape == array.shape
            np.testing.assert_array_equal(bits(loaded[name]), bits(array))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 5), (2, 0, 4)])
def test_members_are_what_numpy_save_writes(dtype: type, shape: tuple[int, ...]) -> None:
    array = sample(dtype, shape, 5)
    expected = io.BytesIO()
    np.save(expected, array)
    with zipfile.ZipFile(io.BytesIO(encode({"t": array}))) as archive:
        assert archive.read("t.npy") == expected.getvalue()


def test_zip_is_valid_and_laid_out_as_documented() -> None:
    data = encode(MODEL)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every CRC-32 checks
        infos = archive.infolist()
        assert [info.filename for info in infos] == [name + ".npy" for name in MODEL]
        for info in infos:
            member = archive.read(info)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.extra == b""
            assert zlib.crc32(member) == info.CRC
            assert info.file_size == info.compress_size == len(member)
            assert info.flag_bits == (0x0808 if not info.filename.isascii() else 0x0008)
            # local header (APPNOTE 4.3.7): bit 3 set, so CRC and sizes are zero; no extra field
            local = struct.unpack("<IHHHHHIIIHH", data[info.header_offset : info.header_offset + 30])
            assert local == (0x04034B50, 20, info.flag_bits, 0, 0, 0x21, 0, 0, 0, len(info.filename.encode()), 0)
            # data descriptor (APPNOTE 4.3.9) right after the member data
            start = info.header_offset + 30 + len(info.filename.encode())
            assert data[start : start + len(member)] == member
            descriptor = struct.unpack("<IIII", data[start + len(member) : start + len(member) + 16])
            assert descriptor == (0x08074B50, info.CRC, len(member), len(member))


def test_unzip_tests_the_archive(tmp_path: Path) -> None:
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("unzip is not installed")
    path = tmp_path / "model.npz"
    path.write_bytes(encode(MODEL))
    result = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


def test_total_size_is_exact() -> None:
    for arrays in (MODEL, {}, {"s": np.array(3, dtype=np.int64)}, {"x" * 300: np.zeros(1000, np.float16)}):
        data = encode(arrays)
        assert NpzWriter([(n, a.dtype, a.shape) for n, a in arrays.items()]).total_size == len(data)


def test_no_members_is_an_empty_zip() -> None:
    data = encode({})
    assert data == b"PK\x05\x06" + b"\x00" * 18
    with np.load(io.BytesIO(data)) as loaded:
        assert loaded.files == []


def test_same_input_same_bytes() -> None:
    copy = {name: array.copy() for name, array in MODEL.items()}
    assert encode(MODEL) == encode(copy)


@pytest.mark.parametrize("piece", [None, 1, 3, 64, 10**6])
def test_pieces_of_any_size_give_the_same_bytes(piece: int | None) -> None:
    assert streamed(MODEL, piece) == encode(MODEL)


def test_int64_zero_d_member() -> None:
    data = encode({"num_batches_tracked": np.array(-7, dtype=np.int64)})
    with np.load(io.BytesIO(data)) as loaded:
        value = loaded["num_batches_tracked"]
        assert value.dtype == np.int64 and value.shape == () and value == -7


def test_entries_may_be_entry_objects() -> None:
    entries = [Entry(name, array.dtype, array.shape) for name, array in MODEL.items()]
    tuples = [(name, array.dtype, array.shape) for name, array in MODEL.items()]
    assert NpzWriter(entries).total_size == NpzWriter(tuples).total_size == len(encode(MODEL))
    assert len(NpzWriter(entries)) == len(MODEL)


def test_a_member_with_too_few_bytes_raises() -> None:
    writer = NpzWriter([("w", np.dtype(np.float32), (3,))])
    writer.begin(0)
    writer.update(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="got 136 bytes, expected 140"):
        writer.end()


def test_a_member_with_too_many_bytes_raises() -> None:
    writer = NpzWriter([("w", np.dtype(np.float32), (3,))])
    writer.begin(0)
    writer.update(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="more than its 140"):
        writer.update(np.zeros(2, np.float32))


def test_calls_out_of_order_raise() -> None:
    entries = [("a", np.dtype(np.float32), (1,)), ("b", np.dtype(np.float32), (1,))]
    writer = NpzWriter(entries)
    with pytest.raises(RuntimeError):
        writer.update(b"\x00" * 4)
    with pytest.raises(RuntimeError):
        writer.end()
    with pytest.raises(RuntimeError):
        writer.begin(1)
    writer.begin(0)
    with pytest.raises(RuntimeError):
        writer.begin(0)
    writer.update(b"\x00" * 4)
    writer.end()
    with pytest.raises(RuntimeError):
        writer.finish()
    with pytest.raises(RuntimeError):
        writer.begin(2)


def test_bfloat16_is_refused_pointing_to_safetensors() -> None:
    with pytest.raises(ValueError, match="safetensors"):
        NpzWriter([("w", np.dtype(ml_dtypes.bfloat16), (2, 2))])
    with pytest.raises(ValueError, match="safetensors"):
        encode({"w": np.zeros(2, dtype=ml_dtypes.bfloat16)})


def test_other_bad_entries_are_refused() -> None:
    f32 = np.dtype(np.float32)
    with pytest.raises(ValueError, match="duplicate"):
        NpzWriter([("w", f32, (1,)), ("w", f32, (2,))])
    with pytest.raises(ValueError, match="NUL"):
        NpzWriter([("a\x00b", f32, (1,))])
    with pytest.raises(ValueError, match="Unicode"):
        NpzWriter([("\udc80", f32, (1,))])
    with pytest.raises(ValueError, match="unsupported dtype"):
        NpzWriter([("o", np.dtype(object), (1,))])


def test_no_zip64_too_many_members() -> None:
    f16 = np.dtype(np.float16)
    with pytest.raises(ValueError, match="65534"):
        NpzWriter([(f"t{i}", f16, (0,)) for i in range(npz.MAX_MEMBERS + 1)])


def test_no_zip64_size_limit_is_exact() -> None:
    """Sizes and offsets are 4-byte fields; 0xFFFFFFFF would mean ZIP64, so a file stops one byte short."""
    u8 = np.dtype(np.uint8)
    overhead = NpzWriter([("x", u8, (10**9,))]).total_size - 10**9
    largest = npz.MAX_SIZE - 1 - overhead
    assert NpzWriter([("x", u8, (largest,))]).total_size == 0xFFFF_FFFE
    with pytest.raises(ValueError, match="ZIP64"):
        NpzWriter([("x", u8, (largest + 1,))])
    with pytest.raises(ValueError, match="ZIP64"):
        NpzWriter([("a", np.dtype(np.float32), (2**29,)), ("b", np.dtype(np.float32), (2**29,))])
