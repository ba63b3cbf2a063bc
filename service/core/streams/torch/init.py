"""PyTorch 2.13.0's ``torch.nn.init`` on a torch-exact generator: the ``torch`` streams' initializers.

A ``TorchCall`` is what one ``torch.nn.init`` function does to a tensor: its kind (``uniform``,
``normal``, ``trunc_normal``, ``orthogonal``, ``sparse``, ``constant``, ``eye``, ``dirac``) and its
float64 arguments, computed with exactly the Python arithmetic of torch/nn/init.py (torch 2.13.0:
``_calculate_fan_in_and_fan_out``, ``calculate_gain``, ``std = gain / math.sqrt(fan)``,
``bound = math.sqrt(3.0) * std``, ...). ``TorchCall.draw(gen, out)`` fills ``out`` in place and
consumes ``gen`` as torch consumes its generator after ``torch.manual_seed(seed)``.

- ``torch_call(name, params, shape)``: a framework-named ``torch.<function>_`` on a tensor of
  ``shape`` in torch layout ``(out, in, *k)``, with torch's own fans and gain.
- ``canonical_call(init, fans, shape, layout)``: a canonical initserve scheme through the torch
  function of the same meaning, with the request's fans and torch's arithmetic (see its docstring).

Exactness (``gen`` a torch-exact generator): every kind is bit-exact for float32, float16, bfloat16
and float64, except ``orthogonal``: torch factors with LAPACK ``geqrf``/``orgqr``, we with NumPy's
QR (float64, one thread), so the values agree within about 1e-6 relative, not bit for bit.
``trunc_normal_`` is served in its ``p > 0.3`` branch (normal draws, rejection and full-size
redraws), bit-exact; its ``p <= 0.3`` branch (uniform proposals accepted against ``log_()`` of
uniforms: torch's vectorised Sleef logarithm) is refused with a ``ParameterError`` on ``stream``.
Things torch itself refuses are refused: ``orthogonal_`` on float16/bfloat16 (no ``geqrf`` for
Half/BFloat16 on CPU), a ``constant_`` value outside the dtype's finite range (``fill_``'s
``checked_convert``), fan-based functions on fewer than 2 dims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

import ml_dtypes
import numpy as np

from service.core import shaped
from service.core.errors import ParameterError, ShapeError
from service.core.fans import FanAxes, Fans, compute_fans, fan_for_mode
from service.core.frameworks import framework_init, resolve_any
from service.core.gains import calculate_gain
from service.core.schemes import Init

#: Keras/JAX's truncation correction: the std of N(0, 1) truncated to (-2, 2).
TRUNCATED_STD_RATIO: Final[float] = 0.87962566103423978

Kind = Literal["uniform", "normal", "trunc_normal", "orthogonal", "sparse", "constant", "eye", "dirac"]
#: The kinds that consume the generator.
RANDOM_KINDS: Final[frozenset[str]] = frozenset({"uniform", "normal", "trunc_normal", "orthogonal", "sparse"})

_BFLOAT16: Final[np.dtype] = np.dtype(ml_dtypes.bfloat16)
_HALF_TYPES: Final[frozenset[np.dtype]] = frozenset({np.dtype(np.float16), _BFLOAT16})


class Generator(Protocol):
    """PyTorch's CPU generator after ``torch.manual_seed(seed)`` (``service.core.streams.torch.generator``).

    Each method acts as the torch call of the same name on a C-contiguous tensor of ``out``'s dtype
    (float32, float64, float16 or ``ml_dtypes.bfloat16``), in place, consuming the generator as it does.
    """

    def uniform_(self, out: np.ndarray, low: float, high: float) -> None:
        """``tensor.uniform_(low, high)``."""
        ...

    def normal_(self, out: np.ndarray, mean: float, std: float) -> None:
        """``tensor.normal_(mean, std)``."""
        ...

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n)`` (int64)."""
        ...


# -- dtype conversions as torch does them --------------------------------------------------------------


