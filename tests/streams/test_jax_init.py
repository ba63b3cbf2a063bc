"""``service.core.streams.jax.init`` against jax.nn.initializers (JAX 0.10.2 CPU) and keras.initializers
(Keras 3.15.1, JAX backend), bit for bit.

Each case calls the framework itself (``init(jax.random.key(seed), shape, dtype)``;
``Class(seed=seed, **params)(shape, dtype=dtype)``) and our ``JaxCall`` drawn through a ``RandomBackend``:
``JaxRandom`` (``jax.random`` itself behind the protocol, so the semantics of init.py are tested
independently of our threefry) and, once it imports, ``service.core.streams.jax.random``. Every bit must
agree, except orthogonal kinds (QR: within 1e-5 relative). Keras ``STFT`` is not served (refused).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from service.core.errors import ParameterError, ShapeError
from service.core.fans import Layout, compute_fans
from service.core.schemes import resolve_init
from service.core.streams.jax.init import (
    JaxCall,
    Key,
    RandomBackend,
    canonical_call,
    jax_call,
    keras_call,
    keras_canonical_call,
    keras_key,
)
from tests.streams.conftest import JaxRandom

os.environ.setdefault("KERAS_BACKEND", "jax")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

pytestmark = [pytest.mark.jax, pytest.mark.usefixtures("jax_compilation_cache")]

SEEDS = (0, 7, 2**31 + 1)
#: Python floats whose float64 -> bfloat16 (B) or float64 -> float16 (H) rounding differs from float64 -> float32
#: -> dtype: they tell ``jnp.array(x, dtype)`` (one rounding) from a weak-typed operand (through float32).
B = 0.301757812501819
H = 0.05000305175792619
#: Dense (odd sizes, fan_in != fan_out, a tall matrix for orthogonal, and with ``column_axis: 0`` a wide one),
#: 2-D conv (receptive field 9) and 1-D (odd size). Every test draws these shapes only: the frameworks' eager calls
#: compile one XLA program per (function, shape, dtype), about 1 CPU-second each for the samplers, so a shape of
#: its own costs a test a dozen compilations and proves nothing more. The values do not depend on the size (flat
#: element ``i`` of every sampler is a function of ``i``): the dense shape was (784, 256), whose runs through JAX
#: were most of the module's time after compiling; (301, 129) keeps an orthogonal matrix of over a hundred columns.
SHAPES = ((301, 129), (3, 3, 16, 32), (5,))
DENSE, CONV, ONE_D = SHAPES
DTYPES = ("float32", "bfloat16", "float16")
_NP = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}


# -- helpers ------------------------------------------------------------------------------------------------


def _bits(values: Any, dtype: str) -> np.ndarray:
    array = np.asarray(values)
    assert array.dtype == _NP[dtype], (array.dtype, dtype)
    return array.view(np.uint32 if dtype == "float32" else np.uint16)


def _assert_same(ours: np.ndarray, theirs: Any, dtype: str, what: str) -> None:
    a, b = _bits(ours, dtype), _bits(theirs, dtype)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    differ = int(np.count_nonzero(a != b))
    assert differ == 0, f"{what}: {differ} of {a.size} values differ"


def _assert_close(ours: np.ndarray, theirs: Any, what: str) -> None:
    theirs = np.asarray(theirs, dtype=np.float64)
    scale = float(np.max(np.abs(theirs)))
    error = float(np.max(np.abs(np.asarray(ours, dtype=np.float64) - theirs)))
    assert error <= 1e-5 * scale, f"{what}: max error {error:.3g} of max {scale:.3g}"


def _draw(call: JaxCall, k: Key, shape: tuple[int, ...], dtype: str, rng: RandomBackend) -> np.ndarray:
    return call.draw(k, shape, dtype, rng)


#: The frameworks' answers, shared by the backends: a digest of the bits (exact cases), the values (orthogonal),
#: or None where the framework raises. Kept small: a digest, not the tensor.
_REFERENCES: dict[tuple[Any, ...], Any] = {}


def _digest(values: Any, dtype: str) -> tuple[tuple[int, ...], str]:
    bits = _bits(values, dtype)
    return bits.shape, hashlib.sha256(bits.tobytes()).hexdigest()


def _reference(cache_key: tuple[Any, ...], seed: int, compute: Callable[[], Any], exact: bool) -> Any:
    """The framework's answer for ``cache_key`` and ``seed`` (computed once per session), None if it raises."""
    full_key = (*cache_key, seed)
    if full_key not in _REFERENCES:
        try:
            theirs = np.asarray(compute())
        except (ValueError, NotImplementedError, ZeroDivisionError, IndexError, TypeError):
            _REFERENCES[full_key] = None
        else:
            _REFERENCES[full_key] = _digest(theirs, cache_key[-1]) if exact else theirs.astype(np.float64)
    return _REFERENCES[full_key]


