// The workspace's search box (side panel "Search"): GET /agent/search/?q= over the conversations and
// messages this agent may see; hits are shown with their matches highlighted (from the answer's
// `highlights` ranges, never from HTML). `highlightParts` is pure (node --test).
import { api } from "../api.js";
import { h } from "../text.js";

/** `snippet` cut into [text, isHit] parts by the [start, end) `ranges`. */
export function highlightParts(snippet, ranges = []) {
  const parts = [];
  let at = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    if (start > at) parts.push([snippet.slice(at, start), false]);
    parts.push([snippet.slice(start, end), true]);
    at = end;
  }
  if (at < snippet.length) parts.push([snippet.slice(at), false]);
  return parts;
}

export function setupSearch(ws) {
  const form = document.getElementById("search-form");
  const input = document.getElementById("search-q");
  const results = document.getElementById("search-results");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    results.setAttribute("aria-busy", "true");
    try {
      const found = await api("GET", `${ws.API}/search/?q=${encodeURIComponent(q)}`);
      const held = ws.getState().conversations;
      const open = (id) => (held.has(id) ? () => ws.setActive(id) : null);
      results.replaceChildren(
        h("p", { class: "muted" }, `${found.messages.length} message(s), ${found.conversations.length} conversation(s)`),
        h(
          "ul",
          { class: "search-hits" },
          found.messages.map((m) =>
            h(
              "li",
              { class: "search-hit" },
              h("div", { class: "meta" }, `${m.contact_name} · ${new Date(m.created_at).toLocaleString()}`),
              h("div", { class: "text" }, highlightParts(m.snippet, m.highlights).map(([t, hit]) => (hit ? h("mark", {}, t) : t))),
              open(m.conversation_id) ? h("button", { type: "button", onclick: open(m.conversation_id) }, "Open") : null,
            ),
          ),
        ),
        h(
          "ul",
          { class: "search-hits" },
          found.conversations.map((c) => h("li", { class: "search-hit" }, `${c.contact_name} (${c.end_user}) · ${c.status}`)),
        ),
      );
    } catch (error) {
      ws.showError(error);
    } finally {
      results.removeAttribute("aria-busy");
    }
  });
}
