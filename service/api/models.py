"""Request and answer models (Pydantic v2), built from the core's scheme table.

Each scheme of ``service.core.SCHEMES`` becomes one ``<Name>Init`` model with
the table's fields, defaults and bounds; ``Init`` is their union, discriminated
by the required ``scheme`` tag. Numbers are never coerced from booleans or
strings, every number must be finite, and unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from service.core import DTYPES, LAYOUTS, MAX_RANK, MAX_SEED, SCHEMES
from service.core.schemes import Param, Scheme


def _no_bool_or_str(value: Any) -> Any:
    """Refuse JSON booleans and strings where a number is expected (Pydantic's lax mode takes them)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a number, not a boolean or a string")
    return value


# Constraints come before the validator (pydantic#11576: after it, the schema shows `ge` instead of `minimum`).
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_no_bool_or_str)]
Dim = Annotated[int, Field(ge=1), BeforeValidator(_no_bool_or_str)]
Axis = Annotated[int, BeforeValidator(_no_bool_or_str)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(_no_bool_or_str)]

_STRICT = ConfigDict(extra="forbid")
_ANSWER = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def _field(param: Param) -> tuple[Any, Any]:
    default = ... if param.required else param.default
    if param.kind == "choice":
        return Literal[param.choices], Field(default, description=param.description)  # type: ignore[valid-type]
    bounds = {"ge": param.minimum, "gt": param.exclusive_minimum, "lt": param.exclusive_maximum}
    base = int if param.kind == "integer" else float
    kind = Annotated[
        base,  # type: ignore[valid-type]
        Field(**{k: v for k, v in bounds.items() if v is not None}, allow_inf_nan=False),
        BeforeValidator(_no_bool_or_str),
    ]
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


INIT_MODELS: dict[str, type[BaseModel]] = {name: _init_model(scheme) for name, scheme in SCHEMES.items()}

Init = Annotated[Union[tuple(INIT_MODELS.values())], Field(discriminator="scheme")]  # type: ignore[valid-type]  # noqa: UP007


class FanAxes(BaseModel):
    """Explicit axes (JAX ``variance_scaling``): every axis not named is receptive field."""

    model_config = _STRICT

    in_axis: Axis | list[Axis] = Field(description="input axis or axes; negative counts from the end")
    out_axis: Axis | list[Axis] = Field(description="output axis or axes")
    batch_axis: list[Axis] = Field(default_factory=list, description="axes in neither fan (stacked layers)")


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


class StatsAnswer(BaseModel):
    """The answer without data (POST /v1/tensors/stats)."""

    model_config = _ANSWER
    shape: list[int]
    dtype: Literal[DTYPES]  # type: ignore[valid-type]
    layout: Literal[LAYOUTS] | None  # type: ignore[valid-type]
    fan_axes: FanAxes | None
    seed: int
    init: Init = Field(description="the scheme with every default filled in (aliases echoed canonical)")
    fan_in: int | None = Field(description="null where the layout defines no fans")
    fan_out: int | None
    stream_version: str
    stats: Stats


class TensorAnswer(StatsAnswer):
    """The answer with the data, flat, in C order (POST /v1/tensors)."""

    data: list[float] = Field(description="flat, row-major; each value parsed to the dtype equals the .npy value")


class SchemeField(BaseModel):
    model_config = _ANSWER
    name: str
    type: Literal["number", "integer", "choice"]
    required: bool
    default: float | int | str | None
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


class Catalogue(BaseModel):
    model_config = _ANSWER
    schemes: list[SchemeInfo]
    layouts: list[str]
    dtypes: list[str]
    stream_version: str


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