def _compare(
    ours: np.ndarray,
    cache_key: tuple[Any, ...],
    seed: int,
    compute: Callable[[], Any],
    dtype: str,
    exact: bool,
    what: str,
) -> None:
    theirs = _reference(cache_key, seed, compute, exact)
    assert theirs is not None, f"{what}: the framework raises, we do not"
    if not exact:
        _assert_close(ours, theirs, what)
    elif _digest(ours, dtype) != theirs:
        _assert_same(ours, compute(), dtype, what)  # recomputed, to count the differing values
        raise AssertionError(f"{what}: digests differ")  # pragma: no cover


# -- jax.nn.initializers ------------------------------------------------------------------------------------

#: (our name, our params, the jax.nn.initializers factory, its arguments); factory None: a plain initializer.
JAX_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any] | None]] = [
    ("jax.zeros", {}, "zeros", None),
    ("jax.ones", {}, "ones", None),
    ("jax.constant", {"value": B}, "constant", {"value": B}),
    ("jax.constant", {"value": -H}, "constant", {"value": -H}),
    ("jax.uniform", {}, "uniform", {}),
    ("jax.uniform", {"scale": 0.37}, "uniform", {"scale": 0.37}),
    ("jax.normal", {"stddev": B}, "normal", {"stddev": B}),
    ("jax.normal", {"stddev": H}, "normal", {"stddev": H}),
    ("jax.truncated_normal", {}, "truncated_normal", {}),
    (
        "jax.truncated_normal",
        {"stddev": 0.3, "lower": -1.5, "upper": 2.5},
        "truncated_normal",
        {"stddev": 0.3, "lower": -1.5, "upper": 2.5},
    ),
    (
        "jax.truncated_normal",
        {"stddev": H, "lower": -B, "upper": 1 + H},
        "truncated_normal",
        {"stddev": H, "lower": -B, "upper": 1 + H},
    ),
    *[
        (
            "jax.variance_scaling",
            {"scale": scale, "mode": mode, "distribution": dist},
            "variance_scaling",
            {"scale": scale, "mode": mode, "distribution": dist},
        )
        for scale, mode, dist in (
            (0.7, "fan_in", "normal"),
            (1.3, "fan_out", "truncated_normal"),
            (2.0, "fan_avg", "uniform"),
            (0.1, "fan_geo_avg", "uniform"),
            (3.0, "fan_geo_avg", "truncated_normal"),
        )
    ],
    *[
        (f"jax.{name}", {}, name, {})
        for name in (
            "glorot_uniform",
            "glorot_normal",
            "lecun_uniform",
            "lecun_normal",
            "he_uniform",
            "he_normal",
            "xavier_uniform",
            "xavier_normal",
            "kaiming_uniform",
            "kaiming_normal",
        )
    ],
    ("jax.orthogonal", {}, "orthogonal", {}),
    ("jax.orthogonal", {"scale": 1.7, "column_axis": 0}, "orthogonal", {"scale": 1.7, "column_axis": 0}),
    ("jax.delta_orthogonal", {"scale": 0.9}, "delta_orthogonal", {"scale": 0.9}),
]

#: Cases with explicit axes, for the 4-D shape only.
JAX_AXES_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any] | None]] = [
    (
        "jax.variance_scaling",
        {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "in_axis": [0, 2], "out_axis": 3},
        "variance_scaling",
        {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "in_axis": (0, 2), "out_axis": 3},
    ),
    (
        "jax.he_normal",
        {"in_axis": 2, "out_axis": 3, "batch_axis": [0]},
        "he_normal",
        {"in_axis": 2, "out_axis": 3, "batch_axis": (0,)},
    ),
]


