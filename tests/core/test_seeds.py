"""derive_seed: the seed of each tensor of a model, pinned by golden values."""

from __future__ import annotations

import doctest
import hashlib

import pytest

from service.core import seeds
from service.core.plan import MAX_SEED
from service.core.seeds import derive_seed

NAMES = [
    "weight",
    "bias",
    "0.weight",
    "0.bias",
    "encoder.layers.0.self_attn.in_proj_weight",
    "bn.num_batches_tracked",
    "dense/kernel",
    "",
    "émbed.权重",
]


def test_golden_values() -> None:
    """These pin the stream of every model tensor: changing them changes every model's values."""
    assert derive_seed(0, "weight") == 4320345266651976
    assert derive_seed(42, "encoder.layers.0.self_attn.in_proj_weight") == 2452111018319921
    assert derive_seed(2**53 - 1, "émbed.权重") == 1281871448033742


def test_formula() -> None:
    for model_seed in (0, 1, 7, 2**53 - 1):
        for name in NAMES:
            payload = b"initserve-model-seed-v1\x00" + str(model_seed).encode() + b"\x00" + name.encode("utf-8")
            expected = int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") % 2**53
            assert derive_seed(model_seed, name) == expected


@pytest.mark.parametrize("model_seed", [0, 1, 123456789, 2**53 - 1])
def test_range_and_distinct_names(model_seed: int) -> None:
    derived = [derive_seed(model_seed, name) for name in NAMES]
    assert all(0 <= s <= MAX_SEED for s in derived)
    assert all(isinstance(s, int) for s in derived)
    assert len(set(derived)) == len(NAMES)


def test_many_seeds_cover_the_range() -> None:
    derived = [derive_seed(5, f"layers.{i}.weight") for i in range(2000)]
    assert len(set(derived)) == 2000
    assert max(derived) > 2**52 > min(derived)  # the top bit is used
    assert max(derived) <= MAX_SEED


def test_depends_on_the_model_seed() -> None:
    for name in NAMES:
        assert len({derive_seed(model_seed, name) for model_seed in range(50)}) == 50


def test_no_ambiguity_between_seed_and_name() -> None:
    """The NUL separator keeps (1, "2x") and (12, "x") apart."""
    assert derive_seed(1, "2x") != derive_seed(12, "x")


def test_unicode_names_are_utf8() -> None:
    assert derive_seed(3, "café") != derive_seed(3, "cafe\u0301")  # no normalization: the name's own code points
    assert derive_seed(3, "权重") == derive_seed(3, "权重")


def test_doctest() -> None:
    assert doctest.testmod(seeds, raise_on_error=True).attempted == 2
