"""Signal-propagation diagnostics over HTTP: JSON numbers and an SVG chart.

``POST /v1/diagnostics/propagation`` and ``POST /v1/diagnostics/propagation/svg`` take the same
request: a stack of dense layers (``widths``, or ``depth`` and ``width``), an ``activation``, one
scheme (``init``) or several side by side (``compare``), a ``batch`` and a ``seed``. The math is
``service.core.diagnostics``. The cost (``batch x sum of n_in x n_out x schemes``, depth x width^2 x
batch for equal widths) and the peak memory are checked against the settings before any work (413);
the measurement is admitted like any generation (``service.core.cost``: its bytes and flops; 503 when
the budgets stay full) and runs on the runtime's heavy pool, stopping between layers when the client
leaves.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from service.api.answers import ERRORS
from service.api.problems import documented, problem
from service.api.runtime import Runtime, RuntimeDep
from service.api.schemas import Init, Number, Seed, no_bool_or_str
from service.core import DTYPES, MAX_SEED, STREAM_VERSION, InitError, ParameterError, ShapeError
from service.core.activations import ACTIVATIONS, activation
from service.core.diagnostics import (
    EXPLODING_ABOVE,
    MAX_DEPTH,
    MAX_SCHEMES,
    MIN_DEPTH,
    VANISHING_BELOW,
    Moment,
    Network,
    Report,
    Run,
    network,
    plan_diagnostics,
)
from service.core.frameworks import resolve_any
from service.core.schemes import Init as CoreInit
from service.encode import svg

router = APIRouter(tags=["diagnostics"])
T = TypeVar("T")
logger = logging.getLogger("initserve.errors")
_ERRORS: dict[int | str, dict[str, Any]] = {**documented(400, 413, 415, 422, 500), 503: ERRORS[503]}

Count = Annotated[int, Field(ge=1), BeforeValidator(no_bool_or_str)]
Depth = Annotated[int, Field(ge=MIN_DEPTH, le=MAX_DEPTH), BeforeValidator(no_bool_or_str)]
Batch = Annotated[int, Field(ge=1, le=1 << 16), BeforeValidator(no_bool_or_str)]

_EXAMPLE = {
    "depth": 50,
    "width": 256,
    "activation": "relu",
    "compare": [{"scheme": "he"}, {"scheme": "glorot"}, {"scheme": "lecun"}],
    "batch": 256,
    "seed": 1,
}


class PropagationRequest(BaseModel):
    """A stack of dense layers without biases, an activation, and the scheme(s) to measure on it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    widths: list[Count] | None = Field(
        None,
        min_length=MIN_DEPTH + 1,
        max_length=MAX_DEPTH + 1,
        description="the input width, then one width per layer (3 to 1001 numbers); or give depth and width",
    )
    depth: Depth | None = Field(None, description="number of layers, 2 to 1000 (with width; not with widths)")
    width: Count | None = Field(None, description="width of the input and of every layer (with depth)")
    activation: Literal[ACTIVATIONS] = Field(  # type: ignore[valid-type]
        description="the nonlinearity after every layer (gelu: tanh approximation; swish: z * sigmoid(z))"
    )
    negative_slope: Number | None = Field(None, description="leaky_relu only: the negative slope (default 0.01)")
    init: Init | None = Field(None, description="the scheme of every layer's weights; or give compare")
    compare: list[Init] | None = Field(  # type: ignore[valid-type]
        None,
        min_length=2,
        max_length=MAX_SCHEMES,
        description=f"2 to {MAX_SCHEMES} schemes measured side by side on the same inputs and seeds (not with init)",
    )
    batch: Batch = Field(256, description="number of random inputs, 1 to 65536")
    seed: Seed | None = Field(None, description="0 to 2^53 - 1; when absent the service picks one and returns it")
    dtype: Literal[DTYPES] = Field(  # type: ignore[valid-type]
        "float32", description="dtype of the weights (as POST /v1/tensors serves them); the math is float64"
    )


# -- answers (documentation of the JSON written with orjson) -----------------------------------------

