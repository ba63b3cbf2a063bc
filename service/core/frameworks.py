"""Framework-named initializers: Keras 3, PyTorch and JAX, each resolved to a canonical scheme.

A request may name an initializer the way its framework does, with that
framework's own parameter names, defaults and semantics:

- ``keras.<Class>`` or ``keras.<snake_case>`` (``keras.GlorotNormal``,
  ``keras.glorot_normal``; keras/src/initializers/__init__.py registry),
  Keras layout ``(..., in, out)``. Keras' ``*Normal`` and ``VarianceScaling``
  with ``distribution="normal"`` are truncated at +-2 sigma0 with the
  0.8796 correction; ``untruncated_normal`` is a plain normal.
- ``torch.<function>_`` (``torch.kaiming_uniform_``; torch/nn/init.py), PyTorch
  layout ``(out, in, ...)``. ``xavier_normal_`` and ``kaiming_normal_`` are
  untruncated; ``trunc_normal_`` truncates at the absolute bounds ``a``, ``b``.
- ``jax.<function>`` (``jax.variance_scaling``; jax/_src/nn/initializers.py),
  JAX layout ``(..., in, out)``, or the axes given by ``in_axis``,
  ``out_axis`` and ``batch_axis``. JAX's ``*_normal`` are truncated like
  Keras'; ``jax.uniform(scale)`` is U[0, scale).

The table below is the single source of truth for them: the HTTP models, the
``GET /v1/schemes`` catalogue and the docs are generated from it. The
reference is ``anchors-initializers.md`` (sources and verified numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.core.errors import LayoutError, ParameterError
from service.core.fans import FanAxes
from service.core.gains import NONLINEARITIES, calculate_gain
from service.core.params import REQUIRED, Param, check, field_info
from service.core.schemes import SCHEMES, Init, resolve_init

#: The layout each framework stores weights in, used unless the request gives one.
FRAMEWORK_LAYOUTS: Final[dict[str, str]] = {"keras": "keras", "torch": "torch", "jax": "jax"}


@dataclass(frozen=True)
class Resolved:
    """An initializer resolved to the canonical scheme that makes the same tensor.

    ``requested``: the framework-named initializer as asked (an alias under its canonical name), every default filled in
    (None when a canonical scheme was asked). ``layout``: the layout the initializer
    implies (its framework's, or ``FanAxes`` from its axis parameters); None for
    canonical schemes. ``axes_given``: the layout comes from the initializer's own
    axis parameters, so a request that also gives a layout contradicts it.
    """

    init: Init
    requested: dict[str, Any] | None = None
    layout: str | FanAxes | None = None
    axes_given: bool = False


@dataclass(frozen=True)
class FrameworkInit:
    """One framework-named initializer: its parameters (the framework's names and defaults)
    and how it resolves to a canonical scheme."""

    name: str
    summary: str
    source: str
    expansion: str
    params: tuple[Param, ...]
    to_canonical: Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]
    aliases: tuple[str, ...] = ()
    notes: str = ""

    @property
    def framework(self) -> str:
        return self.name.split(".", 1)[0]


# -- parameters --------------------------------------------------------------------------------------


def _number(
    name: str, default: float, description: str, minimum: float | None = None, exclusive_minimum: float | None = None
) -> Param:
    return Param(name, "number", default, description, minimum=minimum, exclusive_minimum=exclusive_minimum)


_KERAS_AXES = (
    Param("input_axes", "axes", None, "axes counted in fan_in (with output_axes; no receptive field)", nullable=True),
    Param("output_axes", "axes", None, "axes counted in fan_out (with input_axes)", nullable=True),
)
_JAX_AXES = (
    Param("in_axis", "axes", -2, "input axis or axes"),
    Param("out_axis", "axes", -1, "output axis or axes"),
    Param("batch_axis", "axes", (), "axes in neither fan (stacked layers)"),
)
_TORCH_KAIMING = (
    _number("a", 0.0, "negative slope of the leaky ReLU after this layer (nonlinearity leaky_relu)"),
    Param("mode", "choice", "fan_in", "fan_in (forward) or fan_out (backward)", ("fan_in", "fan_out")),
    Param("nonlinearity", "choice", "leaky_relu", "the gain's nonlinearity (calculate_gain)", NONLINEARITIES),
)
_GAIN = _number("gain", 1.0, "multiplier of the standard deviation")


# -- resolution helpers ------------------------------------------------------------------------------


def _scaled(scheme: str, distribution: str) -> Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]:
    return lambda p: (scheme, {"distribution": distribution})


def _keras_variance_scaling(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    distribution = {"normal": "truncated_normal", "untruncated_normal": "normal"}.get(
        p["distribution"], p["distribution"]
    )
    return "variance_scaling", {"scale": p["scale"], "mode": p["mode"], "distribution": distribution}


def _torch_kaiming(distribution: str) -> Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]:
    """kaiming_*: std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a) (torch/nn/init.py)."""

    def resolve(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        if p["nonlinearity"] == "leaky_relu":
            return "he", {"distribution": distribution, "mode": p["mode"], "negative_slope": p["a"]}
        if p["nonlinearity"] == "relu":
            return "he", {"distribution": distribution, "mode": p["mode"], "negative_slope": 0.0}
        gain = calculate_gain(p["nonlinearity"])
        return "variance_scaling", {"scale": gain * gain, "mode": p["mode"], "distribution": distribution}

    return resolve


def _jax_truncated_normal(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """N(0, 1) truncated to (lower, upper), times stddev: bounds lower * stddev, upper * stddev."""
    std = p["stddev"]
    if not std > 0.0:
        raise ParameterError(f"stddev must be > 0, got {std!r}", "init.stddev")
    return "truncated_normal", {"mean": 0.0, "std": std, "low": p["lower"] * std, "high": p["upper"] * std}


def _jax_uniform(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not p["scale"] > 0.0:
        raise ParameterError(f"scale must be > 0 (U[0, scale)), got {p['scale']!r}", "init.scale")
    return "uniform", {"low": 0.0, "high": p["scale"]}


def _keras_truncated_normal(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Re-draws values more than 2 stddev from the mean; no variance correction."""
    mean, std = p["mean"], p["stddev"]
    if not std > 0.0:
        raise ParameterError(f"stddev must be > 0, got {std!r}", "init.stddev")
    return "truncated_normal", {"mean": mean, "std": std, "low": mean - 2.0 * std, "high": mean + 2.0 * std}


def _fixed(scheme: str, **params: Any) -> Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]:
    return lambda p: (scheme, dict(params))


