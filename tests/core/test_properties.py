"""Property-based tests (Hypothesis) over random shapes, layouts, schemes, parameters, dtypes and seeds.

``derandomize=True``: the examples are a fixed function of the test, so CI is never flaky.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.core import (
    Engine,
    FanAxes,
    Fans,
    ShapeError,
    TensorPlan,
    TensorSpec,
    compute_fans,
    plan_tensor,
    resolve_init,
)
from service.core.sources import CHUNK_ELEMENTS

SETTINGS = settings(
    deadline=None, max_examples=150, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
MAX_ELEMENTS = 20_000

DTYPES = ("float32", "float64", "float16", "bfloat16")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
ENGINE = Engine(1)


@dataclass(frozen=True)
class Request:
    shape: tuple[int, ...]
    layout: str | FanAxes
    scheme: str
    params: dict[str, Any]
    dtype: str
    seed: int

    def plan(self) -> TensorPlan:
        return plan_tensor(
            TensorSpec(self.shape, resolve_init(self.scheme, self.params), self.seed, self.dtype, self.layout)
        )  # type: ignore[arg-type]


# -- strategies ------------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**53 - 1)
dtypes = st.sampled_from(DTYPES)


@st.composite
def shapes(draw: st.DrawFn, min_rank: int = 0, max_rank: int = 5, max_side: int = 12) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    shape: list[int] = []
    for _ in range(rank):
        budget = MAX_ELEMENTS // max(1, math.prod(shape))
        shape.append(draw(st.integers(1, max(1, min(max_side, budget)))))
    return tuple(shape)


@st.composite
def fan_axes(draw: st.DrawFn, rank: int) -> FanAxes:
    """Disjoint in / out / batch axes, each written as an int or a list, with negative forms mixed in."""
    order = draw(st.permutations(range(rank)))
    n_in = draw(st.integers(1, rank - 1))
    n_out = draw(st.integers(1, rank - n_in))
    n_batch = draw(st.integers(0, rank - n_in - n_out))

    def spell(axes: list[int]) -> list[int]:
        return [a - rank if draw(st.booleans()) else a for a in axes]

    ins, outs = spell(order[:n_in]), spell(order[n_in : n_in + n_out])
    batch = spell(order[n_in + n_out : n_in + n_out + n_batch])
    in_axis: int | list[int] = ins[0] if n_in == 1 and draw(st.booleans()) else ins
    out_axis: int | list[int] = outs[0] if n_out == 1 and draw(st.booleans()) else outs
    return FanAxes.of(in_axis, out_axis, batch)


@st.composite
def layouts(draw: st.DrawFn, shape: tuple[int, ...], fans_needed: bool) -> str | FanAxes:
    choices: list[str] = ["keras"] if fans_needed and len(shape) < 2 else ["keras", "jax", "torch"]
    if len(shape) >= 2 and draw(st.booleans()):
        return draw(fan_axes(len(shape)))
    return draw(st.sampled_from(choices))


@st.composite
def fan_params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    scheme = draw(st.sampled_from(["glorot", "xavier", "he", "kaiming", "lecun", "variance_scaling"]))
    params: dict[str, Any] = {"distribution": draw(st.sampled_from(DISTRIBUTIONS))}
    if scheme in ("glorot", "xavier") and draw(st.booleans()):
        params["gain"] = draw(st.floats(0.1, 4.0))
    if scheme in ("he", "kaiming", "variance_scaling"):
        params["mode"] = draw(st.sampled_from(MODES))
    if scheme in ("he", "kaiming") and draw(st.booleans()):
        params["negative_slope"] = draw(st.floats(-3.0, 3.0))
    if scheme == "variance_scaling":
        params["scale"] = draw(st.floats(1e-3, 10.0))
    return scheme, params


@st.composite
def plain_params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    scheme = draw(st.sampled_from(["normal", "uniform", "truncated_normal", "constant", "zeros", "ones"]))
    if scheme == "normal":
        return scheme, {"mean": draw(st.floats(-10.0, 10.0)), "std": draw(st.floats(0.0, 5.0))}
    if scheme == "uniform":
        low = draw(st.floats(-10.0, 10.0))
        return scheme, {"low": low, "high": low + draw(st.floats(1e-3, 20.0))}
    if scheme == "truncated_normal":
        mean, std = draw(st.floats(-5.0, 5.0)), draw(st.floats(0.01, 5.0))
        a = draw(st.floats(-8.0, 8.0))  # standardized lower bound: tails, narrow and wide intervals
        low = mean + std * a
        return scheme, {"mean": mean, "std": std, "low": low, "high": low + std * draw(st.floats(0.01, 12.0))}
    if scheme == "constant":
        return scheme, {"value": draw(st.floats(-100.0, 100.0))}
    return scheme, {}


@st.composite
def requests(draw: st.DrawFn) -> Request:
    kind = draw(st.sampled_from(["fan", "plain", "orthogonal", "identity", "dirac", "sparse"]))
    dtype, seed = draw(dtypes), draw(seeds)
    if kind == "fan":
        shape = draw(shapes())
        scheme, params = draw(fan_params())
        return Request(shape, draw(layouts(shape, True)), scheme, params, dtype, seed)
    if kind == "plain":
        shape = draw(shapes())
        scheme, params = draw(plain_params())
        return Request(shape, draw(layouts(shape, False)), scheme, params, dtype, seed)
    layout = draw(st.sampled_from(["keras", "jax", "torch"]))
    if kind == "orthogonal":
        return Request(draw(shapes(2, 4, 24)), layout, "orthogonal", {"gain": draw(st.floats(-3.0, 3.0))}, dtype, seed)
    if kind == "identity":
        return Request(draw(shapes(2, 2, 60)), layout, "identity", {"gain": draw(st.floats(-3.0, 3.0))}, dtype, seed)
    if kind == "sparse":
        params = {"sparsity": draw(st.floats(0.0, 0.99)), "std": draw(st.floats(0.0, 2.0))}
        return Request(draw(shapes(2, 2, 60)), layout, "sparse", params, dtype, seed)
    groups = draw(st.integers(1, 4))
    out_channels, in_channels = groups * draw(st.integers(1, 4)), draw(st.integers(1, 8))
    kernel = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    shape = (out_channels, in_channels, *kernel) if layout == "torch" else (*kernel, in_channels, out_channels)
    return Request(shape, layout, "dirac", {"groups": groups}, dtype, seed)


# -- the layout formulas, written independently of the core -------------------------------------------------


def expected_fans(shape: tuple[int, ...], layout: str | FanAxes) -> Fans | None:
    """None where the framework raises."""
    if isinstance(layout, FanAxes):
        rank = len(shape)
        ins = [a % rank for a in layout.in_axis]
        outs = [a % rank for a in layout.out_axis]
        named = set(ins) | set(outs) | {a % rank for a in layout.batch_axis}
        rf = math.prod(d for i, d in enumerate(shape) if i not in named)
        return Fans(math.prod(shape[a] for a in ins) * rf, math.prod(shape[a] for a in outs) * rf)
    if len(shape) < 2:
        if layout != "keras":
            return None
        return Fans(1, 1) if not shape else Fans(shape[0], shape[0])
    if layout == "torch":
        rf = math.prod(shape[2:])
        return Fans(shape[1] * rf, shape[0] * rf)
    rf = math.prod(shape[:-2])
    return Fans(shape[-2] * rf, shape[-1] * rf)


def expected_variance(request: Request, fans: Fans) -> float:
    p = request.params
    fan = {
        "fan_in": fans.fan_in,
        "fan_out": fans.fan_out,
        "fan_avg": (fans.fan_in + fans.fan_out) / 2,
        "fan_geo_avg": math.sqrt(fans.fan_in * fans.fan_out),
    }
    if request.scheme in ("glorot", "xavier"):
        return p.get("gain", 1.0) ** 2 / fan["fan_avg"]
    if request.scheme in ("he", "kaiming"):
        return 2.0 / (1.0 + p.get("negative_slope", 0.0) ** 2) / fan[p["mode"]]
    if request.scheme == "lecun":
        return 1.0 / fan["fan_in"]
    return p["scale"] / fan[p["mode"]]


def as_dtype(plan: TensorPlan, value: float) -> float:
    return float(np.asarray(value, np.float64).astype(plan.sampling_dtype).astype(plan.numpy_dtype))


# -- properties ------------------------------------------------------------------------------------------------


@SETTINGS
@given(shape=shapes(), data=st.data())
def test_fans_obey_the_layout_formula(shape: tuple[int, ...], data: st.DataObject) -> None:
    layout = data.draw(layouts(shape, False))
    expected = expected_fans(shape, layout)
    if expected is None:
        try:
            compute_fans(shape, layout)  # type: ignore[arg-type]
        except ShapeError as error:
            assert error.field == "shape"
        else:
            raise AssertionError(f"{layout} fans of {shape} should raise")
        return
    fans = compute_fans(shape, layout)  # type: ignore[arg-type]
    assert fans == expected
    # Both fans share the receptive field: fan_in / in_size == fan_out / out_size.
    assert fans.fan_in >= 1
    assert fans.fan_out >= 1
    if isinstance(layout, FanAxes):
        in_size = math.prod(shape[a] for a in layout.in_axis)
        out_size = math.prod(shape[a] for a in layout.out_axis)
        assert fans.fan_in * out_size == fans.fan_out * in_size


@SETTINGS
@given(request=requests())
def test_plan_fans_and_variance(request: Request) -> None:
    plan = request.plan()
    expected = expected_fans(request.shape, request.layout)
    if isinstance(request.layout, FanAxes) or request.scheme not in ("orthogonal", "identity", "dirac", "sparse"):
        assert plan.fans == expected
    if request.scheme in ("glorot", "xavier", "he", "kaiming", "lecun", "variance_scaling"):
        assert expected is not None
        variance = expected_variance(request, expected)
        assert math.isclose(plan.moments.variance, variance, rel_tol=1e-12)
        assert plan.moments.mean == 0.0


@SETTINGS
@given(request=requests())
def test_values_stay_inside_the_support(request: Request) -> None:
    plan = request.plan()
    generated = ENGINE.generate(plan)
    x = generated.array.astype(np.float64)
    assert generated.array.shape == request.shape
    assert generated.array.dtype == plan.numpy_dtype
    assert np.isfinite(x).all()
    m = plan.moments
    if m.low is not None and m.high is not None:
        assert as_dtype(plan, m.low) <= x.min()
        assert x.max() <= as_dtype(plan, m.high)
    if request.scheme in ("constant", "zeros", "ones", "identity", "dirac"):
        # Deterministic schemes report the exact min and max of the tensor (as the dtype holds them).
        assert as_dtype(plan, m.low) == x.min()  # type: ignore[arg-type]
        assert as_dtype(plan, m.high) == x.max()  # type: ignore[arg-type]
    if request.scheme == "sparse":
        n_out = request.shape[0] if request.layout == "torch" else request.shape[1]
        zeros = (x == 0).sum(axis=0 if request.layout == "torch" else 1)
        assert (zeros >= math.ceil(request.params["sparsity"] * n_out)).all()
    # The reported empirical extremes are the tensor's.
    assert math.isclose(generated.empirical.min, x.min(), rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(generated.empirical.max, x.max(), rel_tol=1e-9, abs_tol=1e-300)


@SETTINGS
@given(request=requests())
def test_repeated_calls_give_identical_bytes(request: Request) -> None:
    first = ENGINE.generate(request.plan())
    with Engine(2) as engine:
        second = engine.generate(request.plan())
    assert first.array.tobytes() == second.array.tobytes()
    assert first.empirical == second.empirical


@SETTINGS
@given(request=requests(), data=st.data())
def test_a_random_range_is_the_slice_of_the_whole(request: Request, data: st.DataObject) -> None:
    plan = request.plan()
    whole = ENGINE.generate(plan).array.reshape(-1)
    start = data.draw(st.integers(0, plan.count))
    stop = data.draw(st.integers(start, plan.count))
    assert ENGINE.generate_range(plan, start, stop).tobytes() == whole[start:stop].tobytes()


@settings(deadline=None, max_examples=25, derandomize=True, database=None)
@given(
    count=st.integers(1, 3 * CHUNK_ELEMENTS + 10),
    scheme=st.sampled_from([("normal", {}), ("truncated_normal", {"low": 0.5, "high": 0.6}), ("uniform", {})]),
    dtype=dtypes,
    seed=seeds,
    data=st.data(),
)
def test_ranges_across_chunks(
    count: int, scheme: tuple[str, dict[str, Any]], dtype: str, seed: int, data: st.DataObject
) -> None:
    request = Request((count,), "keras", scheme[0], scheme[1], dtype, seed)
    plan = request.plan()
    whole = ENGINE.generate(plan).array
    for _ in range(3):
        start = data.draw(st.integers(0, count))
        stop = data.draw(st.integers(start, min(count, start + 2 * CHUNK_ELEMENTS)))
        with Engine(2) as engine:
            assert engine.generate_range(plan, start, stop).tobytes() == whole[start:stop].tobytes()