def cast_scalar(value: float, dtype: np.dtype) -> np.generic:
    """``value`` (a Python float) converted to ``dtype`` as c10 does: float16 and bfloat16 from a double
    go through float (``c10::Half(float)``, ``c10::BFloat16(float)``), so they are rounded twice."""
    with np.errstate(over="ignore"):
        if dtype in _HALF_TYPES:
            return cast(np.generic, np.asarray(np.float32(value)).astype(dtype)[()])
        return dtype.type(value)


def _checked(value: float, dtype: np.dtype, what: str) -> np.generic:
    """``cast_scalar`` refusing a value beyond the dtype's finite range, as ``fill_``'s
    ``c10::checked_convert`` does ("value cannot be converted to type ... without overflow")."""
    if dtype.kind == "f" or dtype == _BFLOAT16:
        largest = float(ml_dtypes.finfo(dtype).max)
        if abs(value) > largest:
            raise ParameterError(
                f"{what} {value!r} cannot be converted to {dtype} without overflow (PyTorch's fill_ raises)", "dtype"
            )
        return cast_scalar(value, dtype)
    return dtype.type(value)


def _comparable(out: np.ndarray) -> np.ndarray:
    """``out`` in a NumPy type whose comparisons are exact (float16/bfloat16 widened to float32)."""
    return out.astype(np.float32) if out.dtype in _HALF_TYPES else out


