// Rendering: one function per panel, each drawing from the state it is given. `render(state, touched)`
// redraws only the panels named in `touched` (the reducer says which an event changed).
// Every untrusted string goes through h() or safeText() (static/js/text.js).
import { h, safeText } from "../text.js";
import { attachmentLabel, capabilitiesOf, messageBody, messageSubject, showsTyping, shownStatus } from "./email.js";
import { slaBadge } from "./sla.js";
import { activeConversation, conversationLabel, openOffers, orderedMessages, secondsLeft } from "./state.js";

const $ = (id) => document.getElementById(id);

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const localTime = (iso) => (iso ? timeFmt.format(new Date(iso)) : "");
export const localDateTime = (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : "");
const clock = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

const MARKS = {
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["✗", "Not delivered"],
};

// What the buttons drawn here call (set once by workspace.js): accept, decline, acwExtend,
// acwComplete, activate, removeAttachment.
let actions = {};
let shown = null; // the state last drawn, for the countdown tick

export function setActions(handlers) {
  actions = handlers;
}

export function renderPresence(state) {
  if (!state.agent) return;
  $("presence").value = state.agent.status;
  const parts = Object.entries(state.agent.capacity || {}).map(([kind, c]) => `${kind} ${c.used}/${c.max}`);
  $("capacity").textContent = `Capacity: ${parts.length ? parts.join(", ") : "not set"}`;
}

function renderOffers(state) {
  const root = $("offers");
  const present = new Set();
  for (const work of openOffers(state)) {
    present.add(work.work_id);
    if (root.querySelector(`[data-work-id="${CSS.escape(work.work_id)}"]`)) continue;
    const a = work.attributes || {};
    const fresh = a.call_id ? "Incoming call" : "New conversation"; // a voice call's offer names its call
    const title = work.is_transfer ? `Transfer from ${a.transfer_from_name || "a colleague"}` : fresh;
    root.append(
      h(
        "article",
        { class: "offer", dataset: { workId: work.work_id }, "aria-label": `${title}: ${a.contact_name || ""}` },
        h("h2", {}, title),
        h("p", {}, h("strong", {}, a.contact_name || a.end_user || "Unknown contact"), ` on ${a.channel_name || "a channel"}`),
        a.first_message ? h("blockquote", {}, a.first_message) : null,
        h("p", { class: "countdown", "aria-live": "off" }, ""),
        h(
          "div",
          { class: "offer-actions" },
          h("button", { type: "button", class: "primary", onclick: () => actions.accept(work.work_id) }, "Accept (A)"),
          h("button", { type: "button", onclick: () => actions.decline(work.work_id) }, "Decline (D)"),
        ),
      ),
    );
  }
  for (const card of root.querySelectorAll(".offer")) if (!present.has(card.dataset.workId)) card.remove();
}

function renderAcw(state) {
  const root = $("acw-list");
  root.replaceChildren();
  for (const work of state.works.values()) {
    if (work.status !== "acw") continue;
    const a = work.attributes || {};
    root.append(
      h(
        "article",
        { class: "acw", dataset: { workId: work.work_id, endsAt: work.acw_ends_at || "" } },
        h("h2", {}, `After-conversation work: ${a.contact_name || "conversation"}`),
        h("p", { class: "acw-countdown" }, ""),
        h(
          "div",
          { class: "offer-actions" },
          h("button", { type: "button", onclick: () => actions.acwExtend(work.work_id) }, "Extend 60 s"),
          h("button", { type: "button", class: "primary", onclick: () => actions.acwComplete(work.work_id) }, "Complete"),
        ),
      ),
    );
  }
}

/** The countdowns of offers and ACW cards; an offer whose time is up disappears. */
export function tick() {
  if (!shown) return;
  for (const card of $("offers").querySelectorAll(".offer")) {
    const work = shown.works.get(card.dataset.workId);
    const left = work ? secondsLeft(work.expires_at) : 0;
    if (left <= 0) {
      card.remove();
      continue;
    }
    card.querySelector(".countdown").textContent = `Answer within ${left} s`;
  }
  for (const card of $("acw-list").querySelectorAll(".acw")) {
    const ends = card.dataset.endsAt;
    card.querySelector(".acw-countdown").textContent = ends ? `Ends in ${clock(secondsLeft(ends))}` : "No time limit";
  }
}

