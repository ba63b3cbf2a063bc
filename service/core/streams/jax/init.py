"""``jax.nn.initializers`` (JAX 0.10.2) and ``keras.initializers`` (Keras 3.15.1, JAX backend) on a
JAX-exact threefry stream: the ``jax``, ``keras`` and ``flax`` streams' initializers, element-addressable.

A ``JaxCall`` is what one initializer does: a draw from ``jax.random`` (``uniform``, ``normal``,
``truncated_normal``; the draw itself is ``service.core.streams.jax.random``'s) and the exact
arithmetic after it, in the tensor's dtype, as JAX runs it eagerly on CPU. ``JaxCall.fill(k, shape,
dtype, start, stop, out)`` writes flat elements ``[start, stop)`` of the tensor, at a cost
proportional to ``stop - start`` (orthogonal kinds excepted: they need the whole matrix).

- ``jax_call(name, params, shape)``: a framework-named ``jax.<function>`` with its key
  ``jax.random.key(seed)`` (``service.core.streams.jax.random.key``).
- ``keras_call(name, params, shape)``: a framework-named ``keras.<Class>``; its key is
  ``keras_key(seed)`` = ``(seed, 0)`` (keras/src/random/seed_generator.py ``draw_seed``:
  ``convert_to_tensor([seed, 0], dtype="uint32")``, used as a raw threefry key by
  keras/src/backend/jax/random.py), the reverse of ``jax.random.key(seed)``'s ``(0, seed)``.
- ``canonical_call(init, fans, shape, layout)``: a canonical scheme through the ``jax.nn.initializers``
  function of the same meaning (the ``jax`` and ``flax`` streams); ``keras_canonical_call`` through the
  Keras class of the same meaning (the ``keras`` stream).

The arithmetic, verified against jax 0.10.2 on CPU (eager; every jnp operation is its own XLA
computation, so every intermediate is rounded to the dtype):

- ``jnp.array(x, dtype)`` rounds the Python float ``x`` once, float64 -> dtype.
- A Python float operand (weak type: Keras' ``sample * stddev + mean``, ``gain * q``) is converted
  through float32: float64 -> float32 -> dtype, two roundings for float16/bfloat16.
- float16/bfloat16 ``*``, ``/``, ``+``, ``sqrt``: XLA CPU computes them in float32 and rounds to the
  dtype, which equals NumPy's (and ml_dtypes') float16/bfloat16 arithmetic bit for bit (float32 holds
  the exact product, and the double rounding of a quotient or square root is innocuous at 24 >= 2p + 2
  bits).

Exactness: every kind is bit-exact for float32, float16 and bfloat16 given a bit-exact ``jax.random``,
except ``orthogonal``/``delta_orthogonal``: the normal draws are exact, the QR is NumPy's (LAPACK,
float64, one thread) where XLA factors in float32, so values agree within about 1e-6 relative. JAX and
Keras cannot make an orthogonal matrix in float16/bfloat16 (no QR for them on CPU: NotImplementedError);
neither can we (``ParameterError`` on ``dtype``). float64 is refused (``ParameterError`` on ``dtype``):
JAX with its default flags (``jax_enable_x64`` off) makes float32 instead, so no float64 tensor is
"what JAX returns".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

import ml_dtypes
import numpy as np

from service.core import shaped
from service.core.errors import ParameterError, ShapeError
from service.core.fans import FanAxes, Fans
from service.core.frameworks import framework_init, resolve_any
from service.core.schemes import Init

#: Raw threefry2x32 key words, as ``jax.random.key_data`` gives them.
Key = tuple[int, int]

#: The standard deviation of N(0, 1) truncated to (-2, 2) (JAX ``variance_scaling``, Keras ``VarianceScaling``).
TRUNCATED_STD_RATIO: Final[float] = 0.87962566103423978

#: The dtypes JAX makes with its default flags.
DTYPES: Final[dict[str, np.dtype]] = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
_HALF: Final[frozenset[np.dtype]] = frozenset({DTYPES["float16"], DTYPES["bfloat16"]})

Kind = Literal["uniform", "normal", "truncated_normal", "full", "eye", "orthogonal", "delta_orthogonal"]
#: The kinds that draw from the key.
RANDOM_KINDS: Final[frozenset[str]] = frozenset(
    {"uniform", "normal", "truncated_normal", "orthogonal", "delta_orthogonal"}
)


class RandomBackend(Protocol):
    """``jax.random`` element-addressable (``service.core.streams.jax.random``): each function writes flat
    elements ``[start, stop)`` of ``jax.random.<fn>(key, shape, dtype, ...)`` into ``out`` (1-D)."""

    def uniform(
        self,
        k: Key,
        shape: tuple[int, ...],
        dtype: str,
        minval: float,
        maxval: float,
        start: int,
        stop: int,
        out: np.ndarray,
    ) -> None:
        """``jax.random.uniform(key, shape, dtype, minval, maxval)``."""
        ...

    def normal(self, k: Key, shape: tuple[int, ...], dtype: str, start: int, stop: int, out: np.ndarray) -> None:
        """``jax.random.normal(key, shape, dtype)``."""
        ...

    def truncated_normal(
        self,
        k: Key,
        shape: tuple[int, ...],
        dtype: str,
        lower: float,
        upper: float,
        start: int,
        stop: int,
        out: np.ndarray,
    ) -> None:
        """``jax.random.truncated_normal(key, lower, upper, shape, dtype)``."""
        ...


def default_random() -> RandomBackend:
    """The stream's ``jax.random``: ``service.core.streams.jax.random`` (imported when first needed)."""
    from service.core.streams.jax import random as jax_random

    return cast(RandomBackend, jax_random)


