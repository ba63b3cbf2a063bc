"""Fans by layout, case for case with the frameworks' own fan functions.

Expected numbers are the literal outputs of Keras 3 ``compute_fans``
(keras/src/initializers/random_initializers.py:663-699), PyTorch
``_calculate_fan_in_and_fan_out`` (torch/nn/init.py:458-476) and JAX
``_compute_fans`` (jax/_src/nn/initializers.py:214-248), as verified by running
the libraries in /work/shared/anchors-initializers.md section 7.1 (and 7.4, 3.2
for the batch axis).
"""

from __future__ import annotations

import math

import pytest

from service.core import FanAxes, Fans, LayoutError, ShapeError, compute_fans

# (shape, keras fans, torch fans, jax fans) -- anchors 7.1, one row per line of the table.
# None: the framework raises ValueError (we raise ShapeError).
ANCHOR_7_1: list[tuple[tuple[int, ...], tuple[int, int], tuple[int, int] | None, tuple[int, int] | None]] = [
    ((784, 256), (784, 256), (256, 784), (784, 256)),  # Keras/JAX dense (in, out)
    ((256, 784), (256, 784), (784, 256), (256, 784)),  # torch Linear (out, in)
    ((3, 3, 64, 128), (576, 1152), (24576, 24576), (576, 1152)),  # Keras/JAX conv2d HWIO
    ((128, 64, 3, 3), (24576, 24576), (576, 1152), (24576, 24576)),  # torch conv2d OIHW
    ((5, 16, 32), (80, 160), (512, 160), (80, 160)),  # Keras conv1d (k, in, out)
    # torch conv1d (out, in, k): torch (80, 160) from anchors 7.2 "torch conv1d (32,16,5) | 80, 160"; the Keras/JAX
    # reading (rf 32 * (16, 5)) is not in the table, derived from the compute_fans formula of anchors 1.3.
    ((32, 16, 5), (512, 160), (80, 160), (512, 160)),
    ((2, 3, 3, 8, 16), (144, 288), (1152, 768), (144, 288)),  # Keras conv3d
    ((16, 8, 2, 3, 3), (768, 768), (144, 288), (768, 768)),  # torch conv3d
    ((7,), (7, 7), None, None),  # bias: Keras (7, 7); torch and JAX raise
    ((), (1, 1), None, None),  # scalar: Keras (1, 1); torch and JAX raise
]


@pytest.mark.parametrize(("shape", "keras", "torch", "jax"), ANCHOR_7_1, ids=[str(r[0]) for r in ANCHOR_7_1])
def test_layout_fans_match_the_frameworks(
    shape: tuple[int, ...], keras: tuple[int, int], torch: tuple[int, int] | None, jax: tuple[int, int] | None
) -> None:
    assert compute_fans(shape, "keras") == Fans(*keras)
    for layout, expected in (("torch", torch), ("jax", jax)):
        if expected is None:
            with pytest.raises(ShapeError) as info:
                compute_fans(shape, layout)  # type: ignore[arg-type]
            assert info.value.field == "shape"
            assert layout in info.value.message
        else:
            assert compute_fans(shape, layout) == Fans(*expected)  # type: ignore[arg-type]


def test_keras_is_the_default_layout() -> None:
    assert compute_fans((3, 3, 64, 128)) == Fans(576, 1152)


def test_fans_are_python_ints() -> None:
    fans = compute_fans((3, 3, 64, 128), "torch")
    assert type(fans.fan_in) is int
    assert type(fans.fan_out) is int