# -- the call --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchCall:
    """One ``torch.nn.init`` function applied to a tensor, its arguments already computed (float64).

    ``uniform``: ``uniform_(low, high)``. ``normal``: ``normal_(mean, std)``. ``trunc_normal``:
    ``trunc_normal_(mean, std, a=low, b=high)``. ``orthogonal``: ``orthogonal_(gain=value)`` on the
    matrix ``layout`` reads the shape as. ``sparse``: ``sparse_(sparsity, std)`` (keras/jax layout: on
    the transposed shape, then transposed). ``constant``: ``fill_(value)``. ``eye``: ``eye_`` times
    ``value``. ``dirac``: ``dirac_(groups)`` (keras/jax layout: transposed). ``origin``: the torch
    call it mirrors, for people.
    """

    kind: Kind
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    value: float = 0.0
    groups: int = 1
    sparsity: float = 0.0
    layout: str = "torch"
    origin: str = field(default="", compare=False)

    @property
    def random(self) -> bool:
        """Whether the call consumes the generator."""
        return self.kind in RANDOM_KINDS

    def draw(self, gen: Generator, out: np.ndarray) -> None:
        """Fill ``out`` (C-contiguous, the tensor's shape and dtype) in place, consuming ``gen`` as torch does."""
        if not out.flags.c_contiguous:
            raise ValueError("TorchCall.draw needs a C-contiguous array")
        if self.kind == "uniform":
            gen.uniform_(out, self.low, self.high)
        elif self.kind == "normal":
            gen.normal_(out, self.mean, self.std)
        elif self.kind == "trunc_normal":
            self._trunc_normal(gen, out)
        elif self.kind == "orthogonal":
            self._orthogonal(gen, out)
        elif self.kind == "sparse":
            self._sparse(gen, out)
        elif self.kind == "constant":
            out.fill(_checked(self.value, out.dtype, "the fill value"))
        elif self.kind == "eye":
            out.fill(0)
            out.reshape(-1)[shaped.identity_points(out.shape)] = cast_scalar(self.value, out.dtype)
        elif self.kind == "dirac":
            out.fill(0)
            out.reshape(-1)[shaped.dirac_points(out.shape, self.layout, self.groups)] = 1
        else:  # pragma: no cover - Kind is closed
            raise AssertionError(self.kind)

    def _trunc_normal(self, gen: Generator, out: np.ndarray) -> None:
        """``_no_grad_trunc_normal_``'s ``p > 0.3`` branch (torch/nn/init.py, torch 2.13.0)::

            lo = tensor.new_tensor(a).item(); hi = tensor.new_tensor(b).item()   # a, b in the dtype
            result = tensor.normal_(mean, std)
            while True:
                mask = (result < lo) | (result > hi)
                if not mask.any(): break
                result = torch.where(mask, torch.empty_like(result).normal_(mean, std), result)

        Every round draws a fresh full-size normal tensor, whatever the number of rejected values.
        """
        lo = float(cast_scalar(self.low, out.dtype))
        hi = float(cast_scalar(self.high, out.dtype))
        gen.normal_(out, self.mean, self.std)
        fresh: np.ndarray | None = None
        while True:
            values = _comparable(out)
            mask = (values < lo) | (values > hi)
            if not mask.any():
                return
            if fresh is None:
                fresh = np.empty_like(out)
            gen.normal_(fresh, self.mean, self.std)
            out[mask] = fresh[mask]

    def _orthogonal(self, gen: Generator, out: np.ndarray) -> None:
        """``orthogonal_`` (torch/nn/init.py, torch 2.13.0) on the matrix ``layout`` reads::

            flattened = tensor.new_empty((rows, cols)).normal_(0, 1)
            if rows < cols: flattened.t_()
            q, r = torch.linalg.qr(flattened)
            q *= torch.diag(r, 0).sign()
            if rows < cols: q.t_()
            tensor.view_as(q).copy_(q); tensor.mul_(gain)

        The normal draws are torch's, bit for bit; the QR is NumPy's (LAPACK in float64, one thread)
        where torch runs ``geqrf``/``orgqr`` in the dtype: equal within about 1e-6 relative, not bit for bit.
        """
        if out.dtype in _HALF_TYPES:
            raise ParameterError(
                f"PyTorch's orthogonal_ cannot make {out.dtype}: its QR (geqrf) is not implemented for "
                "Half/BFloat16 on CPU; ask for float32 or float64",
                "dtype",
            )
        rows, cols = shaped.matrix_dims(out.shape, self.layout)
        flattened = np.empty((rows, cols), dtype=out.dtype)
        gen.normal_(flattened, 0.0, 1.0)
        matrix = flattened.astype(np.float64)
        if rows < cols:
            matrix = matrix.T
        with shaped._QR_LOCK, shaped._BLAS.limit(limits=1, user_api="blas"):  # same bits on every thread count
            q, r = np.linalg.qr(matrix)
        q *= np.sign(np.diagonal(r))
        if rows < cols:
            q = q.T
        out[...] = q.astype(out.dtype).reshape(out.shape)
        out *= out.dtype.type(self.value)

    def _sparse(self, gen: Generator, out: np.ndarray) -> None:
        """``sparse_`` (torch/nn/init.py, torch 2.13.0) on ``(rows, cols)`` (torch layout; keras/jax: transposed)::

        num_zeros = math.ceil(sparsity * rows)
        tensor.normal_(0, std)
        for col_idx in range(cols):
            row_indices = torch.randperm(rows)   # the global generator: manual_seed's
            tensor[row_indices[:num_zeros], col_idx] = 0
        """
        weights = out if self.layout == "torch" else np.empty(out.shape[::-1], dtype=out.dtype)
        rows, cols = weights.shape
        num_zeros = math.ceil(self.sparsity * rows)
        gen.normal_(weights, 0.0, self.std)
        for col in range(cols):
            weights[gen.randperm(rows)[:num_zeros], col] = 0
        if weights is not out:
            out[...] = weights.T


# -- torch.nn.init functions -------------------------------------------------------------------------------


def _torch_fans(shape: tuple[int, ...], function: str) -> Fans:
    """``_calculate_fan_in_and_fan_out``: ``(out, in, *k)``, fewer than 2 dims raise."""
    if len(shape) < 2:
        raise ShapeError(
            f"torch.{function} needs at least 2 dims to compute fans (got shape {list(shape)}), as PyTorch raises",
            "shape",
        )
    return compute_fans(shape, "torch")