def _renamed(scheme: str, **names: str) -> Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]:
    """Canonical parameters taken from framework ones: ``canonical_name="framework_name"``."""
    return lambda p: (scheme, {canonical: p[ours] for canonical, ours in names.items()})


# -- the table ----------------------------------------------------------------------------------------

_K = "keras/src/initializers/"
_T = "torch/nn/init.py"
_J = "jax/_src/nn/initializers.py"


#: Keras' torch backend draws 4 candidates per value and keeps the first even when all 4 miss (anchors §1.6).
_KERAS_TORCH_LEAK = (
    "Keras' torch backend keeps an out-of-range value when 4 candidates all miss (about 4e-6 of the values, up "
    "to 3.2 sigma0); we follow the documented math: every value within 2 sigma0."
)


def _keras_vs(cls: str, snake: str, scheme: str, distribution: str, summary: str, line: str) -> FrameworkInit:
    return FrameworkInit(
        f"keras.{cls}",
        summary,
        f"{_K}random_initializers.py:{line}",
        f"{scheme}(distribution={distribution})",
        _KERAS_AXES,
        _scaled(scheme, distribution),
        aliases=(f"keras.{snake}",),
        notes=_KERAS_TORCH_LEAK if distribution == "truncated_normal" else "",
    )


def _jax_vs(name: str, alias: str | None, scheme: str, distribution: str, summary: str, line: str) -> FrameworkInit:
    return FrameworkInit(
        f"jax.{name}",
        summary,
        f"{_J}:{line}",
        f"{scheme}(distribution={distribution})",
        _JAX_AXES,
        _scaled(scheme, distribution),
        aliases=(f"jax.{alias}",) if alias else (),
    )