@pytest.mark.parametrize(
    ("shape", "axes", "expected"),
    [
        # JAX _compute_fans with batch_axis=0 on stacked conv kernels: anchors 3.2 / 7.4 (576, 1152).
        ((8, 3, 3, 64, 128), FanAxes.of(-2, -1, [0]), (576, 1152)),
        ((8, 3, 3, 64, 128), FanAxes.of(3, 4, [0]), (576, 1152)),
        # JAX defaults in_axis=-2, out_axis=-1 == the keras layout.
        ((3, 3, 64, 128), FanAxes.of(-2, -1), (576, 1152)),
        ((784, 256), FanAxes.of(0, 1), (784, 256)),
        # torch OIHW read through explicit axes == the torch layout.
        ((128, 64, 3, 3), FanAxes.of(1, 0), (576, 1152)),
        ((128, 64, 3, 3), FanAxes.of(-3, -4), (576, 1152)),
        # Flax Embed: variance_scaling(..., out_axis=0) on (num_embeddings, features).
        ((1000, 64), FanAxes.of(-1, 0), (64, 1000)),
        # Sequences of axes (DenseGeneral / einsum kernels): products, the rest is receptive field.
        ((4, 5, 6, 7), FanAxes.of([0, 1], [2, 3]), (20, 42)),
        ((4, 5, 6, 7), FanAxes.of((0,), [-1, -2]), (4 * 5, 42 * 5)),
        ((2, 4, 5, 6, 7), FanAxes.of([1], [3], batch_axis=[0, -1]), (4 * 5, 6 * 5)),
        # Every axis named: no receptive field.
        ((3, 4), FanAxes.of([0], [1]), (3, 4)),
        ((2, 3), FanAxes.of(-1, 0), (3, 2)),
    ],
)
def test_fan_axes(shape: tuple[int, ...], axes: FanAxes, expected: tuple[int, int]) -> None:
    assert compute_fans(shape, axes) == Fans(*expected)


def test_fan_axes_receptive_field_is_jax_formula() -> None:
    """JAX: receptive = prod(shape) / in_size / out_size / batch_size; fan = size * receptive."""
    shape = (2, 3, 5, 7, 11)
    axes = FanAxes.of([1, 3], 4, batch_axis=[0])
    in_size, out_size, batch = 3 * 7, 11, 2
    receptive = math.prod(shape) // in_size // out_size // batch
    assert compute_fans(shape, axes) == Fans(in_size * receptive, out_size * receptive)


def test_fan_axes_of_normalizes_ints_and_sequences() -> None:
    assert FanAxes.of(1, [2, 3], (0,)) == FanAxes((1,), (2, 3), (0,))
    assert FanAxes.of(-2, -1) == FanAxes((-2,), (-1,), ())


@pytest.mark.parametrize(
    ("shape", "axes", "field"),
    [
        ((3, 4), FanAxes.of(2, 1), "fan_axes.in_axis"),
        ((3, 4), FanAxes.of(0, -3), "fan_axes.out_axis"),
        ((3, 4, 5), FanAxes.of(0, 1, [3]), "fan_axes.batch_axis"),
        ((), FanAxes.of(0, 0), "fan_axes.in_axis"),
        ((3, 4), FanAxes.of(0, 0), "fan_axes.out_axis"),  # duplicate
        ((3, 4), FanAxes.of(0, -2), "fan_axes.out_axis"),  # duplicate after normalization
        ((3, 4, 5), FanAxes.of([0, 0], 1), "fan_axes.in_axis"),  # duplicate within one list
        ((3, 4, 5), FanAxes.of(0, 1, [1]), "fan_axes.batch_axis"),  # batch repeats out
        ((3, 4), FanAxes.of([], 1), "fan_axes.in_axis"),  # empty in_axis
        ((3, 4), FanAxes.of(0, []), "fan_axes.out_axis"),  # empty out_axis
    ],
)
def test_bad_fan_axes_raise_layout_error(shape: tuple[int, ...], axes: FanAxes, field: str) -> None:
    with pytest.raises(LayoutError) as info:
        compute_fans(shape, axes)
    assert info.value.field == field
    assert "axis" in info.value.message


def test_unknown_layout_raises_layout_error() -> None:
    with pytest.raises(LayoutError) as info:
        compute_fans((3, 4), "tensorflow")  # type: ignore[arg-type]
    assert info.value.field == "layout"
    assert "keras" in info.value.message


@pytest.mark.torch
@pytest.mark.parametrize("shape", [r[0] for r in ANCHOR_7_1 if len(r[0]) >= 2])
def test_torch_layout_equals_torch_own_fans(shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.init import _calculate_fan_in_and_fan_out

    tensor = torch.empty(shape)
    assert compute_fans(shape, "torch") == Fans(*_calculate_fan_in_and_fan_out(tensor))


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(7,), ()])
def test_torch_raises_where_we_raise(shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.init import _calculate_fan_in_and_fan_out

    with pytest.raises(ValueError):
        _calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ShapeError):
        compute_fans(shape, "torch")