def _trunc_normal(mean: float, std: float, a: float, b: float, origin: str) -> TorchCall:
    """``trunc_normal_(mean, std, a, b)``: its branch is chosen with torch's own arithmetic::

    p = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std),
    norm_cdf(x) = (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    """
    if not std > 0.0:
        raise ParameterError(
            f"the torch stream cannot make a truncated normal of std {std!r}: trunc_normal_ divides by std", "stream"
        )

    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    p = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std)
    if not p > 0.3:
        raise ParameterError(
            f"the torch stream does not serve trunc_normal_ when the bounds [{a!r}, {b!r}] hold at most 30% of "
            f"N({mean!r}, {std!r}^2) (here {p:.3g}): PyTorch then samples with its vectorised log_(), "
            "which the stream does not reproduce; widen the bounds or use another stream",
            "stream",
        )
    return TorchCall("trunc_normal", low=a, high=b, mean=mean, std=std, origin=origin)


def _kaiming(p: Mapping[str, Any], shape: tuple[int, ...], function: str) -> TorchCall:
    """``kaiming_uniform_``/``kaiming_normal_``::

    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std   # uniform_(-bound, bound); normal_(0, std)
    """
    fans = _torch_fans(shape, function)
    fan = fans.fan_in if p["mode"] == "fan_in" else fans.fan_out
    gain = calculate_gain(p["nonlinearity"], p["a"])
    std = gain / math.sqrt(fan)
    origin = f"torch.nn.init.{function}(a={p['a']!r}, mode={p['mode']!r}, nonlinearity={p['nonlinearity']!r})"
    if function == "kaiming_uniform_":
        bound = math.sqrt(3.0) * std
        return TorchCall("uniform", low=-bound, high=bound, origin=origin)
    return TorchCall("normal", mean=0.0, std=std, origin=origin)


def _xavier(gain: float, fans: Fans, distribution: str, origin: str) -> TorchCall:
    """``xavier_uniform_``/``xavier_normal_``::

    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std   # uniform_(-a, a); normal_(0, std)
    """
    std = gain * math.sqrt(2.0 / float(fans.fan_in + fans.fan_out))
    return _distributed(std, distribution, origin)


def _distributed(std: float, distribution: str, origin: str) -> TorchCall:
    """A zero-mean distribution of standard deviation ``std``, as torch builds it from ``std``:
    uniform ``bound = math.sqrt(3.0) * std``; normal ``normal_(0, std)``; truncated normal (Keras/JAX
    semantics) ``trunc_normal_(0, s0, -2 s0, 2 s0)``, ``s0 = std / 0.87962566103423978``."""
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return TorchCall("uniform", low=-bound, high=bound, origin=origin)
    if distribution == "normal":
        return TorchCall("normal", mean=0.0, std=std, origin=origin)
    sigma0 = std / TRUNCATED_STD_RATIO
    return _trunc_normal(0.0, sigma0, -2.0 * sigma0, 2.0 * sigma0, origin + f" -> trunc_normal_(std={sigma0!r})")