def _jax_reference(factory: str, args: dict[str, Any] | None, seed: int, shape: tuple[int, ...], dtype: str) -> Any:
    init = getattr(jax.nn.initializers, factory)
    if args is not None:
        init = init(**args)
    return init(jax.random.key(seed), shape, _NP[dtype])


def _check_jax(
    name: str,
    params: dict[str, Any],
    factory: str,
    args: dict[str, Any] | None,
    shape: tuple[int, ...],
    rng: Any,
) -> None:
    exact = "orthogonal" not in factory
    for dtype in DTYPES:
        cache_key = ("jax", factory, repr(args), shape, dtype)
        if _reference(cache_key, 0, lambda: _jax_reference(factory, args, 0, shape, dtype), exact) is None:  # noqa: B023
            with pytest.raises((ShapeError, ParameterError)):
                jax_call(name, params, shape).check_dtype(dtype)
            continue
        call = jax_call(name, params, shape)
        for seed in SEEDS:
            ours = _draw(call, JaxRandom.key(seed), shape, dtype, rng)
            _compare(
                ours,
                cache_key,
                seed,
                lambda: _jax_reference(factory, args, seed, shape, dtype),  # noqa: B023
                dtype,
                exact,
                f"{name}({params}) seed {seed} {shape} {dtype}",
            )


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("name", "params", "factory", "args"), JAX_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_jax_initializers_bit_exact(
    name: str, params: dict[str, Any], factory: str, args: dict[str, Any] | None, shape: tuple[int, ...], rng: Any
) -> None:
    _check_jax(name, params, factory, args, shape, rng)


