"""One resolver, two doors: every request of the table below is answered the same by the library and by HTTP.

Each case is a request as plain data (the JSON body). It runs

1. through the library: ``resolve_tensor`` / ``resolve_model`` and ``Engine(1).generate`` for every case, and
   ``make_tensor`` for the tensor requests it can express (a seed given, not both layout and fan_axes);
2. through HTTP: ``POST /v1/tensors/npy`` (``/v1/tensors/safetensors`` for bfloat16, which NPY lacks) and
   ``POST /v1/models/safetensors``, read back with numpy / ``safetensors.numpy``;

and asserts the same bytes of every array (same dtype and shape), or, for an invalid request, an ``InitError``
from the library and a 4xx problem from HTTP naming the same field (library ``exc.field`` == problem ``field``),
with 413 exactly where the library raises ``TooLargeError``.

The library is given the limits the app is configured with (``settings()``), as the routes pass them.

Most invalid cases are semantic: Pydantic accepts the body and the core resolver refuses it, so both doors meet
the same code. A few (marked "Pydantic first" below) are refused by the HTTP layer's Pydantic models before the
resolver runs (an unknown stream, a seed out of range, a zero dim, an unknown scheme name); for those the field
is Pydantic's location, dotted, and the test checks it still names the same field as the core.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from safetensors.numpy import load as load_safetensors

from service.core import Engine, FanAxes, InitError, TooLargeError, make_tensor, resolve_model, resolve_tensor
from service.core.model import ModelLimits
from service.core.streams.names import SEQUENTIAL_STREAMS

from .helpers import PROBLEM, load_npy, settings

#: The arrays of an answer by name (a single tensor is named ``tensor``): (dtype name, shape, raw bytes).
Arrays = dict[str, tuple[str, tuple[int, ...], bytes]]

SETTINGS = settings()
MODEL_LIMITS = ModelLimits(
    max_tensors=SETTINGS.max_model_tensors,
    max_elements=SETTINGS.max_model_elements,
    max_bytes=SETTINGS.max_model_bytes,
    max_tensor_elements=SETTINGS.max_elements,
)


@dataclass(frozen=True)
class Case:
    """A request and what both doors must answer: ``error`` None for arrays, else the error's field."""

    id: str
    request: dict[str, Any]
    error: str | None = None
    model: bool = False
    marks: tuple[Any, ...] = field(default=())


def tensor(shape: list[int], init: dict[str, Any] | str, *, seed: int | None = 11, **fields: Any) -> dict[str, Any]:
    """A tensor request body; ``init`` a scheme name or a whole init object."""
    body: dict[str, Any] = {"shape": shape, "init": {"scheme": init} if isinstance(init, str) else init}
    if seed is not None:
        body["seed"] = seed
    return {**body, **fields}


def model(*entries: dict[str, Any], seed: int = 5, **fields: Any) -> dict[str, Any]:
    return {"entries": list(entries), "seed": seed, **fields}


def named(name: str, shape: list[int], init: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "init": {"scheme": init} if isinstance(init, str) else init, **fields}


#: ``Case.error`` of an invalid request whose field is not pinned: only library == HTTP is checked.
ANY = "<any field>"


VS_JAX_AXES = {"scheme": "jax.variance_scaling", "scale": 1.0, "mode": "fan_in", "distribution": "uniform"}

