"""The seed of each tensor of a model, derived from the model's seed and the tensor's name.

A model's tensors are independent streams: each gets its own seed, a pure
function of the model seed and its (full, dotted) name, so a tensor's values
do not depend on which other tensors the model has, nor on their order.
"""

from __future__ import annotations

import hashlib
from typing import Final

#: Domain separation: bump the version to change every derived seed.
SEED_DOMAIN: Final[bytes] = b"initserve-model-seed-v1\x00"
#: Derived seeds fit 53 bits, the range of a request's seed (exact in a JSON number).
SEED_MASK: Final[int] = (1 << 53) - 1


def derive_seed(model_seed: int, name: str) -> int:
    """The seed of tensor ``name`` in a model of seed ``model_seed``, in [0, 2^53 - 1].

    ``int.from_bytes(SHA-256(b"initserve-model-seed-v1\\x00" + str(model_seed).encode()
    + b"\\x00" + name.encode("utf-8"))[:8], "little") & (2^53 - 1)``: the first 8
    bytes of the digest read little-endian, masked to 53 bits.

    >>> derive_seed(0, "weight")
    4320345266651976
    >>> derive_seed(42, "encoder.layers.0.self_attn.in_proj_weight")
    2452111018319921
    """
    payload = SEED_DOMAIN + str(model_seed).encode() + b"\x00" + name.encode("utf-8")
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") & SEED_MASK
