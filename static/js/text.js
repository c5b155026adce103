// Untrusted text (contact names, messages, partner-supplied names) is shown without bidirectional
// override controls: U+202A–202E and U+2066–2069 could make it display in another order than it is
// ("invoice\u202Efdp.exe" would read "invoiceexe.pdf"). Server-rendered pages get the same treatment
// (ccp/core/middleware.py).
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** The string form of `value` with bidi embedding, override and isolate controls removed. */
export function safeText(value) {
  return String(value ?? "").replace(BIDI_CONTROLS, "");
}

/** Build an element; strings become text nodes (never HTML) without bidi controls, so partner and
 * end-user text is safe to show. `on…` attributes become listeners (the page's CSP forbids inline
 * handlers), `class` the class name, `dataset` data-* attributes; `false`/`null` attributes are left out. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : safeText(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(safeText(child)));
  }
  return el;
}
