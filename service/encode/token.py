"""The token of a permanent URL: a canonical request, compact, URL-safe, versioned and checksummed.

``/v1/tensors/{token}.npy`` names the answer to the canonical request (``service.core.canonical``) the
token holds, so any replica answers it without state. Version 1 of the format::

    token    = "1" base64url(deflate(json, DICTIONARY) || check)      (RFC 4648 section 5, no padding)
    json     = the canonical request as compact JSON with sorted keys (``canonical_json``)
    deflate  = raw DEFLATE (RFC 1951, zlib wbits -15) with the preset dictionary ``DICTIONARY``
    check    = the first 4 bytes of BLAKE2b-64(json, person = "initserve/" kind), kind "tensor" or "model"

The checksum catches a mistyped or truncated token (a wrong one passes with probability 2^-32), and a
tensor token used as a model's. It is not a signature: a token is a request anybody may write, and the
route checks what it decodes as it checks a POST body, then requires that it is canonical (the JSON
equals the canonical JSON of what it resolves to), so that one answer has one URL.

The strong ``ETag`` of an answer is ``"<kind>-<format>-" base64url(BLAKE2b-120(stream_version NUL json))``
prefixed by ``ENCODING``, the version of the answer encodings: it changes exactly when the bytes may.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import zlib
from typing import Final, Literal

import orjson

VERSION: Final[str] = "1"
#: Longest token a POST answer names in ``Content-Location``; a longer GET path is refused (414).
MAX_TOKEN_CHARS: Final[int] = 4096
#: The version of the answers' encodings (NPY, safetensors, NPZ, JSON layouts): part of every ETag.
ENCODING: Final[str] = "e1"
CHECK_BYTES: Final[int] = 4

Kind = Literal["tensor", "model"]

#: The preset dictionary of version 1 (frozen: a change is a new version): fragments of canonical
#: requests, the most frequent last (DEFLATE reaches back 32 KiB; nearer is cheaper).
DICTIONARY: Final[bytes] = (
    b'"torch.nn.init.orthogonal_""torch.nn.init.normal_""torch.nn.init.uniform_""torch.nn.init.constant_"'
    b'"torch.xavier_normal_""torch.kaiming_uniform_""torch.kaiming_normal_""torch.xavier_uniform_"'
    b'"keras.GlorotUniform""keras.GlorotNormal""keras.HeNormal""keras.HeUniform""keras.LecunNormal"'
    b'"jax.glorot_uniform""jax.he_normal""jax.lecun_normal""flax.Dense""flax.Conv""flax.Embed"'
    b'"torch.Linear""torch.Conv2d""torch.Embedding""torch.LayerNorm""keras.Dense""keras.Conv2D"'
    b'"torch-default""initserve-1""keras""jax""flax""torch""bfloat16""float16""float64"'
    b'"nonlinearity":"leaky_relu""in_features":"out_features":"bias":true,"kernel_size":'
    b'"sparsity":"groups":1,"value":"mean":0.0,"std":1.0,"low":-2.0,"high":2.0,'
    b'"scheme":"variance_scaling","scale":1.0,"scheme":"orthogonal","gain":1.0,'
    b'"scheme":"lecun","scheme":"glorot","gain":1.0,"scheme":"he",'
    b'"distribution":"truncated_normal","distribution":"uniform","distribution":"normal",'
    b'"mode":"fan_avg","mode":"fan_out","mode":"fan_in","negative_slope":0.0},'
    b'"fan_axes":{"batch_axis":[],"in_axis":[-2],"out_axis":[-1]},"slice":[[0,'
    b'{"entries":[{"dtype":"float32","init":{"a":0.0,"mode":"fan_in","nonlinearity":"leaky_relu",'
    b'"layout":"torch","name":"layout":"keras","prefix":"preset":"seed":0,"shape":[1024,'
    b'{"dtype":"float32","init":{"distribution":"normal","mode":"fan_in","negative_slope":0.0,'
    b'"scheme":"he"},"layout":"keras","seed":42,"shape":[784,256],"stream":"initserve-2"}'
)


class BadToken(ValueError):
    """Not a token of this service (malformed, unknown version, or its checksum fails)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check(kind: Kind, json: bytes) -> bytes:
    return hashlib.blake2b(json, digest_size=8, person=b"initserve/" + kind.encode()).digest()[:CHECK_BYTES]