@pytest.mark.parametrize(
    ("name", "params", "factory", "args"), JAX_AXES_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_jax_initializers_with_axes(
    name: str, params: dict[str, Any], factory: str, args: dict[str, Any] | None, rng: Any
) -> None:
    _check_jax(name, params, factory, args, CONV, rng)


def test_jax_orthogonal_half_precision_is_refused_as_jax_refuses() -> None:
    for dtype in ("float16", "bfloat16"):
        with pytest.raises(NotImplementedError):
            jax.nn.initializers.orthogonal()(jax.random.key(0), DENSE, _NP[dtype])
        with pytest.raises(ParameterError) as info:
            jax_call("jax.orthogonal", {}, DENSE).check_dtype(dtype)
        assert info.value.field == "dtype"


def test_float64_is_refused() -> None:
    with pytest.raises(ParameterError) as info:
        jax_call("jax.he_normal", {}, (4, 4)).check_dtype("float64")
    assert info.value.field == "dtype"


# -- keras.initializers ---------------------------------------------------------------------------------------

KERAS_CASES: list[tuple[str, dict[str, Any]]] = [
    ("RandomNormal", {}),
    ("RandomNormal", {"mean": H, "stddev": B}),
    ("RandomNormal", {"mean": B, "stddev": H}),
    ("TruncatedNormal", {}),
    ("TruncatedNormal", {"mean": -B, "stddev": H}),
    ("RandomUniform", {}),
    ("RandomUniform", {"minval": -B, "maxval": 0.7}),
    ("VarianceScaling", {}),
    ("VarianceScaling", {"scale": 0.7, "mode": "fan_out", "distribution": "untruncated_normal"}),
    ("VarianceScaling", {"scale": 1.9, "mode": "fan_avg", "distribution": "normal"}),
    ("VarianceScaling", {"scale": 0.3, "mode": "fan_in", "distribution": "uniform"}),
    ("GlorotUniform", {}),
    ("GlorotNormal", {}),
    ("LecunNormal", {}),
    ("LecunUniform", {}),
    ("HeNormal", {}),
    ("HeUniform", {}),
    ("Orthogonal", {}),
    ("Orthogonal", {"gain": 1.3}),
    ("Constant", {"value": B}),
    ("Constant", {"value": H}),
    ("Zeros", {}),
    ("Ones", {}),
    ("Identity", {"gain": -1.7}),
    ("Identity", {"gain": B}),
]

_RANDOM_KERAS = {"RandomNormal", "TruncatedNormal", "RandomUniform", "VarianceScaling", "Orthogonal"} | {
    f"{a}{b}" for a in ("Glorot", "Lecun", "He") for b in ("Normal", "Uniform")
}


def _keras_reference(cls: str, params: dict[str, Any], seed: int, shape: tuple[int, ...], dtype: str) -> Any:
    keras = pytest.importorskip("keras")
    kwargs = dict(params)
    if cls in _RANDOM_KERAS:
        kwargs["seed"] = seed
    return getattr(keras.initializers, cls)(**kwargs)(shape, dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("cls", "params"), KERAS_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_keras_initializers_bit_exact(cls: str, params: dict[str, Any], shape: tuple[int, ...], rng: Any) -> None:
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "jax"
    name = f"keras.{cls}"
    exact = cls != "Orthogonal"
    for dtype in DTYPES:
        cache_key = ("keras", cls, repr(params), shape, dtype)
        if _reference(cache_key, 0, lambda: _keras_reference(cls, params, 0, shape, dtype), exact) is None:  # noqa: B023
            with pytest.raises((ShapeError, ParameterError)):
                keras_call(name, params, shape).check_dtype(dtype)
            continue
        call = keras_call(name, params, shape)
        for seed in SEEDS:
            ours = _draw(call, keras_key(seed), shape, dtype, rng)
            _compare(
                ours,
                cache_key,
                seed,
                lambda: _keras_reference(cls, params, seed, shape, dtype),  # noqa: B023
                dtype,
                exact,
                f"{name}({params}) seed {seed} {shape} {dtype}",
            )


def test_keras_variance_scaling_with_axes(rng: Any) -> None:
    """Keras' ``input_axes``/``output_axes``: fans are the products of those axes, no receptive field."""
    shape = CONV
    params = {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "input_axes": [0, 2], "output_axes": [3]}
    call = keras_call("keras.VarianceScaling", params, shape)
    for dtype in DTYPES:
        theirs = _keras_reference("VarianceScaling", params, 7, shape, dtype)
        _assert_same(call.draw(keras_key(7), shape, dtype, rng), theirs, dtype, f"VarianceScaling axes {dtype}")


def test_keras_key_is_seed_then_zero() -> None:
    from keras.src.random.seed_generator import draw_seed  # type: ignore[import-untyped]

    for seed in SEEDS:
        assert tuple(int(w) for w in np.asarray(draw_seed(seed))) == keras_key(seed)
    with pytest.raises(ParameterError):
        keras_key(2**32)


def test_keras_stft_is_refused() -> None:
    with pytest.raises(ParameterError) as info:
        keras_call("keras.STFT", {}, (16, 1, 9))
    assert info.value.field == "stream"


# -- ranges ---------------------------------------------------------------------------------------------------

RANGE_CASES: list[tuple[str, JaxCall, tuple[int, ...]]] = [
    ("jax.uniform", jax_call("jax.uniform", {"scale": 0.3}, DENSE), DENSE),
    ("jax.he_normal", jax_call("jax.he_normal", {}, CONV), CONV),
    (
        "jax.variance_scaling",
        jax_call("jax.variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "normal"}, DENSE),
        DENSE,
    ),
    ("jax.constant", jax_call("jax.constant", {"value": 0.25}, ONE_D), ONE_D),
    ("jax.orthogonal", jax_call("jax.orthogonal", {}, DENSE), DENSE),
    ("jax.delta_orthogonal", jax_call("jax.delta_orthogonal", {}, CONV), CONV),
    ("keras.RandomNormal", keras_call("keras.RandomNormal", {"mean": 0.1}, DENSE), DENSE),
    ("keras.TruncatedNormal", keras_call("keras.TruncatedNormal", {}, CONV), CONV),
    ("keras.Identity", keras_call("keras.Identity", {"gain": 2.0}, DENSE), DENSE),
]


@pytest.mark.parametrize(
    ("label", "call", "shape", "dtype"),
    # orthogonal kinds exist in float32 only (JAX has no half-precision QR)
    [
        (*case, dtype)
        for case in RANGE_CASES
        for dtype in ("float32", "bfloat16")
        if dtype == "float32" or "orthogonal" not in case[0]
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_three_uneven_ranges_equal_the_whole(
    label: str, call: JaxCall, shape: tuple[int, ...], dtype: str, rng: Any
) -> None:
    k = JaxRandom.key(7)
    whole = call.draw(k, shape, dtype, rng).reshape(-1)
    total = whole.size
    cuts = sorted({0, 1 if total > 2 else 0, total * 3 // 5 + 1 if total > 4 else total, total})
    pieces = []
    for start, stop in itertools.pairwise(cuts):
        out = np.empty(stop - start, dtype=_NP[dtype])
        call.fill(k, shape, dtype, start, stop, out, rng)
        pieces.append(out)
    _assert_same(np.concatenate(pieces), whole, dtype, label)


# -- canonical schemes ----------------------------------------------------------------------------------------


def _canonical(scheme: str, params: dict[str, Any], shape: tuple[int, ...], layout: Layout = "jax") -> JaxCall:
    return canonical_call(resolve_init(scheme, params), compute_fans(shape, layout), shape, layout)


CANONICAL_JAX: list[tuple[str, dict[str, Any], Callable[[], Any]]] = [
    ("he", {}, lambda: jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")),
    ("he", {"distribution": "truncated_normal"}, lambda: jax.nn.initializers.he_normal()),
    (
        "he",
        {"distribution": "uniform", "mode": "fan_out"},
        lambda: jax.nn.initializers.variance_scaling(2.0, "fan_out", "uniform"),
    ),
    ("glorot", {}, lambda: jax.nn.initializers.glorot_uniform()),
    ("glorot", {"distribution": "truncated_normal"}, lambda: jax.nn.initializers.glorot_normal()),
    ("lecun", {"distribution": "truncated_normal"}, lambda: jax.nn.initializers.lecun_normal()),
    (
        "variance_scaling",
        {"scale": 0.5, "mode": "fan_geo_avg", "distribution": "normal"},
        lambda: jax.nn.initializers.variance_scaling(0.5, "fan_geo_avg", "normal"),
    ),
    ("normal", {"std": 0.02}, lambda: jax.nn.initializers.normal(0.02)),
    (
        "truncated_normal",
        {"std": 0.5, "low": -1.0, "high": 0.75},
        lambda: jax.nn.initializers.truncated_normal(0.5, lower=-2.0, upper=1.5),
    ),
    ("constant", {"value": 0.3}, lambda: jax.nn.initializers.constant(0.3)),
    ("zeros", {}, lambda: jax.nn.initializers.zeros),
    ("orthogonal", {"gain": 2.0}, lambda: jax.nn.initializers.orthogonal(2.0)),
]


@pytest.mark.parametrize(("scheme", "params", "make"), CANONICAL_JAX, ids=lambda v: v if isinstance(v, str) else "")
def test_canonical_schemes_through_jax(scheme: str, params: dict[str, Any], make: Callable[[], Any], rng: Any) -> None:
    shape = CONV
    for dtype in ("float32", "bfloat16"):
        if scheme == "orthogonal" and dtype != "float32":
            continue
        theirs = make()(jax.random.key(7), shape, _NP[dtype])
        ours = _canonical(scheme, params, shape).draw(JaxRandom.key(7), shape, dtype, rng)
        if scheme == "orthogonal":
            _assert_close(ours, theirs, scheme)
        else:
            _assert_same(ours, theirs, dtype, f"{scheme}({params}) {dtype}")


def test_canonical_uniform_normal_with_mean_and_torch_orthogonal(rng: Any) -> None:
    """The torch-layout orthogonal is JAX's ``column_axis=0``: ``CONV`` read as torch's (out, in, kh, kw) =
    (3, 3, 16, 32), a 1536 x 3 matrix, as ``jax.orthogonal`` with ``column_axis: 0`` draws for ``CONV``."""
    key = jax.random.key(3)
    shape = DENSE
    for dtype in ("float32", "float16"):
        dt = _NP[dtype]
        theirs = jax.random.uniform(key, shape, dt, minval=-0.2, maxval=0.9)
        ours = _canonical("uniform", {"low": -0.2, "high": 0.9}, shape).draw(JaxRandom.key(3), shape, dtype, rng)
        _assert_same(ours, theirs, dtype, "uniform")
        theirs = jax.random.normal(key, shape, dt) * jnp.array(0.3, dt) + jnp.array(1.1, dt)
        ours = _canonical("normal", {"mean": 1.1, "std": 0.3}, shape).draw(JaxRandom.key(3), shape, dtype, rng)
        _assert_same(ours, theirs, dtype, "normal with a mean")
    theirs = jax.nn.initializers.orthogonal(column_axis=0)(key, CONV, jnp.float32)
    call = _canonical("orthogonal", {}, CONV, "torch")
    _assert_close(call.draw(JaxRandom.key(3), CONV, "float32", rng), theirs, "torch-layout orthogonal")


CANONICAL_KERAS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("he", {"distribution": "truncated_normal"}, "HeNormal", {}),
    ("he", {}, "VarianceScaling", {"scale": 2.0, "distribution": "untruncated_normal"}),
    ("glorot", {}, "GlorotUniform", {}),
    ("lecun", {"distribution": "uniform"}, "LecunUniform", {}),
    ("normal", {"mean": 0.5, "std": 0.2}, "RandomNormal", {"mean": 0.5, "stddev": 0.2}),
    ("uniform", {"low": -1.0, "high": 2.0}, "RandomUniform", {"minval": -1.0, "maxval": 2.0}),
    ("truncated_normal", {"mean": 0.0, "std": 0.5, "low": -1.0, "high": 1.0}, "TruncatedNormal", {"stddev": 0.5}),
    ("constant", {"value": B}, "Constant", {"value": B}),
    ("identity", {"gain": 3.0}, "Identity", {"gain": 3.0}),
]


@pytest.mark.parametrize(
    ("scheme", "params", "cls", "kwargs"), CANONICAL_KERAS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_canonical_schemes_through_keras(
    scheme: str, params: dict[str, Any], cls: str, kwargs: dict[str, Any], rng: Any
) -> None:
    shape = DENSE
    for dtype in ("float32", "bfloat16"):
        theirs = _keras_reference(cls, kwargs, 11, shape, dtype)
        call = keras_canonical_call(resolve_init(scheme, params), compute_fans(shape, "keras"), shape, "keras")
        _assert_same(call.draw(keras_key(11), shape, dtype, rng), theirs, dtype, f"{scheme} -> keras.{cls}")


@pytest.mark.parametrize(
    ("stream", "scheme", "params", "layout"),
    [
        ("jax", "identity", {}, "jax"),
        ("jax", "dirac", {}, "torch"),
        ("jax", "sparse", {"sparsity": 0.5}, "jax"),
        ("keras", "variance_scaling", {"mode": "fan_geo_avg"}, "keras"),
        ("keras", "truncated_normal", {"std": 1.0, "low": -3.0, "high": 2.0}, "keras"),
        ("keras", "orthogonal", {}, "torch"),
        ("keras", "delta_orthogonal", {}, "keras"),
    ],
)
def test_schemes_a_framework_cannot_express_are_refused(
    stream: str, scheme: str, params: dict[str, Any], layout: Layout
) -> None:
    shape = (4, 4, 3, 3) if layout == "torch" else (3, 3, 4, 4)
    make = canonical_call if stream == "jax" else keras_canonical_call
    with pytest.raises(ParameterError) as info:
        make(resolve_init(scheme, params), compute_fans(shape, layout), shape, layout)
    assert info.value.field == "stream"


def test_fill_cost_does_not_depend_on_the_tensor_size() -> None:
    """A one-element range of a huge tensor asks the backend for one element only."""
    asked: list[tuple[int, int]] = []

    class Recording:
        def normal(self, k: Key, shape: Any, dtype: str, start: int, stop: int, out: Any) -> None:
            asked.append((start, stop))
            out[...] = 1.0

    call = jax_call("jax.normal", {"stddev": 0.5}, (1 << 20, 1 << 12))
    out = np.empty(1, dtype=np.float32)
    call.fill((0, 1), (1 << 20, 1 << 12), "float32", 12345, 12346, out, Recording())  # type: ignore[arg-type]
    assert asked == [(12345, 12346)] and out[0] == np.float32(0.5)
    assert math.prod((1 << 20, 1 << 12)) > 1 << 31
