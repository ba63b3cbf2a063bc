"""The safetensors writer (service/encode/safetensors.py), checked against the official library."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy

from service.encode import safetensors as st
from service.encode.safetensors import Entry, encode, file_layout

from .arrays import bits, sample

DTYPES = [np.float64, np.float32, np.float16, np.int64]


def header_of(data: bytes) -> tuple[int, dict]:
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8 : 8 + n])


MODEL = {
    "encoder.0.weight": sample(np.float32, (4, 3), 1),
    "encoder.0.bias": sample(np.float32, (4,), 2),
    "bn.num_batches_tracked": np.array(0, dtype=np.int64),
    "bn.running_mean": sample(np.float64, (3,), 3),
    "head/proj": sample(np.float16, (2, 5), 4),
    "scalar": np.array(1.5, dtype=np.float32),
    "empty": np.zeros((0, 7), dtype=np.float64),
    "naïve.é": sample(np.float16, (3,), 5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (5,), (3, 7), (2, 3, 4), (0,), (4, 0, 2)])
def test_official_loader_reads_values_bit_equal(dtype: type, shape: tuple[int, ...]) -> None:
    array = sample(dtype, shape)
    loaded = safetensors.numpy.load(encode({"t": array}))
    assert set(loaded) == {"t"}
    assert loaded["t"].dtype == np.dtype(dtype)
    assert loaded["t"].shape == shape
    np.testing.assert_array_equal(bits(loaded["t"]), bits(array))


def test_official_loader_reads_a_model() -> None:
    loaded = safetensors.numpy.load(encode(MODEL, {"seed": "7"}))
    assert set(loaded) == set(MODEL)
    for name, array in MODEL.items():
        assert loaded[name].dtype == array.dtype
        assert loaded[name].shape == array.shape
        np.testing.assert_array_equal(bits(loaded[name]), bits(array))


@pytest.mark.torch
def test_bfloat16_reads_bit_equal_with_safetensors_torch() -> None:
    torch = pytest.importorskip("torch")
    import safetensors.torch

    arrays = {
        "w": sample(np.float32, (3, 5), 6).astype(ml_dtypes.bfloat16),
        "s": np.array(-2.5, dtype=ml_dtypes.bfloat16),
        "f": sample(np.float32, (4,), 7),
    }
    loaded = safetensors.torch.load(encode(arrays, {"dtype": "bfloat16"}))
    for name in ("w", "s"):
        assert loaded[name].dtype == torch.bfloat16
        assert tuple(loaded[name].shape) == arrays[name].shape
        expected = torch.from_numpy(arrays[name].view(np.uint16)).view(torch.bfloat16)
        assert torch.equal(loaded[name].view(torch.int16), expected.view(torch.int16))
    assert torch.equal(loaded["f"].view(torch.int32), torch.from_numpy(arrays["f"].view(np.int32)))


def test_metadata_reads_back_with_safe_open(tmp_path: Path) -> None:
    metadata = {"seed": "42", "scheme": "glorot", "variance": "0.0123", "ünïcode": '✓ "quoted"\n', "": ""}
    path = tmp_path / "model.safetensors"
    path.write_bytes(encode(MODEL, metadata))
    with safetensors.safe_open(path, framework="numpy") as handle:
        assert handle.metadata() == metadata
        assert set(handle.keys()) == set(MODEL)
        np.testing.assert_array_equal(handle.get_tensor("encoder.0.weight"), MODEL["encoder.0.weight"])


@pytest.mark.parametrize("metadata", [None, {}])
def test_empty_metadata_leaves_no_metadata_key(tmp_path: Path, metadata: dict[str, str] | None) -> None:
    data = encode(MODEL, metadata)
    assert data == encode(MODEL)
    _, header = header_of(data)
    assert "__metadata__" not in header
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with safetensors.safe_open(path, framework="numpy") as handle:
        assert handle.metadata() is None


def test_same_inputs_same_bytes_whatever_the_insertion_order() -> None:
    metadata = {f"key{i}": str(i * 1.5) for i in range(20)}
    first = encode(MODEL, metadata)
    again = encode(dict(reversed(list(MODEL.items()))), dict(reversed(list(metadata.items()))))
    assert first == again
    _, header = header_of(first)
    assert list(header["__metadata__"]) == sorted(metadata)


def test_bytes_equal_the_official_writer_without_metadata() -> None:
    """Our header reproduces the official writer's: same body order, key order, separators and padding."""
    arrays = {
        **MODEL,
        "bf": sample(np.float32, (3,), 8).astype(ml_dtypes.bfloat16),
        'ctl\t\n\x1f\b\f\x7f"\\/\u2028': np.zeros(2, np.float32),  # JSON escapes as serde_json writes them
    }
    assert encode(arrays) == safetensors.numpy.save(arrays)
    assert encode({}) == safetensors.numpy.save({}) == b"\x08" + b"\x00" * 7 + b"{}      "


def test_bytes_equal_the_official_writer_with_one_metadata_key() -> None:
    """With one key the official writer's hash-map order cannot vary, so its bytes must equal ours."""
    assert encode(MODEL, {"format": "pt"}) == safetensors.numpy.save(MODEL, metadata={"format": "pt"})


