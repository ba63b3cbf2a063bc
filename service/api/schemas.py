"""Request and answer models (Pydantic v2), built from the core's scheme table.

Each scheme of ``service.core.SCHEMES`` becomes one ``<Name>Init`` model with
the table's fields, defaults and bounds; ``Init`` is their union, discriminated
by the required ``scheme`` tag. Numbers are never coerced from booleans or
strings, every number must be finite, and unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StrictBool, Tag, create_model

from service.core import DTYPES, LAYOUTS, MAX_RANK, MAX_SEED, SCHEMES, STREAMS
from service.core.frameworks import FRAMEWORK_INITS, FrameworkInit
from service.core.model import MAX_ENTRIES, MAX_NAME_LENGTH, NAME_PATTERN
from service.core.params import Param
from service.core.presets import PRESETS, Preset
from service.core.schemes import Scheme
from service.core.stats import MAX_BINS
from service.core.streams.names import DEFAULT_STREAM


def no_bool_or_str(value: Any) -> Any:
    """Refuse JSON booleans and strings where a number is expected (Pydantic's lax mode takes them)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a number, not a boolean or a string")
    return value


def json_integer(value: Any) -> Any:
    """Refuse anything but a JSON integer (Pydantic's lax mode takes 1.0, -0.0 and 1e3 as integers)."""
    if isinstance(value, float):
        raise ValueError("must be a JSON integer (no decimal point or exponent)")
    return no_bool_or_str(value)


# Constraints come before the validator (pydantic#11576: after it, the schema shows `ge` instead of `minimum`).
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(no_bool_or_str)]
Dim = Annotated[int, Field(ge=1), BeforeValidator(no_bool_or_str)]
Axis = Annotated[int, BeforeValidator(no_bool_or_str)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(json_integer)]

Stream = Annotated[
    Literal[STREAMS],  # type: ignore[valid-type]
    Field(
        description="which random numbers: initserve-1 (initserve's chunked PCG64 stream), initserve-2 "
        "(initserve's counter-based Philox stream: every element addressable, the same bits on every machine; "
        "docs/initserve-2.md), torch (PyTorch 2.13 "
        "CPU after torch.manual_seed(seed), AVX2/AVX-512 kernels), torch-default (the same with "
        "ATEN_CPU_CAPABILITY=default kernels), jax (JAX 0.10 initializer(jax.random.key(seed), shape, dtype)), "
        "keras (Keras 3 Initializer(seed=seed) on the JAX backend), flax (models: Flax linen Module.init "
        "params, each entry's prefix its module path). The distribution and fans are the request's either way."
    ),
]

_STRICT = ConfigDict(extra="forbid")
_ANSWER = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def _field(param: Param) -> tuple[Any, Any]:
    """A parameter (a scheme's or an initializer's field, a layer's argument) as a Pydantic field; the core
    checks the value again, with the same rules and more (magnitudes, cross-field checks)."""
    bounds = {
        "ge": param.minimum,
        "gt": param.exclusive_minimum,
        "le": param.maximum,
        "lt": param.exclusive_maximum,
    }
    limits = {k: v for k, v in bounds.items() if v is not None}
    integer = Annotated[int, Field(**limits), BeforeValidator(no_bool_or_str)]
    kind: Any
    if param.kind == "integer":
        kind = integer
    elif param.kind == "number":
        kind = Annotated[float, Field(**limits, allow_inf_nan=False), BeforeValidator(no_bool_or_str)]
    elif param.kind == "boolean":
        kind = StrictBool
    elif param.kind == "choice":
        kind = Literal[param.choices]  # type: ignore[valid-type]
    elif param.kind == "axes":
        kind = Axis | list[Axis]
    else:  # integers: an int or a list of ints, or one of the choices
        lengths = Field(min_length=param.length or 1, max_length=param.length or MAX_RANK)
        kind = integer | Annotated[list[integer], lengths]  # type: ignore[valid-type]
        if param.choices:
            kind = kind | Literal[param.choices]  # type: ignore[valid-type]
    if param.nullable:
        kind = kind | None
    default = ... if param.required else (list(param.default) if isinstance(param.default, tuple) else param.default)
    return kind, Field(default, description=param.description)