def torch_call(name: str, params: Mapping[str, Any], shape: tuple[int, ...]) -> TorchCall:
    """The ``torch.nn.init`` function ``name`` (``"torch.kaiming_uniform_"``, ...) with ``params`` (its own
    names; defaults filled in, checked as ``service.core.frameworks`` checks them) on a tensor of ``shape``
    in torch layout, as torch/nn/init.py (torch 2.13.0) computes it.

    >>> torch_call("torch.kaiming_uniform_", {"a": 5 ** 0.5}, (256, 784)).high  # U(+-1/sqrt(784))
    0.03571428571428571
    """
    entry = framework_init(name)
    if entry is None or entry.framework != "torch":
        raise ParameterError(f"{name!r} is not a torch.nn.init function", "init.scheme")
    shape = tuple(shape)
    requested = resolve_any(entry.name, params).requested
    assert requested is not None
    p = {k: v for k, v in requested.items() if k != "scheme"}
    function = entry.name.removeprefix("torch.")
    origin = f"torch.nn.init.{function}({', '.join(f'{k}={v!r}' for k, v in p.items())})"
    if function == "uniform_":
        return TorchCall("uniform", low=p["a"], high=p["b"], origin=origin)
    if function == "normal_":
        return TorchCall("normal", mean=p["mean"], std=p["std"], origin=origin)
    if function == "trunc_normal_":
        return _trunc_normal(p["mean"], p["std"], p["a"], p["b"], origin)
    if function == "constant_":
        return TorchCall("constant", value=p["val"], origin=origin)
    if function in ("ones_", "zeros_"):
        return TorchCall("constant", value=1.0 if function == "ones_" else 0.0, origin=origin)
    if function == "eye_":
        if len(shape) != 2:
            raise ShapeError(f"torch.eye_ needs a 2-D shape, got shape {list(shape)}", "shape")
        return TorchCall("eye", value=1.0, origin=origin)
    if function == "dirac_":
        shaped.dirac_points(shape, "torch", p["groups"])  # torch's checks: 3 to 5 dims, groups dividing out
        return TorchCall("dirac", groups=p["groups"], origin=origin)
    if function in ("xavier_uniform_", "xavier_normal_"):
        distribution = "uniform" if function == "xavier_uniform_" else "normal"
        return _xavier(p["gain"], _torch_fans(shape, function), distribution, origin)
    if function in ("kaiming_uniform_", "kaiming_normal_"):
        return _kaiming(p, shape, function)
    if function == "orthogonal_":
        shaped.check_orthogonal(shape, "torch")
        return TorchCall("orthogonal", value=p["gain"], origin=origin)
    if function == "sparse_":
        return _sparse(shape, "torch", p["sparsity"], p["std"], origin)
    raise ParameterError(f"the torch stream does not serve {name}", "stream")  # pragma: no cover


def _sparse(shape: tuple[int, ...], layout: str, sparsity: float, std: float, origin: str) -> TorchCall:
    if len(shape) != 2:
        raise ShapeError(f"sparse needs a 2-D shape, got shape {list(shape)}", "shape")
    shaped.check_whole(math.prod(shape), "sparse")
    return TorchCall("sparse", std=std, sparsity=sparsity, layout=layout, origin=origin)


# -- canonical schemes ---------------------------------------------------------------------------------------


def _scaled(gain: float, fans: Fans | None, mode: str, distribution: str, origin: str) -> TorchCall:
    """``variance = gain^2 / fan`` with torch's arithmetic: ``fan_avg`` as ``xavier_*_``
    (``std = gain * math.sqrt(2.0 / float(fan_in + fan_out))``), any other mode as ``kaiming_*_``
    (``std = gain / math.sqrt(fan)``, ``fan_geo_avg``: ``fan = math.sqrt(fan_in * fan_out)``)."""
    if fans is None:
        raise ShapeError("this scheme needs the fans of the shape, which its layout does not define", "shape")
    if mode == "fan_avg":
        return _xavier(gain, fans, distribution, origin)
    std = gain / math.sqrt(fan_for_mode(fans, mode))
    return _distributed(std, distribution, origin)


