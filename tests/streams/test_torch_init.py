"""``service.core.streams.torch.init`` against torch.nn.init itself (torch 2.13.0 CPU), bit for bit.

Each case runs ``torch.manual_seed(seed); torch.nn.init.<fn>_(torch.empty(shape, dtype=dtype), **params)``
and our ``TorchCall`` drawn from a generator implementing the ``Generator`` protocol: ``TorchAdapter``
(a ``torch.Generator`` behind the protocol, so the semantics of init.py are tested independently of
our generator) and, once it imports, ``service.core.streams.torch.generator.TorchGenerator``.
Every bit must agree, except ``orthogonal_`` (LAPACK QR: within 1e-5 relative).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from service.core.errors import InitError, ParameterError, ShapeError
from service.core.fans import compute_fans
from service.core.schemes import resolve_init
from service.core.streams.torch.init import (
    TRUNCATED_STD_RATIO,
    Generator,
    TorchCall,
    canonical_call,
    torch_call,
)

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

SEEDS = (0, 2**32 + 3)
SHAPES = ((3,), (5, 7), (17, 3), (256, 784), (64, 3, 3, 3))
DTYPES = ("float32", "float16", "bfloat16", "float64")

_TORCH_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
}
_NUMPY_DTYPES = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "int64": np.dtype(np.int64),
}
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def to_torch(array: np.ndarray) -> Any:
    """A torch tensor sharing ``array``'s memory (bfloat16 through a uint16 -> int16 view)."""
    if array.dtype == _NUMPY_DTYPES["bfloat16"]:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def to_numpy(tensor: Any) -> np.ndarray:
    """A copy of ``tensor`` as a NumPy array of the same dtype (bfloat16 as ``ml_dtypes.bfloat16``)."""
    tensor = tensor.detach().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return tensor.numpy().copy()


def bits(array: np.ndarray) -> np.ndarray:
    """The raw bits of ``array``, for comparisons where -0.0 != 0.0 and NaN == NaN (same payload)."""
    return np.ascontiguousarray(array).view(_BITS[array.dtype.itemsize])


