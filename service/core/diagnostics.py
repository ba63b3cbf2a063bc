"""Signal-propagation diagnostics: does the variance survive the trip through a deep stack of dense layers?

Initialization schemes exist to keep the variance of the activations (forward) and of the gradients
(backward) from vanishing or exploding with depth (Glorot & Bengio 2010; He et al. 2015). This module
measures it. A network of dense layers ``widths = (n_0, n_1, ..., n_L)`` without biases,

    z_l = h_{l-1} W_l,   h_l = f(z_l),   h_0 = x,   W_l of shape (n_{l-1}, n_l) (keras layout),

is fed a batch of inputs ``x ~ N(0, 1)`` of shape ``(batch, n_0)``; then random output gradients
``g_L = dLoss/dh_L ~ N(0, 1)`` (the loss ``sum_b g_b . h_L,b``) are propagated back:

    delta_l = dLoss/dz_l = g_l * f'(z_l),   g_{l-1} = delta_l W_l^T,   dLoss/dW_l = h_{l-1}^T delta_l.

Per layer the report gives the mean and the (population) variance of ``z_l``, ``h_l``, ``delta_l`` and
``dLoss/dW_l``, each variance also relative to layer 1. The signal-propagation theory this checks: at
infinite width, ``Var z_{l+1} = n_l Var(W) E[f(z_l)^2]`` forward, and
``Var delta_l = n_l Var(W) E[f'(z_l)^2] Var delta_{l+1}`` backward; He et al. 2015 choose
``Var(W) = 2 / n`` so that both are preserved for ReLU, Glorot & Bengio 2010 ``2 / (n_in + n_out)``
for a linear-regime tanh, LeCun ``1 / n_in`` for SELU's fixed point (Klambauer et al. 2017).

Summaries, per direction, each the geometric mean of the per-layer variance ratios, in the direction the
signal travels (which telescopes to the ratio of the end layers):

- forward gain  ``(Var z_L / Var z_1) ** (1 / (L - 1))``, read on the pre-activations;
- backward gain ``(Var delta_1 / Var delta_L) ** (1 / (L - 1))``, read on the gradients with respect to
  the pre-activations (greater than 1: gradients grow on their way back to the input).

Verdict per direction: ``vanishing`` below ``VANISHING_BELOW`` (0.9) per layer, ``exploding`` above
``EXPLODING_ABOVE`` (1.1), ``stable`` in between; also ``vanishing`` when the signal is exactly zero, and
``exploding`` when it overflows float64 (the pass then stops there: later numbers are ``None``, and a
forward overflow leaves the backward pass unmeasured). Over L layers the band allows a total drift of
1.1 ** (L - 1), a factor 117 at 50 layers; at finite width a single draw is noisy (the log of a 50-layer
variance ratio spreads by about 0.8 at width 256), so compare gains on several seeds before reading
much into the second decimal.

Recommendation (when several schemes are compared): the scheme whose gains are closest to 1, by
``|ln forward gain| + |ln backward gain|`` (an unmeasured or zero gain counts as infinitely far); the
first given wins ties.

Reproducibility: every compared scheme sees the same inputs, output gradients and layer seeds, so
their differences come from the schemes alone. Layer ``l``'s weights are exactly the tensor that
``POST /v1/tensors`` answers for ``shape (n_{l-1}, n_l)``, layout keras, the request's init and dtype,
and the seed ``layer_seed(seed, l)``: the first 53 bits of
``SeedSequence(seed, spawn_key=(2, l)).generate_state(1, uint64)``. Inputs are drawn by
``Generator(PCG64(SeedSequence(seed, spawn_key=(3, 0)))).standard_normal((batch, n_0))`` and output
gradients by the same with ``spawn_key=(3, 1)`` and shape ``(batch, n_L)``. Everything after is float64
arithmetic with NumPy's matmul: the weights are bit-reproducible, the diagnostics' last digits may differ
across machines with the BLAS's summation order.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from service.core.activations import Activation
from service.core.cost import Cost, diagnostics_cost, propagation_bytes
from service.core.dtypes import DTYPES
from service.core.engine import Cancelled, Engine, block_ranges
from service.core.errors import InitError, ParameterError, ShapeError, TooLargeError
from service.core.plan import MAX_SEED, TensorPlan, TensorSpec, plan_tensor
from service.core.schemes import Init
from service.core.sources import release

VANISHING_BELOW: Final[float] = 0.9
EXPLODING_ABOVE: Final[float] = 1.1
MIN_DEPTH: Final[int] = 2
MAX_DEPTH: Final[int] = 1000
MAX_SCHEMES: Final[int] = 8

Verdict = Literal["vanishing", "stable", "exploding"]


def layer_seed(seed: int, layer: int) -> int:
    """The seed of layer ``layer``'s weights (layers count from 1): 53 bits of a ``SeedSequence``.

    >>> layer_seed(0, 1) == layer_seed(0, 1) != layer_seed(0, 2)
    True
    """
    state = np.random.SeedSequence(seed, spawn_key=(2, layer)).generate_state(1, np.uint64)
    return int(state[0]) >> 11


def data_generator(seed: int, stream: int) -> np.random.Generator:
    """The generator of the inputs (``stream`` 0) or of the output gradients (``stream`` 1)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(3, stream))))


