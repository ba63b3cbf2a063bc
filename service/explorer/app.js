// The explorer: builds a request from the form, asks this service for the tensor's statistics and
// histogram (never the tensor itself), the propagation diagnostics, and shows them.

import { getJson, postFile, postJson, Problem, setApiKey } from "./api.js";
import { drawHistogram, drawPropagation, schemeLabel } from "./charts.js";
import { densityOf, fmt } from "./density.js";
import { clearErrors, fillSelect, parseList, parseNumber, renderFields, showErrors } from "./form.js";
import { curl, python, typescript } from "./snippets.js";

const $ = (id) => document.getElementById(id);
const STATS_PATH = "/v1/tensors/stats";
const CURRENT = "__current__";

const state = {
  catalogue: null, inits: new Map(), fields: null, presetFields: null, presetTensors: [], runs: 0, propagations: 0,
  drawn: { histogram: null, propagation: null },
};

/** Draws the charts again at their new width (their text keeps its size) after a resize. */
function redraw() {
  const { histogram, propagation } = state.drawn;
  if (histogram) drawHistogram($("histogram"), ...histogram);
  if (propagation) drawPropagation($("propagation"), propagation);
}

function describeInit(entry) {
  return entry.summary ? `${entry.summary}${entry.formula ? `. ${entry.formula}` : ""}` : "";
}

function setScheme(name, values) {
  const entry = state.inits.get(name);
  if (!entry) return;
  $("scheme").value = name;
  $("scheme-help").textContent = describeInit(entry);
  state.fields = renderFields($("scheme-fields"), entry.fields, "init.", "init");
  $("scheme-fields-set").hidden = entry.fields.length === 0;
  if (values) state.fields.set(values);
}

/** The tensor request of the form (without the histogram). */
function tensorRequest() {
  const body = { shape: parseList($("shape").value), layout: $("layout").value, init: { scheme: $("scheme").value, ...state.fields.read() } };
  const seed = parseNumber($("seed").value);
  if (seed !== undefined) body.seed = seed;
  body.dtype = $("dtype").value;
  body.stream = $("stream").value;
  return body;
}

function statsRequest() {
  return { ...tensorRequest(), histogram: { bins: parseNumber($("bins").value) ?? 80 } };
}

function setNumber(id, value) {
  const cell = $(id);
  cell.textContent = fmt(value);
  if (cell.hasAttribute("data-value")) cell.dataset.value = value === null ? "" : String(value);
  cell.title = value === null ? "" : String(value);
}

/** The permanent GET URL of the request, when an answer named one (Content-Location). */
function showPermanent(location) {
  if (!location) return;
  const url = new URL(location, window.location.origin).href;
  $("permanent-url").href = url;
  $("permanent-url").textContent = url;
  $("permanent").hidden = false;
}

function showSnippets(body, location) {
  const base = window.location.origin;
  const withKey = $("api-key").value.trim() !== "";
  $("copy-curl").textContent = curl(base, STATS_PATH, body, withKey);
  $("copy-python").textContent = python(base, STATS_PATH, body, withKey);
  $("copy-ts").textContent = typescript(base, STATS_PATH, body, withKey);
  $("permanent").hidden = true;
  showPermanent(location);
}

function showStats(answer) {
  const { theoretical, empirical, histogram } = answer.stats;
  const density = densityOf(answer.init, theoretical);
  state.drawn.histogram = [histogram, density, empirical.count];
  drawHistogram($("histogram"), histogram, density, empirical.count);
  setNumber("theoretical-mean", theoretical.mean);
  setNumber("empirical-mean", empirical.mean);
  setNumber("theoretical-variance", theoretical.variance);
  setNumber("empirical-variance", empirical.variance);
  setNumber("theoretical-std", theoretical.std);
  setNumber("empirical-std", empirical.std);
  $("theoretical-bounds").textContent = theoretical.low === null ? "unbounded" : `[${fmt(theoretical.low)}, ${fmt(theoretical.high)}]`;
  $("empirical-range").textContent = `[${fmt(empirical.min)}, ${fmt(empirical.max)}]`;
  setNumber("variance-ratio", answer.stats.variance_ratio);
  setNumber("variance-z", answer.stats.variance_z);
  $("fan-in").textContent = answer.fan_in ?? "undefined";
  $("fan-out").textContent = answer.fan_out ?? "undefined";
  $("count").textContent = empirical.count.toLocaleString("en");
  $("seed-used").textContent = String(answer.seed);
  $("canonical-init").textContent = JSON.stringify(answer.init);
}

