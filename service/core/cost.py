"""What a piece of work costs: the one cost model of the service (tensors, models, diagnostics).

A ``Cost`` is two numbers, and admission (``service.api.admission``) bounds both, per request and per
process:

- ``nbytes``: the memory the work holds at its peak, in bytes as actually allocated (NumPy arrays, float64
  copies and gradients included). The formulas below were measured with ``tracemalloc`` (which sees every
  NumPy allocation); ``tests/core/test_cost.py`` checks them against measured peaks.
- ``flops``: the CPU work, in floating-point operations; drawing one element counts ``ELEMENT_FLOPS``
  (a normal draw, its cast and its statistics take about as long as that many flops of a BLAS kernel on
  one core, some 20 Gflop/s).

Formulas (``m x n`` with ``m >= n``; ``b`` the batch; ``N = sum n_{l-1} n_l`` the weights of a network):

- Householder QR and its thin Q (LAPACK ``geqrf`` then ``orgqr``, what ``numpy.linalg.qr`` runs), each
  ``2 m n^2 - 2 n^3 / 3``: ``qr_flops = 4 m n^2 - 4 n^3 / 3`` (``8/3 n^3`` for a square matrix:
  1.8e11 for 4096 x 4096, seconds of one core).
- A tensor: ``ELEMENT_FLOPS`` per element served; one computed whole (orthogonal, sparse, a sequential
  stream) adds its full shape's elements again and its QR (orthogonal, delta-orthogonal).
- An answer's memory: ``held_bytes`` (every tensor when buffered; the look-ahead's blocks when streamed;
  a tensor computed whole its computation, ``WholeSource.peak_bytes`` per element).
- Propagation diagnostics, per scheme: forward ``2 b N`` flops, backward ``4 b N`` (the weight gradient
  and the gradient passed down), ``ACTIVATION_FLOPS`` per unit and sample for the activation and its
  derivative, and the weights' generation; the schemes run one after another, so the request's memory
  is its largest scheme's (``propagation_bytes``) and its flops the sum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from service.core.engine import BLOCK_CHUNKS
from service.core.plan import TensorPlan
from service.core.shaped import delta_orthogonal_dims, matrix_dims
from service.core.sources import CHUNK_ELEMENTS, WholeSource, innermost
from service.core.streams.names import SEQUENTIAL_STREAMS

#: Flops counted per element drawn (its sampling, cast and statistics).
ELEMENT_FLOPS: Final[int] = 100
#: Flops counted per unit and sample of a network for the activation, its derivative and the moments of
#: both passes (measured: 20 to 50 ns a unit and sample on one core, tanh and exp included).
ACTIVATION_FLOPS: Final[int] = 1000
#: Bytes of float64 per unit and sample that a layer's activation, derivative and moments hold at once
#: beyond the kept pre-activations (``f(z)``, ``f'(z)``, the gradient, a centred copy): measured.
ACTIVATION_TEMPORARIES: Final[int] = 5 * 8
#: Bytes per weight a dense layer holds at its peak beyond the weights kept: a float64 copy of the
#: weights for the matmul, or the weight gradient and its centred copy (two float64).
LAYER_TEMPORARIES: Final[int] = 2 * 8


@dataclass(frozen=True)
class Cost:
    """Peak bytes held and flops of work."""

    nbytes: int
    flops: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.nbytes + other.nbytes, self.flops + other.flops)


FREE: Final[Cost] = Cost(0, 0)


def qr_flops(rows: int, cols: int) -> int:
    """Flops of the thin QR of a ``rows x cols`` matrix: ``4 m n^2 - 4 n^3 / 3`` (geqrf + orgqr)."""
    m, n = max(rows, cols), min(rows, cols)
    return 4 * m * n * n - (4 * n**3) // 3


def whole_flops(plan: TensorPlan) -> int:
    """The flops of computing a tensor computed whole: its full shape's draws and its QR; 0 for a chunked one."""
    if not isinstance(innermost(plan.source), WholeSource):
        return 0
    shape = plan.spec.shape
    flops = ELEMENT_FLOPS * math.prod(shape)
    scheme = plan.spec.init.scheme
    layout = plan.spec.layout if isinstance(plan.spec.layout, str) else "keras"
    if scheme == "orthogonal" and len(shape) >= 2:
        flops += qr_flops(*matrix_dims(shape, layout))
    elif scheme == "delta_orthogonal":
        _, n_in, n_out = delta_orthogonal_dims(shape, layout)
        flops += qr_flops(n_in, n_out)
    return flops