class TorchAdapter:
    """The ``Generator`` protocol on a ``torch.Generator`` seeded as ``torch.manual_seed(seed)`` seeds
    the default CPU generator: each call runs on a torch tensor of ``out``'s dtype, copied back."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def uniform_(self, out: np.ndarray, low: float, high: float) -> None:
        to_torch(out).uniform_(low, high, generator=self.generator)

    def normal_(self, out: np.ndarray, mean: float, std: float) -> None:
        to_torch(out).normal_(mean, std, generator=self.generator)

    def randperm(self, n: int) -> np.ndarray:
        return torch.randperm(n, generator=self.generator).numpy()


def _torch_generator_factory() -> Callable[[int], Generator] | None:
    try:
        from service.core.streams.torch.generator import TorchGenerator
    except Exception:  # not written yet, or broken: only the adapter runs
        return None
    capability = "default" if torch.backends.cpu.get_cpu_capability() == "DEFAULT" else "avx2"
    return lambda seed: TorchGenerator(seed, capability=capability)


_FACTORY = _torch_generator_factory()

GENERATORS = [
    pytest.param(TorchAdapter, id="adapter"),
    pytest.param(
        _FACTORY,
        id="TorchGenerator",
        marks=pytest.mark.skipif(_FACTORY is None, reason="service.core.streams.torch.generator does not import yet"),
    ),
]


def drawn(call: TorchCall, make: Callable[[int], Generator], seed: int, shape: tuple[int, ...], dtype: str) -> Any:
    out = np.empty(shape, dtype=_NUMPY_DTYPES[dtype])
    call.draw(make(seed), out)
    return out


_REFERENCES: dict[tuple[Any, ...], np.ndarray] = {}


def reference(fn: Callable[..., Any], seed: int, shape: tuple[int, ...], dtype: str, **params: Any) -> np.ndarray:
    """``torch.manual_seed(seed); fn(torch.empty(shape, dtype=dtype), **params)`` as NumPy (memoized:
    every generator variant compares with the same tensors)."""
    key = (fn.__name__, seed, shape, dtype, repr(sorted(params.items())))
    if key not in _REFERENCES:
        _REFERENCES[key] = _reference(fn, seed, shape, dtype, **params)
    return _REFERENCES[key]


def _reference(fn: Callable[..., Any], seed: int, shape: tuple[int, ...], dtype: str, **params: Any) -> np.ndarray:
    torch.manual_seed(seed)
    tensor = torch.empty(shape, dtype=_TORCH_DTYPES[dtype])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(tensor, **params)
    return to_numpy(tensor)


def assert_same(ours: np.ndarray, theirs: np.ndarray, orthogonal: bool = False) -> None:
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if orthogonal:
        scale = float(np.abs(theirs.astype(np.float64)).max())
        np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=1e-5, atol=1e-5 * scale)
        return
    differing = int(np.count_nonzero(bits(ours) != bits(theirs)))
    assert differing == 0, f"{differing} of {ours.size} values differ"


# -- torch.nn.init functions, by name -------------------------------------------------------------------------

#: (our name, params, torch function, torch kwargs); torch's kwargs are ours unless given.
FUNCTIONS: list[tuple[str, dict[str, Any]]] = [
    ("uniform_", {}),
    ("uniform_", {"a": -0.5, "b": 2.0}),
    ("normal_", {}),
    ("normal_", {"mean": 0.3, "std": 2.0}),
    ("trunc_normal_", {}),
    ("trunc_normal_", {"std": 0.02, "a": -0.04, "b": 0.04}),
    ("trunc_normal_", {"mean": 0.1, "std": 1.0, "a": -0.5, "b": 0.5}),  # p = 0.38: many rejection rounds
    ("constant_", {"val": 0.3}),
    ("ones_", {}),
    ("zeros_", {}),
    ("eye_", {}),
    ("dirac_", {}),
    ("xavier_uniform_", {}),
    ("xavier_uniform_", {"gain": 1.3}),
    ("xavier_normal_", {"gain": 0.7}),
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_out"}),
    ("kaiming_normal_", {"nonlinearity": "tanh"}),
    ("kaiming_normal_", {"nonlinearity": "selu"}),
    ("orthogonal_", {"gain": 2.0}),
    ("sparse_", {"sparsity": 0.3, "std": 0.05}),
]


def _torch_raises(fn: Callable[..., Any], shape: tuple[int, ...], dtype: str, params: Mapping[str, Any]) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn(torch.empty(shape, dtype=_TORCH_DTYPES[dtype]), **params)
    except (ValueError, RuntimeError, NotImplementedError):
        return True
    return False


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("function", "params"), FUNCTIONS, ids=[f"{f}{p or ''}" for f, p in FUNCTIONS])
def test_function_is_torch_bit_for_bit(
    function: str, params: dict[str, Any], dtype: str, make: Callable[[int], Generator]
) -> None:
    fn = getattr(torch.nn.init, function)
    for shape in SHAPES:
        if function == "trunc_normal_" and params.get("a") == -0.5 and shape == (256, 784):
            continue  # ~25 rejection rounds: torch takes seconds on 200k values; the smaller shapes cover it
        if _torch_raises(fn, shape, dtype, params):  # torch refuses: so do we, before or while drawing
            with pytest.raises(InitError) as refused:
                drawn(torch_call(f"torch.{function}", params, shape), make, 0, shape, dtype)
            assert refused.value.field in ("shape", "dtype")
            continue
        call = torch_call(f"torch.{function}", params, shape)
        for seed in SEEDS:
            ours = drawn(call, make, seed, shape, dtype)
            assert_same(ours, reference(fn, seed, shape, dtype, **params), orthogonal=function == "orthogonal_")


def test_dirac_groups_and_ranks() -> None:
    for shape, groups in (((4, 2, 3), 2), ((6, 3, 3, 3), 3), ((4, 4, 2, 3, 3), 1), ((6, 2, 4, 4), 3)):
        ours = drawn(torch_call("torch.dirac_", {"groups": groups}, shape), TorchAdapter, 0, shape, "float32")
        assert_same(ours, reference(torch.nn.init.dirac_, 0, shape, "float32", groups=groups))


def test_draws_consume_the_generator_as_torch() -> None:
    """After each call the generator stands where torch's does: a second draw still agrees."""
    for function, params in FUNCTIONS:
        if function in ("eye_", "dirac_"):
            continue
        shape = (17, 3)
        gen = TorchAdapter(5)
        first = np.empty(shape, dtype=np.float32)
        torch_call(f"torch.{function}", params, shape).draw(gen, first)
        after = np.empty((33,), dtype=np.float32)
        gen.normal_(after, 0.0, 1.0)
        torch.manual_seed(5)
        getattr(torch.nn.init, function)(torch.empty(shape), **params)
        assert_same(after, torch.randn(33).numpy())


