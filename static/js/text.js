// Untrusted text (contact names, messages, partner-supplied names) is shown without bidirectional
// override controls: U+202A–202E and U+2066–2069 could make it display in another order than it is
// ("invoice\u202Efdp.exe" would read "invoiceexe.pdf"). Server-rendered pages get the same treatment
// (ccp/core/middleware.py).
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** The string form of `value` with bidi embedding, override and isolate controls removed. */
export function safeText(value) {
  return String(value ?? "").replace(BIDI_CONTROLS, "");
}