def test_header_is_padded_and_every_tensor_is_aligned() -> None:
    for extra in range(1, 17):  # names of every length modulo 8 shift the unpadded header
        arrays = {"x" * extra: np.zeros(3, np.float16), **MODEL}
        data = encode(arrays)
        n, header = header_of(data)
        assert (8 + n) % 8 == 0
        assert data[8 : 8 + n].rstrip(b" ").endswith(b"}")  # JSON, then spaces only
        for name, info in header.items():
            begin, end = info["data_offsets"]
            itemsize = arrays[name].dtype.itemsize
            assert (8 + n + begin) % itemsize == 0, name
            assert end - begin == arrays[name].nbytes


def test_body_order_is_by_alignment_then_name() -> None:
    entries = [
        Entry("b", np.dtype(np.float16), (1,)),
        Entry("a", np.dtype(ml_dtypes.bfloat16), (1,)),
        Entry("c", np.dtype(np.float32), (1,)),
        Entry("z", np.dtype(np.float64), (1,)),
        Entry("y", np.dtype(np.int64), (1,)),
        Entry("aa", np.dtype(np.float16), (1,)),
    ]
    layout = file_layout(entries)
    assert [slot.entry.name for slot in layout.slots] == ["y", "z", "c", "a", "aa", "b"]
    as_tuples = [(entry.name, entry.dtype, list(entry.shape)) for entry in entries]
    assert file_layout(as_tuples) == layout


def test_layout_alone_gives_header_offsets_and_total_size() -> None:
    metadata = {"seed": "3"}
    entries = [Entry(name, array.dtype, array.shape) for name, array in MODEL.items()]
    layout = file_layout(entries, metadata)
    data = encode(MODEL, metadata)
    assert layout.total_size == len(data)
    assert data.startswith(layout.header)
    n, header = header_of(data)
    assert len(layout.header) == 8 + n
    assert layout.offsets == {
        name: tuple(info["data_offsets"]) for name, info in header.items() if name != "__metadata__"
    }
    position = len(layout.header)
    for slot in layout.slots:  # the bodies follow the header in slot order, back to back
        assert slot.begin == position - len(layout.header)
        assert slot.end - slot.begin == slot.entry.nbytes
        assert data[position : position + slot.entry.nbytes] == MODEL[slot.entry.name].tobytes()
        position += slot.entry.nbytes
    assert position == len(data)


def test_zero_d_tensors_have_an_empty_shape() -> None:
    arrays = {"count": np.array(12, dtype=np.int64), "gain": np.array(0.5, dtype=np.float64)}
    data = encode(arrays)
    _, header = header_of(data)
    assert header["count"] == {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}
    loaded = safetensors.numpy.load(data)
    assert loaded["count"].shape == () and loaded["count"] == 12
    assert loaded["gain"].shape == () and loaded["gain"] == 0.5


def test_big_endian_input_is_written_little_endian() -> None:
    array = sample(np.float32, (3, 2), 9)
    loaded = safetensors.numpy.load(encode({"t": array.astype(">f4")}))
    np.testing.assert_array_equal(bits(loaded["t"]), bits(array))


def test_entry_nbytes() -> None:
    assert Entry("w", np.dtype(np.float16), (3, 5)).nbytes == 30
    assert Entry("s", np.dtype(np.int64), ()).nbytes == 8
    assert Entry("e", np.dtype(np.float64), (0, 9)).nbytes == 0


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_, np.complex64, ml_dtypes.float8_e4m3fn, np.dtype("U3")])
def test_unsupported_dtypes_are_refused(dtype: type) -> None:
    with pytest.raises(ValueError, match="unsupported dtype"):
        file_layout([Entry("t", np.dtype(dtype), (2,))])


def test_bad_names_and_metadata_are_refused() -> None:
    f32 = np.dtype(np.float32)
    with pytest.raises(ValueError, match="duplicate"):
        file_layout([Entry("w", f32, (1,)), Entry("w", np.dtype(np.float16), (1,))])
    with pytest.raises(ValueError, match="reserved"):
        file_layout([Entry("__metadata__", f32, (1,))])
    with pytest.raises(ValueError, match="str to str"):
        file_layout([Entry("w", f32, (1,))], {"seed": 0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="str to str"):
        file_layout([Entry("w", f32, (1,))], {1: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="not valid Unicode"):
        file_layout([Entry("\ud800", f32, (1,))])
    with pytest.raises(ValueError, match="shape"):
        Entry("w", f32, (2, -1))
    with pytest.raises(ValueError, match="shape"):
        Entry("w", f32, (2.0,))  # type: ignore[arg-type]


def test_header_cap_is_the_format_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    assert st.MAX_HEADER_SIZE == 100_000_000  # safetensors/src/tensor.rs MAX_HEADER_SIZE
    entries = [Entry("w", np.dtype(np.float32), (2,))]
    size = len(file_layout(entries, {"note": "x" * 50}).header) - 8
    monkeypatch.setattr(st, "MAX_HEADER_SIZE", size)
    assert len(file_layout(entries, {"note": "x" * 50}).header) == 8 + size  # exactly at the cap: accepted
    monkeypatch.setattr(st, "MAX_HEADER_SIZE", size - 1)
    with pytest.raises(ValueError, match="over the format's cap"):
        file_layout(entries, {"note": "x" * 50})