async function runTensor() {
  const form = $("tensor-form");
  const section = $("tensor-results");
  clearErrors(form);
  const body = statsRequest();
  section.dataset.state = "running";
  $("tensor-status").textContent = "Generating…";
  const started = performance.now();
  try {
    const { data, location } = await postJson(STATS_PATH, body);
    showStats(data);
    showSnippets(body.seed === undefined ? { ...body, seed: data.seed } : body, location);
    const ms = Math.round(performance.now() - started);
    $("tensor-status").textContent = `${schemeLabel(data.init)}: ${data.stats.empirical.count.toLocaleString("en")} values, ${data.dtype}, in ${ms} ms.`;
    section.dataset.state = "done";
  } catch (error) {
    section.dataset.state = "error";
    $("tensor-status").textContent = "The service refused the request: see the message next to the field.";
    report(form, error, $("tensor-form-error"));
  } finally {
    section.dataset.run = String(++state.runs);
  }
}

function report(form, error, fallback) {
  if (error instanceof Problem) showErrors(form, error.fieldErrors(), fallback);
  else {
    fallback.textContent = `The request failed: ${error.message}`;
    fallback.hidden = false;
  }
}

async function download(path) {
  clearErrors($("tensor-form"));
  $("download-error").hidden = true;
  try {
    const { blob, name, location } = await postFile(path, tensorRequest());
    showPermanent(location);
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    report($("tensor-form"), error, $("download-error"));
  }
}

// -- presets: a preset's tensors resolved by POST /v1/models/stats, one of them put in the layer form --

function presetEntry() {
  return { preset: $("preset").value, ...state.presetFields.read() };
}

async function resolvePreset() {
  const name = $("preset").value;
  const form = $("tensor-form");
  clearErrors(form);
  if (!name) return false;
  try {
    const { data } = await postJson("/v1/models/stats", { entries: [presetEntry()], seed: 0, dtype: $("dtype").value });
    state.presetTensors = data.tensors;
    fillSelect($("preset-tensor"), data.tensors.map((t, i) => [String(i), `${t.name} (${t.full_shape.join(" × ")})`]), "0");
    applyPresetTensor();
    return true;
  } catch (error) {
    report(form, error, $("preset-error"));
    return false;
  }
}

function applyPresetTensor() {
  const tensor = state.presetTensors[Number($("preset-tensor").value)];
  if (!tensor) return;
  $("shape").value = tensor.full_shape.join(", ");
  if (tensor.layout) $("layout").value = tensor.layout;
  const init = tensor.requested_init || tensor.init;
  const { scheme, ...values } = init;
  setScheme(scheme, values);
}

function choosePreset() {
  const preset = state.catalogue.presets.find((p) => p.name === $("preset").value);
  $("preset-args").hidden = !preset;
  if (!preset) return;
  const args = preset.args.map((a) => ({ ...a, default: preset.example.args[a.name] ?? a.default }));
  state.presetFields = renderFields($("preset-arg-fields"), args, "entries.0.", "arg");
  $("preset-help").textContent = `${preset.summary} (${preset.source})`;
}

// -- propagation --------------------------------------------------------------------------------------

function compareInits() {
  const inits = [];
  for (const box of $("compare-options").querySelectorAll("input:checked")) {
    inits.push(box.value === CURRENT ? { scheme: $("scheme").value, ...state.fields.read() } : { scheme: box.value });
  }
  return inits;
}

async function runPropagation() {
  const form = $("propagation-form");
  const section = $("propagation-results");
  clearErrors(form);
  const body = {
    depth: parseNumber($("depth").value),
    width: parseNumber($("width").value),
    activation: $("activation").value,
    compare: compareInits(),
    batch: parseNumber($("batch").value),
    seed: parseNumber($("seed").value) ?? 0,
  };
  section.dataset.state = "running";
  $("propagation-status").textContent = "Measuring…";
  const started = performance.now();
  try {
    const { data } = await postJson("/v1/diagnostics/propagation", body);
    state.drawn.propagation = data;
    drawPropagation($("propagation"), data);
    showPropagationTable(data);
    const ms = Math.round(performance.now() - started);
    $("propagation-status").textContent = `${data.runs.length} schemes, ${data.depth} layers, ${data.activation}, in ${ms} ms.`;
    section.dataset.state = "done";
  } catch (error) {
    section.dataset.state = "error";
    $("propagation-status").textContent = "The service refused the request: see the message next to the field.";
    report(form, error, $("propagation-form-error"));
  } finally {
    section.dataset.run = String(++state.propagations);
  }
}

