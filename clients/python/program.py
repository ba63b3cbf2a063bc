"""initserve through its generated Python client (openapi-python-client), against a live server.

- a He-normal tensor as JSON and as .npy, the two equal bit for bit;
- its statistics: the JSON answer's, the .npy headers', the stats operation's and the data's own;
- refused requests, their problem+json fields read through the client's typed error path
  (every operation returns ``Answer | Problem``).

    PYTHONPATH=build/clients/python python clients/python/program.py [BASE_URL]

with the client generated into build/clients/python/initserve_client (docs/clients.md).
Exits non-zero, naming the failed check, on any mismatch.
"""

from __future__ import annotations

import os
import sys

import httpx
import numpy as np
from initserve_client import Client
from initserve_client.api.schemes import list_schemes
from initserve_client.api.tensors import create_tensor, create_tensor_npy, create_tensor_stats
from initserve_client.models import (
    Catalogue,
    FieldError,
    HeInit,
    Problem,
    StatsAnswer,
    StatsRequest,
    TensorAnswer,
    TensorRequest,
    VarianceScalingInit,
    ZerosInit,
)
from initserve_client.types import File


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {what}")


def main(base_url: str) -> None:
    request = TensorRequest(shape=[128, 64], init=HeInit(scheme="he", distribution="normal"), seed=2024)
    with Client(base_url=base_url, timeout=httpx.Timeout(30.0), raise_on_unexpected_status=True) as client:
        # JSON: data and statistics, as attrs models.
        answer = create_tensor.sync(client=client, body=request)
        if not isinstance(answer, TensorAnswer):
            raise SystemExit(f"POST /v1/tensors: {answer}")
        check(answer.dtype == "float32" and answer.shape == [128, 64], "dtype and shape echoed")
        # The init union is parsed into the member its `scheme` tag names, defaults filled in.
        check(isinstance(answer.init, HeInit), f"init parsed as HeInit, got {type(answer.init).__name__}")
        assert isinstance(answer.init, HeInit)
        check(answer.init.mode == "fan_in" and answer.init.negative_slope == 0.0, "defaults filled in")
        check((answer.fan_in, answer.fan_out) == (128, 64), "keras fans of (128, 64)")

        # .npy: the same tensor as bytes (a File), statistics in X-Init-* headers.
        npy = create_tensor_npy.sync_detailed(client=client, body=request)
        if not isinstance(npy.parsed, File):
            raise SystemExit(f"POST /v1/tensors/npy: {npy.status_code} {npy.parsed}")
        check(npy.headers["content-type"] == "application/octet-stream", "octet-stream")
        array = np.load(npy.parsed.payload, allow_pickle=False)
        check(array.dtype == np.float32 and array.shape == (128, 64), f"npy {array.dtype} {array.shape}")

        # Bit for bit: each JSON number rounded to float32 has the .npy value's bits.
        from_json = np.array(answer.data, dtype=np.float32).reshape(answer.shape)
        check(np.array_equal(from_json.view(np.uint32), array.view(np.uint32)), "JSON and .npy agree bit for bit")

        # Statistics.
        theoretical, empirical = answer.stats.theoretical, answer.stats.empirical
        check(theoretical.variance == 2 / 128, "he-normal variance 2 / fan_in")
        check(float(npy.headers["X-Init-Theoretical-Variance"]) == theoretical.variance, "theoretical header")
        check(float(npy.headers["X-Init-Empirical-Variance"]) == empirical.variance, "empirical variance header")
        check(float(npy.headers["X-Init-Empirical-Mean"]) == empirical.mean, "empirical mean header")
        check(int(npy.headers["X-Init-Seed"]) == 2024 and int(npy.headers["X-Init-Fan-In"]) == 128, "seed, fans")
        values = array.astype(np.float64)
        check(empirical.count == values.size, "count")
        check(abs(values.mean() - empirical.mean) <= 1e-12, f"mean {values.mean()} vs {empirical.mean}")
        check(abs(values.var() / empirical.variance - 1) <= 1e-9, f"variance {values.var()} vs {empirical.variance}")
        z = answer.stats.variance_z
        check(isinstance(z, float) and abs(z) < 6, f"variance_z {z}")
        stats = create_tensor_stats.sync(client=client, body=StatsRequest.from_dict(request.to_dict()))
        check(isinstance(stats, StatsAnswer) and stats.stats.to_dict() == answer.stats.to_dict(), "stats operation")

        # Aliases are echoed canonical; the catalogue lists every scheme.
        kaiming = create_tensor.sync(client=client, body=TensorRequest(shape=[4, 4], init=HeInit(scheme="kaiming")))
        check(isinstance(kaiming, TensorAnswer) and kaiming.init.scheme == "he", "kaiming echoed as he")
        catalogue = list_schemes.sync(client=client)
        check(isinstance(catalogue, Catalogue) and "he" in {s.scheme for s in catalogue.schemes}, "catalogue")

        # Errors: problem+json, parsed as Problem on every documented error status.
        invalid = TensorRequest(shape=[8, 4], init=VarianceScalingInit(scheme="variance_scaling", scale=-1.0), seed=1)
        refused = create_tensor.sync_detailed(client=client, body=invalid)
        problem = refused.parsed
        if not isinstance(problem, Problem):
            raise SystemExit(f"scale -1 was not refused with a problem: {refused.status_code} {problem}")
        check(refused.status_code == 422 and problem.status == 422, "422")
        check(refused.headers["content-type"] == "application/problem+json", "problem+json")
        check(problem.field == "init.scale" and "init.scale" in problem.detail, f"field {problem.field}")
        check(isinstance(problem.errors, list) and len(problem.errors) >= 1, "errors listed")
        assert isinstance(problem.errors, list)
        first = problem.errors[0]
        check(isinstance(first, FieldError) and first.field == "init.scale" and bool(first.message), "errors[0]")

        zeros = ZerosInit(scheme="zeros")
        too_large = create_tensor.sync(client=client, body=TensorRequest(shape=[4096, 4096], init=zeros))
        check(isinstance(too_large, Problem) and too_large.status == 413, "a JSON answer over the limit is a 413")
        bf16 = create_tensor_npy.sync(client=client, body=TensorRequest(shape=[4], init=zeros, dtype="bfloat16"))
        check(isinstance(bf16, Problem) and bf16.status == 422 and bf16.field == "dtype", "bfloat16 .npy is a 422")

    print(
        f"python client: ok (128x64 he-normal bit-identical as JSON and .npy, variance {empirical.variance:.6g}"
        f" vs {theoretical.variance}, z {z:.2f}; problem {problem.status} on {problem.field})"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("INITSERVE_URL", "http://127.0.0.1:8000"))
