// Form controls generated from the catalogue (GET /v1/schemes), values read back as request JSON,
// and the service's errors shown next to the control of the field they name.

let unique = 0;

function make(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === true) node.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Replaces the options of a <select>: items are [value, label] pairs. */
export function fillSelect(select, items, selected) {
  select.replaceChildren(...items.map(([value, label]) => make("option", { value }, label)));
  if (selected !== undefined) select.value = selected;
}

/** A number typed by a person: a number when it reads as one, else the text itself (the API names it). */
export function parseNumber(text) {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** "256, 256" -> [256, 256]; a part that is not a number is sent as typed, for the API to refuse. */
export function parseList(text) {
  const t = text.trim().replace(/^[[(]|[\])]$/g, "");
  if (t === "") return [];
  return t.split(/[\s,x×]+/).filter((p) => p !== "").map((p) => parseNumber(p));
}

/**
 * Controls for the fields of a scheme or a preset into `container`; `prefix` names them in the API's
 * error paths ("init." -> "init.gain"). Fields: {name, type|kind, required, default, choices, description}.
 * Returns read(): the values differing from their defaults (required ones always), and set(values).
 */
export function renderFields(container, fields, prefix, idPrefix) {
  container.replaceChildren();
  const readers = [];
  const setters = {};
  for (const field of fields) {
    const kind = field.type || field.kind;
    const id = `${idPrefix}-${field.name}-${++unique}`;
    const wrap = make("div", { class: "field" });
    const label = make("label", { for: id }, field.name.replace(/_/g, " ") + (field.required ? " (required)" : ""));
    const help = make("p", { id: `${id}-help`, class: "help" }, field.description || "");
    const error = make("p", { id: `${id}-error`, class: "error", role: "alert", hidden: true });
    const described = `${id}-help ${id}-error`;
    let input;
    let read;
    let write;
    if (kind === "choice") {
      input = make("select", { id, "aria-describedby": described });
      const choices = field.choices || [];
      fillSelect(input, [...(field.default === null && !field.required ? [["", "(default)"]] : []), ...choices.map((c) => [c, c])]);
      read = () => (input.value === "" ? undefined : input.value);
      write = (v) => { input.value = v ?? ""; };
    } else if (kind === "boolean") {
      input = make("input", { id, type: "checkbox", "aria-describedby": described });
      read = () => input.checked;
      write = (v) => { input.checked = Boolean(v); };
    } else if (kind === "integers" || kind === "axes") {
      input = make("input", { id, inputmode: "numeric", autocomplete: "off", "aria-describedby": described });
      read = () => {
        const values = parseList(input.value);
        if (values.length === 0) return undefined;
        if (values.length === 1 && (kind === "axes" || typeof values[0] === "string")) return values[0];
        return values;
      };
      write = (v) => { input.value = v === null || v === undefined ? "" : [].concat(v).join(", "); };
    } else {
      input = make("input", { id, inputmode: kind === "integer" ? "numeric" : "decimal", autocomplete: "off",
        "aria-describedby": described });
      read = () => parseNumber(input.value);
      write = (v) => { input.value = v === null || v === undefined ? "" : String(v); };
    }
    input.dataset.field = prefix + field.name;
    if (field.required) input.setAttribute("aria-required", "true");
    write(field.default);
    setters[field.name] = write;
    if (kind === "boolean") wrap.append(input, label);
    else wrap.append(label, input);
    wrap.append(help, error);
    container.append(wrap);
    readers.push([field, read]);
  }
  return {
    read() {
      const out = {};
      for (const [field, read] of readers) {
        const value = read();
        if (value === undefined) continue;
        if (!field.required && JSON.stringify(value) === JSON.stringify(field.default)) continue;
        out[field.name] = value;
      }
      return out;
    },
    set(values) {
      for (const [name, value] of Object.entries(values)) if (setters[name]) setters[name](value);
    },
  };
}

/** Hides every error message of `root` and unmarks its controls. */
export function clearErrors(root) {
  for (const p of root.querySelectorAll(".error")) {
    p.textContent = "";
    p.hidden = true;
  }
  for (const c of root.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

/**
 * Shows [field, message] errors next to the control whose data-field is the field, or its closest
 * ancestor path ("shape.1" -> "shape", "init.gain" -> "init"); what matches nothing goes to `fallback`.
 * Focuses the first control named. Returns the error elements written.
 */
export function showErrors(root, errors, fallback) {
  const written = [];
  let first = null;
  for (const [field, message] of errors) {
    let path = field;
    let control = null;
    while (control === null) {
      control = root.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (control !== null || path === "") break;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    const place = control ? control.closest(".field, fieldset") : null;
    const target = place ? place.querySelector(":scope > .error") : fallback;
    const text = control && path !== field ? `${field}: ${message}` : message;
    target.textContent = target.hidden || !target.textContent ? text : `${target.textContent} ${text}`;
    target.hidden = false;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      first = first || control;
    }
    written.push(target);
  }
  if (first && typeof first.focus === "function") first.focus();
  return written;
}