def _init_model(scheme: Scheme) -> type[BaseModel]:
    name = "".join(part.title() for part in scheme.name.split("_")) + "Init"
    tag = Literal[(scheme.name, *scheme.aliases)]  # type: ignore[valid-type]
    described = f"{scheme.summary}. {scheme.formula}. Shapes: {scheme.shapes}."
    if scheme.aliases:
        described += f" Also accepted as: {', '.join(scheme.aliases)} (echoed as {scheme.name})."
    return create_model(
        name,
        __config__=_STRICT,
        __doc__=described,
        scheme=(tag, Field(description="the scheme's name")),
        **{p.name: _field(p) for p in scheme.params},
    )


def _framework_init_model(entry: FrameworkInit) -> type[BaseModel]:
    framework, function = entry.name.split(".", 1)
    name = framework.title() + "".join(part[:1].upper() + part[1:] for part in function.split("_")) + "Init"
    tag = Literal[(entry.name, *entry.aliases)]  # type: ignore[valid-type]
    described = f"{entry.name}: {entry.summary}. Resolves to {entry.expansion}; {framework} layout unless given."
    if entry.aliases:
        described += f" Also accepted as: {', '.join(entry.aliases)}."
    if entry.notes:
        described += f" {entry.notes}"
    return create_model(
        name,
        __config__=_STRICT,
        __doc__=described,
        scheme=(tag, Field(description="the initializer's name, as its framework spells it")),
        **{p.name: _field(p) for p in entry.params},
    )


#: One model per canonical scheme and per framework-named initializer, by name.
INIT_MODELS: dict[str, type[BaseModel]] = {
    **{name: _init_model(scheme) for name, scheme in SCHEMES.items()},
    **{name: _framework_init_model(entry) for name, entry in FRAMEWORK_INITS.items()},
}

Init = Annotated[Union[tuple(INIT_MODELS.values())], Field(discriminator="scheme")]  # type: ignore[valid-type]  # noqa: UP007


class FanAxes(BaseModel):
    """Explicit axes (JAX ``variance_scaling``): every axis not named is receptive field."""

    model_config = _STRICT

    in_axis: Axis | list[Axis] = Field(description="input axis or axes; negative counts from the end")
    out_axis: Axis | list[Axis] = Field(description="output axis or axes")
    batch_axis: list[Axis] = Field(default_factory=list, description="axes in neither fan (stacked layers)")


Bound = Annotated[int, BeforeValidator(no_bool_or_str)]
SliceBounds = Annotated[
    list[Annotated[list[Bound], Field(min_length=2, max_length=2)]],
    Field(
        max_length=MAX_RANK,
        description="the part served: one [start, stop] per leading dimension (half-open; the dimensions it "
        "omits whole), full[s0:e0, s1:e1, ...]; 0 <= start < stop <= dim. Fans, moments and numbers are the "
        "full tensor's; the answer's shape and statistics are the part's. Not with shard.",
    ),
]


class Shard(BaseModel):
    """The ``index``-th of ``count`` equal parts of ``axis`` (Megatron's tensor-parallel split)."""

    model_config = _STRICT

    axis: Bound = Field(description="the split axis; negative counts from the end")
    index: Bound = Field(description="0 to count - 1: this rank's part")
    count: Bound = Field(description="the parts; must divide the axis length")


