// A tiny element builder. User-supplied text only ever becomes text nodes.

/**
 * `h("button", { class: "primary", onclick: go }, "Go")`. Props starting with
 * `on` become listeners; `true`/`false` toggle boolean attributes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A labelled form field; the label is tied to the input by id. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  if (input.type === "checkbox") {
    return h("div", { class: "check" }, input, h("label", { for: id }, label), hintEl);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
}

/** A `role=alert` line for a form's error, empty until used. */
export function errorLine() {
  return h("p", { class: "error", role: "alert" });
}

/** "20:15" in the viewer's time zone. */
export function clockTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