#: Canonical JSON up to this many bytes is deflated with zlib's memLevel 8, longer JSON with memLevel 9 (the
#: format's first encoder). The streams are the same: memLevel sizes the match finder's hash table (2^15
#: against 2^16 buckets: both chains hold every earlier occurrence of a 3-byte string, the extra entries are
#: rejected by comparing bytes, so the same match is found while a chain stays under level 9's 1024-4096
#: links) and the symbol buffer (2^14 - 1 against 2^15 - 1 symbols per block: equal below 2^14 bytes of
#: input). Were a pathological repetitive JSON to exceed those chains, its token would be another valid
#: spelling of the same JSON (any DEFLATE stream decodes; a GET checks the JSON, not the spelling). memLevel 9
#: costs ~4x more per new request: its tables cross glibc's mmap threshold, so each token paid fresh pages
#: (~190 us against ~44 us for ``zlib.compressobj`` measured under load; tokens are not cached for a new seed).
SMALL_JSON_BYTES: Final[int] = (1 << 14) - 1


@functools.lru_cache(maxsize=1024)  # a service answers the same few requests again and again
def encode(kind: Kind, json: bytes) -> str:
    """The token of a canonical request's JSON (``canonical_json``)."""
    deflate = zlib.compressobj(
        9, zlib.DEFLATED, -15, 8 if len(json) <= SMALL_JSON_BYTES else 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY
    )
    packed = deflate.compress(json) + deflate.flush()
    return VERSION + _b64(packed + _check(kind, json))


def decode(kind: Kind, token: str, max_json_bytes: int = 1 << 20) -> tuple[object, bytes]:
    """The canonical request a token holds, parsed, and its JSON; raises ``BadToken``. The JSON is cut at
    ``max_json_bytes`` (a token is at most ``MAX_TOKEN_CHARS`` long, but DEFLATE expands up to 1032x)."""
    if not token.startswith(VERSION) or len(token) > MAX_TOKEN_CHARS:
        raise BadToken("not a version-1 token")
    text = token[len(VERSION) :]
    if not text or any(c not in _ALPHABET for c in text) or len(text) % 4 == 1:
        raise BadToken("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not base64url") from exc
    if _b64(raw) != text:  # the unused bits of the last character are zero: one spelling per token
        raise BadToken("not canonical base64url")
    packed, check = raw[:-CHECK_BYTES], raw[-CHECK_BYTES:]
    inflate = zlib.decompressobj(-15, DICTIONARY)
    try:
        json = inflate.decompress(packed, max_json_bytes)
    except zlib.error as exc:
        raise BadToken("not a DEFLATE stream") from exc
    if inflate.unconsumed_tail or not inflate.eof or inflate.unused_data:
        raise BadToken("not one whole DEFLATE stream")
    if len(check) != CHECK_BYTES or _check(kind, json) != check:
        raise BadToken("checksum failed")
    try:
        return orjson.loads(json), json
    except orjson.JSONDecodeError as exc:
        raise BadToken("not JSON") from exc


def etag(kind: Kind, fmt: str, stream_version: str, json: bytes) -> str:
    """The strong ETag of the ``fmt`` answer (``npy``, ``json``, ...) to a canonical request's JSON."""
    digest = hashlib.blake2b(stream_version.encode() + b"\0" + json, digest_size=15, person=b"initserve/etag")
    return f'"{ENCODING}-{kind}-{fmt}-{_b64(digest.digest())}"'


_ALPHABET: Final[frozenset[str]] = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