class TensorRequest(BaseModel):
    """One tensor: its shape, how to read it (layout or fan_axes), the scheme, the seed and the dtype."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "shape": [784, 256],
                    "layout": "keras",
                    "init": {"scheme": "he", "distribution": "normal", "mode": "fan_in"},
                    "seed": 42,
                    "dtype": "float32",
                }
            ]
        },
    )

    shape: list[Dim] = Field(max_length=MAX_RANK, description="0 to 8 dims, each >= 1")
    layout: Literal[LAYOUTS] = Field(  # type: ignore[valid-type]
        "keras", description="keras/jax: (..., in, out); torch: (out, in, ...). Not with fan_axes."
    )
    fan_axes: FanAxes | None = Field(None, description="explicit fan axes instead of a layout")
    init: Init
    seed: Seed | None = Field(None, description="0 to 2^53 - 1; when absent the service picks one and returns it")
    dtype: Literal[DTYPES] = "float32"  # type: ignore[valid-type]
    stream: Stream = DEFAULT_STREAM
    slice: SliceBounds | None = None
    shard: Shard | None = None


class HistogramOptions(BaseModel):
    """Equal bins over the served tensor, counted by the service (numpy.histogram's semantics)."""

    model_config = _STRICT

    bins: Annotated[int, Field(ge=1, le=MAX_BINS), BeforeValidator(no_bool_or_str)] = Field(
        description=f"the number of equal bins, 1 to {MAX_BINS}"
    )
    range: Annotated[list[Number], Field(min_length=2, max_length=2)] | None = Field(
        None,
        description="[low, high]: the outer edges (low <= high); values outside are not counted. Default: the "
        "served tensor's [min, max]. Edges are computed in the tensor's dtype, as numpy.histogram does",
    )


class StatsRequest(TensorRequest):
    """A tensor request for its statistics only, optionally with a histogram of its values."""

    histogram: HistogramOptions | None = Field(
        None, description="also count the served tensor's values into equal bins (answered as stats.histogram)"
    )


# -- answers (documentation of the JSON the service writes with orjson) ----------------------------


class TheoreticalStats(BaseModel):
    model_config = _ANSWER
    mean: float
    variance: float
    std: float
    low: float | None = Field(description="lower bound of the support; null where unbounded")
    high: float | None = Field(description="upper bound of the support; null where unbounded")


class EmpiricalStats(BaseModel):
    model_config = _ANSWER
    count: int
    mean: float
    variance: float = Field(description="population variance (divide by n)")
    std: float
    min: float
    max: float


class Stats(BaseModel):
    model_config = _ANSWER
    theoretical: TheoreticalStats
    empirical: EmpiricalStats
    variance_ratio: float | None = Field(description="empirical / theoretical variance; null if the latter is 0")
    variance_z: float | None = Field(
        description="(empirical - theoretical variance) / standard error from the sample's fourth moment"
    )


class Histogram(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edges: list[float] = Field(description="bins + 1 edges, increasing (numpy.histogram's bin_edges)")
    counts: list[int] = Field(
        description="values in [edges[i], edges[i+1]) (the last bin also takes edges[-1]); outside: not counted"
    )


class TensorStats(Stats):
    # The answer leaves `histogram` out unless asked for: the schema must not list it as required (in the
    # serialization schema a field with a default is required, and generated clients then fail on every answer).
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")
    histogram: Histogram | None = Field(
        None, description="present when the request asked for one (POST /v1/tensors/stats with histogram)"
    )


class StatsAnswer(BaseModel):
    """The answer without data (POST /v1/tensors/stats)."""

    model_config = _ANSWER
    shape: list[int] = Field(description="the served shape: the slice's, else the full tensor's")
    full_shape: list[int] = Field(description="the full tensor's shape (the request's)")
    slice: list[list[int]] | None = Field(description="the part served, [start, stop] per dimension; null: whole")
    dtype: Literal[DTYPES]  # type: ignore[valid-type]
    layout: Literal[LAYOUTS] | None  # type: ignore[valid-type]
    fan_axes: FanAxes | None
    seed: int
    init: Init = Field(description="the canonical scheme with every default filled in (aliases echoed canonical)")
    requested_init: Init | None = Field(  # type: ignore[valid-type]
        description="a framework-named init as asked (e.g. torch.kaiming_uniform_), its defaults filled in; "
        "null when the request named a canonical scheme"
    )
    fan_in: int | None = Field(description="null where the layout defines no fans")
    fan_out: int | None
    stream: Literal[STREAMS]  # type: ignore[valid-type]
    stream_version: str = Field(description="the version of the stream: 1 for initserve-1, 2.13.0 for torch, ...")
    stats: TensorStats


class TensorAnswer(StatsAnswer):
    """The answer with the data, flat, in C order (POST /v1/tensors)."""

    data: list[float] = Field(description="flat, row-major; each value parsed to the dtype equals the .npy value")


class SchemeField(BaseModel):
    model_config = _ANSWER
    name: str
    type: Literal["number", "integer", "choice", "axes", "boolean"]
    required: bool
    default: bool | float | int | str | list[int] | None
    choices: list[str] | None
    description: str


class SchemeInfo(BaseModel):
    model_config = _ANSWER
    scheme: str
    aliases: list[str]
    summary: str
    formula: str
    uses_fans: bool
    shapes: str
    fields: list[SchemeField]


class FrameworkInitInfo(BaseModel):
    """A framework-named initializer: its own fields and the canonical scheme it resolves to."""

    model_config = _ANSWER
    name: str = Field(description="as the framework spells it, prefixed keras., torch. or jax.")
    framework: Literal["keras", "torch", "jax"]
    aliases: list[str]
    summary: str
    source: str = Field(description="where the framework defines it (file:lines)")
    layout: Literal[LAYOUTS] = Field(description="the layout used unless the request gives one")  # type: ignore[valid-type]
    expansion: str = Field(description="the canonical scheme it resolves to, in terms of its own fields")
    default_expansion: dict[str, Any] | None = Field(
        description="the canonical init of the defaults; null when a field is required"
    )
    notes: str | None = Field(description="where we deviate from the framework's code, and why")
    fields: list[SchemeField]


class Catalogue(BaseModel):
    model_config = _ANSWER
    schemes: list[SchemeInfo]
    initializers: list[FrameworkInitInfo] = Field(description="framework-named initializers accepted as init")
    presets: list[PresetInfo] = Field(description="layer presets accepted as model entries")
    layouts: list[str]
    dtypes: list[str]
    stream_version: str = Field(description="the version of the default stream (initserve-2)")
    streams: dict[str, str] = Field(description="every stream a request can name, and its version")


class FieldError(BaseModel):
    """One invalid field of a refused request."""

    model_config = _ANSWER
    field: str = Field(description="the request field, dotted (e.g. init.scale); empty for the body as a whole")
    message: str = Field(description="what is wrong with it, for a person")
    type: str = Field(description="a short machine-readable code (Pydantic's error type or the service's error class)")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = Field(None, description="the failing request field, dotted (e.g. init.scale)")
    errors: list[FieldError] | None = Field(None, description="every invalid field (validation errors)")
    request_id: str | None = None


class Health(BaseModel):
    model_config = _ANSWER
    status: str


# -- whole models (POST /v1/models/*) -----------------------------------------------------------------

TensorName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=f"^{NAME_PATTERN}$", description="the full name")
]


