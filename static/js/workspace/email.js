// E-mail in the workspace: a message's subject, its HTML body, quoted history folded away, and
// what the channel can do (an e-mail has no typing and no read receipts).
//
// The HTML was sanitized by the server on arrival (conversations/sanitize.py, nh3). It is still never
// given to innerHTML: it is parsed into an inert document (DOMParser runs no script and loads nothing)
// and copied node by node into new elements from the allowlist below — text as text nodes, links
// only http(s)/mailto — so even HTML that got past the server could not run or load anything. The
// page's strict CSP (no inline script, no inline style, our origin only) is the third wall.
import { h, safeText } from "../text.js";

const HTML_NS = "http://www.w3.org/1999/xhtml";
// What is copied (the server's subset); any other element is unwrapped to its text, except these,
// which are dropped with their content.
const TAGS = new Set([
  "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
  "h5", "h6", "hr", "i", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup",
  "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
]);
const DROP = new Set([
  "script", "style", "template", "iframe", "frame", "object", "embed", "svg", "math", "noscript", "form",
  "input", "button", "textarea", "select", "img", "video", "audio", "source", "link", "meta", "base", "head", "title",
]);
const QUOTE_CLASSES = ["gmail_quote", "moz-cite-prefix", "yahoo_quoted", "OutlookMessageHeader"];
const SAFE_HREF = /^(https?:|mailto:)/i;

/** What the message's channel can do, from the workspace's channel list (capabilities of its
 * package); an unknown channel can do everything. */
export function capabilitiesOf(channels, channelAddressId) {
  const channel = (channels || []).find((c) => c.channel_address_id === channelAddressId);
  return (channel && channel.capabilities) || {};
}

export const showsTyping = (caps) => caps.typing !== false;
export const showsReceipts = (caps) => caps.receipts !== false && caps.read_receipts !== false;

/** The status mark to show: without read receipts, "delivered" and "read" are not known, only "sent". */
export function shownStatus(status, caps) {
  if (!showsReceipts(caps) && (status === "delivered" || status === "read")) return "sent";
  return status;
}

/** A plain-text mail split into the reply and the quoted history below it: from the first quote
 * line (`> …`), attribution ("On … wrote:") or "Original Message" marker, if there is a reply above. */
export function splitQuoted(text) {
  const lines = String(text ?? "").split("\n");
  const marker = lines.findIndex(
    (line) => /^\s*>/.test(line) || /^On .{4,200} wrote:\s*$/.test(line.trim()) || /^-{2,}\s*Original Message\s*-{2,}/i.test(line.trim()),
  );
  if (marker <= 0 || !lines.slice(0, marker).join("").trim()) return { body: String(text ?? ""), quoted: "" };
  return { body: lines.slice(0, marker).join("\n").trimEnd(), quoted: lines.slice(marker).join("\n").trim() };
}

/** "receipt.pdf — 16 KB, application/pdf" */
export function attachmentLabel(a) {
  const size = typeof a.size === "number" ? formatSize(a.size) : "";
  const facts = [size, a.content_type].filter(Boolean).join(", ");
  return facts ? `${a.name || "attachment"} — ${facts}` : a.name || "attachment";
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function folded(content) {
  return h("details", { class: "email-quote" }, h("summary", {}, "Quoted text"), content);
}

function isQuote(node) {
  if (node.localName === "blockquote") return true;
  const classes = (node.getAttribute("class") || "").split(/\s+/);
  return QUOTE_CLASSES.some((c) => classes.includes(c));
}

/** Copy the allowed part of `source`'s children into `target`; the outermost quote is folded. */
function copyInto(source, target, inQuote) {
  for (const child of source.childNodes) {
    if (child.nodeType === 3) {
      target.append(document.createTextNode(safeText(child.data)));
      continue;
    }
    if (child.nodeType !== 1) continue; // comments, processing instructions: nothing
    const tag = child.localName;
    if (DROP.has(tag) || child.namespaceURI !== HTML_NS) continue;
    if (!TAGS.has(tag)) {
      copyInto(child, target, inQuote); // an unknown element: its text only
      continue;
    }
    const el = document.createElement(tag);
    if (tag === "a") {
      const href = (child.getAttribute("href") || "").trim();
      if (SAFE_HREF.test(href)) {
        el.setAttribute("href", href);
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
    for (const name of ["colspan", "rowspan"]) {
      const value = child.getAttribute(name);
      if (value && /^\d{1,3}$/.test(value)) el.setAttribute(name, value);
    }
    const quote = !inQuote && isQuote(child);
    copyInto(child, el, inQuote || quote);
    target.append(quote ? folded(el) : el);
  }
}

/** The message body as DOM: HTML through the allowlist copy, else the text with its quote folded. */
export function messageBody(message) {
  if (message.html) {
    const parsed = new DOMParser().parseFromString(message.html, "text/html");
    const root = h("div", { class: "text email-html" });
    copyInto(parsed.body, root, false);
    return root;
  }
  if (!message.text) return null;
  if (!message.subject) return h("div", { class: "text" }, message.text); // a chat message: as written
  const { body, quoted } = splitQuoted(message.text);
  return h("div", { class: "text" }, body, quoted ? folded(h("pre", { class: "email-quoted-text" }, quoted)) : null);
}

/** The subject line above an e-mail's body, if it has one. */
export function messageSubject(message) {
  return message.subject ? h("div", { class: "msg-subject" }, message.subject) : null;
}
