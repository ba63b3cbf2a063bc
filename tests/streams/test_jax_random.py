"""``service.core.streams.jax.random`` against JAX 0.10.2 on CPU (default flags, eager), raw bits.

The samplers are compared bit for bit (``.view(np.uint32)`` / ``uint16``) with ``jax.random`` for several seeds,
shapes, dtypes and parameters; computing a tensor in uneven pieces must equal computing it whole. The float
math (``uniform`` -> ``erf_inv`` -> ``* sqrt(2)``, clipping) is also checked exhaustively, every uniform value
the kernels can see: float16's 2^10 and bfloat16's 2^7 mantissas are all in the large shapes' threefry words
(asserted in ``test_samplers_match_jax``); float32's 2^23 go through ``jax.random`` itself, by a PRNG
implementation whose "random bits" are a crafted ``iota`` (so XLA compiles the very same sampler code around
them).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jex = pytest.importorskip("jax.extend")

from numba import njit  # noqa: E402

from service.core.streams.jax import random as jr  # noqa: E402

pytestmark = [pytest.mark.jax, pytest.mark.usefixtures("jax_compilation_cache")]

SEEDS = (0, 1, 42, 2**31 + 7, 2**32 + 5)
SHAPES = ((1,), (7,), (3, 5), (256, 784), (3, 3, 64, 128))
DTYPES = ("float32", "float16", "bfloat16")
UNIFORM_BOUNDS = ((0.0, 1.0), (-0.3, 0.7), (-1.0, 1.0), (2.0, 3.5), (-0.001, 50000.0))
TRUNCATED_BOUNDS = ((-2.0, 2.0), (-1.0, 3.0), (0.5, 4.0))
#: The uniform ranges of the large shapes (fewer: the file stays fast), those of test_exhaustive_through_jax.
LARGE_UNIFORM_BOUNDS = ((-0.3, 0.7), (2.0, 3.5), (-0.001, 50000.0))


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a).ravel()
    return a.view(np.uint32) if a.dtype.itemsize == 4 else a.view(np.uint16)


def _assert_same_bits(ref: object, mine: np.ndarray, what: str) -> None:
    r, m = _bits(np.asarray(ref)), _bits(mine)
    bad = np.flatnonzero(r != m)
    assert bad.size == 0, f"{what}: {bad.size} of {r.size} differ, first at {bad[0]}: {r[bad[0]]:#x} != {m[bad[0]]:#x}"


def _jax_key(seed: int) -> object:
    return jax.random.key(seed)


def test_jax_default_flags() -> None:
    """The stream is JAX 0.10.2's defaults: threefry2x32, partitionable threefry, x64 off."""
    from jax._src import config  # the flag holders: read the same way whatever else imported absl's flags

    assert jax.__version__ == "0.10.2"
    assert config.default_prng_impl.value == "threefry2x32"
    assert config.threefry_partitionable.value is True
    assert config.enable_x64.value is False


# -- keys ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", (*SEEDS, -1, -(2**31), 2**63 - 1, -(2**63)))
def test_key_is_jax_key_data(seed: int) -> None:
    assert jr.key(seed) == tuple(int(w) for w in jax.random.key_data(jax.random.key(seed)))


@pytest.mark.parametrize("seed", (2**63, -(2**63) - 1))
def test_key_outside_int64_raises_like_jax(seed: int) -> None:
    with pytest.raises(OverflowError):
        jax.random.key(seed)
    with pytest.raises(OverflowError):
        jr.key(seed)


@pytest.mark.parametrize("seed", (0, 42, 2**31 + 7))
def test_split_and_fold_in(seed: int) -> None:
    k = jax.random.key(seed)
    for num in (0, 1, 2, 5):
        ref = [tuple(int(w) for w in row) for row in np.asarray(jax.random.key_data(jax.random.split(k, num)))]
        assert jr.split(jr.key(seed), num) == ref
    for data in (0, 1, 7, 2**31, 2**32 - 1):
        ref_key = tuple(int(w) for w in jax.random.key_data(jax.random.fold_in(k, data)))
        assert jr.fold_in(jr.key(seed), data) == ref_key
    # chains: split of a fold_in of a split
    k2 = jax.random.split(jax.random.fold_in(jax.random.split(k, 3)[2], 11), 4)[3]
    mine = jr.split(jr.fold_in(jr.split(jr.key(seed), 3)[2], 11), 4)[3]
    assert mine == tuple(int(w) for w in jax.random.key_data(k2))