@dataclass(frozen=True)
class Network:
    """The stack of dense layers: ``widths[0]`` inputs, then one width per layer."""

    widths: tuple[int, ...]
    activation: Activation
    batch: int
    seed: int
    dtype: str = "float32"

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def cost(self) -> int:
        """Multiply-adds of one forward pass: ``batch * sum(n_{l-1} n_l)`` (depth x width^2 x batch)."""
        return self.batch * sum(a * b for a, b in itertools.pairwise(self.widths))

    @property
    def nbytes(self) -> int:
        """Peak memory while one scheme whose weights are drawn chunk by chunk is measured
        (``service.core.cost.propagation_bytes``; a scheme computed whole holds more, see ``Diagnostics``)."""
        itemsize = 8 if self.dtype == "float64" else 4
        return propagation_bytes(self.widths, self.batch, itemsize)


def network(widths: Sequence[int], activation: Activation, batch: int, seed: int, dtype: str = "float32") -> Network:
    """A checked ``Network``; raises an ``InitError`` naming the field at fault."""
    widths = tuple(widths)
    if not MIN_DEPTH <= len(widths) - 1 <= MAX_DEPTH:
        raise ShapeError(
            f"widths gives {len(widths) - 1} layers; {MIN_DEPTH} to {MAX_DEPTH} are needed "
            f"(the input width, then one width per layer)",
            "widths",
        )
    for i, n in enumerate(widths):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ShapeError(f"every width must be an integer >= 1; widths[{i}] is {n!r}", f"widths.{i}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ParameterError(f"batch must be an integer >= 1, got {batch!r}", "batch")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"seed must be an integer from 0 to 2^53 - 1, got {seed!r}", "seed")
    if dtype not in DTYPES:
        raise ParameterError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}", "dtype")
    return Network(widths, activation, batch, seed, dtype)


def check_limits(
    net: Network, schemes: int, max_cost: int | None, max_bytes: int | None, nbytes: int | None = None
) -> None:
    """Refuse (``TooLargeError``) a request over the cost or the memory limit, before any work; ``nbytes``:
    the peak memory when known (the schemes planned), else ``net.nbytes``."""
    nbytes = net.nbytes if nbytes is None else nbytes
    cost = net.cost * schemes
    if max_cost is not None and cost > max_cost:
        raise TooLargeError(
            f"this request costs batch x sum of n_in x n_out x schemes = {cost} multiply-adds per pass "
            f"(depth x width^2 x batch for equal widths), over the limit of {max_cost}; "
            f"use fewer or narrower layers, a smaller batch or fewer schemes"
        )
    if max_bytes is not None and nbytes > max_bytes:
        raise TooLargeError(
            f"this network needs {nbytes} bytes of weights, pre-activations and their temporaries, over the "
            f"limit of {max_bytes}; use fewer or narrower layers or a smaller batch"
        )


@dataclass(frozen=True)
class Moment:
    """Mean and population variance of one quantity at one layer; ``relative``: variance / layer 1's."""

    mean: float | None
    variance: float | None
    relative: float | None


_UNMEASURED = Moment(None, None, None)
_FREED = np.empty(0)


@dataclass(frozen=True)
class LayerStats:
    layer: int
    fan_in: int
    fan_out: int
    seed: int
    pre_activation: Moment
    activation: Moment
    pre_activation_grad: Moment
    weight_grad: Moment


@dataclass(frozen=True)
class Trend:
    """One direction's geometric-mean gain per layer (``None``: overflow or no signal) and verdict."""

    gain: float | None
    verdict: Verdict | None


@dataclass(frozen=True)
class Run:
    """One scheme's measurements."""

    init: Init
    layers: tuple[LayerStats, ...]
    forward: Trend
    backward: Trend

    @property
    def distance(self) -> float:
        """``|ln forward gain| + |ln backward gain|``; infinite when either is unmeasured or zero."""
        total = 0.0
        for trend in (self.forward, self.backward):
            if trend.gain is None or trend.gain <= 0.0:
                return math.inf
            total += abs(math.log(trend.gain))
        return total