def plan_flops(plan: TensorPlan) -> int:
    """The flops of serving ``plan``: ``ELEMENT_FLOPS`` per element served, and its whole computation."""
    return ELEMENT_FLOPS * plan.count + whole_flops(plan)


def held_bytes(plans: Sequence[TensorPlan], ahead: int | None) -> int:
    """The bytes an answer of ``plans`` (one tensor, or a model's in the order sent) holds while it is made
    and sent: every tensor when ``ahead`` is None (made before sending); else ``ahead`` blocks and the one
    being sent. A tensor computed whole (orthogonal, sparse) holds its computation too; streamed, the
    largest one and a fifth of it for the matrix of the one before, which the look-ahead may overlap. A
    model of a sequential stream (torch) is drawn whole, every tensor at once, on one generator."""
    total = sum(plan.nbytes for plan in plans)
    whole = [plan.whole_bytes for plan in plans if plan.whole]
    if ahead is None:
        return total + sum(whole)
    if len(plans) > 1 and plans[0].spec.stream in SEQUENTIAL_STREAMS:
        return total + max(whole)
    itemsize = max(plan.numpy_dtype.itemsize for plan in plans)
    streamed = min(total, (ahead + 1) * BLOCK_CHUNKS * CHUNK_ELEMENTS * itemsize)
    overlap = max(whole) // 5 if len(whole) > 1 else 0
    return streamed + max(whole, default=0) + overlap


def answer_cost(plans: Sequence[TensorPlan], ahead: int | None, extra_bytes: int = 0) -> Cost:
    """The cost of answering ``plans``: ``held_bytes`` (and ``extra_bytes``, e.g. JSON text), every plan's flops."""
    return Cost(held_bytes(plans, ahead) + extra_bytes, sum(plan_flops(plan) for plan in plans))


def propagation_bytes(widths: Sequence[int], batch: int, itemsize: int, whole_peak: int = 0) -> int:
    """Peak bytes of one scheme's propagation diagnostics (``service.core.diagnostics.propagate``):

    ``itemsize N`` (the weights, kept for the backward pass) ``+ 8 b sum(n_l)`` (the inputs and every
    float64 pre-activation, kept) ``+ max_l n_{l-1} n_l max(LAYER_TEMPORARIES, whole_peak)`` (a layer's
    float64 copy or gradient, or the computation of a weight computed whole, ``whole_peak`` bytes per
    element, freed before) ``+ ACTIVATION_TEMPORARIES b max(n_l)``. Measured peaks are 0.5 to 1 times
    this (``tests/core/test_cost.py``)."""
    pairs = [a * b for a, b in itertools.pairwise(widths)]
    return (
        itemsize * sum(pairs)
        + 8 * batch * sum(widths)
        + max(pairs) * max(LAYER_TEMPORARIES, whole_peak)
        + ACTIVATION_TEMPORARIES * batch * max(widths)
    )


def propagation_cost(widths: Sequence[int], batch: int, plans: Sequence[TensorPlan]) -> Cost:
    """The cost of one scheme's propagation diagnostics on layers ``plans`` (see the module's docstring)."""
    weights = sum(a * b for a, b in itertools.pairwise(widths))
    units = sum(widths[1:])
    flops = 6 * batch * weights + 2 * ACTIVATION_FLOPS * batch * units + sum(plan_flops(plan) for plan in plans)
    whole_peak = max((innermost(plan.source).peak_bytes for plan in plans if plan.whole), default=0)  # type: ignore[attr-defined]
    itemsize = plans[0].numpy_dtype.itemsize
    return Cost(propagation_bytes(widths, batch, itemsize, whole_peak), flops)


def diagnostics_cost(widths: Sequence[int], batch: int, schemes: Sequence[Sequence[TensorPlan]]) -> Cost:
    """The cost of comparing ``schemes`` (each its layers' plans), measured one after another: the largest
    scheme's bytes, the sum of their flops."""
    costs = [propagation_cost(widths, batch, plans) for plans in schemes]
    return Cost(max(c.nbytes for c in costs), sum(c.flops for c in costs))