function renderList(state) {
  const list = $("conversation-list");
  list.replaceChildren();
  const convs = [...state.conversations.values()];
  $("no-conversations").hidden = convs.length > 0;
  for (const conv of convs) {
    const last = orderedMessages(conv).filter((m) => m.direction !== "system").pop();
    const active = conv.id === state.activeId;
    const label = conversationLabel(conv);
    list.append(
      h(
        "li",
        { role: "presentation" },
        h(
          "button",
          {
            type: "button",
            role: "tab",
            class: `conv-tab${active ? " active" : ""}${label ? " ended" : ""}`,
            "aria-selected": active ? "true" : "false",
            dataset: { conversationId: conv.id },
            onclick: () => actions.activate(conv.id),
          },
          h("span", { class: "conv-name" }, conv.contact_name || conv.end_user),
          conv.unread ? h("span", { class: "badge", "aria-label": `${conv.unread} unread` }, String(conv.unread)) : null,
          h("span", { class: "conv-meta" }, label || conv.channel_name),
          conv.gone || conv.status === "closed" ? null : slaBadge(conv.sla),
          last ? h("span", { class: "conv-last" }, last.text || "(attachment)") : null,
        ),
      ),
    );
  }
}

function renderMark(message, caps = {}) {
  const status = shownStatus(message.status, caps);
  const [glyph, words] = MARKS[status] || ["", status];
  const title = message.status === "failed" && message.failure_reason ? `${words}: ${message.failure_reason}` : words;
  return h("span", { class: `mark mark-${status}`, title }, `${glyph} ${title}`);
}

function renderMessage(message, caps = {}) {
  const safe = (url) => /^https?:\/\//i.test(url || "");
  const attachments = (message.attachments || []).map((a) =>
    h(
      "li",
      {},
      safe(a.url)
        ? h("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" }, attachmentLabel({ ...a, name: a.name || a.url }))
        : attachmentLabel(a),
    ),
  );
  if (message.direction === "note") {
    const label = message.kind === "whisper" ? `Whisper from ${message.sender_name}` : `Internal note · ${message.sender_name}`;
    return h(
      "li",
      { class: `msg note ${message.kind === "whisper" ? "whisper" : "internal"}`, dataset: { messageId: message.id }, "aria-label": `${label} (not sent to the customer)` },
      h("div", { class: "meta" }, `${label} · `, h("time", { datetime: message.created_at }, localTime(message.created_at))),
      h("div", { class: "text" }, message.text),
    );
  }
  if (message.direction === "system") {
    return h("li", { class: "msg system", dataset: { messageId: message.id } }, h("span", {}, message.text), " ", h("time", {}, localTime(message.created_at)));
  }
  const who = message.sender_name || (message.direction === "inbound" ? "Customer" : "Agent");
  return h(
    "li",
    { class: `msg ${message.direction}`, dataset: { messageId: message.id } },
    h("div", { class: "meta" }, `${who} · `, h("time", { datetime: message.created_at }, localTime(message.created_at))),
    messageSubject(message),
    messageBody(message),
    attachments.length ? h("ul", { class: "msg-attachments" }, attachments) : null,
    message.direction === "outbound" ? renderMark(message, caps) : null,
  );
}

// The transcript is redrawn only when its conversation or its messages changed (messages are
// replaced, never edited in place, by the pure transitions of state.js).
let drawnMessages = null;

function renderConversation(state) {
  const conv = activeConversation(state);
  $("conversation").hidden = !conv;
  $("empty").hidden = !!conv;
  if (!conv) {
    drawnMessages = null;
    return;
  }
  const open = conv.status !== "closed" && !conv.gone;
  $("conv-title").textContent = safeText(conv.contact_name || conv.end_user);
  const subject = orderedMessages(conv).find((m) => m.subject)?.subject; // an e-mail thread's
  $("conv-sub").textContent = safeText([subject, conv.channel_name, conv.end_user, conversationLabel(conv) || conv.status].filter(Boolean).join(" · "));
  $("dismiss-button").hidden = open;
  $("transfer-button").disabled = !open;
  $("close-button").disabled = !open;
  $("composer-text").disabled = !open;
  $("send-button").disabled = !open;
  $("attach-button").disabled = !open;
  const transcript = $("transcript");
  if (drawnMessages !== conv.messages || transcript.dataset.conv !== conv.id) {
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    const caps = capabilitiesOf(state.channels, conv.channel_address_id);
    transcript.replaceChildren(...orderedMessages(conv).map((m) => renderMessage(m, caps)));
    if (atBottom || transcript.dataset.conv !== conv.id) transcript.scrollTop = transcript.scrollHeight;
    transcript.dataset.conv = conv.id;
    drawnMessages = conv.messages;
  }
  renderTyping(state);
}

