"""The cost model (``service.core.cost``) against what the work really allocates (``tracemalloc`` sees
every NumPy allocation) and against the textbook flop counts."""

from __future__ import annotations

import tracemalloc

import pytest

from service.core import Engine, make_tensor, resolve_init
from service.core.activations import activation
from service.core.cost import Cost, answer_cost, plan_flops, qr_flops, whole_flops
from service.core.diagnostics import layer_weights, measure, network, plan_diagnostics
from service.core.plan import TensorSpec, plan_tensor


def test_qr_flops_is_geqrf_and_orgqr() -> None:
    assert qr_flops(4096, 4096) == 4 * 4096**3 - 4 * 4096**3 // 3  # 8/3 n^3
    assert qr_flops(1024, 64) == qr_flops(64, 1024) == 4 * 1024 * 64**2 - 4 * 64**3 // 3


def test_a_tensor_computed_whole_counts_its_qr() -> None:
    orthogonal = plan_tensor(TensorSpec((2048, 512), resolve_init("orthogonal"), 1))
    he = plan_tensor(TensorSpec((2048, 512), resolve_init("he"), 1))
    assert whole_flops(he) == 0 and plan_flops(he) == 100 * 2048 * 512
    assert whole_flops(orthogonal) == qr_flops(2048, 512) + 100 * 2048 * 512
    cost = answer_cost([orthogonal, he], None)
    assert cost == Cost(orthogonal.nbytes + he.nbytes + orthogonal.whole_bytes, plan_flops(orthogonal) + plan_flops(he))


@pytest.mark.parametrize(
    ("widths", "batch", "scheme", "name", "dtype"),
    [
        ([512, 512, 512], 256, "he", "relu", "float32"),
        ([1024, 1024, 1024], 64, "he", "gelu", "float64"),
        ([256, 2048, 256], 512, "glorot", "tanh", "float32"),
        ([1024, 1024, 1024], 16, "orthogonal", "relu", "float32"),
        ([2048, 2048, 2048], 1, "he", "relu", "float32"),
        ([64] * 11, 4096, "lecun", "selu", "float32"),
    ],
)
def test_diagnostics_bytes_bound_what_is_allocated(
    widths: list[int], batch: int, scheme: str, name: str, dtype: str
) -> None:
    """The estimate is never under the measured peak, and at most twice it: admission counts what is
    really held (the estimate before issue 20 missed about 3.5x)."""
    net = network(widths, activation(name), batch, 1, dtype)
    planned = plan_diagnostics(net, [resolve_init(scheme)])
    engine = Engine(1)
    tracemalloc.start()
    try:
        measure(planned, engine)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= planned.cost.nbytes <= 2 * peak + (1 << 20), (peak, planned.cost.nbytes)


def test_a_compared_scheme_counts_its_flops_and_the_largest_memory() -> None:
    net = network([256, 256, 256], activation("relu"), 32, 1)
    one = plan_diagnostics(net, [resolve_init("he")]).cost
    two = plan_diagnostics(net, [resolve_init("he"), resolve_init("orthogonal")]).cost
    orthogonal = plan_diagnostics(net, [resolve_init("orthogonal")]).cost
    assert two.flops == one.flops + orthogonal.flops
    assert two.nbytes == max(one.nbytes, orthogonal.nbytes) == orthogonal.nbytes
    assert orthogonal.flops - one.flops == 2 * (qr_flops(256, 256) + 100 * 256 * 256)


def test_the_weights_are_still_the_tensors() -> None:
    """Weights made in place block by block (and a whole matrix freed) are still POST /v1/tensors' tensor."""
    net = network([64, 32, 16], activation("relu"), 4, 5)
    planned = plan_diagnostics(net, [resolve_init("orthogonal")])
    for plan in planned.plans[0]:
        expected = make_tensor(plan.spec.shape, "orthogonal", seed=plan.spec.seed, layout="keras").array
        assert (layer_weights(plan, Engine(1)) == expected).all()