# -- dtypes and scalars -----------------------------------------------------------------------------------


def jax_dtype(dtype: str | np.dtype) -> np.dtype:
    """The NumPy dtype of ``dtype`` (``"float32"``, ``"float16"``, ``"bfloat16"``); float64 and anything
    else raise ``ParameterError`` on ``dtype`` (JAX's default flags have no float64: it makes float32)."""
    name = np.dtype(dtype).name if isinstance(dtype, np.dtype) else str(dtype)
    if name not in DTYPES:
        why = " (JAX with jax_enable_x64 off, its default, makes float32 instead)" if name == "float64" else ""
        raise ParameterError(
            f"the jax, keras and flax streams make {', '.join(DTYPES)}; not {name}{why}",
            "dtype",
        )
    return DTYPES[name]


def array_scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """``jnp.array(value, dtype)``: the Python float rounded once to ``dtype`` (a 0-d array)."""
    with np.errstate(over="ignore"):
        return np.asarray(value, dtype=np.float64).astype(dtype)


def weak_scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """A Python float operand of a ``dtype`` array (JAX weak type): float64 -> float32 -> ``dtype``."""
    with np.errstate(over="ignore"):
        return np.asarray(np.float32(value)).astype(dtype)


FactorHow = Literal["array", "weak", "keras_cast", "vs_truncated", "vs_normal", "vs_uniform"]


@dataclass(frozen=True)
class Factor:
    """A scalar of the tensor's dtype, computed as the framework computes it (every step rounded):

    - ``array``: ``jnp.array(value, dtype)``; ``weak``: the Python float ``value`` as an operand.
    - ``keras_cast``: Keras' ``ops.cast(value, dtype)`` of a Python float (keras/src/backend/jax/core.py
      ``convert_to_tensor``): bfloat16 ``jnp.asarray(x).astype(dtype)`` (through float32), other dtypes
      ``jnp.asarray(x, dtype=dtype)`` (one rounding).
    - ``vs_truncated``: ``jnp.sqrt(variance) / jnp.array(.87962566103423978, dtype)``,
    - ``vs_normal``: ``jnp.sqrt(variance)``,
    - ``vs_uniform``: ``jnp.sqrt(3 * variance)``,

      with ``variance = jnp.array(value, dtype)`` (jax/_src/nn/initializers.py ``variance_scaling``).
    """

    how: FactorHow
    value: float

    def scalar(self, dtype: np.dtype) -> np.ndarray:
        """The factor in ``dtype`` (a 0-d array)."""
        if self.how == "array":
            return array_scalar(self.value, dtype)
        if self.how == "weak":
            return weak_scalar(self.value, dtype)
        if self.how == "keras_cast":
            through_float32 = dtype == DTYPES["bfloat16"]
            return weak_scalar(self.value, dtype) if through_float32 else array_scalar(self.value, dtype)
        variance = array_scalar(self.value, dtype)
        with np.errstate(all="ignore"):
            if self.how == "vs_truncated":
                return cast(np.ndarray, np.sqrt(variance) / array_scalar(TRUNCATED_STD_RATIO, dtype))
            if self.how == "vs_normal":
                return cast(np.ndarray, np.sqrt(variance))
            return cast(np.ndarray, np.sqrt(np.asarray(3, dtype=dtype) * variance))