def _preset_model(preset: Preset) -> type[BaseModel]:
    framework, layer = preset.name.split(".", 1)
    return create_model(
        f"{framework.title()}{layer}Preset",
        __config__=_STRICT,
        __doc__=f"{preset.name}: {preset.summary}. Source: {preset.source}.",
        preset=(Literal[preset.name], Field(description="the layer")),  # type: ignore[valid-type]
        prefix=(
            Annotated[str, Field(max_length=MAX_NAME_LENGTH, pattern=f"^({NAME_PATTERN})?$")],
            Field(
                "", description="prefix of the layer's tensor names (encoder.0 gives encoder.0.weight); may be empty"
            ),
        ),
        **{arg.name: _field(arg) for arg in preset.args},
    )


PRESET_MODELS: dict[str, type[BaseModel]] = {name: _preset_model(preset) for name, preset in PRESETS.items()}
PresetEntry = Annotated[Union[tuple(PRESET_MODELS.values())], Field(discriminator="preset")]  # type: ignore[valid-type]  # noqa: UP007


class TensorEntry(BaseModel):
    """One named tensor of a model."""

    model_config = _STRICT

    name: TensorName
    shape: list[Dim] = Field(max_length=MAX_RANK, description="0 to 8 dims, each >= 1")
    init: Init
    layout: Literal[LAYOUTS] | None = Field(  # type: ignore[valid-type]
        None, description="default: the model's layout, else the init's framework's, else keras"
    )
    fan_axes: FanAxes | None = Field(None, description="explicit fan axes instead of a layout")
    dtype: Literal[DTYPES] | None = Field(None, description="default: the model's dtype")  # type: ignore[valid-type]
    slice: SliceBounds | None = None
    shard: Shard | None = None