_TABLE: Final[tuple[FrameworkInit, ...]] = (
    # -- Keras 3 ------------------------------------------------------------------------------------
    FrameworkInit(
        "keras.RandomNormal",
        "N(mean, stddev^2)",
        f"{_K}random_initializers.py:36-83",
        "normal(mean=mean, std=stddev)",
        (_number("mean", 0.0, "mean"), _number("stddev", 0.05, "standard deviation, >= 0", minimum=0.0)),
        _renamed("normal", mean="mean", std="stddev"),
        aliases=("keras.random_normal", "keras.normal"),
    ),
    FrameworkInit(
        "keras.TruncatedNormal",
        "N(mean, stddev^2) with values beyond 2 stddev of the mean re-drawn (no variance correction)",
        f"{_K}random_initializers.py:92-142",
        "truncated_normal(mean=mean, std=stddev, low=mean - 2 stddev, high=mean + 2 stddev)",
        (_number("mean", 0.0, "mean"), _number("stddev", 0.05, "standard deviation before truncation, > 0")),
        _keras_truncated_normal,
        aliases=("keras.truncated_normal",),
        notes=_KERAS_TORCH_LEAK,
    ),
    FrameworkInit(
        "keras.RandomUniform",
        "U[minval, maxval)",
        f"{_K}random_initializers.py:151-198",
        "uniform(low=minval, high=maxval)",
        (_number("minval", -0.05, "lower bound, < maxval"), _number("maxval", 0.05, "upper bound")),
        _renamed("uniform", low="minval", high="maxval"),
        aliases=("keras.random_uniform", "keras.uniform"),
    ),
    FrameworkInit(
        "keras.VarianceScaling",
        "variance = scale / fan; 'normal' means truncated (as Keras), 'untruncated_normal' a plain normal",
        f"{_K}random_initializers.py:207-329",
        "variance_scaling(scale, mode, distribution: normal -> truncated_normal, untruncated_normal -> normal)",
        (
            _number("scale", 1.0, "scale > 0", exclusive_minimum=0.0),
            Param("mode", "choice", "fan_in", "the fan", ("fan_in", "fan_out", "fan_avg")),
            Param(
                "distribution",
                "choice",
                "truncated_normal",
                "truncated_normal (also 'normal'), untruncated_normal or uniform",
                ("truncated_normal", "normal", "untruncated_normal", "uniform"),
            ),
            *_KERAS_AXES,
        ),
        _keras_variance_scaling,
        aliases=("keras.variance_scaling",),
        notes=_KERAS_TORCH_LEAK,
    ),
    _keras_vs("GlorotUniform", "glorot_uniform", "glorot", "uniform", "U(+-sqrt(6 / (fan_in + fan_out)))", "338-386"),
    _keras_vs("GlorotNormal", "glorot_normal", "glorot", "truncated_normal", "truncated, var 2/(in+out)", "394-442"),
    _keras_vs("LecunNormal", "lecun_normal", "lecun", "truncated_normal", "truncated, variance 1 / fan_in", "451-502"),
    _keras_vs("LecunUniform", "lecun_uniform", "lecun", "uniform", "U(+-sqrt(3 / fan_in))", "511-558"),
    _keras_vs("HeNormal", "he_normal", "he", "truncated_normal", "truncated, variance 2 / fan_in", "562-609"),
    _keras_vs("HeUniform", "he_uniform", "he", "uniform", "U(+-sqrt(6 / fan_in))", "613-660"),
    FrameworkInit(
        "keras.Orthogonal",
        "gain * Q, Q orthogonal on (prod(shape[:-1]), shape[-1])",
        f"{_K}random_initializers.py:702-777",
        "orthogonal(gain)",
        (_GAIN,),
        _renamed("orthogonal", gain="gain"),
        aliases=("keras.orthogonal", "keras.OrthogonalInitializer"),
    ),
    FrameworkInit(
        "keras.Constant",
        "every element equal to value",
        f"{_K}constant_initializers.py:9-46",
        "constant(value)",
        (_number("value", 0.0, "the fill value"),),
        _renamed("constant", value="value"),
        aliases=("keras.constant",),
    ),
    FrameworkInit(
        "keras.Zeros",
        "all zeros",
        f"{_K}constant_initializers.py:49-75",
        "zeros",
        (),
        _fixed("zeros"),
        aliases=("keras.zeros", "keras.zero"),
    ),
    FrameworkInit(
        "keras.Ones",
        "all ones",
        f"{_K}constant_initializers.py:78-106",
        "ones",
        (),
        _fixed("ones"),
        aliases=("keras.ones", "keras.one"),
    ),
    FrameworkInit(
        "keras.Identity",
        "gain * eye(rows, cols), 2-D",
        f"{_K}constant_initializers.py:109-154",
        "identity(gain)",
        (_GAIN,),
        _renamed("identity", gain="gain"),
        aliases=("keras.identity", "keras.IdentityInitializer"),
    ),
    FrameworkInit(
        "keras.STFT",
        "windowed DFT kernel (frame_length, 1, fft_bins)",
        f"{_K}constant_initializers.py:157-284",
        "stft(side, window, scaling, periodic)",
        SCHEMES["stft"].params,
        lambda p: ("stft", dict(p)),
        aliases=("keras.stft", "keras.STFTInitializer"),
        notes="Keras computes the kernel in float32 arithmetic (its cos(pi/2) is -4.4e-8); ours is exact, rounded "
        "once to the dtype, so float32 values differ from Keras' by up to about T * 2^-22 of the largest value. "
        "Window arrays are not accepted, only names (every SciPy window without parameters) or null.",
    ),
    # -- PyTorch ------------------------------------------------------------------------------------
    FrameworkInit(
        "torch.uniform_",
        "U(a, b)",
        f"{_T}:247",
        "uniform(low=a, high=b)",
        (_number("a", 0.0, "lower bound, < b"), _number("b", 1.0, "upper bound")),
        _renamed("uniform", low="a", high="b"),
    ),
    FrameworkInit(
        "torch.normal_",
        "N(mean, std^2)",
        f"{_T}:274",
        "normal(mean, std)",
        (_number("mean", 0.0, "mean"), _number("std", 1.0, "standard deviation, >= 0", minimum=0.0)),
        _renamed("normal", mean="mean", std="std"),
    ),
    FrameworkInit(
        "torch.trunc_normal_",
        "N(mean, std^2) restricted to the absolute bounds [a, b] (no variance correction)",
        f"{_T}:301",
        "truncated_normal(mean, std, low=a, high=b)",
        (
            _number("mean", 0.0, "mean of the untruncated normal"),
            _number("std", 1.0, "standard deviation of the untruncated normal, > 0", exclusive_minimum=0.0),
            _number("a", -2.0, "absolute lower bound, < b"),
            _number("b", 2.0, "absolute upper bound"),
        ),
        _renamed("truncated_normal", mean="mean", std="std", low="a", high="b"),
        notes="a and b are absolute: with std 0.02 and the default a=-2, b=2 there is practically no truncation.",
    ),
    FrameworkInit(
        "torch.constant_",
        "every element equal to val",
        f"{_T}:337",
        "constant(value=val)",
        (_number("val", REQUIRED, "the fill value"),),
        _renamed("constant", value="val"),
    ),
    FrameworkInit("torch.ones_", "all ones", f"{_T}:355", "ones", (), _fixed("ones")),
    FrameworkInit("torch.zeros_", "all zeros", f"{_T}:368", "zeros", (), _fixed("zeros")),
    FrameworkInit(
        "torch.eye_",
        "the identity matrix, 2-D, rectangular allowed (no gain)",
        f"{_T}:381",
        "identity(gain=1)",
        (),
        _fixed("identity", gain=1.0),
    ),
    FrameworkInit(
        "torch.dirac_",
        "Dirac delta convolution weights (out, in, *k), ones at k // 2",
        f"{_T}:402",
        "dirac(groups)",
        (Param("groups", "integer", 1, "groups >= 1, dividing the output channels", minimum=1),),
        _renamed("dirac", groups="groups"),
    ),
    FrameworkInit(
        "torch.xavier_uniform_",
        "U(+-gain sqrt(6 / (fan_in + fan_out)))",
        f"{_T}:479",
        "glorot(distribution=uniform, gain)",
        (_GAIN,),
        lambda p: ("glorot", {"distribution": "uniform", "gain": p["gain"]}),
    ),
    FrameworkInit(
        "torch.xavier_normal_",
        "N(0, gain^2 2 / (fan_in + fan_out)), untruncated",
        f"{_T}:512",
        "glorot(distribution=normal, gain)",
        (_GAIN,),
        lambda p: ("glorot", {"distribution": "normal", "gain": p["gain"]}),
    ),
    FrameworkInit(
        "torch.kaiming_uniform_",
        "U(+-gain sqrt(3 / fan)), gain = calculate_gain(nonlinearity, a)",
        f"{_T}:554",
        "he(distribution=uniform, mode, negative_slope=a) for leaky_relu (a = 0 for relu); else "
        "variance_scaling(scale=calculate_gain(nonlinearity)^2, mode, distribution=uniform)",
        _TORCH_KAIMING,
        _torch_kaiming("uniform"),
        notes="Module defaults (Linear, Conv) call it with a = sqrt(5): U(+-1 / sqrt(fan_in)).",
    ),
    FrameworkInit(
        "torch.kaiming_normal_",
        "N(0, gain^2 / fan), untruncated, gain = calculate_gain(nonlinearity, a)",
        f"{_T}:619",
        "he(distribution=normal, mode, negative_slope=a) for leaky_relu (a = 0 for relu); else "
        "variance_scaling(scale=calculate_gain(nonlinearity)^2, mode, distribution=normal)",
        _TORCH_KAIMING,
        _torch_kaiming("normal"),
    ),
    FrameworkInit(
        "torch.orthogonal_",
        "gain * Q, Q orthogonal on (shape[0], prod(shape[1:]))",
        f"{_T}:672",
        "orthogonal(gain)",
        (_GAIN,),
        _renamed("orthogonal", gain="gain"),
    ),
    FrameworkInit(
        "torch.sparse_",
        "N(0, std^2), then ceil(sparsity * rows) zeros in every column",
        f"{_T}:723",
        "sparse(sparsity, std)",
        (
            _number("sparsity", REQUIRED, "fraction of zeros per column, 0 <= sparsity < 1", minimum=0.0),
            _number("std", 0.01, "standard deviation of the non-zero values, >= 0", minimum=0.0),
        ),
        _renamed("sparse", sparsity="sparsity", std="std"),
        notes="PyTorch draws the zero mask from the global generator even when one is passed; ours follows the seed.",
    ),
    # -- JAX ----------------------------------------------------------------------------------------
    FrameworkInit("jax.zeros", "all zeros", f"{_J}:60-93", "zeros", (), _fixed("zeros")),
    FrameworkInit("jax.ones", "all ones", f"{_J}:60-93", "ones", (), _fixed("ones")),
    FrameworkInit(
        "jax.constant",
        "every element equal to value",
        f"{_J}:95-117",
        "constant(value)",
        (_number("value", REQUIRED, "the fill value"),),
        _renamed("constant", value="value"),
    ),
    FrameworkInit(
        "jax.uniform",
        "U[0, scale): not symmetric",
        f"{_J}:119-145",
        "uniform(low=0, high=scale)",
        (_number("scale", 1e-2, "upper bound, > 0"),),
        _jax_uniform,
    ),
    FrameworkInit(
        "jax.normal",
        "N(0, stddev^2)",
        f"{_J}:147-173",
        "normal(mean=0, std=stddev)",
        (_number("stddev", 1e-2, "standard deviation, >= 0", minimum=0.0),),
        lambda p: ("normal", {"mean": 0.0, "std": p["stddev"]}),
    ),
    FrameworkInit(
        "jax.truncated_normal",
        "stddev * N(0, 1) truncated to (lower, upper) (bounds in stddev units; no variance correction)",
        f"{_J}:175-212",
        "truncated_normal(mean=0, std=stddev, low=lower * stddev, high=upper * stddev)",
        (
            _number("stddev", 1e-2, "standard deviation before truncation, > 0"),
            _number("lower", -2.0, "lower bound in stddev units, < upper"),
            _number("upper", 2.0, "upper bound in stddev units"),
        ),
        _jax_truncated_normal,
    ),
    FrameworkInit(
        "jax.variance_scaling",
        "variance = scale / fan; 'normal' is untruncated, 'truncated_normal' corrected by 0.8796",
        f"{_J}:281-372",
        "variance_scaling(scale, mode, distribution)",
        (
            _number("scale", REQUIRED, "scale > 0", exclusive_minimum=0.0),
            Param("mode", "choice", REQUIRED, "the fan", ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")),
            Param("distribution", "choice", REQUIRED, "the distribution", ("truncated_normal", "normal", "uniform")),
            *_JAX_AXES,
        ),
        lambda p: ("variance_scaling", {"scale": p["scale"], "mode": p["mode"], "distribution": p["distribution"]}),
        notes="JAX does not check scale (a negative scale gives NaNs); we require scale > 0. Complex dtypes are "
        "not served (JAX's complex truncated normal is 1.9% above its documented variance: its constant "
        "0.95311 = sqrt(1 - 5 e^-4) omits the division by 1 - e^-4).",
    ),
    _jax_vs("glorot_uniform", "xavier_uniform", "glorot", "uniform", "U(+-sqrt(6 / (fan_in + fan_out)))", "374-410"),
    _jax_vs("glorot_normal", "xavier_normal", "glorot", "truncated_normal", "truncated, var 2/(in+out)", "412-448"),
    _jax_vs("lecun_uniform", None, "lecun", "uniform", "U(+-sqrt(3 / fan_in))", "450-485"),
    _jax_vs("lecun_normal", None, "lecun", "truncated_normal", "truncated, variance 1 / fan_in", "487-520"),
    _jax_vs("he_uniform", "kaiming_uniform", "he", "uniform", "U(+-sqrt(6 / fan_in))", "522-558"),
    _jax_vs("he_normal", "kaiming_normal", "he", "truncated_normal", "truncated, variance 2 / fan_in", "560-596"),
    FrameworkInit(
        "jax.orthogonal",
        "scale * Q, Q orthogonal with shape[column_axis] columns",
        f"{_J}:598-643",
        "orthogonal(gain=scale); column_axis -1 reads the shape as keras, 0 as torch",
        (_number("scale", 1.0, "multiplier"), Param("column_axis", "integer", -1, "the axis of the columns")),
        _renamed("orthogonal", gain="scale"),
        notes="column_axis must be the last axis or the first (another axis is a 422).",
    ),
    FrameworkInit(
        "jax.delta_orthogonal",
        "zeros except an orthogonal (in, out) matrix at the kernel centre (k - 1) // 2 (Xiao et al. 2018)",
        f"{_J}:645-706",
        "delta_orthogonal(gain=scale)",
        (_number("scale", 1.0, "multiplier"), Param("column_axis", "integer", -1, "the axis of the columns")),
        _renamed("delta_orthogonal", gain="scale"),
        notes="Only column_axis -1 (the kernel's out axis), as JAX's default.",
    ),
)

FRAMEWORK_INITS: Final[dict[str, FrameworkInit]] = {entry.name: entry for entry in _TABLE}
FRAMEWORK_ALIASES: Final[dict[str, str]] = {alias: entry.name for entry in _TABLE for alias in entry.aliases}


def framework_init(name: str) -> FrameworkInit | None:
    """The framework-named initializer called ``name`` (or an alias), None for any other name."""
    return FRAMEWORK_INITS.get(FRAMEWORK_ALIASES.get(name, name))


# -- resolution ----------------------------------------------------------------------------------------


def _framework_params(entry: FrameworkInit, params: Mapping[str, object]) -> dict[str, Any]:
    if "seed" in params and all(p.name != "seed" for p in entry.params):
        raise ParameterError(f"{entry.name}'s seed is the request's top-level seed", "init.seed")
    return check(entry.name, entry.params, params, "init.")


def _layout(entry: FrameworkInit, p: Mapping[str, Any], rank: int | None) -> tuple[str | FanAxes, bool]:
    """The layout the initializer implies, and whether its own parameters gave it."""
    framework = entry.framework
    if framework == "keras" and (p.get("input_axes") is not None or p.get("output_axes") is not None):
        if p.get("input_axes") is None or p.get("output_axes") is None:
            missing = "input_axes" if p.get("input_axes") is None else "output_axes"
            raise ParameterError(
                "give input_axes and output_axes together (Keras ignores one without the other)", f"init.{missing}"
            )
        if rank is None:
            raise ParameterError("input_axes and output_axes need the tensor's shape", "init.input_axes")
        # Keras counts no receptive field with explicit axes: every other axis is in neither fan.
        try:
            ins, outs, _ = FanAxes.of(p["input_axes"], p["output_axes"]).normalized(rank)
        except LayoutError as exc:
            where = {"fan_axes.in_axis": "init.input_axes"}.get(exc.field or "", "init.output_axes")
            raise ParameterError(exc.message.replace("fan_axes", "input_axes/output_axes"), where) from exc
        others = tuple(axis for axis in range(rank) if axis not in ins and axis not in outs)
        return FanAxes(ins, outs, others), True
    if framework == "jax" and "in_axis" in p:
        axes = FanAxes.of(p["in_axis"], p["out_axis"], p["batch_axis"])
        if axes != FanAxes.of(-2, -1, ()):
            return axes, True
    if entry.name in ("jax.orthogonal", "jax.delta_orthogonal"):
        return _column_axis_layout(entry, p["column_axis"], rank), p["column_axis"] != -1
    return FRAMEWORK_LAYOUTS[framework], False


def _column_axis_layout(entry: FrameworkInit, column_axis: int, rank: int | None) -> str:
    last = column_axis == -1 or (rank is not None and column_axis == rank - 1)
    if last:
        return "jax"
    first = entry.name == "jax.orthogonal" and (column_axis == 0 or (rank is not None and column_axis == -rank))
    if first:
        return "torch"
    allowed = "-1 (the last axis)" if entry.name == "jax.delta_orthogonal" else "-1 (the last axis) or 0"
    raise ParameterError(f"column_axis {column_axis} is not served; use {allowed}", "init.column_axis")


def resolve_any(name: str, params: Mapping[str, object] | None = None, rank: int | None = None) -> Resolved:
    """Resolve a canonical scheme or a framework-named initializer (its own parameters) to a canonical ``Init``.

    ``rank`` (the tensor's number of dims) is needed only for Keras ``input_axes``/``output_axes``
    and JAX ``column_axis`` given as a positive index.

    >>> r = resolve_any("torch.kaiming_uniform_", {"a": 5 ** 0.5})
    >>> r.init.as_dict(), r.layout
    ({'scheme': 'he', 'distribution': 'uniform', 'mode': 'fan_in', 'negative_slope': 2.23606797749979}, 'torch')
    >>> resolve_any("keras.GlorotNormal").init.as_dict()
    {'scheme': 'glorot', 'distribution': 'truncated_normal', 'gain': 1.0}
    """
    given = dict(params or {})
    entry = framework_init(name)
    if entry is None:
        if "." in name:
            known = ", ".join([*FRAMEWORK_INITS, *FRAMEWORK_ALIASES])
            raise ParameterError(f"unknown initializer {name!r}; framework-named ones are: {known}", "init.scheme")
        return Resolved(resolve_init(name, given))
    framework_params = _framework_params(entry, given)
    layout, axes_given = _layout(entry, framework_params, rank)
    scheme, canonical = entry.to_canonical(framework_params)
    try:
        init = resolve_init(scheme, canonical)
    except ParameterError as exc:  # name the framework's parameter, not the canonical one
        raise ParameterError(f"{entry.name}: {exc.message}", "init") from exc
    requested = {
        "scheme": entry.name,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in framework_params.items()},
    }
    return Resolved(init, requested, layout, axes_given)


def framework_catalogue() -> list[dict[str, Any]]:
    """Every framework-named initializer, its fields and its canonical expansion (``GET /v1/schemes``)."""
    entries = []
    for entry in _TABLE:
        try:
            example: dict[str, Any] | None = resolve_any(entry.name).init.as_dict()
        except ParameterError:
            example = None  # required parameters
        entries.append(
            {
                "name": entry.name,
                "framework": entry.framework,
                "aliases": list(entry.aliases),
                "summary": entry.summary,
                "source": entry.source,
                "layout": FRAMEWORK_LAYOUTS[entry.framework],
                "expansion": entry.expansion,
                "default_expansion": example,
                "notes": entry.notes or None,
                "fields": [field_info(p) for p in entry.params],
            }
        )
    return entries