@pytest.mark.parametrize("data", (-1, 2**32))
def test_fold_in_outside_uint32_raises_like_jax(data: int) -> None:
    with pytest.raises(OverflowError):
        jax.random.fold_in(jax.random.key(0), data)
    with pytest.raises(OverflowError):
        jr.fold_in(jr.key(0), data)


@pytest.mark.parametrize("shape", SHAPES)
def test_bits32(shape: tuple[int, ...]) -> None:
    n = int(np.prod(shape))
    for seed in SEEDS:
        ref = jax.random.bits(jax.random.key(seed), shape, jnp.uint32)
        _assert_same_bits(ref, jr.bits32(jr.key(seed), 0, n), f"bits {seed} {shape}")
    k = jr.split(jr.key(7), 3)[1]
    ref = jax.random.bits(jax.random.wrap_key_data(np.array(k, dtype=np.uint32)), shape, jnp.uint32)
    _assert_same_bits(ref, jr.bits32(k, 0, n), f"bits split key {shape}")


# -- samplers ----------------------------------------------------------------------------------------------


#: The uniform word bits a 16-bit dtype's samplers read (``(w & mask) >> shift`` is the uniform's mantissa).
_MANTISSA = {"float16": (0xFFFF, 6, 1 << 10), "bfloat16": (0xFF, 1, 1 << 7)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_samplers_match_jax(shape: tuple[int, ...], dtype: str) -> None:
    """On the large shapes, a 16-bit dtype's samplers see every uniform value they can (asserted): whole
    tensors equal to JAX's are its exhaustive check (float32's is ``test_exhaustive_through_jax``)."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=jr.DTYPES[dtype])
    large = n > 10_000  # fewer seeds and uniform ranges on the large shapes (the file stays fast)
    for seed in SEEDS[::2] if large else SEEDS:
        k, mine = jax.random.key(seed), jr.key(seed)
        if large and dtype in _MANTISSA:
            mask, shift, count = _MANTISSA[dtype]
            seen = np.unique((jr.bits32(mine, 0, n) & np.uint32(mask)) >> np.uint32(shift))
            assert seen.size == count, f"seed {seed} {shape}: {seen.size} of {count} {dtype} uniform values"
        for lo, hi in LARGE_UNIFORM_BOUNDS if large else UNIFORM_BOUNDS:
            jr.uniform(mine, shape, dtype, lo, hi, 0, n, out)
            _assert_same_bits(jax.random.uniform(k, shape, dtype, lo, hi), out, f"uniform{(lo, hi)} {seed} {dtype}")
        jr.normal(mine, shape, dtype, 0, n, out)
        _assert_same_bits(jax.random.normal(k, shape, dtype), out, f"normal {seed} {dtype}")
        for lo, hi in TRUNCATED_BOUNDS:
            jr.truncated_normal(mine, shape, dtype, lo, hi, 0, n, out)
            ref = jax.random.truncated_normal(k, lo, hi, shape, dtype)
            _assert_same_bits(ref, out, f"truncated_normal{(lo, hi)} {seed} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_edge_parameters_match_jax(dtype: str) -> None:
    """Subnormal bounds and results (XLA CPU's FTZ/DAZ on float32 and bfloat16, native float16 subnormals),
    overflowing ranges and NaN (x86's default NaN), bounds far in a tail."""
    shape = SHAPES[-1]  # a shape test_samplers_match_jax compiled already
    n = int(np.prod(shape))
    k, mine = jax.random.key(3), jr.key(3)
    out = np.empty(n, dtype=jr.DTYPES[dtype])
    uniform = ((0.0, 1e-38), (-1e-40, 1e-40), (0.0, 6e-5), (1.0, 1.0), (3.0, -2.0), (-65504.0, 65504.0))
    uniform += ((-1e30, 1e30), (-np.inf, np.inf), (-3e38, 3e38), (0.0, 2e-37))
    for lo, hi in uniform:
        with np.errstate(over="ignore", invalid="ignore"):
            jr.uniform(mine, shape, dtype, lo, hi, 0, n, out)
        _assert_same_bits(jax.random.uniform(k, shape, dtype, lo, hi), out, f"uniform{(lo, hi)} {dtype}")
    truncated = ((0.0, 1.0), (-1e-39, 1e-39), (-1e-37, 1e-37), (-np.inf, 0.5), (-1.0, np.inf), (-10.0, -9.0))
    truncated += ((5.0, 6.0), (2.0, 1.0), (np.nan, 1.0))
    for lo, hi in truncated:
        jr.truncated_normal(mine, shape, dtype, lo, hi, 0, n, out)
        ref = jax.random.truncated_normal(k, lo, hi, shape, dtype)
        _assert_same_bits(ref, out, f"truncated_normal{(lo, hi)} {dtype}")


@pytest.mark.parametrize("dtype", ("float16", "bfloat16"))
def test_float32_out_is_the_widened_values(dtype: str) -> None:
    shape = (3, 5)
    n = 15
    wide = np.empty(n, dtype=np.float32)
    k = jax.random.key(9)
    jr.uniform(jr.key(9), shape, dtype, -0.5, 0.25, 0, n, wide)
    _assert_same_bits(np.asarray(jax.random.uniform(k, shape, dtype, -0.5, 0.25)).astype(np.float32), wide, "uniform")
    jr.normal(jr.key(9), shape, dtype, 0, n, wide)
    _assert_same_bits(np.asarray(jax.random.normal(k, shape, dtype)).astype(np.float32), wide, "normal")
    jr.truncated_normal(jr.key(9), shape, dtype, -2.0, 2.0, 0, n, wide)
    ref = np.asarray(jax.random.truncated_normal(k, -2.0, 2.0, shape, dtype)).astype(np.float32)
    _assert_same_bits(ref, wide, "truncated_normal")


@pytest.mark.parametrize("dtype", DTYPES)
def test_pieces_equal_whole(dtype: str) -> None:
    shape = (256, 784)
    n = 256 * 784
    cuts = (0, 1001, 150_001, n)
    k = jr.fold_in(jr.key(5), 3)
    calls = {
        "uniform": lambda a, b, o: jr.uniform(k, shape, dtype, -0.3, 0.7, a, b, o),
        "normal": lambda a, b, o: jr.normal(k, shape, dtype, a, b, o),
        "truncated_normal": lambda a, b, o: jr.truncated_normal(k, shape, dtype, -1.0, 3.0, a, b, o),
    }
    for name, call in calls.items():
        whole = np.empty(n, dtype=jr.DTYPES[dtype])
        call(0, n, whole)
        pieces = np.empty(n, dtype=jr.DTYPES[dtype])
        for a, b in itertools.pairwise(cuts):
            call(a, b, pieces[a:b])
        _assert_same_bits(whole, pieces, f"{name} in pieces")
        _assert_same_bits(jr.bits32(k, 0, n)[cuts[1] : cuts[2]], jr.bits32(k, cuts[1], cuts[2]), "bits in pieces")


def test_refusals() -> None:
    k = jr.key(0)
    with pytest.raises(ValueError, match="float64"):
        jr.normal(k, (4,), "float64", 0, 4, np.empty(4))
    with pytest.raises(ValueError, match="start"):
        jr.normal(k, (4,), "float32", 2, 5, np.empty(3, dtype=np.float32))
    with pytest.raises(ValueError, match="length"):
        jr.normal(k, (4,), "float32", 0, 4, np.empty(3, dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        jr.normal(k, (4,), "float16", 0, 4, np.empty(4, dtype=np.float64))
    with pytest.raises(ValueError, match="out must be"):
        jr.normal(k, (4,), "bfloat16", 0, 4, np.empty(4, dtype=np.float16))


# -- exhaustive: every float32 uniform value the kernels can see, through jax.random with crafted bits ---------
# (float16's and bfloat16's: test_samplers_match_jax on the large shapes, whose words hold every one of them)


def _crafted_bits(key: object, bit_width: int, shape: tuple[int, ...]) -> object:
    """float32's ``random_bits``, whose element ``i`` makes the uniform mantissa ``i``: ``i << 9``."""
    assert bit_width == 32, bit_width
    return (jax.lax.iota(np.uint32, int(np.prod(shape))) << np.uint32(9)).reshape(shape)


@pytest.fixture(scope="module")
def crafted_key() -> object:
    impl = jex.random.define_prng_impl(
        key_shape=(2,),
        seed=lambda s: jnp.zeros(2, np.uint32),
        split=lambda k, shape: jnp.zeros((*shape, 2), np.uint32),
        random_bits=_crafted_bits,
        fold_in=lambda k, d: k,
        name="crafted_iota",
        tag="iota",
    )
    return jax.random.key(0, impl=impl)


N_F32 = 1 << 23  # element i of the crafted stream sees the word i << 9: the float32 uniform mantissa i


@njit(cache=True)
def _from_words_f32(dist: int, p: np.ndarray, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        w = np.uint32(i << 9)
        if dist == 0:
            out[i] = jr._uniform_f32(w, np.float32(p[0]), np.float32(p[1]))
        elif dist == 1:
            out[i] = jr._normal_f32(w)
        else:
            out[i] = jr._truncated_f32(w, np.float32(p[0]), np.float32(p[1]), np.float32(p[2]), np.float32(p[3]))


def _mine(dist: int, params: tuple[float, ...]) -> np.ndarray:
    out = np.empty(N_F32, dtype=np.float32)
    _from_words_f32(dist, np.array([*params, 0.0, 0.0, 0.0, 0.0][:4], dtype=np.float64), out)
    return out


def test_exhaustive_through_jax(crafted_key: object) -> None:
    kind = jr._KIND["float32"]
    _assert_same_bits(jax.random.normal(crafted_key, (N_F32,), "float32"), _mine(1, ()), "normal")
    for lo, hi in TRUNCATED_BOUNDS:
        params = jr._truncated_params(lo, hi, kind)
        assert params is not None
        ref = jax.random.truncated_normal(crafted_key, lo, hi, (N_F32,), "float32")
        _assert_same_bits(ref, _mine(2, params), f"truncated_normal{(lo, hi)}")
    for lo, hi in LARGE_UNIFORM_BOUNDS:
        ref = jax.random.uniform(crafted_key, (N_F32,), "float32", lo, hi)
        _assert_same_bits(ref, _mine(0, jr._uniform_params(lo, hi, kind)), f"uniform{(lo, hi)}")


_FP16_SCRIPT = """
import numpy as np, jax
from service.core.streams.jax import random as jr
shape, n = (3, 3, 64, 128), 73728
out = np.empty(n, dtype=np.float16)
bad = 0
for seed in (0, 2**31 + 7):
    k = jax.random.key(seed)
    jr.uniform(jr.key(seed), shape, "float16", -0.1, 0.1, 0, n, out, float16_fma=True)
    ref = np.asarray(jax.random.uniform(k, shape, "float16", -0.1, 0.1)).ravel()
    bad += int((ref.view(np.uint16) != out.view(np.uint16)).sum())
    jr.truncated_normal(jr.key(seed), shape, "float16", -2.0, 2.0, 0, n, out, float16_fma=True)
    ref = np.asarray(jax.random.truncated_normal(k, -2.0, 2.0, shape, "float16")).ravel()
    bad += int((ref.view(np.uint16) != out.view(np.uint16)).sum())
print(bad)
"""


def test_float16_with_avx512_fp16() -> None:
    """``float16_fma=True`` is XLA's float16 on a CPU with AVX512-FP16 (the uniform's product and sum in one
    float16 FMA), in a JAX run without the test session's ``--xla_cpu_max_isa=AVX2`` (``tests/conftest.py``);
    the default, without it, is checked above on every CPU."""
    import os
    import subprocess
    import sys

    import llvmlite.binding

    if not llvmlite.binding.get_host_cpu_features().get("avx512fp16"):
        pytest.skip("this CPU has no AVX512-FP16: JAX has no float16 FMA here to compare with")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", _FP16_SCRIPT], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == "0", done.stdout + done.stderr
