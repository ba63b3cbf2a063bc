"""The streams a request can choose, and the version each answer names (PRODUCT.md, "Streams").

The stream decides the numbers; the distribution and the fans are the request's. ``initserve-1``
is the chunked PCG64 stream of ``service.core.sources``; ``initserve-2`` initserve's counter-based
Philox stream (``service.core.streams.initserve2``, ``docs/initserve-2.md``); ``torch`` and ``torch-default`` are
PyTorch 2.13.0's CPU generator after ``torch.manual_seed(seed)`` (its AVX2/AVX-512 kernels, and its
``ATEN_CPU_CAPABILITY=default`` kernels), re-implemented in ``service.core.streams.torch``; ``jax``,
``keras`` and ``flax`` are JAX 0.10.2's threefry as JAX, Keras 3.15.1 and Flax 0.12.8 initialize,
re-implemented in ``service.core.streams.jax``. The version a stream names is its framework's.
"""

from __future__ import annotations

from typing import Final

from service.core.sources import STREAM_VERSION as INITSERVE_1_VERSION

#: Every stream and the version its answers name (``stream_version``, ``X-Init-Stream-Version``).
STREAM_VERSIONS: Final[dict[str, str]] = {
    "initserve-1": INITSERVE_1_VERSION,
    "initserve-2": "2",
    "torch": "2.13.0",
    "torch-default": "2.13.0",
    "jax": "0.10.2",
    "keras": "3.15.1",
    "flax": "0.12.8",
}
STREAMS: Final[tuple[str, ...]] = tuple(STREAM_VERSIONS)
#: The stream of a request that names none.
DEFAULT_STREAM: Final[str] = "initserve-2"
#: Streams that draw from one sequential generator: a model's tensors share it, in entry order.
SEQUENTIAL_STREAMS: Final[frozenset[str]] = frozenset({"torch", "torch-default"})
#: Streams whose element i is a pure function of (key, i): JAX's threefry (chunked and parallel).
COUNTER_STREAMS: Final[frozenset[str]] = frozenset({"jax", "keras", "flax"})