@dataclass(frozen=True)
class Report:
    network: Network
    runs: tuple[Run, ...]
    recommendation: int | None
    """Index in ``runs`` of the recommended scheme (several compared and one measured), else ``None``."""


def _moment(values: np.ndarray) -> tuple[float, float]:
    mean = float(values.mean())
    centred = (values - mean).ravel()
    return mean, float(np.dot(centred, centred) / values.size)


def _trend(first: float | None, last: float | None, depth: int) -> Trend:
    """The gain per layer from the variance where the signal starts to where it ends."""
    if first is None or last is None or not math.isfinite(last):
        return Trend(None, "exploding")
    if first == 0.0:
        return Trend(None, "vanishing")
    if last == 0.0:
        return Trend(0.0, "vanishing")
    gain = math.exp((math.log(last) - math.log(first)) / (depth - 1))
    verdict: Verdict = "vanishing" if gain < VANISHING_BELOW else "exploding" if gain > EXPLODING_ABOVE else "stable"
    return Trend(gain, verdict)


def plan_layers(net: Network, init: Init) -> list[TensorPlan]:
    """The checked plans of the layers' weights (keras layout ``(n_in, n_out)``)."""
    plans = []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(net.widths), start=1):
        spec = TensorSpec((n_in, n_out), init, layer_seed(net.seed, layer), net.dtype, "keras")
        try:
            plans.append(plan_tensor(spec))
        except InitError as exc:
            field = exc.field if exc.field and exc.field.startswith("init") else "init"
            raise type(exc)(f"layer {layer} ({n_in} x {n_out}): {exc.message}", field) from exc
    return plans


def layer_weights(plan: TensorPlan, engine: Engine, cancel: threading.Event | None = None) -> np.ndarray:
    """A layer's weights, made in place block by block (``cancel`` stops them within a chunk); the matrix
    of a weight computed whole is freed once copied."""
    flat = np.empty(plan.count, dtype=plan.numpy_dtype)
    try:
        futures = [
            engine.submit(plan, first, stop, with_stats=False, flat=flat, cancel=cancel)
            for first, stop in block_ranges(plan.count)
        ]
        for future in futures:
            future.result()
    finally:
        release(plan.source)
    return flat.reshape(plan.shape)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled


def propagate(
    net: Network,
    init: Init,
    engine: Engine,
    plans: Sequence[TensorPlan] | None = None,
    cancel: threading.Event | None = None,
) -> Run:
    """Measure one scheme: the forward then the backward pass (see the module's docstring). ``cancel``,
    once set, stops the passes between layers (and a layer's weights within a chunk): raises ``Cancelled``."""
    plans = list(plans) if plans is not None else plan_layers(net, init)
    f = net.activation
    depth = net.depth
    x = data_generator(net.seed, 0).standard_normal((net.batch, net.widths[0]))
    weights: list[np.ndarray] = []
    pre: list[np.ndarray] = []
    forward: list[tuple[Moment, Moment]] = []
    with np.errstate(all="ignore"):
        h = x
        for plan in plans:
            _check(cancel)
            w = layer_weights(plan, engine, cancel)
            z = h @ w.astype(np.float64)
            z_mean, z_var = _moment(z)
            if not (math.isfinite(z_mean) and math.isfinite(z_var)):
                break  # overflow: the pass stops here
            h = f(z)
            h_mean, h_var = _moment(h)
            weights.append(w)
            pre.append(z)
            forward.append((Moment(z_mean, z_var, None), Moment(h_mean, h_var, None)))
        del h
        backward: list[tuple[Moment, Moment]] = []
        if len(pre) == depth:
            g = data_generator(net.seed, 1).standard_normal((net.batch, net.widths[-1]))
            for layer in range(depth, 0, -1):
                _check(cancel)
                delta = g * f.derivative(pre[layer - 1])
                d_mean, d_var = _moment(delta)
                h_prev = x if layer == 1 else f(pre[layer - 2])
                grad_w = h_prev.T @ delta
                del h_prev
                w_mean, w_var = _moment(grad_w)
                del grad_w
                if not all(math.isfinite(v) for v in (d_mean, d_var, w_mean, w_var)):
                    break
                backward.append((Moment(d_mean, d_var, None), Moment(w_mean, w_var, None)))
                if layer > 1:
                    g = delta @ weights[layer - 1].astype(np.float64).T
                weights[layer - 1] = _FREED  # not needed any more
                pre[layer - 1] = _FREED
        backward.reverse()  # layer order; when the pass stopped, the measured layers are the last ones
    forward_rows = forward + [(_UNMEASURED, _UNMEASURED)] * (depth - len(forward))
    backward_rows = [(_UNMEASURED, _UNMEASURED)] * (depth - len(backward)) + backward
    firsts = [
        forward_rows[0][0].variance,
        forward_rows[0][1].variance,
        backward_rows[0][0].variance,
        backward_rows[0][1].variance,
    ]

    def relative(m: Moment, first: float | None) -> Moment:
        if m.variance is None or first is None or first == 0.0:
            return m
        return Moment(m.mean, m.variance, m.variance / first)

    layers = tuple(
        LayerStats(
            layer=i + 1,
            fan_in=plan.shape[0],
            fan_out=plan.shape[1],
            seed=plan.spec.seed,
            pre_activation=relative(forward_rows[i][0], firsts[0]),
            activation=relative(forward_rows[i][1], firsts[1]),
            pre_activation_grad=relative(backward_rows[i][0], firsts[2]),
            weight_grad=relative(backward_rows[i][1], firsts[3]),
        )
        for i, plan in enumerate(plans)
    )
    forward_trend = _trend(forward_rows[0][0].variance, forward_rows[-1][0].variance, depth)
    if len(pre) < depth:
        backward_trend = Trend(None, None)  # not measured: the forward pass overflowed
    else:
        backward_trend = _trend(backward_rows[-1][0].variance, backward_rows[0][0].variance, depth)
    return Run(init, layers, forward_trend, backward_trend)


