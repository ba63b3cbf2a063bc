// The request as curl, Python (httpx) and TypeScript (the generated openapi-fetch client).

const quote = (text) => `'${text.replace(/'/g, "'\\''")}'`;

/** A shell command that sends `body` to `path` of the service at `base`. */
export function curl(base, path, body, withKey) {
  const lines = [`curl -sS -X POST ${quote(base + path)}`, `-H 'Content-Type: application/json'`];
  if (withKey) lines.push(`-H "Authorization: Bearer $INITSERVE_API_KEY"`);
  lines.push(`-d ${quote(JSON.stringify(body))}`);
  return lines.join(" \\\n  ");
}

/** A JSON value as a Python literal (True/False/None), indented like json.dumps(indent=4). */
export function pythonLiteral(value, indent = "") {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) return `[${value.map((v) => pythonLiteral(v)).join(", ")}]`;
    return `[\n${value.map((v) => inner + pythonLiteral(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)}`).join(",\n")},\n${indent}}`;
}

export function python(base, path, body, withKey) {
  const headers = withKey ? `, headers={"Authorization": f"Bearer {os.environ['INITSERVE_API_KEY']}"}` : "";
  return [
    ...(withKey ? ["import os", ""] : []),
    "import httpx",
    "",
    `body = ${pythonLiteral(body)}`,
    `answer = httpx.post(${JSON.stringify(base + path)}, json=body${headers}, timeout=120)`,
    "answer.raise_for_status()",
    'print(answer.json()["stats"])',
  ].join("\n");
}

export function typescript(base, path, body, withKey) {
  const json = JSON.stringify(body, null, 2).replace(/\n/g, "\n  ");
  const headers = withKey ? ",\n  headers: { Authorization: `Bearer ${process.env.INITSERVE_API_KEY}` }" : "";
  return [
    'import createClient from "openapi-fetch";',
    "// the types generated from openapi/openapi.json: npm run generate (see clients/ts)",
    'import type { paths } from "./build/clients/ts/initserve.js";',
    "",
    `const client = createClient<paths>({ baseUrl: ${JSON.stringify(base)}${headers} });`,
    `const { data, error } = await client.POST(${JSON.stringify(path)}, {`,
    `  body: ${json},`,
    "});",
    "if (error !== undefined) throw new Error(`${error.status}: ${error.detail}`);",
    "console.log(data.stats);",
  ].join("\n");
}
