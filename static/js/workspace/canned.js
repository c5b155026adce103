// Canned responses in the composer: typing `/` at the start of a word opens a list filtered by what
// follows; ArrowUp/ArrowDown move, Enter or Tab inserts the text with its placeholders filled, Escape
// closes. The pure part (slashQuery, filterCanned, fillPlaceholders) runs under `node --test`.
//
// Placeholders: {{contact.name}}, {{contact.address}}, {{agent.name}}, {{channel.name}} and custom
// fields {{custom.<name>}} (from the conversation's routing attributes, e.g. a pre-chat form). A
// placeholder whose value is unknown or empty is left exactly as written, so the agent sees it and
// completes it before sending — nothing is silently dropped. docs/supervision.md states the rule.
import { api } from "../api.js";
import { h } from "../text.js";
import { activeConversation } from "./state.js";

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][\w]*(?:\.[\w-]+)*)\s*\}\}/g;

/** The `/query` being typed at `caret` in `value`, or null: a slash at the start of the text or after
 * white space, followed by shortcut characters up to the caret. */
export function slashQuery(value, caret = value.length) {
  const before = value.slice(0, caret);
  const match = /(^|\s)\/([\w-]{0,50})$/.exec(before);
  if (!match) return null;
  return { query: match[2].toLowerCase(), start: before.length - match[2].length - 1, end: caret };
}

/** Canned responses matching `query`: shortcut prefix first, then shortcut or title containing it;
 * personal before shared for the same shortcut. */
export function filterCanned(list, query = "") {
  const q = query.toLowerCase();
  const score = (c) => {
    const shortcut = c.shortcut.toLowerCase();
    if (shortcut.startsWith(q)) return 0;
    if (shortcut.includes(q)) return 1;
    if ((c.title || "").toLowerCase().includes(q)) return 2;
    return -1;
  };
  return list
    .map((c) => [score(c), c])
    .filter(([s]) => s >= 0)
    .sort((a, b) => a[0] - b[0] || a[1].shortcut.localeCompare(b[1].shortcut) || Number(a[1].shared) - Number(b[1].shared))
    .map(([, c]) => c);
}

/** `text` with each {{path}} replaced by its value in `context` (a nested object); unknown or empty
 * values leave the placeholder as written. */
export function fillPlaceholders(text, context) {
  return text.replace(PLACEHOLDER, (whole, path) => {
    let value = context;
    for (const key of path.split(".")) {
      value = value !== null && typeof value === "object" && Object.hasOwn(value, key) ? value[key] : undefined;
    }
    return value === undefined || value === null || value === "" || typeof value === "object" ? whole : String(value);
  });
}

/** The fill context of conversation `conv` for agent `agent` (`works`: the workspace's works, whose
 * attributes carry the conversation's custom fields). */
export function fillContext(conv, agent, works = []) {
  const attributes = works.find((w) => w.attributes?.conversation_id === conv?.id)?.attributes || {};
  return {
    contact: { name: conv?.contact_name || conv?.end_user || "", address: conv?.end_user || "" },
    agent: { name: agent?.name || "" },
    channel: { name: conv?.channel_name || "" },
    custom: attributes,
  };
}

/** `value` with the range [start, end) replaced by `text`; returns the new value and caret. */
export function insertAt(value, start, end, text) {
  return { value: value.slice(0, start) + text + value.slice(end), caret: start + text.length };
}

/** Wire the picker to the composer (`ws`: the workspace object of workspace.js, with `agentName`). */
export function setupCanned(ws) {
  const textarea = document.getElementById("composer-text");
  const form = document.getElementById("composer");
  const box = h("ul", { id: "canned-list", class: "canned-list", role: "listbox", "aria-label": "Canned responses", hidden: "" });
  form.insertBefore(box, textarea);
  textarea.setAttribute("aria-controls", "canned-list");
  textarea.setAttribute("aria-autocomplete", "list");
  let all = null;
  let shown = [];
  let selected = 0;
  let range = null;

  function load() {
    // one fetch per page (or per reload()), shared by the keystrokes that wait for it
    if (all === null) {
      all = api("GET", `${ws.API}/canned-responses/`).catch((error) => {
        all = null;
        ws.showError(error);
        return [];
      });
    }
    return all;
  }

  function close() {
    box.hidden = true;
    shown = [];
    range = null;
    textarea.removeAttribute("aria-activedescendant");
    textarea.setAttribute("aria-expanded", "false");
  }

  function draw() {
    box.replaceChildren(
      ...shown.map((c, i) =>
        h(
          "li",
          {
            id: `canned-${i}`,
            role: "option",
            class: i === selected ? "selected" : "",
            "aria-selected": String(i === selected),
            onmousedown: (event) => {
              event.preventDefault();
              selected = i;
              choose();
            },
          },
          h("strong", {}, `/${c.shortcut}`),
          " ",
          h("span", { class: "muted" }, c.title || c.text.slice(0, 60)),
          c.shared ? null : h("span", { class: "tag" }, "mine"),
        ),
      ),
    );
    box.hidden = !shown.length;
    textarea.setAttribute("aria-expanded", String(!!shown.length));
    if (shown.length) textarea.setAttribute("aria-activedescendant", `canned-${selected}`);
  }

  function choose() {
    const canned = shown[selected];
    if (!canned || !range) return close();
    const state = ws.getState();
    const conv = activeConversation(state);
    const text = fillPlaceholders(canned.text, fillContext(conv, { name: ws.agentName }, [...state.works.values()]));
    const next = insertAt(textarea.value, range.start, range.end, text);
    textarea.value = next.value;
    textarea.setSelectionRange(next.caret, next.caret);
    close();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  textarea.addEventListener("input", async () => {
    if (!slashQuery(textarea.value, textarea.selectionStart)) return close();
    const list = await load();
    const found = slashQuery(textarea.value, textarea.selectionStart); // as typed by now, not before the fetch
    if (!found) return close();
    range = found;
    shown = filterCanned(list, found.query).slice(0, 8);
    selected = Math.min(selected, Math.max(0, shown.length - 1));
    draw();
  });
  // leaving the composer closes the list (after a click on an option had its chance), unless the
  // focus came back meanwhile
  textarea.addEventListener("blur", () =>
    setTimeout(() => {
      if (document.activeElement !== textarea) close();
    }, 150),
  );

  // Capture phase on the form: runs before the composer's own Enter-sends handler on the textarea.
  form.addEventListener(
    "keydown",
    (event) => {
      if (event.target !== textarea || box.hidden || !shown.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        selected = (selected + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        draw();
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        event.stopPropagation();
        choose();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    },
    true,
  );
  return { reload: () => (all = null) };
}
