// initserve through its generated TypeScript client (openapi-typescript types + openapi-fetch),
// against a live server:
//   - a He-normal tensor as JSON and as .npy, the two equal bit for bit;
//   - its statistics: the JSON answer's, the .npy headers', the stats operation's and the data's own;
//   - refused requests, their problem+json fields read through the client's typed `error`.
//
//   node build/clients/ts/js/clients/ts/program.js [BASE_URL]    (after `npm run generate && npm run build`)
// Exits non-zero, naming the failed check, on any mismatch.

import createClient from "openapi-fetch";
import type { components, paths } from "../../build/clients/ts/initserve.js";
import { parseNpy } from "./npy.js";

type TensorRequest = components["schemas"]["TensorRequest"];
type Problem = components["schemas"]["Problem"];

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const baseUrl = process.argv[2] ?? process.env.INITSERVE_URL ?? "http://127.0.0.1:8000";
const client = createClient<paths>({ baseUrl });

const request: TensorRequest = { shape: [128, 64], init: { scheme: "he", distribution: "normal" }, seed: 2024 };

// JSON: data and statistics, fully typed.
const json = await client.POST("/v1/tensors", { body: request });
if (json.error !== undefined) throw new Error(`POST /v1/tensors: ${json.error.status} ${json.error.detail}`);
const answer = json.data;
check(answer.dtype === "float32" && answer.shape.join() === "128,64", "dtype and shape echoed");
check(answer.init.scheme === "he", "init echoed");
if (answer.init.scheme === "he") {
  // The union narrows on its `scheme` tag: `mode` exists only on HeInit and VarianceScalingInit.
  check(answer.init.mode === "fan_in" && answer.init.negative_slope === 0, "defaults filled in");
}
check(answer.fan_in === 128 && answer.fan_out === 64, "keras fans of (128, 64)");

// .npy: the same tensor as bytes, parsed here; the statistics come in X-Init-* headers.
const npy = await client.POST("/v1/tensors/npy", { body: request, parseAs: "arrayBuffer" });
if (npy.error !== undefined) throw new Error(`POST /v1/tensors/npy: ${npy.error.status} ${npy.error.detail}`);
check(npy.response.headers.get("content-type") === "application/octet-stream", "octet-stream");
const tensor = parseNpy(npy.data);
check(tensor.dtype === "<f4" && tensor.shape.join() === "128,64", `npy header ${tensor.dtype} ${tensor.shape}`);
check(tensor.data instanceof Float32Array, "float32 data");

// Bit for bit: each JSON number rounded to float32 has the .npy value's bits.
const fromJson = new Uint32Array(Float32Array.from(answer.data).buffer);
const fromNpy = new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length);
check(fromJson.length === fromNpy.length, "as many values in both");
const firstDiff = fromJson.findIndex((bits, i) => bits !== fromNpy[i]);
check(firstDiff === -1, `JSON and .npy agree bit for bit (first difference at ${firstDiff})`);

// Statistics.
const { theoretical, empirical } = answer.stats;
const header = (name: string): number => Number(npy.response.headers.get(name));
check(theoretical.variance === 2 / 128, "he-normal variance 2 / fan_in");
check(header("X-Init-Theoretical-Variance") === theoretical.variance, "theoretical variance header");
check(header("X-Init-Empirical-Variance") === empirical.variance, "empirical variance header, exactly");
check(header("X-Init-Empirical-Mean") === empirical.mean, "empirical mean header, exactly");
check(header("X-Init-Seed") === 2024 && header("X-Init-Fan-In") === 128, "seed and fan headers");
let sum = 0;
for (const v of tensor.data) sum += v;
const mean = sum / tensor.data.length;
let squares = 0;
for (const v of tensor.data) squares += (v - mean) ** 2;
const variance = squares / tensor.data.length; // population variance, as the service
check(empirical.count === tensor.data.length, "count");
check(Math.abs(mean - empirical.mean) <= 1e-12, `mean of the data ${mean} vs ${empirical.mean}`);
check(Math.abs(variance / empirical.variance - 1) <= 1e-9, `variance of the data ${variance} vs ${empirical.variance}`);
check(answer.stats.variance_z !== null && Math.abs(answer.stats.variance_z) < 6, "variance_z is small");
const stats = await client.POST("/v1/tensors/stats", { body: request });
check(stats.data !== undefined && JSON.stringify(stats.data.stats) === JSON.stringify(answer.stats), "stats op");

// Errors: problem+json, typed as Problem on every documented error status.
const invalid = await client.POST("/v1/tensors", {
  body: { shape: [8, 4], init: { scheme: "variance_scaling", scale: -1 }, seed: 1 },
});
check(invalid.data === undefined && invalid.error !== undefined, "scale -1 is refused");
const problem: Problem = invalid.error;
check(invalid.response.status === 422 && problem.status === 422, "422");
check(invalid.response.headers.get("content-type") === "application/problem+json", "problem+json");
check(problem.field === "init.scale" && problem.detail.includes("init.scale"), `field ${problem.field}`);
const fieldError = problem.errors?.[0];
check(fieldError !== undefined && fieldError.field === "init.scale" && fieldError.message.length > 0, "errors[0]");

const tooLarge = await client.POST("/v1/tensors", { body: { shape: [4096, 4096], init: { scheme: "zeros" } } });
check(tooLarge.error?.status === 413 && tooLarge.error.field === "shape", "a JSON answer over the limit is a 413");

const npyInvalid = await client.POST("/v1/tensors/npy", {
  body: { ...request, dtype: "bfloat16" },
  parseAs: "arrayBuffer",
});
check(npyInvalid.error?.status === 422 && npyInvalid.error.field === "dtype", "bfloat16 .npy is a 422 on dtype");

console.log(
  `typescript client: ok (128x64 he-normal bit-identical as JSON and .npy, variance ${empirical.variance.toPrecision(6)}` +
    ` vs ${theoretical.variance}, z ${answer.stats.variance_z?.toFixed(2)}; problem ${problem.status} on ${problem.field})`,
);