VALID_TENSORS = [
    # canonical schemes, every layout and fan_axes
    Case("he-keras-default-layout", tensor([8, 4], "he")),
    Case("he-keras", tensor([8, 4], {"scheme": "he", "distribution": "normal"}, layout="keras")),
    Case("he-torch", tensor([4, 8], {"scheme": "he", "mode": "fan_out"}, layout="torch")),
    Case("he-jax-conv", tensor([3, 3, 4, 8], {"scheme": "kaiming", "distribution": "uniform"}, layout="jax")),
    Case(
        "glorot-fan-axes-batch",
        tensor([4, 2, 6], "glorot", fan_axes={"in_axis": 0, "out_axis": 2, "batch_axis": [1]}),
    ),
    Case(
        "variance-scaling-fan-axes-lists",
        tensor(
            [2, 3, 4, 5],
            {"scheme": "variance_scaling", "scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
            fan_axes={"in_axis": [0, 1], "out_axis": -1},
        ),
    ),
    Case("lecun-float64", tensor([6, 5], "lecun", dtype="float64")),
    Case("glorot-float16", tensor([6, 5], {"scheme": "glorot", "distribution": "normal"}, dtype="float16")),
    Case("he-bfloat16", tensor([6, 5], "he", dtype="bfloat16")),
    Case("orthogonal-torch", tensor([6, 2, 3], {"scheme": "orthogonal", "gain": 2.0}, layout="torch")),
    Case("identity-keras", tensor([4, 6], {"scheme": "identity", "gain": 0.5})),
    Case("dirac-torch", tensor([4, 2, 3, 3], {"scheme": "dirac", "groups": 2}, layout="torch")),
    Case("delta-orthogonal-jax", tensor([3, 3, 4, 8], "delta_orthogonal", layout="jax")),
    Case("stft-default", tensor([16, 1, 9], "stft")),
    Case("truncated-normal-1d", tensor([50], {"scheme": "truncated_normal", "std": 0.5, "low": -1.0, "high": 1.0})),
    # torch.* names: torch layout unless told
    Case("torch.kaiming_uniform_-sqrt5", tensor([16, 8], {"scheme": "torch.kaiming_uniform_", "a": math.sqrt(5)})),
    Case(
        "torch.kaiming_normal_-relu-fan-out-keras",
        tensor(
            [8, 16],
            {"scheme": "torch.kaiming_normal_", "nonlinearity": "relu", "mode": "fan_out"},
            layout="keras",
        ),
    ),
    Case(
        "torch.kaiming_uniform_-tanh", tensor([8, 4, 3], {"scheme": "torch.kaiming_uniform_", "nonlinearity": "tanh"})
    ),
    Case("torch.xavier_normal_-gain", tensor([5, 7, 3], {"scheme": "torch.xavier_normal_", "gain": 2.0})),
    Case("torch.trunc_normal_-1d", tensor([40], {"scheme": "torch.trunc_normal_", "std": 0.02})),
    Case("torch.orthogonal_", tensor([6, 10], "torch.orthogonal_")),
    Case("torch.dirac_-groups", tensor([4, 2, 3], {"scheme": "torch.dirac_", "groups": 2})),
    Case("torch.sparse_", tensor([10, 4], {"scheme": "torch.sparse_", "sparsity": 0.3})),
    # keras.* names, with Keras' own axes
    Case("keras.HeNormal-conv", tensor([3, 3, 8, 16], "keras.HeNormal")),
    Case("keras.glorot_uniform-alias", tensor([7, 3], "keras.glorot_uniform")),
    Case(
        "keras.VarianceScaling-axes",
        tensor(
            [2, 3, 4],
            {"scheme": "keras.VarianceScaling", "mode": "fan_avg", "input_axes": [0], "output_axes": 2},
        ),
    ),
    Case("keras.Orthogonal", tensor([10, 6], {"scheme": "keras.Orthogonal", "gain": 1.5})),
    Case("keras.Identity-torch-layout", tensor([4, 6], "keras.Identity", layout="torch")),
    # jax.* names, with JAX's own axes
    Case("jax.variance_scaling-own-axes", tensor([4, 6, 8], {**VS_JAX_AXES, "in_axis": 0, "out_axis": 2})),
    Case(
        "jax.variance_scaling-batch-axis",
        tensor([4, 6, 8], {**VS_JAX_AXES, "in_axis": -1, "out_axis": 0, "batch_axis": [1], "mode": "fan_geo_avg"}),
    ),
    Case(
        "jax.variance_scaling-default-axes-torch-layout",  # axes equal to the defaults: the layout decides
        tensor([6, 8], {**VS_JAX_AXES, "in_axis": -2, "out_axis": -1}, layout="torch"),
    ),
    Case("jax.he_normal-axes", tensor([3, 4, 5], {"scheme": "jax.he_normal", "in_axis": -3, "out_axis": -1})),
    Case("jax.glorot_uniform-keras-layout", tensor([5, 6], "jax.glorot_uniform", layout="keras")),
    Case("jax.orthogonal-column-axis-0", tensor([6, 4], {"scheme": "jax.orthogonal", "column_axis": 0})),
    Case("jax.delta_orthogonal", tensor([3, 3, 4, 8], {"scheme": "jax.delta_orthogonal", "scale": 2.0})),
    Case("jax.uniform", tensor([9], {"scheme": "jax.uniform", "scale": 0.5})),
    # the torch streams: small tensors, torch layout, torch-named and canonical inits
    Case(
        "stream-torch-kaiming_uniform_",
        tensor([8, 6], {"scheme": "torch.kaiming_uniform_", "a": math.sqrt(5)}, stream="torch"),
    ),
    Case("stream-torch-he-torch-layout", tensor([8, 6], "he", layout="torch", stream="torch")),
    Case("stream-torch-normal_-float64", tensor([7, 5], "torch.normal_", stream="torch", dtype="float64")),
    Case("stream-torch-xavier_normal_-bf16", tensor([9, 4], "torch.xavier_normal_", stream="torch", dtype="bfloat16")),
    Case(
        "stream-torch-default-normal_", tensor([7, 5], {"scheme": "torch.normal_", "std": 0.1}, stream="torch-default")
    ),
    Case("stream-torch-default-glorot", tensor([5, 3], "glorot", layout="torch", stream="torch-default")),
    Case("stream-torch-default-trunc_normal_", tensor([33], "torch.trunc_normal_", stream="torch-default")),
    Case("stream-initserve-1-explicit", tensor([8, 4], "he", stream="initserve-1")),
]

INVALID_TENSORS = [
    # the reproducer: the library used torch fans where HTTP answered 422
    Case(
        "jax-axes-with-layout-torch",
        tensor([4, 6, 8], {**VS_JAX_AXES, "in_axis": 0, "out_axis": 2}, seed=1, layout="torch"),
        "layout",
    ),
    Case(
        "jax-axes-with-fan-axes",
        tensor([4, 6, 8], {**VS_JAX_AXES, "in_axis": 0, "out_axis": 2}, fan_axes={"in_axis": 0, "out_axis": 1}),
        "fan_axes",
    ),
    Case(
        "keras-axes-with-layout",
        tensor([2, 3, 4], {"scheme": "keras.HeUniform", "input_axes": 0, "output_axes": 1}, layout="jax"),
        "layout",
    ),
    Case("unknown-stream", tensor([4, 4], "he", stream="torch-2"), "stream"),  # Pydantic first
    Case("seed-negative", tensor([4, 4], "he", seed=-1), "seed"),  # Pydantic first
    Case("seed-over-2^53", tensor([4, 4], "he", seed=2**53), "seed"),  # Pydantic first
    Case("zero-dim", tensor([4, 0], "he"), "shape.1"),  # Pydantic first
    Case("unknown-scheme", tensor([4, 4], "nope"), "init.scheme"),  # Pydantic first
    Case("unknown-framework-init", tensor([4, 4], "torch.nope_"), "init.scheme"),  # Pydantic first
    Case(
        "layout-and-fan-axes", tensor([4, 4], "he", layout="keras", fan_axes={"in_axis": 0, "out_axis": 1}), "fan_axes"
    ),
    Case("fan-axis-out-of-range", tensor([4, 4], "he", fan_axes={"in_axis": 2, "out_axis": 1}), "fan_axes.in_axis"),
    Case("fan-axis-twice", tensor([4, 4, 2], "he", fan_axes={"in_axis": 0, "out_axis": [1, 0]}), "fan_axes.out_axis"),
    Case("fan-axes-on-orthogonal", tensor([4, 4], "orthogonal", fan_axes={"in_axis": 0, "out_axis": 1}), "fan_axes"),
    Case("jax-in-axis-out-of-range", tensor([4, 6], {**VS_JAX_AXES, "in_axis": 5, "out_axis": 1}), "init.in_axis"),
    Case(
        "jax-batch-axis-twice",
        tensor([4, 6, 2], {"scheme": "jax.lecun_normal", "in_axis": 0, "out_axis": 1, "batch_axis": [1]}),
        "init.batch_axis",
    ),
    Case(
        "keras-input-axes-alone",
        tensor([2, 3, 4], {"scheme": "keras.VarianceScaling", "input_axes": [0]}),
        "init.output_axes",
    ),
    Case(
        "jax.orthogonal-column-axis-middle",
        tensor([3, 4, 5], {"scheme": "jax.orthogonal", "column_axis": 1}),
        "init.column_axis",
    ),
    Case(
        "keras.TruncatedNormal-stddev-0",
        tensor([4, 4], {"scheme": "keras.TruncatedNormal", "stddev": 0.0}),
        "init.stddev",
    ),
    Case("he-torch-layout-1d", tensor([8], "he", layout="torch"), "shape"),
    Case("torch.kaiming_uniform_-1d", tensor([8], "torch.kaiming_uniform_"), "shape"),
    Case("identity-3d", tensor([2, 3, 4], "identity"), "shape"),
    Case("stream-torch-stft", tensor([16, 1, 9], "stft", stream="torch"), "stream"),
    Case("stream-torch-delta_orthogonal", tensor([3, 3, 4, 8], "delta_orthogonal", stream="torch"), "stream"),
    Case(
        "stream-torch-default-jax.delta_orthogonal",
        tensor([3, 3, 4, 8], "jax.delta_orthogonal", stream="torch-default"),
        "stream",
    ),
    Case("too-large", tensor([SETTINGS.max_elements + 1], "zeros"), "shape"),
]

VALID_MODELS = [
    Case(
        "model-torch-presets",
        model(
            {"preset": "torch.Linear", "prefix": "fc", "in_features": 12, "out_features": 5},
            {"preset": "torch.Conv2d", "prefix": "conv", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
        ),
    ),
    Case(
        "model-keras-flax-presets",
        model(
            {"preset": "keras.Dense", "prefix": "dense", "units": 4, "input_dim": 6},
            {"preset": "keras.LSTM", "prefix": "lstm", "units": 3, "input_dim": 5},
            {"preset": "flax.Dense", "prefix": "flax", "features": 3, "in_features": 7},
        ),
    ),
    Case(
        "model-named-every-layout",
        model(
            named("a", [4, 8], "he", layout="torch"),
            named("b", [4, 8], "he", layout="jax"),
            named("c", [4, 2, 8], "glorot", fan_axes={"in_axis": 0, "out_axis": -1, "batch_axis": [1]}),
            named("d", [4, 8], "torch.kaiming_uniform_", dtype="float16"),
            named("e", [4, 8], "lecun"),
            layout="keras",
        ),
    ),
    Case(
        "model-jax-axes-under-model-layout",  # the init's own axes win over the model's default layout
        model(named("w", [4, 6, 8], {**VS_JAX_AXES, "in_axis": 0, "out_axis": 2}), layout="torch"),
    ),
    Case(
        "model-keras-axes",
        model(named("k", [2, 3, 4], {"scheme": "keras.GlorotNormal", "input_axes": [0, 1], "output_axes": -1})),
    ),
    Case("model-bfloat16", model(named("w", [6, 4], "keras.HeUniform"), named("b", [4], "zeros"), dtype="bfloat16")),
    Case(
        "model-stream-torch",
        model(
            {"preset": "torch.Linear", "prefix": "fc", "in_features": 6, "out_features": 4},
            {"preset": "torch.BatchNorm2d", "prefix": "bn", "num_features": 3},
            named("head", [3, 4], "torch.xavier_uniform_"),
            stream="torch",
        ),
    ),
    Case(
        "model-stream-torch-default",
        model(
            named("w", [5, 4], {"scheme": "torch.kaiming_uniform_", "a": math.sqrt(5)}),
            {"preset": "torch.Embedding", "prefix": "emb", "num_embeddings": 7, "embedding_dim": 3, "padding_idx": 1},
            named("g", [5, 4], "he", layout="torch"),
            stream="torch-default",
        ),
    ),
]

INVALID_MODELS = [
    Case("model-two-tensors-one-name", model(named("w", [2, 2], "he"), named("w", [3, 3], "he")), "entries.1"),
    Case(
        "model-preset-name-clash",
        model(
            named("fc.weight", [2, 2], "he"),
            {"preset": "torch.Linear", "prefix": "fc", "in_features": 2, "out_features": 2},
        ),
        "entries.1",
    ),
    Case("model-zero-dim", model(named("w", [4, 0], "he")), "entries.0.shape.1"),  # Pydantic first
    Case("model-identity-3d", model(named("ok", [2, 2], "he"), named("w", [2, 3, 4], "identity")), "entries.1.shape"),
    Case(
        "model-jax-in-axis-out-of-range",
        model(named("w", [4, 6], {**VS_JAX_AXES, "in_axis": -3, "out_axis": 1})),
        "entries.0.init.in_axis",
    ),
    Case(
        "model-jax-axes-with-entry-layout",
        model(named("w", [4, 6, 8], {**VS_JAX_AXES, "in_axis": 0, "out_axis": 2}, layout="torch")),
        "entries.0.layout",
    ),
    Case(
        "model-layout-and-fan-axes",
        model(named("w", [4, 6], "he", layout="torch", fan_axes={"in_axis": 0, "out_axis": 1})),
        "entries.0.fan_axes",
    ),
    Case(
        "model-fan-axis-out-of-range",
        model(named("w", [4, 6], "he", fan_axes={"in_axis": 0, "out_axis": 9})),
        "entries.0.fan_axes.out_axis",
    ),
    # Both doors agree on "entries.1.stream", a field the request does not have (its stream is the model's);
    # the single-tensor request says "stream". Not pinned here: only the agreement is checked.
    Case(
        "model-stream-torch-stft", model(named("ok", [2, 2], "he"), named("s", [16, 1, 9], "stft"), stream="torch"), ANY
    ),
    Case("model-seed-negative", model(named("w", [2, 2], "he"), seed=-1), "seed"),  # Pydantic first
    # The model-wide stream, dtype and layout are checked once, named as the request names them (they were once
    # checked per tensor and named under the entry, or not at all when no named tensor used the model's layout).
    Case(
        "model-unknown-stream",
        model(named("w", [2, 2], "he"), stream="mxnet"),
        "stream",
    ),
    Case(
        "model-unknown-dtype",
        model(named("w", [2, 2], "he"), dtype="int8"),
        "dtype",
    ),
    Case(
        "model-unknown-layout",
        model(named("w", [2, 2], "he"), layout="tf"),
        "layout",
    ),
    Case(
        "model-unknown-layout-presets-only",
        model({"preset": "torch.Linear", "prefix": "fc", "in_features": 2, "out_features": 2}, layout="tf"),
        "layout",
    ),
]

CASES = [
    *VALID_TENSORS,
    *INVALID_TENSORS,
    *(Case(c.id, c.request, c.error, True, c.marks) for c in (*VALID_MODELS, *INVALID_MODELS)),
]


# -- the two doors -------------------------------------------------------------------------------------


def arrays_of(named_arrays: dict[str, np.ndarray]) -> Arrays:
    return {name: (a.dtype.name, a.shape, np.ascontiguousarray(a).tobytes()) for name, a in named_arrays.items()}


def library(case: Case) -> Arrays:
    """The case through ``resolve_*`` and ``Engine(1)``; raises the core's ``InitError``."""
    with Engine(1) as engine:
        if case.model:
            planned = resolve_model(case.request, MODEL_LIMITS)
            return arrays_of({t.name: engine.generate(t.plan).array for t in planned.tensors})
        return arrays_of({"tensor": engine.generate(resolve_tensor(case.request, SETTINGS.max_elements)).array})


def make_tensor_kwargs(request: dict[str, Any]) -> dict[str, Any] | None:
    """``make_tensor``'s arguments for a tensor request, None where it cannot express it."""
    if request.get("seed") is None or ("layout" in request and "fan_axes" in request):
        return None
    init = dict(request["init"])
    kwargs: dict[str, Any] = {
        "shape": request["shape"],
        "scheme": init.pop("scheme"),
        "seed": request["seed"],
        "params": init,
        "threads": 1,
    }
    if "fan_axes" in request:
        axes = request["fan_axes"]
        kwargs["layout"] = FanAxes.of(axes["in_axis"], axes["out_axis"], axes.get("batch_axis", ()))
    elif "layout" in request:
        kwargs["layout"] = request["layout"]
    kwargs.update({k: request[k] for k in ("dtype", "stream") if k in request})
    return kwargs


def read_safetensors(body: bytes) -> Arrays:
    """Every tensor of a safetensors file: ``safetensors.numpy`` where NumPy has the dtype, else (BF16) the
    raw bytes at the header's offsets."""
    (size,) = struct.unpack("<Q", body[:8])
    header = json.loads(body[8 : 8 + size])
    header.pop("__metadata__", None)
    if all(entry["dtype"] != "BF16" for entry in header.values()):
        return arrays_of(load_safetensors(body))
    data = body[8 + size :]
    names = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64"}
    return {
        name: (names[e["dtype"]], tuple(e["shape"]), data[e["data_offsets"][0] : e["data_offsets"][1]])
        for name, e in header.items()
    }


def over_http(client: TestClient, case: Case) -> Arrays | tuple[int, str | None]:
    """The case's answer over HTTP: its arrays, or (status, problem field) for an error."""
    if case.model:
        path = "/v1/models/safetensors"
    else:
        path = "/v1/tensors/safetensors" if case.request.get("dtype") == "bfloat16" else "/v1/tensors/npy"
    response = client.post(path, json=case.request)
    if response.status_code != 200:
        assert response.headers["content-type"] == PROBLEM, response.text[:500]
        return response.status_code, response.json().get("field")
    if path.endswith("/npy"):
        return arrays_of({"tensor": load_npy(response.content)})
    return read_safetensors(response.content)


def seen(doors: Arrays) -> dict[str, tuple[str, tuple[int, ...], int]]:
    """A short description of arrays for assertion messages (no bytes)."""
    return {name: (dtype, shape, len(raw)) for name, (dtype, shape, raw) in doors.items()}


# -- the test --------------------------------------------------------------------------------------------


def test_the_table_covers_what_it_claims() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    tensors = [c.request for c in CASES if not c.model]
    assert {r.get("layout") for r in tensors} >= {"keras", "jax", "torch"}
    assert any("fan_axes" in r for r in tensors)
    schemes = {r["init"]["scheme"].split(".")[0] for r in tensors}
    assert {"torch", "keras", "jax"} <= schemes
    streams = {c.request.get("stream") for c in CASES}
    assert {"initserve-1", *SEQUENTIAL_STREAMS} <= streams
    assert any("preset" in e for c in CASES if c.model for e in c.request["entries"])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_library_and_http_agree(client: TestClient, case: Case) -> None:
    try:
        ours = library(case)
    except InitError as exc:
        library_error: InitError | None = exc
    else:
        library_error = None

    answer = over_http(client, case)

    if case.error is None:
        assert library_error is None, f"library refused a valid request: {library_error!r} ({library_error.field})"
        assert isinstance(answer, dict), f"HTTP refused a valid request: {answer}"
        assert seen(answer) == seen(ours)
        for name, (_, _, raw) in ours.items():
            assert answer[name][2] == raw, f"{name}: the bytes differ"
    else:
        assert library_error is not None, f"library accepted an invalid request: {seen(ours)}"
        assert isinstance(answer, tuple), f"HTTP accepted an invalid request: {seen(answer)}"
        status, http_field = answer
        assert 400 <= status < 500
        assert status == (413 if isinstance(library_error, TooLargeError) else 422)
        assert library_error.field == http_field, (library_error.field, http_field, str(library_error))
        assert case.error in (ANY, library_error.field)

    kwargs = None if case.model else make_tensor_kwargs(case.request)
    if kwargs is None or isinstance(library_error, TooLargeError):  # make_tensor has no limit: it would allocate
        return
    try:
        made = make_tensor(**kwargs)
    except InitError as exc:
        assert library_error is not None, f"make_tensor refused what resolve_tensor accepted: {exc!r}"
        assert exc.field == library_error.field
        assert type(exc) is type(library_error)
    else:
        assert library_error is None, f"make_tensor accepted what resolve_tensor refused: {library_error!r}"
        assert arrays_of({"tensor": made.array}) == ours


def test_the_reproducer_through_make_tensor(client: TestClient) -> None:
    """It used to disagree: the library silently read the shape with torch fans, HTTP answered 422."""
    from service.core import LayoutError

    params = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform", "in_axis": 0, "out_axis": 2}
    with pytest.raises(LayoutError) as raised:
        make_tensor([4, 6, 8], "jax.variance_scaling", layout="torch", params=params, seed=1)
    assert raised.value.field == "layout"
    body = {"shape": [4, 6, 8], "init": {"scheme": "jax.variance_scaling", **params}, "layout": "torch", "seed": 1}
    response = client.post("/v1/tensors/npy", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "layout"
