"""initserve from Python with plain httpx and NumPy (no generated client).

A Glorot-uniform 3x3 convolution kernel in Keras layout as .npy bytes, its statistics from the
X-Init-* headers and from the stats operation, and a refused request's problem+json.

    python examples/numpy_httpx.py [BASE_URL]        # default http://127.0.0.1:8000
"""

import io
import sys

import httpx
import numpy as np

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
request = {
    "shape": [3, 3, 64, 128],  # Keras/TensorFlow/Flax conv kernel: (kh, kw, in, out)
    "layout": "keras",
    "init": {"scheme": "glorot", "distribution": "uniform"},
    "seed": 7,
}

with httpx.Client(base_url=base_url, timeout=30.0) as http:
    r = http.post("/v1/tensors/npy", json=request)
    r.raise_for_status()
    kernel = np.load(io.BytesIO(r.content), allow_pickle=False)
    print(kernel.shape, kernel.dtype, "fan_in", r.headers["X-Init-Fan-In"], "fan_out", r.headers["X-Init-Fan-Out"])
    print("variance", r.headers["X-Init-Empirical-Variance"], "expected", r.headers["X-Init-Theoretical-Variance"])

    # The same request answered with statistics only (JSON): the bounds of U(-r, r).
    stats = http.post("/v1/tensors/stats", json=request).raise_for_status().json()["stats"]
    r_bound = stats["theoretical"]["high"]
    assert np.abs(kernel).max() <= r_bound, "every value lies in [-r, r]"
    assert np.isclose(kernel.astype(np.float64).var(), stats["empirical"]["variance"], rtol=1e-9)
    print(f"r = {r_bound:.6f}, variance_z = {stats['variance_z']:.2f}")

    # Errors are RFC 9457 application/problem+json, naming the field.
    r = http.post("/v1/tensors/npy", json={**request, "init": {"scheme": "glorot", "distribution": "gaussian"}})
    problem = r.json()
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    print(r.status_code, problem["field"], "-", problem["detail"])
