#!/usr/bin/env bash
# initserve with curl: a tensor as .npy with its statistics in headers, statistics as JSON, and a
# refused request's problem+json.
#
#   bash examples/curl.sh [BASE_URL]                 # default http://127.0.0.1:8000
set -euo pipefail
base=${1:-http://127.0.0.1:8000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# .npy bytes (numpy.load reads them); -D keeps the X-Init-* headers.
curl -fsS "$base/v1/tensors/npy" -H 'content-type: application/json' -D "$out/headers" -o "$out/w.npy" \
    -d '{"shape": [784, 256], "layout": "keras", "init": {"scheme": "he"}, "seed": 42}'
grep -i '^x-init-' "$out/headers"
head -c 6 "$out/w.npy" | tail -c 5 | grep -qx NUMPY
echo "w.npy: $(wc -c <"$out/w.npy") bytes"

# Statistics only, as JSON, for the same request.
curl -fsS "$base/v1/tensors/stats" -H 'content-type: application/json' \
    -d '{"shape": [784, 256], "layout": "keras", "init": {"scheme": "he"}, "seed": 42}'
echo

# A refused request: status 422, application/problem+json naming the field.
status=$(curl -sS "$base/v1/tensors" -H 'content-type: application/json' -o "$out/problem.json" -w '%{http_code}' \
    -d '{"shape": [784, 256], "init": {"scheme": "he", "mode": "fan_sideways"}}')
cat "$out/problem.json"
echo
[[ $status == 422 ]] && grep -q '"field":"init.mode"' "$out/problem.json"