def _entry_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "preset" if "preset" in value else "tensor"
    return "preset" if hasattr(value, "preset") else "tensor"


ModelEntry = Annotated[
    Union[Annotated[TensorEntry, Tag("tensor")], Annotated[PresetEntry, Tag("preset")]],  # noqa: UP007
    Discriminator(_entry_kind),
]


class ModelRequest(BaseModel):
    """A model: named tensors and layer presets, a model seed, a dtype and a default layout."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "entries": [
                        {"preset": "torch.Linear", "prefix": "encoder.0", "in_features": 784, "out_features": 256},
                        {"name": "head.weight", "shape": [10, 256], "init": {"scheme": "torch.xavier_uniform_"}},
                    ],
                    "seed": 7,
                    "dtype": "float32",
                }
            ]
        },
    )

    entries: list[ModelEntry] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_ENTRIES, description="named tensors and layer presets, in any order"
    )
    seed: Seed | None = Field(
        None, description="the model seed; tensor `name` gets the seed derived from it and its name"
    )
    dtype: Literal[DTYPES] = "float32"  # type: ignore[valid-type]
    layout: Literal[LAYOUTS] | None = Field(  # type: ignore[valid-type]
        None, description="default layout of the named tensors (presets use their framework's)"
    )
    stream: Stream = DEFAULT_STREAM


class ModelTensorStats(BaseModel):
    """One tensor of a model, as made."""

    model_config = _ANSWER
    name: str
    entry: int = Field(description="index of the request entry that made it")
    preset: str | None = Field(description="the preset that made it; null for a named tensor")
    shape: list[int] = Field(description="the served shape: the slice's, else the full tensor's")
    full_shape: list[int] = Field(description="the full tensor's shape")
    slice: list[list[int]] | None = Field(description="the part served, [start, stop] per dimension; null: whole")
    dtype: Literal[(*DTYPES, "int64")]  # type: ignore[valid-type]
    layout: Literal[LAYOUTS] | None  # type: ignore[valid-type]
    fan_axes: FanAxes | None
    seed: int = Field(
        description="derived from the model seed and the name; the model seed in a stream whose tensors share "
        "one generator (torch)"
    )
    init: Init = Field(description="the canonical scheme with every default filled in")
    requested_init: Init | None = Field(description="the framework-named init as asked; null if canonical")  # type: ignore[valid-type]
    fan_in: int | None
    fan_out: int | None
    stats: Stats


class ModelStatsAnswer(BaseModel):
    """The model's manifest: every tensor, its init, seed and statistics, no data (POST /v1/models/stats)."""

    model_config = _ANSWER
    seed: int
    dtype: Literal[DTYPES]  # type: ignore[valid-type]
    stream: Literal[STREAMS]  # type: ignore[valid-type]
    stream_version: str
    shared_generator: bool = Field(
        description="true when the tensors are drawn from ONE generator seeded with the model seed, in entry "
        "order (as the framework's modules would be built in that order): the torch streams"
    )
    count: int = Field(description="elements in all")
    nbytes: int = Field(description="bytes of tensor data in all")
    tensors: list[ModelTensorStats]


class PresetArgInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["integer", "boolean", "integers", "number", "choice"]
    required: bool
    default: Any = None
    description: str
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool | None = None
    choices: list[str] | None = None
    length: int | None = None


class PresetInfo(BaseModel):
    """A layer preset: its constructor arguments and the tensors an example makes."""

    model_config = ConfigDict(extra="forbid")
    name: str
    framework: Literal["torch", "keras", "flax"]
    summary: str
    source: str
    args: list[PresetArgInfo]
    example: dict[str, Any] = Field(description="example arguments and the tensors they make")


Catalogue.model_rebuild()
