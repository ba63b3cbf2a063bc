// initserve from TypeScript with the generated client: openapi-typescript types + openapi-fetch.
//
//   npm ci && npm run generate        # types from openapi/openapi.json -> build/clients/ts/initserve.d.ts
//   npm run build && node build/clients/ts/js/examples/typescript_client.js [BASE_URL]
//
// In your own project: generate the types next to your code (clients/ts/generate.mjs, or
// `npx openapi-typescript openapi.json -o initserve.d.ts`), copy clients/ts/npy.ts (the NPY
// reader, no dependencies) and change the import paths below.

import createClient from "openapi-fetch";
import type { components, paths } from "../build/clients/ts/initserve.js";
import { parseNpy } from "../clients/ts/npy.js";

const client = createClient<paths>({ baseUrl: process.argv[2] ?? "http://127.0.0.1:8000" });

// The request is typed: `init` is a union discriminated by `scheme`, each with its own fields.
const request: components["schemas"]["TensorRequest"] = {
  shape: [256, 784], // PyTorch (out, in) for a 784 -> 256 layer
  layout: "torch",
  init: { scheme: "kaiming", distribution: "normal", mode: "fan_in" },
  seed: 42,
  dtype: "float32",
};

const { data, error } = await client.POST("/v1/tensors", { body: request });
if (error) {
  // error is a Problem (application/problem+json) on every documented error status
  throw new Error(`${error.status} ${error.title}: ${error.detail} (field ${error.field})`);
}
const weights = Float32Array.from(data.data); // flat, row-major; exact float32 values
const { theoretical, empirical } = data.stats;
console.log(`${data.init.scheme} ${data.shape.join("x")}: ${weights.length} values, fan_in ${data.fan_in}`);
console.log(`variance ${empirical.variance.toFixed(6)} (expected ${theoretical.variance.toFixed(6)}), z ${data.stats.variance_z?.toFixed(2)}`);

// Large tensors: .npy bytes (4 bytes a value instead of ~11 in JSON). openapi-fetch parses bodies as
// JSON unless told otherwise, so ask for an ArrayBuffer; the statistics come in X-Init-* headers.
const npy = await client.POST("/v1/tensors/npy", { body: { ...request, shape: [1024, 4096] }, parseAs: "arrayBuffer" });
if (npy.error) throw new Error(`${npy.error.status}: ${npy.error.detail}`);
const big = parseNpy(npy.data); // { dtype: "<f4", shape: [1024, 4096], data: Float32Array }
console.log(`.npy ${big.dtype} ${big.shape.join("x")}, variance ${npy.response.headers.get("X-Init-Empirical-Variance")}`);

// A refused request: the problem names the field.
const refused = await client.POST("/v1/tensors", { body: { ...request, layout: "torch", shape: [784] } });
if (refused.error === undefined) throw new Error("a 1-D shape in torch layout has no fans: expected a 422");
console.log(`${refused.error.status}: ${refused.error.field}: ${refused.error.detail}`);