def test_half_double_rounding_and_overflow() -> None:
    """fill_ converts a double through float (two roundings) and refuses values beyond the dtype."""
    value = 1 + 2**-11 + 2**-40  # direct float64 -> float16 rounds up, through float32 it is a tie -> 1
    for dtype in ("float16", "bfloat16"):
        ours = drawn(torch_call("torch.constant_", {"val": value}, (4,)), TorchAdapter, 0, (4,), dtype)
        assert_same(ours, reference(torch.nn.init.constant_, 0, (4,), dtype, val=value))
    with pytest.raises(ParameterError) as refused:
        drawn(torch_call("torch.constant_", {"val": 1e6}, (4,)), TorchAdapter, 0, (4,), "float16")
    assert refused.value.field == "dtype"


def test_trunc_normal_narrow_bounds_are_refused() -> None:
    """p <= 0.3 is torch's uniform-envelope branch (log_ of uniforms): not served, a 422 on stream."""
    with pytest.raises(ParameterError) as refused:
        torch_call("torch.trunc_normal_", {"mean": 0.0, "std": 1.0, "a": -0.3, "b": 0.3}, (5, 7))
    assert refused.value.field == "stream"
    with pytest.raises(ParameterError):
        torch_call("torch.trunc_normal_", {"mean": 0.0, "std": 1.0, "a": 2.5, "b": 4.0}, (5, 7))
    # just above 0.3 is the normal branch
    torch_call("torch.trunc_normal_", {"mean": 0.0, "std": 1.0, "a": -0.4, "b": 0.4}, (5, 7))


def test_torch_refusals() -> None:
    with pytest.raises(ShapeError):
        torch_call("torch.kaiming_uniform_", {}, (7,))
    with pytest.raises(ShapeError):
        torch_call("torch.eye_", {}, (2, 3, 4))
    with pytest.raises(ShapeError):
        torch_call("torch.dirac_", {"groups": 3}, (4, 2, 3))
    with pytest.raises(ParameterError) as not_torch:
        torch_call("keras.GlorotUniform", {}, (3, 4))
    assert not_torch.value.field == "init.scheme"
    with pytest.raises(ParameterError):
        torch_call("torch.uniform_", {"a": 1.0, "b": 0.0}, (3, 4))


# -- canonical schemes through the torch function of the same meaning ---------------------------------------

_SQRT2 = math.sqrt(2.0)


def _truncated(std: float) -> dict[str, float]:
    """trunc_normal_'s arguments for Keras/JAX semantics: sigma0 = std / 0.8796..., bounds +-2 sigma0."""
    sigma0 = std / TRUNCATED_STD_RATIO
    return {"std": sigma0, "a": -2 * sigma0, "b": 2 * sigma0}


def _fan_sum(shape: tuple[int, ...]) -> int:
    fans = compute_fans(shape, "torch")
    return fans.fan_in + fans.fan_out