_ANSWER = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class MomentAnswer(BaseModel):
    model_config = _ANSWER
    mean: float | None = Field(description="null where the pass stopped (overflow)")
    variance: float | None = Field(description="population variance over the batch and the units")
    relative: float | None = Field(description="variance / the variance at layer 1; null where undefined")


class LayerAnswer(BaseModel):
    model_config = _ANSWER
    layer: int = Field(description="1 to depth")
    fan_in: int
    fan_out: int
    seed: int = Field(description="seed of this layer's weights: POST /v1/tensors with it gives them exactly")
    pre_activation: MomentAnswer = Field(description="z = h_prev W")
    activation: MomentAnswer = Field(description="h = f(z)")
    pre_activation_grad: MomentAnswer = Field(description="dLoss/dz, propagated back from random output gradients")
    weight_grad: MomentAnswer = Field(description="dLoss/dW = h_prev^T dLoss/dz (summed over the batch)")


class TrendAnswer(BaseModel):
    model_config = _ANSWER
    gain: float | None = Field(description="geometric-mean variance ratio per layer, in the direction of the pass")
    verdict: Literal["vanishing", "stable", "exploding"] | None = Field(
        description="null only for a backward pass not measured because the forward pass overflowed"
    )


class RunAnswer(BaseModel):
    model_config = _ANSWER
    init: Init = Field(description="the scheme with every default filled in")
    forward: TrendAnswer = Field(description="read on the pre-activations")
    backward: TrendAnswer = Field(description="read on the gradients with respect to the pre-activations")
    distance: float | None = Field(description="|ln forward gain| + |ln backward gain|; null when infinite")
    layers: list[LayerAnswer]


class Thresholds(BaseModel):
    model_config = _ANSWER
    vanishing_below: float
    exploding_above: float


class Recommendation(BaseModel):
    model_config = _ANSWER
    index: int = Field(description="index in compare (and runs)")
    init: Init


class PropagationAnswer(BaseModel):
    """Per scheme, per layer: means and variances forward and backward, the gains and the verdicts."""

    model_config = _ANSWER
    widths: list[int]
    depth: int
    activation: Literal[ACTIVATIONS]  # type: ignore[valid-type]
    negative_slope: float | None
    batch: int
    seed: int
    dtype: Literal[DTYPES]  # type: ignore[valid-type]
    stream_version: str = Field(description="the random stream of the weights")
    thresholds: Thresholds = Field(description="the verdicts' bounds on the gain per layer")
    runs: list[RunAnswer] = Field(description="one per scheme, in request order")
    recommendation: Recommendation | None = Field(
        description="with compare: the scheme whose gains are closest to 1 (smallest distance); else null"
    )


# -- request to core and back ---------------------------------------------------------------------


def _scheme_field(field: str | None, index: int | None) -> str:
    rest = (field or "init").removeprefix("init")
    return f"init{rest}" if index is None else f"compare.{index}{rest}"


def to_core(body: PropagationRequest) -> tuple[Network, list[CoreInit]]:
    """The core's network and schemes; picks a seed when none is given."""
    if body.widths is not None:
        if body.depth is not None or body.width is not None:
            raise ShapeError("give either widths or depth and width, not both", "widths")
        widths = list(body.widths)
    elif body.depth is None or body.width is None:
        missing = "depth" if body.depth is None else "width"
        raise ShapeError("give widths, or depth and width", missing)
    else:
        widths = [body.width] * (body.depth + 1)
    act = activation(body.activation, body.negative_slope)
    if body.init is not None and body.compare is not None:
        raise ParameterError("give either init (one scheme) or compare (several), not both", "compare")
    if body.init is None and body.compare is None:
        raise ParameterError("give init (one scheme) or compare (several schemes)", "init")
    given = [(None, body.init)] if body.init is not None else list(enumerate(body.compare or []))
    inits = []
    for index, model in given:
        try:
            params = model.model_dump(exclude={"scheme"})  # type: ignore[attr-defined]
            inits.append(resolve_any(model.scheme, params, rank=2).init)  # type: ignore[attr-defined]
        except InitError as exc:
            raise type(exc)(exc.message, _scheme_field(exc.field, index)) from exc
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
    return network(widths, act, body.batch, seed, body.dtype), inits


