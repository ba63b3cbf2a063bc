// Calls to this service (same origin): JSON in, JSON or bytes out; refusals as problem+json.

/** An answer the service refused: its problem+json body, with the fields it names. */
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }

  /** [[field, message], ...]: every `errors[]` entry, else the top-level `field` (may be ""). */
  fieldErrors() {
    const errors = this.body.errors;
    if (Array.isArray(errors) && errors.length > 0) return errors.map((e) => [e.field || "", e.message]);
    return [[this.body.field || "", this.body.detail || this.message]];
  }
}

let apiKey = "";

/** The key sent as `Authorization: Bearer` (only when the service has keys). */
export function setApiKey(key) {
  apiKey = key.trim();
}

function headers(extra = {}) {
  const h = { ...extra };
  if (apiKey) h.Authorization = `Bearer ${apiKey}`;
  return h;
}

async function refused(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = { detail: `${response.status} ${response.statusText}` };
  }
  return new Problem(response.status, body);
}

export async function getJson(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await refused(response);
  return response.json();
}

/** POST a JSON body; the answer's JSON and its Content-Location header (null when absent). */
export async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await refused(response);
  return { data: await response.json(), location: response.headers.get("Content-Location") };
}

/** POST a JSON body; the answer as a Blob and the file name of its Content-Disposition. */
export async function postFile(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await refused(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), name: name ? name[1] : "tensor", location: response.headers.get("Content-Location") };
}