@dataclass(frozen=True)
class Diagnostics:
    """A checked diagnostics request: the network, the schemes, every scheme's layer plans, and the cost
    of measuring them all (``service.core.cost.diagnostics_cost``)."""

    network: Network
    inits: tuple[Init, ...]
    plans: tuple[tuple[TensorPlan, ...], ...]
    cost: Cost


def plan_diagnostics(
    net: Network, inits: Sequence[Init], *, max_cost: int | None = None, max_bytes: int | None = None
) -> Diagnostics:
    """Check the limits (the multiply-adds first, before planning), plan every layer of every scheme, then
    check the peak memory the planned schemes need; raises ``TooLargeError`` or an ``InitError`` naming
    ``init`` (or ``init.<field>``), which the caller maps to its own field names."""
    if not 1 <= len(inits) <= MAX_SCHEMES:
        raise ParameterError(f"give 1 to {MAX_SCHEMES} schemes, got {len(inits)}", "compare")
    check_limits(net, len(inits), max_cost, max_bytes)
    plans = []
    for index, init in enumerate(inits):
        try:
            plans.append(tuple(plan_layers(net, init)))
        except InitError as exc:
            raise type(exc)(exc.message, _scheme_field(exc.field, index, len(inits))) from exc
    cost = diagnostics_cost(net.widths, net.batch, plans)
    check_limits(net, len(inits), max_cost, max_bytes, cost.nbytes)
    return Diagnostics(net, tuple(inits), tuple(plans), cost)


def measure(diagnostics: Diagnostics, engine: Engine, cancel: threading.Event | None = None) -> Report:
    """Measure every scheme, one after another (``cancel`` stops them between layers: ``Cancelled``)."""
    net = diagnostics.network
    runs = tuple(
        propagate(net, init, engine, layer_plans, cancel)
        for init, layer_plans in zip(diagnostics.inits, diagnostics.plans, strict=True)
    )
    recommendation = None
    if len(runs) > 1:
        best = min(range(len(runs)), key=lambda i: runs[i].distance)
        recommendation = best if math.isfinite(runs[best].distance) else None
    return Report(net, runs, recommendation)


def diagnose(
    net: Network,
    inits: Sequence[Init],
    engine: Engine,
    *,
    max_cost: int | None = None,
    max_bytes: int | None = None,
    cancel: threading.Event | None = None,
) -> Report:
    """Measure every scheme of ``inits`` on ``net``: limits first, then every layer planned, then the passes
    (``plan_diagnostics``, then ``measure``)."""
    return measure(plan_diagnostics(net, inits, max_cost=max_cost, max_bytes=max_bytes), engine, cancel)


def _scheme_field(field: str | None, index: int, count: int) -> str:
    """``init.x`` of scheme ``index`` as the request names it: ``init.x`` alone, ``compare.<index>.x``."""
    rest = (field or "init").removeprefix("init")
    return f"init{rest}" if count == 1 else f"compare.{index}{rest}"