def _moment(m: Moment) -> dict[str, float | None]:
    return {"mean": m.mean, "variance": m.variance, "relative": m.relative}


def _run(run: Run) -> dict[str, Any]:
    distance = run.distance
    return {
        "init": run.init.as_dict(),
        "forward": {"gain": run.forward.gain, "verdict": run.forward.verdict},
        "backward": {"gain": run.backward.gain, "verdict": run.backward.verdict},
        "distance": distance if math.isfinite(distance) else None,
        "layers": [
            {
                "layer": s.layer,
                "fan_in": s.fan_in,
                "fan_out": s.fan_out,
                "seed": s.seed,
                "pre_activation": _moment(s.pre_activation),
                "activation": _moment(s.activation),
                "pre_activation_grad": _moment(s.pre_activation_grad),
                "weight_grad": _moment(s.weight_grad),
            }
            for s in run.layers
        ],
    }


def answer(report: Report) -> bytes:
    """The JSON answer of ``report``."""
    net = report.network
    best = report.recommendation
    body = {
        "widths": list(net.widths),
        "depth": net.depth,
        "activation": net.activation.name,
        "negative_slope": net.activation.negative_slope,
        "batch": net.batch,
        "seed": net.seed,
        "dtype": net.dtype,
        "stream_version": STREAM_VERSION,
        "thresholds": {"vanishing_below": VANISHING_BELOW, "exploding_above": EXPLODING_ABOVE},
        "runs": [_run(run) for run in report.runs],
        "recommendation": None if best is None else {"index": best, "init": report.runs[best].init.as_dict()},
    }
    return orjson.dumps(body)


async def measure(request: Request, runtime: Runtime, body: PropagationRequest, answer: Callable[[Report], T]) -> T:
    """Check the request and its limits (422, 413: before any work), then measure and ``answer`` under
    admission, on the runtime's heavy pool."""
    net, inits = to_core(body)
    settings = runtime.settings
    planned = plan_diagnostics(
        net, inits, max_cost=settings.max_diagnostics_cost, max_bytes=settings.max_diagnostics_bytes
    )
    return await runtime.diagnose(request, planned, answer)


_SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A line chart (SVG): log-scale variance against the layer, forward and backward, "
        "one line per scheme, with the gains, the verdicts and the recommendation in the legend.",
        "content": {svg.MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    **_ERRORS,
    503: {
        **ERRORS[503],
        "description": ERRORS[503]["description"] + " Or: the chart cannot be drawn on this host (matplotlib "
        "found no writable cache directory).",
    },
}


@router.post(
    "/v1/diagnostics/propagation",
    operation_id="diagnose_propagation",
    summary="Measure how the variance of activations and gradients propagates through a deep dense stack",
    response_model=PropagationAnswer,
    response_class=JSONResponse,
    responses=_ERRORS,
)
async def diagnose_propagation(request: Request, body: PropagationRequest, runtime: RuntimeDep) -> Response:
    return Response(await measure(request, runtime, body, answer), media_type="application/json")


@router.post(
    "/v1/diagnostics/propagation/svg",
    operation_id="diagnose_propagation_svg",
    summary="The propagation diagnostics as an SVG line chart",
    response_class=Response,
    responses=_SVG_RESPONSE,
)
async def diagnose_propagation_svg(request: Request, body: PropagationRequest, runtime: RuntimeDep) -> Response:
    try:
        content = await measure(request, runtime, body, svg.render)
    except svg.MatplotlibUnavailable:
        # The cause (matplotlib's message names directories of the host) goes to the log, not to the client.
        logger.exception("diagnostics chart unavailable")
        detail = (
            "the chart cannot be drawn here (matplotlib is missing or has no writable cache directory: "
            "see MPLCONFIGDIR); the JSON operation works without it"
        )
        return problem(request, 503, detail)
    return Response(content, media_type=svg.MEDIA_TYPE)