# -- the call -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JaxCall:
    """One initializer applied to a tensor: a draw and the arithmetic after it.

    ``uniform``: ``jax.random.uniform(key, shape, dtype, minval, maxval)``. ``normal``:
    ``jax.random.normal(key, shape, dtype)``. ``truncated_normal``:
    ``jax.random.truncated_normal(key, lower, upper, shape, dtype)``. Then ``sample * mul`` (if ``mul``),
    then ``+ add`` (if ``add``), each rounded to the dtype. ``full``: every element ``add``
    (``jnp.full``). ``eye``: ``mul * eye(rows, cols)`` (Keras ``Identity``: off-diagonal zeros take
    ``mul``'s sign). ``orthogonal``: ``mul * Q``, Q = ``jax.random.orthogonal`` of the matrix
    ``(prod(shape) // shape[column_axis], shape[column_axis])`` moved back to ``column_axis``
    (jax ``orthogonal``; Keras ``Orthogonal`` is ``column_axis=-1``). ``delta_orthogonal``: zeros but
    the kernel centre ``(k - 1) // 2``, which holds the orthogonal ``shape[-2:]``. ``origin``: the call
    it mirrors, for people.
    """

    kind: Kind
    minval: float = 0.0
    maxval: float = 1.0
    lower: float = -2.0
    upper: float = 2.0
    mul: Factor | None = None
    add: Factor | None = None
    column_axis: int = -1
    origin: str = field(default="", compare=False)

    @property
    def random(self) -> bool:
        """Whether the call draws from the key."""
        return self.kind in RANDOM_KINDS

    def check_dtype(self, dtype: str | np.dtype) -> np.dtype:
        """The NumPy dtype, or ``ParameterError`` on ``dtype`` where the framework cannot make it."""
        dt = jax_dtype(dtype)
        if self.kind in ("orthogonal", "delta_orthogonal") and dt in _HALF:
            raise ParameterError(
                f"JAX and Keras cannot make an orthogonal {dt.name} matrix: jnp.linalg.qr is not implemented "
                "for float16/bfloat16 on CPU (NotImplementedError); ask for float32",
                "dtype",
            )
        return dt

    def fill(
        self,
        k: Key,
        shape: Sequence[int],
        dtype: str | np.dtype,
        start: int,
        stop: int,
        out: np.ndarray,
        rng: RandomBackend | None = None,
    ) -> None:
        """Write flat elements ``[start, stop)`` of the tensor into ``out`` (1-D, ``stop - start`` long, the
        dtype). ``rng``: the ``jax.random`` to draw with (default ``service.core.streams.jax.random``)."""
        dt = self.check_dtype(dtype)
        shape = tuple(int(d) for d in shape)
        total = math.prod(shape)
        if not 0 <= start <= stop <= total:
            raise ValueError(f"range [{start}, {stop}) is not within the {total} elements of shape {list(shape)}")
        if out.ndim != 1 or out.shape[0] != stop - start or out.dtype != dt:
            raise ValueError(f"out must be a 1-D {dt.name} array of {stop - start} elements")
        if start == stop:
            return
        if self.kind == "full":
            assert self.add is not None
            out.fill(self.add.scalar(dt)[()])
            return
        if self.kind == "eye":
            self._eye(shape, dt, start, stop, out)
            return
        rng = default_random() if rng is None else rng
        if self.kind in ("orthogonal", "delta_orthogonal"):
            out[...] = _whole(self, k, shape, dt, rng)[start:stop]
            return
        if self.kind == "uniform":
            rng.uniform(k, shape, dt.name, self.minval, self.maxval, start, stop, out)
        elif self.kind == "normal":
            rng.normal(k, shape, dt.name, start, stop, out)
        elif self.kind == "truncated_normal":
            rng.truncated_normal(k, shape, dt.name, self.lower, self.upper, start, stop, out)
        else:  # pragma: no cover - Kind is closed
            raise AssertionError(self.kind)
        with np.errstate(all="ignore"):
            if self.mul is not None:
                np.multiply(out, self.mul.scalar(dt), out=out)
            if self.add is not None:
                np.add(out, self.add.scalar(dt), out=out)

    def draw(self, k: Key, shape: Sequence[int], dtype: str | np.dtype, rng: RandomBackend | None = None) -> np.ndarray:
        """The whole tensor (``fill`` over every element), shaped."""
        dt = self.check_dtype(dtype)
        shape = tuple(int(d) for d in shape)
        out = np.empty(math.prod(shape), dtype=dt)
        self.fill(k, shape, dt, 0, out.size, out, rng)
        return out.reshape(shape)

    def _eye(self, shape: tuple[int, ...], dt: np.dtype, start: int, stop: int, out: np.ndarray) -> None:
        """Keras ``Identity``: ``self.gain * ops.eye(*shape, dtype=dtype)`` (keras/src/initializers/
        constant_initializers.py): ones and zeros of the dtype, each times the weak-typed gain."""
        assert self.mul is not None
        cols = shape[1]
        index = np.arange(start, stop, dtype=np.int64)
        out[...] = (index // cols == index % cols).astype(dt)
        with np.errstate(all="ignore"):
            np.multiply(out, self.mul.scalar(dt), out=out)


# -- orthogonal: the whole matrix, cached for the ranges of one tensor ----------------------------------------

_WHOLE_LOCK = threading.Lock()
_WHOLE_CACHE: dict[tuple[Any, ...], np.ndarray] = {}


def _whole(call: JaxCall, k: Key, shape: tuple[int, ...], dt: np.dtype, rng: RandomBackend) -> np.ndarray:
    """The whole (flat, read-only) tensor of an orthogonal kind; the last one is kept, so the ranges of one
    tensor factor it once."""
    cache_key = (call, tuple(k), shape, dt.name, id(rng))
    with _WHOLE_LOCK:
        cached = _WHOLE_CACHE.get(cache_key)
    if cached is not None:
        return cached
    if call.kind == "orthogonal":
        values = _orthogonal(call, k, shape, dt, call.column_axis, rng)
    else:
        values = _delta_orthogonal(call, k, shape, dt, rng)
    flat = values.reshape(-1)
    flat.flags.writeable = False
    with _WHOLE_LOCK:
        _WHOLE_CACHE.clear()
        _WHOLE_CACHE[cache_key] = flat
    return flat


def _orthogonal(
    call: JaxCall, k: Key, shape: tuple[int, ...], dt: np.dtype, column_axis: int, rng: RandomBackend
) -> np.ndarray:
    """jax/_src/nn/initializers.py ``orthogonal`` and jax/_src/random/core.py ``_orthogonal``::

        n_rows, n_cols = math.prod(shape) // shape[column_axis], shape[column_axis]
        z = normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dtype)
        q, r = jnp.linalg.qr(z); x = q * jnp.expand_dims(jnp.sign(jnp.diagonal(r)), -2)
        Q = x.mT if n_rows < n_cols else x
        Q = jnp.moveaxis(jnp.reshape(Q, tuple(np.delete(shape, column_axis)) + (shape[column_axis],)), -1, column_axis)
        return jnp.array(scale, dtype) * Q

    Keras ``Orthogonal`` (keras/src/initializers/random_initializers.py) is the same with ``column_axis=-1``
    and ``self.gain * ops.reshape(q, shape)`` (a weak-typed gain). The QR here is NumPy's in float64.
    """
    assert call.mul is not None
    axis = column_axis % len(shape)
    n_cols = shape[axis]
    n_rows = math.prod(shape) // n_cols
    z_shape = (max(n_rows, n_cols), min(n_rows, n_cols))
    z = np.empty(math.prod(z_shape), dtype=dt)
    rng.normal(k, z_shape, dt.name, 0, z.size, z)
    matrix = z.reshape(z_shape).astype(np.float64)
    with shaped._QR_LOCK, shaped._BLAS.limit(limits=1, user_api="blas"):  # same bits on every thread count
        q, r = np.linalg.qr(matrix)
    q *= np.sign(np.diagonal(r))
    if n_rows < n_cols:
        q = q.T
    others = tuple(d for i, d in enumerate(shape) if i != axis)
    moved = np.moveaxis(q.astype(dt).reshape((*others, n_cols)), -1, axis)
    with np.errstate(all="ignore"):
        return cast(np.ndarray, call.mul.scalar(dt) * np.ascontiguousarray(moved))


def _delta_orthogonal(call: JaxCall, k: Key, shape: tuple[int, ...], dt: np.dtype, rng: RandomBackend) -> np.ndarray:
    """jax/_src/nn/initializers.py ``delta_orthogonal``::

    ortho_matrix = orthogonal(scale=scale, column_axis=column_axis, dtype=dtype)(key, shape[-2:])
    W = jnp.zeros(shape, dtype=dtype)
    return W.at[(k1 - 1) // 2, (k2 - 1) // 2, ...].set(ortho_matrix)   # one index per spatial dim
    """
    weights = np.zeros(shape, dtype=dt)
    centre = tuple((d - 1) // 2 for d in shape[:-2])
    weights[centre] = _orthogonal(call, k, shape[-2:], dt, call.column_axis, rng)
    return weights


# -- fans as JAX and Keras compute them -----------------------------------------------------------------------

Axes = int | tuple[int, ...]


def _axes(value: Any) -> Axes:
    return value if isinstance(value, int) else tuple(value)


def jax_fans(
    shape: tuple[int, ...], in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()
) -> tuple[float, float]:
    """jax/_src/nn/initializers.py ``_compute_fans`` with its float arithmetic::

    in_size = shape[in_axis]  (or math.prod over a sequence of axes); out_size, batch_size alike
    receptive_field_size = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field_size, out_size * receptive_field_size

    Shapes of rank <= 1 with the default ``in_axis`` raise, as JAX does (``ShapeError``). JAX does not
    check that the axes differ (Flax ``Embed`` names axis 0 twice); neither does this.
    """
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ShapeError(
            f"jax.nn.initializers cannot compute the fans of a {len(shape)}-dimensional shape {list(shape)} "
            "with the default in_axis (ValueError); give in_axis or a shape of 2 dims or more",
            "shape",
        )

    def size(axes: Axes, name: str) -> int:
        try:
            return shape[axes] if isinstance(axes, int) else math.prod(shape[a] for a in axes)
        except IndexError:
            raise ShapeError(f"{name} {axes!r} is out of range for shape {list(shape)}", f"init.{name}") from None

    in_size, out_size, batch_size = size(in_axis, "in_axis"), size(out_axis, "out_axis"), size(batch_axis, "batch_axis")
    if 0 in (in_size, out_size, batch_size):
        raise ShapeError(f"the fans of shape {list(shape)} divide by zero (a zero dimension)", "shape")
    receptive_field_size = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field_size, out_size * receptive_field_size


def keras_fans(shape: tuple[int, ...], input_axes: Any = None, output_axes: Any = None) -> tuple[int, int]:
    """keras/src/initializers/random_initializers.py ``compute_fans``: with ``input_axes`` and ``output_axes``
    the products of those axes; else ``(..., in, out)`` with the receptive field ``prod(shape[:-2])``, a 1-D
    shape ``(n, n)``, a scalar ``(1, 1)``."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field_size = math.prod(shape[:-2])
    return shape[-2] * receptive_field_size, shape[-1] * receptive_field_size


# -- jax.nn.initializers --------------------------------------------------------------------------------------

#: jax.nn.initializers' specializations of variance_scaling: (scale, mode, distribution).
_JAX_VS: Final[dict[str, tuple[float, str, str]]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
}


def jax_denominator(fan_in: float, fan_out: float, mode: str) -> float:
    """``variance_scaling``'s denominator: ``fan_in``, ``fan_out``, ``(fan_in + fan_out) / 2`` or
    ``(fan_in * fan_out) ** 0.5`` (Python floats, as jax/_src/nn/initializers.py)."""
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    if mode == "fan_geo_avg":
        return (fan_in * fan_out) ** 0.5
    raise ParameterError(f"invalid mode for variance scaling initializer: {mode}", "init.mode")


def variance_scaling_call(scale: float, denominator: float, distribution: str, origin: str) -> JaxCall:
    """jax/_src/nn/initializers.py ``variance_scaling`` (real dtypes), given its denominator::

    variance = jnp.array(scale / denominator, dtype=dtype)
    truncated_normal: stddev = jnp.sqrt(variance) / jnp.array(.87962566103423978, dtype)
                      return random.truncated_normal(key, -2, 2, shape, dtype) * stddev
    normal:           return random.normal(key, shape, dtype) * jnp.sqrt(variance)
    uniform:          return random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)
    """
    variance = scale / denominator
    if distribution == "truncated_normal":
        return JaxCall("truncated_normal", lower=-2.0, upper=2.0, mul=Factor("vs_truncated", variance), origin=origin)
    if distribution == "normal":
        return JaxCall("normal", mul=Factor("vs_normal", variance), origin=origin)
    if distribution == "uniform":
        return JaxCall("uniform", minval=-1.0, maxval=1.0, mul=Factor("vs_uniform", variance), origin=origin)
    raise ParameterError(f"invalid distribution for variance scaling initializer: {distribution}", "init.distribution")


def _requested(name: str, framework: str, params: Mapping[str, Any], shape: tuple[int, ...]) -> tuple[str, dict]:
    entry = framework_init(name)
    if entry is None or entry.framework != framework:
        what = "jax.nn.initializers function" if framework == "jax" else "keras.initializers class"
        raise ParameterError(f"{name!r} is not a {what}", "init.scheme")
    requested = resolve_any(entry.name, params, rank=len(shape)).requested
    assert requested is not None
    return entry.name, {k: tuple(v) if isinstance(v, list) else v for k, v in requested.items() if k != "scheme"}


def _signature(function: str, p: Mapping[str, Any]) -> str:
    return f"{function}({', '.join(f'{k}={v!r}' for k, v in p.items())})"


def jax_call(name: str, params: Mapping[str, Any], shape: Sequence[int]) -> JaxCall:
    """The ``jax.nn.initializers`` function ``name`` (``"jax.he_normal"``, aliases such as
    ``"jax.kaiming_normal"``) with ``params`` (its own names, checked and completed by
    ``service.core.frameworks``) on a tensor of ``shape``, with JAX 0.10.2's arithmetic
    (jax/_src/nn/initializers.py)::

        zeros, ones, constant(value): jnp.zeros / jnp.ones / jnp.full(shape, value, dtype)
        uniform(scale):               random.uniform(key, shape, dtype) * jnp.array(scale, dtype)
        normal(stddev):               random.normal(key, shape, dtype) * jnp.array(stddev, dtype)
        truncated_normal(stddev, lower, upper):
            random.truncated_normal(key, lower, upper, shape, dtype) * jnp.array(stddev, dtype)
        variance_scaling and its glorot/lecun/he specializations: see ``variance_scaling_call``
        orthogonal(scale, column_axis), delta_orthogonal(scale, column_axis): see ``JaxCall``

    >>> jax_call("jax.he_normal", {}, (784, 256)).mul
    Factor(how='vs_truncated', value=0.002551020408163265)
    """
    shape = tuple(int(d) for d in shape)
    full_name, p = _requested(name, "jax", params, shape)
    function = full_name.removeprefix("jax.")
    origin = "jax.nn.initializers." + _signature(function, p)
    if function in ("zeros", "ones", "constant"):
        value = {"zeros": 0.0, "ones": 1.0}.get(function, p.get("value", 0.0))
        return JaxCall("full", add=Factor("array", value), origin=origin)
    if function == "uniform":
        return JaxCall("uniform", mul=Factor("array", p["scale"]), origin=origin)
    if function == "normal":
        return JaxCall("normal", mul=Factor("array", p["stddev"]), origin=origin)
    if function == "truncated_normal":
        return JaxCall(
            "truncated_normal", lower=p["lower"], upper=p["upper"], mul=Factor("array", p["stddev"]), origin=origin
        )
    if function == "variance_scaling" or function in _JAX_VS:
        scale, mode, distribution = (
            (p["scale"], p["mode"], p["distribution"]) if function == "variance_scaling" else _JAX_VS[function]
        )
        fan_in, fan_out = jax_fans(shape, _axes(p["in_axis"]), _axes(p["out_axis"]), _axes(p["batch_axis"]))
        return variance_scaling_call(scale, jax_denominator(fan_in, fan_out, mode), distribution, origin)
    if function == "orthogonal":
        if len(shape) < 2:
            raise ShapeError(f"jax.orthogonal needs at least 2 dims, got shape {list(shape)} (ValueError)", "shape")
        column_axis = p["column_axis"]
        if not -len(shape) <= column_axis < len(shape):
            raise ParameterError(
                f"column_axis {column_axis} is out of range for shape {list(shape)}", "init.column_axis"
            )
        n_cols = shape[column_axis]
        shaped.check_orthogonal((math.prod(shape) // n_cols, n_cols), "jax")
        return JaxCall("orthogonal", mul=Factor("array", p["scale"]), column_axis=column_axis, origin=origin)
    if function == "delta_orthogonal":
        if p["column_axis"] not in (-1, len(shape) - 1):
            raise ParameterError("jax.delta_orthogonal is served with column_axis -1 only", "init.column_axis")
        shaped.delta_orthogonal_dims(shape, "jax")  # 3-D to 5-D, in <= out (JAX's ValueErrors), size limits
        return JaxCall("delta_orthogonal", mul=Factor("array", p["scale"]), column_axis=-1, origin=origin)
    raise ParameterError(f"the jax stream does not serve {name}", "stream")  # pragma: no cover


# -- keras.initializers ----------------------------------------------------------------------------------------


def keras_key(seed: int) -> Key:
    """The raw key Keras 3 draws with on the JAX backend for ``seed=seed``: ``(seed, 0)``
    (keras/src/random/seed_generator.py ``draw_seed``: ``convert_to_tensor([seed, 0], dtype="uint32")``).
    Keras raises ``OverflowError`` beyond uint32 (a ``ParameterError`` on ``seed`` here).

    >>> keras_key(7)
    (7, 0)
    """
    if not 0 <= seed < 2**32:
        raise ParameterError(
            f"Keras' JAX backend takes seeds 0 to 2^32 - 1 (its key is uint32 [seed, 0]); got {seed}", "seed"
        )
    return (seed, 0)


#: keras.initializers' VarianceScaling subclasses: (scale, mode, distribution).
_KERAS_VS: Final[dict[str, tuple[float, str, str]]] = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
}


def keras_variance_scaling_call(
    scale: float, fan_in: int, fan_out: int, mode: str, distribution: str, origin: str
) -> JaxCall:
    """keras/src/initializers/random_initializers.py ``VarianceScaling.__call__`` (Python floats)::

        scale /= max(1.0, fan_in)   # fan_out; fan_avg: max(1.0, (fan_in + fan_out) / 2.0)
        truncated_normal:   stddev = math.sqrt(scale) / 0.87962566103423978
                            random.truncated_normal(shape, mean=0.0, stddev=stddev)
        untruncated_normal: random.normal(shape, mean=0.0, stddev=math.sqrt(scale))
        uniform:            limit = math.sqrt(3.0 * scale); random.uniform(shape, minval=-limit, maxval=limit)

    with keras/src/backend/jax/random.py: ``jax.random.truncated_normal(seed, lower=-2.0, upper=2.0) *
    stddev + mean``, ``jax.random.normal(seed) * stddev + mean``, ``jax.random.uniform(seed, minval=minval,
    maxval=maxval)`` (``stddev``, ``mean`` weak-typed Python floats).
    """
    if mode == "fan_in":
        scale /= max(1.0, fan_in)
    elif mode == "fan_out":
        scale /= max(1.0, fan_out)
    elif mode == "fan_avg":
        scale /= max(1.0, (fan_in + fan_out) / 2.0)
    else:
        raise ParameterError(f"Keras VarianceScaling has no mode {mode!r} (fan_in, fan_out, fan_avg)", "stream")
    if distribution == "truncated_normal":
        return _keras_truncated(0.0, math.sqrt(scale) / TRUNCATED_STD_RATIO, origin)
    if distribution == "untruncated_normal":
        return _keras_normal(0.0, math.sqrt(scale), origin)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale)
        return JaxCall("uniform", minval=-limit, maxval=limit, origin=origin)
    raise ParameterError(f"invalid distribution {distribution!r}", "init.distribution")  # pragma: no cover


def _keras_normal(mean: float, stddev: float, origin: str) -> JaxCall:
    return JaxCall("normal", mul=Factor("weak", stddev), add=Factor("weak", mean), origin=origin)


def _keras_truncated(mean: float, stddev: float, origin: str) -> JaxCall:
    return JaxCall(
        "truncated_normal", lower=-2.0, upper=2.0, mul=Factor("weak", stddev), add=Factor("weak", mean), origin=origin
    )


def _keras_orthogonal(shape: tuple[int, ...], gain: float, origin: str) -> JaxCall:
    """``Orthogonal.__call__``: ``flat_shape = (max(num_cols, num_rows), min(num_cols, num_rows))``,
    ``a = random.normal(flat_shape)`` (``* 1.0 + 0.0``), ``q, r = ops.qr(a)``, ``q *= ops.sign(ops.diag(r))``,
    transposed when ``num_rows < num_cols``, ``self.gain * ops.reshape(q, shape)``: JAX's orthogonal with
    ``column_axis=-1`` and a weak-typed gain."""
    if len(shape) < 2:
        raise ShapeError(f"keras.Orthogonal needs at least 2 dims, got shape {list(shape)} (ValueError)", "shape")
    shaped.check_orthogonal(shape, "keras")
    return JaxCall("orthogonal", mul=Factor("weak", gain), column_axis=-1, origin=origin)


def _keras_identity(shape: tuple[int, ...], gain: float, origin: str) -> JaxCall:
    if len(shape) != 2:
        raise ShapeError(f"keras.Identity needs a 2-D shape, got shape {list(shape)} (ValueError)", "shape")
    return JaxCall("eye", mul=Factor("weak", gain), origin=origin)


def _keras_constant(value: float, origin: str) -> JaxCall:
    """``Constant.__call__``: ``ops.cast(self.value, dtype=dtype) * ops.ones(shape, dtype=dtype)``: the value
    cast as Keras casts a Python float (``Factor("keras_cast")``: through float32 for bfloat16 only), times one."""
    return JaxCall("full", add=Factor("keras_cast", value), origin=origin)


def keras_call(name: str, params: Mapping[str, Any], shape: Sequence[int]) -> JaxCall:
    """The ``keras.initializers`` class ``name`` (``"keras.HeNormal"``, ``"keras.he_normal"``, ...) built with
    ``params`` (its own names; ``seed`` is the stream's, see ``keras_key``) and called on ``shape``, as
    Keras 3.15.1 on the JAX backend computes it (keras/src/initializers/random_initializers.py,
    constant_initializers.py; keras/src/backend/jax/random.py)::

        RandomNormal(mean, stddev):    jax.random.normal(key, shape, dtype) * stddev + mean
        TruncatedNormal(mean, stddev): jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) * stddev + mean
        RandomUniform(minval, maxval): jax.random.uniform(key, shape, dtype, minval, maxval)
        VarianceScaling and its Glorot/Lecun/He subclasses: see ``keras_variance_scaling_call``
        Orthogonal(gain), Identity(gain): gain * ...; Constant(value), Zeros, Ones

    ``STFT`` is refused (``ParameterError`` on ``stream``): Keras computes its kernel with XLA's float32
    trigonometry, which this stream does not reproduce bit for bit.

    >>> keras_call("keras.GlorotUniform", {}, (784, 256)).maxval  # math.sqrt(3.0 * (1.0 / 520))
    0.075955452531275
    """
    shape = tuple(int(d) for d in shape)
    full_name, p = _requested(name, "keras", params, shape)
    cls = full_name.removeprefix("keras.")
    origin = "keras.initializers." + _signature(cls, p)
    if cls == "RandomNormal":
        return _keras_normal(p["mean"], p["stddev"], origin)
    if cls == "TruncatedNormal":
        return _keras_truncated(p["mean"], p["stddev"], origin)
    if cls == "RandomUniform":
        return JaxCall("uniform", minval=p["minval"], maxval=p["maxval"], origin=origin)
    if cls == "VarianceScaling" or cls in _KERAS_VS:
        if cls == "VarianceScaling":
            scale, mode = p["scale"], p["mode"]
            distribution = "truncated_normal" if p["distribution"] == "normal" else p["distribution"]
        else:
            scale, mode, distribution = _KERAS_VS[cls]
        fan_in, fan_out = keras_fans(shape, p.get("input_axes"), p.get("output_axes"))
        return keras_variance_scaling_call(scale, fan_in, fan_out, mode, distribution, origin)
    if cls == "Orthogonal":
        return _keras_orthogonal(shape, p["gain"], origin)
    if cls == "Identity":
        return _keras_identity(shape, p["gain"], origin)
    if cls in ("Constant", "Zeros", "Ones"):
        value = {"Zeros": 0.0, "Ones": 1.0}.get(cls, p.get("value", 0.0))
        if cls == "Constant":
            return _keras_constant(value, origin)
        return JaxCall("full", add=Factor("array", value), origin=origin)
    raise ParameterError(
        f"the keras stream does not serve {full_name}: Keras computes it with XLA's float32 trigonometry, "
        "which the stream does not reproduce bit for bit (use the initserve streams)",
        "stream",
    )


# -- canonical schemes -----------------------------------------------------------------------------------------


def _need_fans(fans: Fans | None) -> Fans:
    if fans is None:
        raise ShapeError("this scheme needs the fans of the shape, which its layout does not define", "shape")
    return fans


def _cannot(stream: str, scheme: str, why: str) -> ParameterError:
    return ParameterError(f"the {stream} stream cannot express scheme {scheme!r}: {why} (use another stream)", "stream")


def _variance_scaling_of(scheme: str, p: Mapping[str, Any]) -> tuple[float, str]:
    """The ``variance_scaling`` (scale, mode) of a canonical fan-based scheme: he ``2 / (1 + a^2)``,
    lecun ``1`` on fan_in, glorot ``gain^2`` on fan_avg, variance_scaling its own."""
    if scheme == "he":
        return 2.0 / (1.0 + p["negative_slope"] ** 2), p["mode"]
    if scheme == "lecun":
        return 1.0, "fan_in"
    if scheme == "glorot":
        return p["gain"] * p["gain"], "fan_avg"
    return p["scale"], p["mode"]


def canonical_call(init: Init, fans: Fans | None, shape: Sequence[int], layout: str | FanAxes) -> JaxCall:
    """A canonical scheme through the ``jax.nn.initializers`` function of the same meaning, with the
    request's fans (``fans``, in the request's layout) and JAX's arithmetic (the ``jax`` and ``flax`` streams):

    - ``he``: ``variance_scaling(2 / (1 + negative_slope^2), mode, d)`` (so ``he`` normal is
      ``variance_scaling(2.0, "fan_in", "normal")``, truncated_normal is ``jax.he_normal``); ``lecun``:
      ``variance_scaling(1.0, "fan_in", d)``; ``glorot``: ``variance_scaling(gain * gain, "fan_avg", d)``;
      ``variance_scaling``: itself (``fan_geo_avg`` included: ``(fan_in * fan_out) ** 0.5``). ``d`` is the
      scheme's distribution, ``normal`` untruncated as in JAX.
    - ``normal(mean, std)``: ``normal(std)``, ``random.normal(...) * jnp.array(std, dtype)``, then
      ``+ jnp.array(mean, dtype)`` when ``mean != 0``.
    - ``uniform(low, high)``: ``jax.random.uniform(key, shape, dtype, minval=low, maxval=high)``.
    - ``truncated_normal(mean, std, low, high)``: ``truncated_normal(std, lower=(low - mean) / std,
      upper=(high - mean) / std)``, ``random.truncated_normal(...) * jnp.array(std, dtype)``, then
      ``+ jnp.array(mean, dtype)`` when ``mean != 0``.
    - ``constant``/``zeros``/``ones``: ``jnp.full``. ``orthogonal``: ``orthogonal(gain, column_axis)``,
      ``column_axis`` -1 for keras/jax layouts, 0 for torch (its ``(shape[0], prod(rest))`` matrix read
      with the columns along axis 0). ``delta_orthogonal``: ``delta_orthogonal(gain)`` (keras/jax layout).

    JAX has no ``identity``, ``dirac``, ``sparse`` or ``stft``: ``ParameterError`` on ``stream``.
    """
    p, scheme, shape = init.params, init.scheme, tuple(int(d) for d in shape)
    origin = f"{scheme}({', '.join(f'{k}={v!r}' for k, v in p.items())}) via jax.nn.initializers"
    if scheme in ("orthogonal", "delta_orthogonal") and isinstance(layout, FanAxes):
        raise ParameterError(f"{scheme} reads the shape in a layout, not in fan_axes", "fan_axes")
    if scheme in ("he", "lecun", "glorot", "variance_scaling"):
        f = _need_fans(fans)
        scale, mode = _variance_scaling_of(scheme, p)
        denominator = jax_denominator(float(f.fan_in), float(f.fan_out), mode)
        return variance_scaling_call(scale, denominator, p["distribution"], origin)
    if scheme == "normal":
        add = Factor("array", p["mean"]) if p["mean"] != 0.0 else None
        return JaxCall("normal", mul=Factor("array", p["std"]), add=add, origin=origin)
    if scheme == "uniform":
        return JaxCall("uniform", minval=p["low"], maxval=p["high"], origin=origin)
    if scheme == "truncated_normal":
        mean, std = p["mean"], p["std"]
        add = Factor("array", mean) if mean != 0.0 else None
        lower, upper = (p["low"] - mean) / std, (p["high"] - mean) / std
        return JaxCall("truncated_normal", lower=lower, upper=upper, mul=Factor("array", std), add=add, origin=origin)
    if scheme in ("constant", "zeros", "ones"):
        value = {"zeros": 0.0, "ones": 1.0}.get(scheme, p.get("value", 0.0))
        return JaxCall("full", add=Factor("array", value), origin=origin)
    if scheme == "orthogonal":
        shaped.check_orthogonal(shape, str(layout))
        column_axis = 0 if layout == "torch" else -1
        return JaxCall("orthogonal", mul=Factor("array", p["gain"]), column_axis=column_axis, origin=origin)
    if scheme == "delta_orthogonal":
        if layout == "torch":
            raise _cannot("jax", scheme, "jax.nn.initializers.delta_orthogonal takes (*k, in, out) kernels only")
        shaped.delta_orthogonal_dims(shape, str(layout))
        return JaxCall("delta_orthogonal", mul=Factor("array", p["gain"]), column_axis=-1, origin=origin)
    raise _cannot("jax", scheme, "jax.nn.initializers has no function of that meaning")


def keras_canonical_call(init: Init, fans: Fans | None, shape: Sequence[int], layout: str | FanAxes) -> JaxCall:
    """A canonical scheme through the Keras class of the same meaning (the ``keras`` stream), with the
    request's fans and Keras' arithmetic (see ``keras_call``):

    - ``he``/``lecun``/``glorot``/``variance_scaling``: ``VarianceScaling(scale, mode, d)`` with
      ``scale = 2 / (1 + negative_slope^2)``, ``1.0``, ``gain * gain``, ``scale``; ``d``: normal ->
      ``untruncated_normal``, truncated_normal -> ``truncated_normal``, uniform -> ``uniform``. So ``he``
      truncated_normal is ``HeNormal``, ``glorot`` uniform ``GlorotUniform``. Keras has no ``fan_geo_avg``.
    - ``normal``: ``RandomNormal(mean, std)``; ``uniform``: ``RandomUniform(low, high)``;
      ``truncated_normal``: ``TruncatedNormal(mean, std)`` when the bounds are ``mean -+ 2 std`` (Keras'
      only truncation); ``constant``/``zeros``/``ones``: ``Constant``/``Zeros``/``Ones``;
      ``identity``: ``Identity(gain)``; ``orthogonal``: ``Orthogonal(gain)`` (keras/jax layout).

    Anything else (``delta_orthogonal``, ``dirac``, ``sparse``, ``stft``, a torch-layout orthogonal, other
    truncation bounds): ``ParameterError`` on ``stream``.
    """
    p, scheme, shape = init.params, init.scheme, tuple(int(d) for d in shape)
    origin = f"{scheme}({', '.join(f'{k}={v!r}' for k, v in p.items())}) via keras.initializers"
    if scheme in ("he", "lecun", "glorot", "variance_scaling"):
        f = _need_fans(fans)
        scale, mode = _variance_scaling_of(scheme, p)
        if mode == "fan_geo_avg":
            raise _cannot("keras", scheme, "Keras' VarianceScaling has no fan_geo_avg mode")
        distribution = {"normal": "untruncated_normal"}.get(p["distribution"], p["distribution"])
        return keras_variance_scaling_call(scale, f.fan_in, f.fan_out, mode, distribution, origin)
    if scheme == "normal":
        return _keras_normal(p["mean"], p["std"], origin)
    if scheme == "uniform":
        return JaxCall("uniform", minval=p["low"], maxval=p["high"], origin=origin)
    if scheme == "truncated_normal":
        mean, std = p["mean"], p["std"]
        if p["low"] != mean - 2.0 * std or p["high"] != mean + 2.0 * std:
            raise _cannot("keras", scheme, "Keras' TruncatedNormal truncates at mean -+ 2 std only")
        return _keras_truncated(mean, std, origin)
    if scheme == "constant":
        return _keras_constant(p["value"], origin)
    if scheme in ("zeros", "ones"):
        return JaxCall("full", add=Factor("array", 1.0 if scheme == "ones" else 0.0), origin=origin)
    if scheme == "identity":
        return _keras_identity(shape, p["gain"], origin)
    if scheme == "orthogonal":
        if layout not in ("keras", "jax"):
            raise _cannot("keras", scheme, "Keras' Orthogonal reads the shape as (prod(shape[:-1]), shape[-1])")
        return _keras_orthogonal(shape, p["gain"], origin)
    raise _cannot("keras", scheme, "keras.initializers has no class of that meaning")