#: (scheme, params, torch function, kwargs as a function of the torch-layout shape)
CANONICAL: list[tuple[str, dict[str, Any], str, Callable[[tuple[int, ...]], dict[str, Any]]]] = [
    ("he", {}, "kaiming_normal_", lambda s: {}),
    ("he", {"distribution": "uniform", "mode": "fan_out", "negative_slope": 0.2}, "kaiming_uniform_",
     lambda s: {"a": 0.2, "mode": "fan_out"}),
    ("glorot", {}, "xavier_uniform_", lambda s: {}),
    ("glorot", {"distribution": "normal", "gain": 1.5}, "xavier_normal_", lambda s: {"gain": 1.5}),
    ("lecun", {}, "kaiming_normal_", lambda s: {"nonlinearity": "linear"}),
    ("lecun", {"distribution": "uniform"}, "kaiming_uniform_", lambda s: {"nonlinearity": "linear"}),
    ("variance_scaling", {"scale": 2.0, "distribution": "normal"}, "kaiming_normal_",
     lambda s: {"nonlinearity": "relu"}),
    ("variance_scaling", {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}, "xavier_uniform_", lambda s: {}),
    ("he", {"distribution": "truncated_normal"}, "trunc_normal_",
     lambda s: _truncated(_SQRT2 / math.sqrt(compute_fans(s, "torch").fan_in))),
    ("glorot", {"distribution": "truncated_normal"}, "trunc_normal_",
     lambda s: _truncated(math.sqrt(2.0 / float(_fan_sum(s))))),
    ("normal", {"mean": 0.5, "std": 0.1}, "normal_", lambda s: {"mean": 0.5, "std": 0.1}),
    ("uniform", {"low": -1.0, "high": 3.0}, "uniform_", lambda s: {"a": -1.0, "b": 3.0}),
    ("truncated_normal", {"std": 0.5, "low": -1.0, "high": 0.7}, "trunc_normal_",
     lambda s: {"std": 0.5, "a": -1.0, "b": 0.7}),
    ("orthogonal", {"gain": 1.5}, "orthogonal_", lambda s: {"gain": 1.5}),
    ("identity", {}, "eye_", lambda s: {}),
    ("dirac", {}, "dirac_", lambda s: {}),
    ("sparse", {"sparsity": 0.25}, "sparse_", lambda s: {"sparsity": 0.25}),
    ("constant", {"value": -0.25}, "constant_", lambda s: {"val": -0.25}),
    ("zeros", {}, "zeros_", lambda s: {}),
    ("ones", {}, "ones_", lambda s: {}),
]  # fmt: skip


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("dtype", ("float32", "bfloat16"))
@pytest.mark.parametrize(
    ("scheme", "params", "function", "kwargs"), CANONICAL, ids=[c[0] + str(c[1]) for c in CANONICAL]
)
def test_canonical_in_torch_layout_is_the_torch_function(
    scheme: str,
    params: dict[str, Any],
    function: str,
    kwargs: Callable[[tuple[int, ...]], dict[str, Any]],
    dtype: str,
    make: Callable[[int], Generator],
) -> None:
    init = resolve_init(scheme, params)
    fn = getattr(torch.nn.init, function)
    for shape in ((5, 7), (17, 3), (64, 3, 3, 3)):
        if function in ("eye_", "sparse_") and len(shape) != 2:
            continue
        fans = compute_fans(shape, "torch")
        if _torch_raises(fn, shape, dtype, kwargs(shape)):
            with pytest.raises(InitError):
                drawn(canonical_call(init, fans, shape, "torch"), make, 0, shape, dtype)
            continue
        call = canonical_call(init, fans, shape, "torch")
        for seed in SEEDS:
            ours = drawn(call, make, seed, shape, dtype)
            assert_same(ours, reference(fn, seed, shape, dtype, **kwargs(shape)), orthogonal=function == "orthogonal_")


def test_canonical_keras_layout_shape_aware() -> None:
    """keras layout: orthogonal on (prod(shape[:-1]), shape[-1]); sparse and dirac transposed."""
    shape = (3, 3, 4, 10)
    call = canonical_call(resolve_init("orthogonal", {"gain": 0.5}), None, shape, "keras")
    ours = drawn(call, TorchAdapter, 1, shape, "float32")
    theirs = reference(torch.nn.init.orthogonal_, 1, (36, 10), "float32", gain=0.5).reshape(shape)
    assert_same(ours, theirs, orthogonal=True)

    call = canonical_call(resolve_init("sparse", {"sparsity": 0.4, "std": 0.2}), None, (20, 9), "keras")
    ours = drawn(call, TorchAdapter, 1, (20, 9), "float32")
    assert_same(ours, reference(torch.nn.init.sparse_, 1, (9, 20), "float32", sparsity=0.4, std=0.2).T.copy())

    call = canonical_call(resolve_init("dirac", {"groups": 2}), None, (3, 3, 4, 6), "keras")
    ours = drawn(call, TorchAdapter, 1, (3, 3, 4, 6), "float32")
    theirs = reference(torch.nn.init.dirac_, 1, (6, 4, 3, 3), "float32", groups=2).transpose(2, 3, 1, 0).copy()
    assert_same(ours, theirs)


def test_canonical_keras_layout_uses_the_request_fans() -> None:
    """he normal on a keras (in, out) kernel is kaiming_normal_ of the transposed (out, in) torch weight."""
    init = resolve_init("he", {})
    call = canonical_call(init, compute_fans((784, 256), "keras"), (784, 256), "keras")
    assert call == canonical_call(init, compute_fans((256, 784), "torch"), (256, 784), "torch")
    assert call.std == math.sqrt(2.0) / math.sqrt(784)


def test_inexpressible_schemes_name_the_stream() -> None:
    for scheme in ("stft", "delta_orthogonal"):
        with pytest.raises(ParameterError) as refused:
            canonical_call(resolve_init(scheme, {}), None, (3, 3, 4, 8), "keras")
        assert refused.value.field == "stream"
    with pytest.raises(ParameterError) as zero:  # sigma0 = 0: trunc_normal_ would divide by zero
        canonical_call(
            resolve_init("glorot", {"gain": 0.0, "distribution": "truncated_normal"}),
            compute_fans((3, 4), "torch"),
            (3, 4),
            "torch",
        )
    assert zero.value.field == "stream"
