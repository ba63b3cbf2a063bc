"""Schemes that read the shape as a matrix or a convolution: orthogonal, identity, dirac, sparse.

``torch`` layout reads weights as PyTorch does (``(out, in, *kernel)``);
``keras`` and ``jax`` read kernels as Keras/JAX do (``(*kernel, in, out)``).
Orthogonal and sparse tensors are computed whole (a QR factorisation and a
per-unit mask need every element); identity and dirac are computed chunk by
chunk from the positions of their non-zeros.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Final

import numpy as np
from threadpoolctl import ThreadpoolController

from service.core.distributions import Moments, Normal
from service.core.errors import ShapeError, TooLargeError
from service.core.sources import CHUNK_ELEMENTS, RandomSource, auxiliary_generator, chunk_count

#: Upper bound on rows * cols^2 (rows >= cols) of an orthogonal matrix: the QR
#: costs about 2 rows cols^2 flops; 2^36 admits 4096 x 4096 (seconds on 2 cores).
MAX_ORTHOGONAL_WORK: Final[int] = 1 << 36
#: Upper bound on the elements of a tensor computed whole (orthogonal, sparse):
#: it is held in memory at once (orthogonal in float64, with the QR's copies).
MAX_WHOLE_ELEMENTS: Final[int] = 1 << 25

# OpenBLAS' QR gives different bits with different thread counts: factor on one thread,
# one factorisation at a time (the limit is process-wide).
_BLAS = ThreadpoolController()
_QR_LOCK = threading.Lock()


def matrix_dims(shape: Sequence[int], layout: str) -> tuple[int, int]:
    """(rows, cols) of the matrix a >= 2-D shape is flattened to.

    torch: ``(shape[0], prod(shape[1:]))`` (``orthogonal_``); keras/jax:
    ``(prod(shape[:-1]), shape[-1])`` (Keras ``Orthogonal``, JAX ``orthogonal``).
    """
    if layout == "torch":
        return shape[0], math.prod(shape[1:])
    return math.prod(shape[:-1]), shape[-1]


def points_moments(count: int, points: int, value: float) -> Moments:
    """Exact moments of a tensor of ``count`` elements, ``points`` of them equal to ``value``, the rest 0."""
    p = points / count
    present = [value] if points else []
    if points < count:
        present.append(0.0)
    return Moments(value * p, value * value * p * (1.0 - p), min(present), max(present))


def check_whole(count: int, scheme: str) -> None:
    if count > MAX_WHOLE_ELEMENTS:
        raise TooLargeError(
            f"{scheme} is computed whole, in memory; {count} elements is over its limit of {MAX_WHOLE_ELEMENTS} (2^25)",
            "shape",
        )


# -- orthogonal ---------------------------------------------------------------------------------


def orthogonal(shape: Sequence[int], layout: str, gain: float, seed: int) -> np.ndarray:
    """A (semi-)orthogonal matrix reshaped to ``shape``, times ``gain`` (Saxe et al. 2014).

    Draw A ~ N(0, 1) of shape (max(r, c), min(r, c)) from the seed's stream
    (float64), factor A = QR, and fix signs Q <- Q diag(sign(diag R)) so that Q is
    Haar-distributed (Mezzadri 2007); transpose when r < c. As PyTorch
    ``orthogonal_``, Keras ``Orthogonal`` and JAX ``orthogonal``.
    """
    rows, cols = matrix_dims(shape, layout)
    tall, short = max(rows, cols), min(rows, cols)
    a = np.empty(tall * short, dtype=np.float64)
    source = RandomSource(Normal(0.0, 1.0), seed)
    for chunk in range(chunk_count(a.size)):
        source.fill(chunk, a[chunk * CHUNK_ELEMENTS : (chunk + 1) * CHUNK_ELEMENTS])
    with _QR_LOCK, _BLAS.limit(limits=1, user_api="blas"):
        q, r = np.linalg.qr(a.reshape(tall, short))
    signs = np.sign(np.diagonal(r))
    signs[signs == 0] = 1.0
    q *= signs
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape)


def check_orthogonal(shape: Sequence[int], layout: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise ShapeError(f"orthogonal needs at least 2 dims, got shape {list(shape)}", "shape")
    rows, cols = matrix_dims(shape, layout)
    check_whole(rows * cols, "orthogonal")
    work = max(rows, cols) * min(rows, cols) ** 2
    if work > MAX_ORTHOGONAL_WORK:
        raise TooLargeError(
            f"an orthogonal {rows} x {cols} matrix needs a QR factorisation of about {2 * work:.3g} flops, "
            f"over the limit of {2 * MAX_ORTHOGONAL_WORK:.3g} (max(rows, cols) * min(rows, cols)^2 <= 2^36)",
            "shape",
        )
    return rows, cols


def delta_orthogonal(shape: Sequence[int], layout: str, gain: float, seed: int) -> np.ndarray:
    """Delta-orthogonal convolution kernel (Xiao et al. 2018; JAX ``delta_orthogonal``).

    Keras/JAX kernel ``(*k, in, out)`` with ``in <= out``: zeros except at the
    spatial centre ``(k - 1) // 2`` of every kernel dim, which holds
    ``gain * Q``, Q the ``(in, out)`` orthogonal matrix (orthonormal rows) that
    ``orthogonal`` makes from the same seed. torch ``(out, in, *k)``: the same
    tensor transposed. JAX's centre is ``(k - 1) // 2``; PyTorch ``dirac_``
    uses ``k // 2`` (they differ for even kernels).
    """
    kernel, in_channels, out_channels = delta_orthogonal_dims(shape, layout)
    weights = np.zeros((*kernel, in_channels, out_channels), dtype=np.float64)
    weights[tuple((k - 1) // 2 for k in kernel)] = orthogonal((in_channels, out_channels), "keras", gain, seed)
    if layout == "torch":
        rank = len(shape)
        return weights.transpose(rank - 1, rank - 2, *range(rank - 2))
    return weights


def delta_orthogonal_dims(shape: Sequence[int], layout: str) -> tuple[tuple[int, ...], int, int]:
    """(kernel, in, out) of a 3-D to 5-D kernel; raises unless in <= out (as JAX) and it fits the limits."""
    if not 3 <= len(shape) <= 5:
        raise ShapeError(f"delta_orthogonal needs a 3-D to 5-D convolution kernel, got shape {list(shape)}", "shape")
    if layout == "torch":
        out_channels, in_channels, kernel = shape[0], shape[1], tuple(shape[2:])
    else:
        in_channels, out_channels, kernel = shape[-2], shape[-1], tuple(shape[:-2])
    if in_channels > out_channels:
        raise ShapeError(
            f"delta_orthogonal needs in <= out channels (as JAX), got in {in_channels} and out {out_channels} "
            f"in shape {list(shape)}",
            "shape",
        )
    check_whole(math.prod(shape), "delta_orthogonal")
    check_orthogonal((in_channels, out_channels), "keras")
    return kernel, in_channels, out_channels


# -- identity and dirac ---------------------------------------------------------------------------


def identity_points(shape: Sequence[int]) -> np.ndarray:
    """Flat indices of the diagonal of a 2-D (possibly rectangular) matrix."""
    if len(shape) != 2:
        raise ShapeError(f"identity needs a 2-D shape, got shape {list(shape)}", "shape")
    rows, cols = shape
    return np.arange(min(rows, cols), dtype=np.int64) * (cols + 1)


def dirac_points(shape: Sequence[int], layout: str, groups: int) -> np.ndarray:
    """Flat indices of the ones of PyTorch ``dirac_(w, groups)``, sorted.

    torch ``(out, in, *k)``: for each group g and d < min(out / groups, in),
    ``w[g * out_g + d, d, k // 2 ...] = 1``. keras/jax ``(*k, in, out)``: the
    same tensor transposed, ``w[k // 2 ..., d, g * out_g + d] = 1``.
    """
    if not 3 <= len(shape) <= 5:
        raise ShapeError(f"dirac needs a 3-D to 5-D convolution weight, got shape {list(shape)}", "shape")
    if layout == "torch":
        out_channels, in_channels, kernel = shape[0], shape[1], shape[2:]
    else:
        out_channels, in_channels, kernel = shape[-1], shape[-2], shape[:-2]
    if out_channels % groups:
        raise ShapeError(
            f"groups ({groups}) must divide the output channels ({out_channels}) of shape {list(shape)}",
            "init.groups",
        )
    per_group = out_channels // groups
    d = np.arange(min(per_group, in_channels), dtype=np.int64)
    outs = (np.arange(groups, dtype=np.int64)[:, None] * per_group + d).ravel()
    ins = np.tile(d, groups)
    centre = [np.full(outs.size, k // 2, dtype=np.int64) for k in kernel]
    index = (outs, ins, *centre) if layout == "torch" else (*centre, ins, outs)
    return np.sort(np.ravel_multi_index(index, tuple(shape)))


# -- sparse -----------------------------------------------------------------------------------------


def sparse_zeros_per_unit(sparsity: float, n_out: int) -> int:
    """``ceil(sparsity * n_out)`` zeros among each input unit's ``n_out`` weights (PyTorch ``sparse_``)."""
    return math.ceil(sparsity * n_out)


def sparse(shape: Sequence[int], layout: str, sparsity: float, std: float, seed: int, dtype: np.dtype) -> np.ndarray:
    """PyTorch ``sparse_``: N(0, std^2) values, and for each input unit exactly
    ``k = ceil(sparsity * n_out)`` of its ``n_out`` outgoing weights set to zero.

    Made in torch layout ``(n_out, n_in)`` (values from the seed's stream, in C
    order), then transposed for keras/jax, so both layouts hold the same weights.
    The zeros of input unit j are at the k smallest of ``n_out`` uniform keys,
    drawn unit after unit from an auxiliary generator (a uniformly random
    k-subset, like ``sparse_``'s ``randperm``; unlike it, the mask follows the seed).
    """
    n_out, n_in = (shape[0], shape[1]) if layout == "torch" else (shape[1], shape[0])
    values = np.empty(n_out * n_in, dtype=dtype)
    source = RandomSource(Normal(0.0, std), seed)
    for chunk in range(chunk_count(values.size)):
        source.fill(chunk, values[chunk * CHUNK_ELEMENTS : (chunk + 1) * CHUNK_ELEMENTS])
    weights = values.reshape(n_out, n_in)
    zeros = sparse_zeros_per_unit(sparsity, n_out)
    if zeros == n_out:
        weights[...] = 0.0
    elif zeros:
        rng = auxiliary_generator(seed, 0)
        units_per_draw = max(1, CHUNK_ELEMENTS // n_out)
        for first in range(0, n_in, units_per_draw):
            units = np.arange(first, min(first + units_per_draw, n_in))
            keys = rng.random((units.size, n_out))
            rows = np.argpartition(keys, zeros - 1, axis=1)[:, :zeros]
            weights[rows, units[:, None]] = 0.0
    return weights if layout == "torch" else weights.T