function renderTyping(state) {
  const conv = activeConversation(state);
  const el = $("typing");
  // a channel without typing (e-mail) never shows it, whatever arrives
  el.hidden = !(conv && conv.typing && showsTyping(capabilitiesOf(state.channels, conv.channel_address_id)));
  el.textContent = safeText(conv && conv.typing ? `${conv.contact_name || "The customer"} is typing…` : "");
}

function renderSummary(state) {
  const root = $("panel-summary");
  const conv = activeConversation(state);
  if (!conv) {
    root.replaceChildren(h("p", { class: "muted" }, "No conversation selected."));
    return;
  }
  const messages = orderedMessages(conv);
  const spoken = messages.filter((m) => m.direction !== "system");
  const firstCustomer = messages.find((m) => m.direction === "inbound");
  const latest = spoken.slice(-3);
  root.replaceChildren(
    h("h2", {}, "Summary"),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Contact"),
      h("dd", {}, conv.contact_name || conv.end_user),
      h("dt", {}, "Channel"),
      h("dd", {}, conv.channel_name),
      h("dt", {}, "Started"),
      h("dd", {}, messages.length ? localDateTime(messages[0].created_at) : "—"),
      h("dt", {}, "Messages"),
      h("dd", {}, `${spoken.filter((m) => m.direction === "inbound").length} from the customer, ${spoken.filter((m) => m.direction === "outbound").length} sent`),
    ),
    h("h3", {}, "The customer asked"),
    h("p", { class: "quote" }, firstCustomer ? firstCustomer.text || "(attachment)" : "—"),
    h("h3", {}, "Latest"),
    h("ul", { class: "latest" }, latest.map((m) => h("li", {}, h("strong", {}, `${m.sender_name || m.direction}: `), m.text || "(attachment)"))),
  );
}

function renderWork(state) {
  const root = $("panel-work");
  const pending = [...state.works.values()];
  const labels = { offered: "Offered", accepted: "In progress", acw: "After-conversation work" };
  root.replaceChildren(
    h("h2", {}, "Pending"),
    pending.length
      ? h("ul", { class: "work-list" }, pending.map((w) => h("li", {}, h("strong", {}, w.attributes?.contact_name || "Conversation"), ` — ${labels[w.status] || w.status}`, w.attributes?.channel_name ? ` on ${w.attributes.channel_name}` : "")))
      : h("p", { class: "muted" }, "Nothing pending."),
    h("h2", {}, "Completed"),
    state.history.length
      ? h("ul", { class: "work-list" }, state.history.map((w) => h("li", {}, h("strong", {}, w.contact_name || "Conversation"), ` — ${w.status.replace("_", " ")}`, w.ended_at ? `, ${localDateTime(w.ended_at)}` : "")))
      : h("p", { class: "muted" }, "No completed work yet."),
  );
}

function renderChannels(state) {
  $("panel-channels").replaceChildren(
    h("h2", {}, "Channels"),
    state.channels.length
      ? h(
          "table",
          { class: "channels" },
          h("thead", {}, h("tr", {}, h("th", {}, "Channel"), h("th", {}, "Type"), h("th", {}, "Package"), h("th", {}, "State"))),
          h("tbody", {}, state.channels.map((c) => h("tr", {}, h("td", {}, c.name, h("br"), h("small", { class: "muted" }, c.channel_address_id)), h("td", {}, c.channel_type), h("td", {}, c.package || "built in"), h("td", {}, c.is_active ? "active" : "inactive")))),
        )
      : h("p", { class: "muted" }, "This contact center has no channels yet."),
  );
}

/** The panels by the key the reducer names in `touched`, in drawing order. */
export const PANELS = {
  presence: renderPresence,
  offers: renderOffers,
  acw: renderAcw,
  list: renderList,
  conversation: renderConversation,
  typing: renderTyping,
  summary: renderSummary,
  work: renderWork,
  channels: renderChannels,
};

/** Every panel: on load, and after a full re-read of the state. */
export const ALL = new Set(["presence", "offers", "acw", "list", "conversation", "summary", "work"]);

/** Draw the panels in `touched` (a Set of PANELS keys) from `state`. */
export function render(state, touched = ALL) {
  shown = state;
  for (const [key, draw] of Object.entries(PANELS)) if (touched.has(key)) draw(state);
  if (touched.has("offers") || touched.has("acw")) tick();
}
