// The two charts, drawn as SVG by this page (no library): the histogram with its theoretical density,
// and the variance per layer of the propagation diagnostics.

import { fmt } from "./density.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Clears a chart, keeping its <title> and <desc>; sets the description. */
function reset(svg, description) {
  for (const child of [...svg.childNodes]) {
    if (!(child.nodeName === "title" || child.nodeName === "desc")) child.remove();
  }
  svg.querySelector("desc").textContent = description;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => raw <= s);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

const BOX = { left: 64, right: 16, top: 16, bottom: 44 };

/**
 * The chart's size in CSS pixels (its viewBox), so that its text is drawn at its real size on a phone
 * as on a desktop: the width it is laid out at (300 at least), the height a share of it.
 */
function size(svg, ratio, low, high) {
  const laid = Math.round(svg.parentElement ? svg.parentElement.clientWidth : 0) || 640;
  const width = Math.max(300, laid);
  const height = Math.round(Math.min(high, Math.max(low, width * ratio)));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return [width, height];
}

function frame(svg, width, height) {
  return { x0: BOX.left, x1: width - BOX.right, y0: height - BOX.bottom, y1: BOX.top };
}

function axes(svg, f, xs, ys, xLabel, yLabel, xText = fmt, yText = fmt) {
  const g = el("g", { class: "axes" });
  g.append(el("line", { x1: f.x0, y1: f.y0, x2: f.x1, y2: f.y0, class: "axis" }));
  g.append(el("line", { x1: f.x0, y1: f.y0, x2: f.x0, y2: f.y1, class: "axis" }));
  for (const [value, x] of xs) {
    g.append(el("line", { x1: x, y1: f.y0, x2: x, y2: f.y0 + 5, class: "axis" }));
    g.append(el("text", { x, y: f.y0 + 18, "text-anchor": "middle", class: "tick" }, xText(value)));
  }
  for (const [value, y] of ys) {
    g.append(el("line", { x1: f.x0 - 5, y1: y, x2: f.x1, y2: y, class: "grid" }));
    g.append(el("text", { x: f.x0 - 8, y: y + 4, "text-anchor": "end", class: "tick" }, yText(value)));
  }
  g.append(el("text", { x: (f.x0 + f.x1) / 2, y: f.y0 + 36, "text-anchor": "middle", class: "label" }, xLabel));
  g.append(el("text", { x: 14, y: (f.y0 + f.y1) / 2, "text-anchor": "middle", class: "label",
    transform: `rotate(-90 14 ${(f.y0 + f.y1) / 2})` }, yLabel));
  svg.append(g);
}

/**
 * The histogram (bars as a density: count / (n * width), n the elements counted) and the theoretical
 * density over it, with the distribution's bounds marked.
 */
export function drawHistogram(svg, histogram, density, count) {
  const { edges, counts } = histogram;
  const [width, height] = size(svg, 0.5, 240, 340);
  const counted = counts.reduce((a, b) => a + b, 0);
  const heights = counts.map((c, i) => (counted > 0 ? c / (counted * (edges[i + 1] - edges[i])) : 0));
  let lo = edges[0];
  let hi = edges[edges.length - 1];
  if (density.low !== null && density.high !== null) {
    lo = Math.min(lo, density.low);
    hi = Math.max(hi, density.high);
  }
  const pad = (hi - lo) * 0.04 || 0.5;
  lo -= pad;
  hi += pad;
  const curve = [];
  if (density.pdf) {
    const xs = [];
    for (let i = 0; i <= 240; i += 1) xs.push(lo + ((hi - lo) * i) / 240);
    if (density.low !== null) xs.push(density.low - 1e-12 * (hi - lo), density.low, density.high, density.high + 1e-12 * (hi - lo));
    xs.sort((a, b) => a - b);
    for (const x of xs) curve.push([x, density.pdf(x)]);
  }
  const top = Math.max(...heights, ...curve.map(([, y]) => y), 1e-300) * 1.08;
  const f = frame(svg, width, height);
  const X = (x) => f.x0 + ((x - lo) / (hi - lo)) * (f.x1 - f.x0);
  const Y = (y) => f.y0 - (y / top) * (f.y0 - f.y1);
  reset(svg, `Histogram of ${count} values in ${counts.length} bins from ${fmt(edges[0])} to ${fmt(edges[edges.length - 1])}`
    + (density.pdf ? `, with the density of ${density.label} drawn over it.` : `; ${density.label}.`));
  axes(svg, f, ticks(lo, hi, Math.max(4, Math.floor(width / 110))).map((t) => [t, X(t)]), ticks(0, top, 4).map((t) => [t, Y(t)]), "value", "density");
  let bars = "";
  heights.forEach((h, i) => {
    if (h <= 0) return;
    const x = X(edges[i]);
    const w = Math.max(X(edges[i + 1]) - x, 0.3);
    bars += `M${x.toFixed(2)} ${f.y0}V${Y(h).toFixed(2)}h${w.toFixed(2)}V${f.y0}Z`;
  });
  svg.append(el("path", { d: bars || "M0 0", class: "bars", "data-role": "bars" }));
  if (density.low !== null && density.high !== null) {
    for (const [name, x] of [["low", density.low], ["high", density.high]]) {
      svg.append(el("line", { x1: X(x), y1: f.y0, x2: X(x), y2: f.y1, class: "bound", "data-role": `bound-${name}` }));
      svg.append(el("text", { x: X(x) + (name === "low" ? 4 : -4), y: f.y1 + 12, class: "tick",
        "text-anchor": name === "low" ? "start" : "end" }, `${name} ${fmt(x)}`));
    }
  }
  if (curve.length > 0) {
    const d = curve.map(([x, y], i) => `${i ? "L" : "M"}${X(x).toFixed(2)} ${Y(y).toFixed(2)}`).join("");
    svg.append(el("path", { d, class: "density", "data-role": "density" }));
    svg.append(el("text", { x: f.x1 - 4, y: f.y1 + 28, "text-anchor": "end", class: "legend" }, density.label));
  }
  svg.setAttribute("data-density", density.kind);
  svg.setAttribute("data-bins", String(counts.length));
  svg.setAttribute("data-counts", JSON.stringify(counts));
}