function showPropagationTable(data) {
  const best = data.recommendation ? data.recommendation.index : -1;
  const rows = data.runs.map((run, i) => {
    const tr = document.createElement("tr");
    if (i === best) tr.className = "best";
    const name = document.createElement("th");
    name.scope = "row";
    const swatch = document.createElement("span");
    swatch.className = `swatch s${i % 6}`;
    swatch.setAttribute("aria-hidden", "true");
    name.append(swatch, ` ${schemeLabel(run.init)}${i === best ? " (recommended)" : ""}`);
    const cells = [fmt(run.forward.gain), fmt(run.backward.gain), `${run.forward.verdict ?? "–"} / ${run.backward.verdict ?? "–"}`];
    tr.append(name, ...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    return tr;
  });
  $("propagation-table").tBodies[0].replaceChildren(...rows);
  $("recommendation").textContent = best >= 0
    ? `Recommended: ${schemeLabel(data.runs[best].init)}, whose gains per layer are closest to 1 (forward ${fmt(data.runs[best].forward.gain)}, backward ${fmt(data.runs[best].backward.gain)}).`
    : "";
}

// -- start -------------------------------------------------------------------------------------------

async function copy(id, button) {
  const text = $(id).textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = `${button.textContent}: copied.`;
  } catch {
    const range = document.createRange();
    range.selectNodeContents($(id));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    $("copy-status").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
}

function buildForms(catalogue, spec) {
  const schemas = spec.components.schemas;
  const tensorProps = schemas.TensorRequest.properties;
  fillSelect($("layout"), catalogue.layouts.map((l) => [l, l]), tensorProps.layout.default);
  fillSelect($("dtype"), catalogue.dtypes.map((d) => [d, d]), tensorProps.dtype.default);
  fillSelect($("stream"), Object.entries(catalogue.streams).map(([s, v]) => [s, `${s} (${v})`]), tensorProps.stream.default);
  const groups = [["Schemes", catalogue.schemes.map((s) => ({ ...s, name: s.scheme }))]];
  for (const framework of ["keras", "torch", "jax"]) {
    groups.push([`${framework} initializers`, catalogue.initializers.filter((i) => i.framework === framework)]);
  }
  const select = $("scheme");
  select.replaceChildren();
  for (const [label, entries] of groups) {
    const group = document.createElement("optgroup");
    group.label = label;
    for (const entry of entries) {
      state.inits.set(entry.name, entry);
      group.append(new Option(entry.summary ? `${entry.name}: ${entry.summary}` : entry.name, entry.name));
    }
    select.append(group);
  }
  setScheme("he");
  fillSelect($("preset"), [["", "None: a layer (shape and layout below)"], ...catalogue.presets.map((p) => [p.name, `${p.name}: ${p.summary.split(":")[0]}`])], "");
  const activation = schemas.PropagationRequest.properties.activation;
  fillSelect($("activation"), activation.enum.map((a) => [a, a]), "relu");
  const options = catalogue.schemes.filter((s) => s.uses_fans).map((s) => [s.scheme, s.scheme]);
  options.push([CURRENT, "the scheme above, with its fields"]);
  $("compare-options").replaceChildren(...options.map(([value, text]) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value, name: "compare" });
    box.checked = ["he", "glorot", "lecun"].includes(value);
    label.append(box, ` ${text}`);
    return label;
  }));
}

async function start() {
  try {
    const [catalogue, spec] = await Promise.all([getJson("/v1/schemes"), getJson("/openapi.json")]);
    state.catalogue = catalogue;
    buildForms(catalogue, spec);
  } catch (error) {
    const needsKey = error instanceof Problem && error.status === 401;
    $("tensor-status").textContent = needsKey
      ? "This service requires an API key: enter it under “API key”, then press Enter."
      : `The catalogue could not be loaded: ${error.message}`;
    if (needsKey) {
      $("api-key").closest("details").open = true;
      $("api-key").focus();
    }
    return false;
  }
  return true;
}

function wire() {
  $("scheme").addEventListener("change", () => setScheme($("scheme").value));
  $("tensor-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runTensor();
  });
  $("propagation-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runPropagation();
  });
  $("preset").addEventListener("change", async () => {
    choosePreset();
    if (await resolvePreset()) runTensor();
  });
  $("preset-arg-fields").addEventListener("change", async () => {
    if (await resolvePreset()) runTensor();
  });
  $("preset-tensor").addEventListener("change", () => {
    applyPresetTensor();
    runTensor();
  });
  $("download-npy").addEventListener("click", () => download("/v1/tensors/npy"));
  $("download-safetensors").addEventListener("click", () => download("/v1/tensors/safetensors"));
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", () => copy(button.dataset.copy, button));
  }
  let pending = 0;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(redraw, 120);
  });
  document.body.dataset.ready = "true";
}

async function begin() {
  if (state.starting) return;
  state.starting = true;
  const loaded = await start();
  state.starting = false;
  if (!loaded) return;
  wire();
  await Promise.all([runTensor(), runPropagation()]);
}

// The key is sent from the next request on; entered before the catalogue could load, it loads it.
$("api-key").addEventListener("change", () => {
  setApiKey($("api-key").value);
  if (state.catalogue === null) begin();
});
$("api-key").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    setApiKey($("api-key").value);
    if (state.catalogue === null) begin();
    else $("tensor-form").requestSubmit();
  }
});

begin();
