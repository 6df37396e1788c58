// A tiny element builder. User-supplied text only ever becomes text nodes.

/**
 * What may go inside an element: nodes, text (numbers become text), and
 * nested lists of them; `null`, `undefined` and `false` are skipped.
 *
 * @typedef {Node | string | number | boolean | null | undefined | Child[]} Child
 */

/**
 * `h("button", { class: "primary", onclick: go }, "Go")`. Props starting with
 * `on` become listeners; `true`/`false` toggle boolean attributes.
 *
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown> | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
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

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  // Typed loosely: `flat(Infinity)` over the recursive `Child` is more than
  // the checker will expand, and every item is tested below anyway.
  for (const child of /** @type {unknown[]} */ (children).flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces everything inside `el`.
 *
 * @param {Element} el
 * @param {...Child} children
 */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * A labelled form field; the label is tied to the input (or select) by id.
 *
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement} input
 * @param {string} [hint] a line under the field, read out with it
 */
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

/**
 * "20:15" in the viewer's time zone.
 *
 * @param {string} iso an RFC 3339 time
 */
export function clockTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