/** A short name of a canonical init for legends: the scheme and its distribution, if it has one. */
export function schemeLabel(init) {
  const parts = [init.scheme];
  if (init.distribution) parts.push(init.distribution);
  if (init.mode && init.mode !== "fan_in") parts.push(init.mode);
  return parts.join(" ");
}

/**
 * log10 of the variance relative to layer 1, per layer: pre-activations (forward, solid) and their
 * gradients (backward, dashed), one colour per scheme; the recommended scheme drawn thicker.
 */
export function drawPropagation(svg, answer) {
  const [width, height] = size(svg, 0.55, 260, 360);
  const lines = answer.runs.map((run, index) => ({
    index,
    forward: run.layers.map((l) => [l.layer, l.pre_activation.relative]),
    backward: run.layers.map((l) => [l.layer, l.pre_activation_grad.relative]),
  }));
  const values = [];
  for (const line of lines) {
    for (const [, v] of [...line.forward, ...line.backward]) if (v !== null && v > 0) values.push(Math.log10(v));
  }
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi - lo < 2) {
    lo -= 1;
    hi += 1;
  }
  const f = frame(svg, width, height);
  const X = (layer) => f.x0 + ((layer - 1) / Math.max(answer.depth - 1, 1)) * (f.x1 - f.x0);
  const Y = (v) => f.y0 - ((v - lo) / (hi - lo)) * (f.y0 - f.y1);
  const best = answer.recommendation ? answer.recommendation.index : -1;
  const names = answer.runs.map((run) => schemeLabel(run.init));
  reset(svg, `Variance relative to layer 1 over ${answer.depth} layers of width ${answer.widths[1]} with ${answer.activation}, `
    + `for ${names.join(", ")}` + (best >= 0 ? `; recommended: ${names[best]}.` : "."));
  const yTicks = ticks(lo, hi, 6).filter((t) => Number.isInteger(t) || hi - lo < 4);
  axes(svg, f, ticks(1, answer.depth, Math.max(3, Math.floor(width / 100))).filter((t) => Number.isInteger(t)).map((t) => [t, X(t)]),
    yTicks.map((t) => [t, Y(t)]), "layer", "variance / layer 1", (v) => String(v), (v) => `1e${v}`);
  for (const line of lines) {
    for (const [direction, points] of [["forward", line.forward], ["backward", line.backward]]) {
      let d = "";
      let pen = "M";
      for (const [layer, v] of points) {
        if (v === null || !(v > 0)) {
          pen = "M";
          continue;
        }
        d += `${pen}${X(layer).toFixed(2)} ${Y(Math.log10(v)).toFixed(2)}`;
        pen = "L";
      }
      if (!d) continue;
      const classes = `run s${line.index % 6} ${direction}${line.index === best ? " best" : ""}`;
      svg.append(el("path", { d, class: classes, "data-scheme": names[line.index], "data-direction": direction }));
    }
  }
  svg.setAttribute("data-recommended", best >= 0 ? answer.runs[best].init.scheme : "");
}