def canonical_call(init: Init, fans: Fans | None, shape: tuple[int, ...], layout: str | FanAxes) -> TorchCall:
    """A canonical scheme through the ``torch.nn.init`` function of the same meaning: the request's fans
    (``fans``, in the request's layout), torch's arithmetic (torch/nn/init.py, torch 2.13.0):

    - ``he``: ``kaiming_*_``, ``gain = calculate_gain("leaky_relu", negative_slope)``,
      ``std = gain / math.sqrt(fan)``; ``lecun``: ``kaiming_*_(nonlinearity="linear")`` (gain 1);
      ``variance_scaling``: ``kaiming_*_`` with ``gain = math.sqrt(scale)``. So ``he`` normal is
      ``kaiming_normal_`` bit for bit, ``lecun`` is ``kaiming_*_(nonlinearity="linear")`` and
      ``variance_scaling(2, fan_in)`` is ``kaiming_*_(nonlinearity="relu")``. Mode ``fan_avg`` (torch has
      none) takes ``xavier_*_``'s arithmetic with that gain; ``fan_geo_avg`` kaiming's with
      ``fan = math.sqrt(fan_in * fan_out)``.
    - ``glorot``: ``xavier_*_(gain)``, ``std = gain * math.sqrt(2.0 / float(fan_in + fan_out))``.
    - uniform: ``bound = math.sqrt(3.0) * std``; normal: ``normal_(0, std)``; truncated normal (Keras/JAX
      semantics, +-2 sigma0): ``trunc_normal_(0, s0, -2 s0, 2 s0)``, ``s0 = std / 0.87962566103423978``.
    - ``normal``/``uniform``/``truncated_normal``: ``normal_``/``uniform_``/``trunc_normal_``.
    - ``orthogonal``: ``orthogonal_``'s algorithm on the matrix the layout reads (torch
      ``(shape[0], prod(rest))``; keras/jax ``(prod(shape[:-1]), shape[-1])``); QR within 1e-6 relative.
    - ``identity``: ``eye_`` times ``gain``; ``dirac``: ``dirac_(groups)``; ``sparse``: ``sparse_``
      (keras/jax layout: on the transposed shape, transposed); ``constant``/``zeros``/``ones``: ``fill_``.

    Schemes torch cannot express (``stft``, ``delta_orthogonal``) raise ``ParameterError`` on ``stream``.
    """
    p, scheme, shape = init.params, init.scheme, tuple(shape)
    origin = f"{scheme}({', '.join(f'{k}={v!r}' for k, v in p.items())}) via torch.nn.init"
    if scheme in ("orthogonal", "dirac", "sparse") and isinstance(layout, FanAxes):
        raise ParameterError(f"{scheme} reads the shape in a layout, not in fan_axes", "fan_axes")
    if scheme == "he":
        gain = calculate_gain("leaky_relu", p["negative_slope"])
        return _scaled(gain, fans, p["mode"], p["distribution"], origin)
    if scheme == "lecun":
        return _scaled(1.0, fans, "fan_in", p["distribution"], origin)
    if scheme == "variance_scaling":
        return _scaled(math.sqrt(p["scale"]), fans, p["mode"], p["distribution"], origin)
    if scheme == "glorot":
        return _scaled(p["gain"], fans, "fan_avg", p["distribution"], origin)
    if scheme == "normal":
        return TorchCall("normal", mean=p["mean"], std=p["std"], origin=origin)
    if scheme == "uniform":
        return TorchCall("uniform", low=p["low"], high=p["high"], origin=origin)
    if scheme == "truncated_normal":
        return _trunc_normal(p["mean"], p["std"], p["low"], p["high"], origin)
    if scheme in ("constant", "zeros", "ones"):
        value = {"zeros": 0.0, "ones": 1.0}.get(scheme, p.get("value", 0.0))
        return TorchCall("constant", value=value, origin=origin)
    if scheme == "identity":
        if len(shape) != 2:
            raise ShapeError(f"identity needs a 2-D shape, got shape {list(shape)}", "shape")
        return TorchCall("eye", value=p["gain"], origin=origin)
    if scheme == "dirac":
        shaped.dirac_points(shape, str(layout), p["groups"])
        return TorchCall("dirac", groups=p["groups"], layout=str(layout), origin=origin)
    if scheme == "orthogonal":
        shaped.check_orthogonal(shape, str(layout))
        return TorchCall("orthogonal", value=p["gain"], layout=str(layout), origin=origin)
    if scheme == "sparse":
        return _sparse(shape, str(layout), p["sparsity"], p["std"], origin)
    raise ParameterError(
        f"the torch stream cannot express scheme {scheme!r}: torch.nn.init has no function of that meaning "
        "(use another stream)",
        "stream",
    )
