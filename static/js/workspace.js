// The agent workspace: state kept from the agent API + /ws/agent/ events, and its rendering.
import { AgentSocket, ApiError, api, socketUrl } from "./api.js";
import { ConnectorHost } from "./connectors.js";
import { safeText } from "./text.js";

const config = JSON.parse(document.getElementById("ccp-config").textContent);
const API = "/api/v1/agent";
const $ = (id) => document.getElementById(id);

/** Build an element; strings become text nodes (never HTML) without bidi controls, so partner and
 * end-user text is safe to show. */
function h(tag, attrs = {}, ...children) {
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

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const localTime = (iso) => (iso ? timeFmt.format(new Date(iso)) : "");
const localDateTime = (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : "");
const secondsLeft = (iso) => Math.max(0, Math.ceil((new Date(iso).getTime() - Date.now()) / 1000));
const clock = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

const STATUS_RANK = { sent: 1, delivered: 2, read: 3, failed: 4 };
const MARKS = {
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["✗", "Not delivered"],
};

// --- state ------------------------------------------------------------------------------------------

const state = {
  agent: null,
  works: new Map(), // work_id -> work (offered, accepted, acw)
  conversations: new Map(), // id -> conversation with its messages
  activeId: null,
  channels: [],
  history: [],
  connectors: [],
  panel: "summary",
};

function conversationFrom(row) {
  let conv = state.conversations.get(row.id);
  if (!conv) {
    conv = { id: row.id, messages: new Map(), lastId: null, lastSeq: -1, typing: false, unread: 0, gone: "" };
    state.conversations.set(row.id, conv);
  }
  Object.assign(conv, {
    status: row.status,
    contact_name: row.contact_name,
    contact_id: row.contact_id,
    channel_name: row.channel_name,
    channel_address_id: row.channel_address_id,
    end_user: row.end_user,
    gone: "",
  });
  return conv;
}

/** Add or update one message; deduplicated by id, a status never goes backwards. */
function addMessage(conv, message) {
  const known = conv.messages.get(message.id);
  if (known) {
    if ((STATUS_RANK[message.status] || 0) > (STATUS_RANK[known.status] || 0)) Object.assign(known, message);
    return false;
  }
  conv.messages.set(message.id, message);
  if (message.seq > conv.lastSeq) {
    conv.lastSeq = message.seq;
    conv.lastId = message.id;
  }
  if (message.direction === "inbound") conv.typing = false;
  return true;
}

async function loadMessages(conv) {
  const after = conv.lastId ? `?after=${encodeURIComponent(conv.lastId)}` : "";
  const messages = await api("GET", `${API}/conversations/${conv.id}/messages/${after}`);
  for (const message of messages) addMessage(conv, message);
}

let syncing = null;
let syncAgain = false;

/** Re-read the agent's state and catch up every open conversation (on load, after each reconnect). */
function resync() {
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    try {
      do {
        syncAgain = false;
        const data = await api("GET", `${API}/state/`);
        state.agent = data.agent;
        state.works = new Map(data.work.map((w) => [w.work_id, w]));
        const held = new Set();
        for (const row of data.conversations) held.add(conversationFrom(row).id);
        for (const conv of state.conversations.values()) {
          if (!held.has(conv.id) && conv.status !== "closed" && !conv.gone) conv.gone = "You left this conversation";
        }
        await Promise.all([...held].map((id) => loadMessages(state.conversations.get(id))));
        if (!state.activeId && held.size) state.activeId = [...held][0];
      } while (syncAgain);
      render();
    } catch (error) {
      showError(error);
    } finally {
      syncing = null;
    }
  })();
  return syncing;
}

async function loadHistory() {
  try {
    state.history = await api("GET", `${API}/workspace/history/`);
    renderWork();
  } catch (error) {
    showError(error);
  }
}

// --- notices ------------------------------------------------------------------------------------------

function showNotice(text, kind = "info") {
  $("notice-text").textContent = safeText(text);
  $("notice").className = `banner ${kind}`;
  $("notice").hidden = false;
}

function showError(error) {
  if (error instanceof ApiError && error.code === "not_authenticated") {
    sessionEnded();
    return;
  }
  showNotice(error instanceof ApiError ? error.message : "Something went wrong in the workspace. Reload the page.", "error");
  if (!(error instanceof ApiError)) console.error(error); // eslint-disable-line no-console
}

function sessionEnded() {
  $("session-ended").hidden = false;
  $("connection").textContent = "Session ended";
  $("connection").className = "connection down";
}

$("notice-close").addEventListener("click", () => {
  $("notice").hidden = true;
});

// --- socket -----------------------------------------------------------------------------------------

const WORK_GONE = {
  "work.declined": null,
  "work.timed_out": "timed out",
  "work.rescinded": "was withdrawn",
  "work.closed": null,
  "work.acw_ended": null,
};

function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "work.offered":
    case "work.acw_started":
      state.works.set(data.work_id, data);
      render();
      if (frame.type === "work.acw_started") loadHistory();
      break;
    case "work.accepted":
      state.works.set(data.work_id, data);
      resync();
      break;
    case "work.declined":
    case "work.timed_out":
    case "work.rescinded":
    case "work.closed":
    case "work.acw_ended": {
      const known = state.works.get(data.work_id);
      if (frame.type === "work.closed" && data.acw_ends_at) {
        state.works.set(data.work_id, { ...data, status: "acw" });
      } else {
        state.works.delete(data.work_id);
      }
      const why = WORK_GONE[frame.type];
      if (why && known && known.status === "offered") {
        showNotice(`The offer for ${data.attributes?.contact_name || "a contact"} ${why}.`);
      }
      render();
      loadHistory();
      break;
    }
    case "message.created":
    case "message.status_changed": {
      const conv = state.conversations.get(data.conversation_id);
      if (!conv) {
        resync();
        break;
      }
      const added = addMessage(conv, data);
      if (added && data.direction === "inbound" && conv.id !== state.activeId) conv.unread += 1;
      render();
      break;
    }
    case "typing.started":
    case "typing.stopped": {
      const conv = state.conversations.get(data.conversation_id);
      if (!conv || data.who !== "end_user") break;
      conv.typing = frame.type === "typing.started";
      clearTimeout(conv.typingTimer);
      if (conv.typing) {
        conv.typingTimer = setTimeout(() => {
          conv.typing = false;
          renderTyping();
        }, 15000);
      }
      renderTyping();
      break;
    }
    case "agent.status_changed":
      if (state.agent) state.agent.status = data.status;
      renderPresence();
      forwardToConnectors("status", { status: data.status });
      break;
    case "agent.capacity_changed":
      if (state.agent) state.agent.capacity = data.capacity;
      renderPresence();
      break;
    case "conversation.closed": {
      const conv = state.conversations.get(data.conversation_id);
      if (conv) conv.status = "closed";
      render();
      break;
    }
    case "conversation.transferred": {
      const conv = state.conversations.get(data.conversation_id);
      if (conv && data.to_agent_id !== config.agent.id) conv.gone = "Transferred to a colleague";
      resync();
      break;
    }
    default:
      break;
  }
}

const socket = new AgentSocket({
  url: socketUrl("/ws/agent/"),
  onEvent,
  onOpen: () => resync(),
  onSessionEnded: sessionEnded,
  sessionAlive: async () => {
    try {
      await api("GET", `${API}/state/`);
      return true;
    } catch (error) {
      return !(error instanceof ApiError && error.code === "not_authenticated");
    }
  },
  onState: ({ state: s, retryIn }) => {
    const el = $("connection");
    el.className = `connection ${s === "connected" ? "up" : "down"}`;
    if (s === "connected") el.textContent = "Connected";
    else if (s === "connecting") el.textContent = "Connecting…";
    else if (s === "reconnecting") el.textContent = `Connection lost — retrying in ${Math.ceil(retryIn / 1000)} s`;
  },
});

// --- rendering --------------------------------------------------------------------------------------

function render() {
  renderPresence();
  renderOffers();
  renderAcw();
  renderList();
  renderConversation();
  renderSummary();
  renderWork();
}

function renderPresence() {
  if (!state.agent) return;
  $("presence").value = state.agent.status;
  const parts = Object.entries(state.agent.capacity || {}).map(([kind, c]) => `${kind} ${c.used}/${c.max}`);
  $("capacity").textContent = `Capacity: ${parts.length ? parts.join(", ") : "not set"}`;
}

function openOffers() {
  return [...state.works.values()].filter((w) => w.status === "offered" && secondsLeft(w.expires_at) > 0);
}

function renderOffers() {
  const root = $("offers");
  const offers = openOffers();
  const shown = new Set();
  for (const work of offers) {
    shown.add(work.work_id);
    if (root.querySelector(`[data-work-id="${work.work_id}"]`)) continue;
    const a = work.attributes || {};
    const title = work.is_transfer ? `Transfer from ${a.transfer_from_name || "a colleague"}` : "New conversation";
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
          h("button", { type: "button", class: "primary", onclick: () => acceptOffer(work.work_id) }, "Accept (A)"),
          h("button", { type: "button", onclick: () => declineOffer(work.work_id) }, "Decline (D)"),
        ),
      ),
    );
  }
  for (const card of root.querySelectorAll(".offer")) if (!shown.has(card.dataset.workId)) card.remove();
  tick();
}

function renderAcw() {
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
          h("button", { type: "button", onclick: () => acwExtend(work.work_id) }, "Extend 60 s"),
          h("button", { type: "button", class: "primary", onclick: () => acwComplete(work.work_id) }, "Complete"),
        ),
      ),
    );
  }
  tick();
}

function tick() {
  for (const card of $("offers").querySelectorAll(".offer")) {
    const work = state.works.get(card.dataset.workId);
    const left = work ? secondsLeft(work.expires_at) : 0;
    if (left <= 0) {
      card.remove();
      continue;
    }
    card.querySelector(".countdown").textContent = `Answer within ${left} s`;
  }
  for (const card of $("acw-list").querySelectorAll(".acw")) {
    const ends = card.dataset.endsAt;
    card.querySelector(".acw-countdown").textContent = ends
      ? `Ends in ${clock(secondsLeft(ends))}`
      : "No time limit";
  }
}
setInterval(tick, 250);

function convLabel(conv) {
  if (conv.gone) return conv.gone;
  if (conv.status === "closed") return "Closed";
  return "";
}

function renderList() {
  const list = $("conversation-list");
  list.replaceChildren();
  const convs = [...state.conversations.values()];
  $("no-conversations").hidden = convs.length > 0;
  for (const conv of convs) {
    const last = [...conv.messages.values()].filter((m) => m.direction !== "system").pop();
    const active = conv.id === state.activeId;
    const label = convLabel(conv);
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
            onclick: () => activate(conv.id),
          },
          h("span", { class: "conv-name" }, conv.contact_name || conv.end_user),
          conv.unread ? h("span", { class: "badge", "aria-label": `${conv.unread} unread` }, String(conv.unread)) : null,
          h("span", { class: "conv-meta" }, label || conv.channel_name),
          last ? h("span", { class: "conv-last" }, last.text || "(attachment)") : null,
        ),
      ),
    );
  }
}

function activate(id) {
  state.activeId = id;
  const conv = state.conversations.get(id);
  if (conv) conv.unread = 0;
  render();
  $("composer-text").focus();
}

function renderMark(message) {
  const [glyph, words] = MARKS[message.status] || ["", message.status];
  const title = message.status === "failed" && message.failure_reason ? `${words}: ${message.failure_reason}` : words;
  return h("span", { class: `mark mark-${message.status}`, title }, `${glyph} ${title}`);
}

function renderMessage(message) {
  const safe = (url) => /^https?:\/\//i.test(url || "");
  const attachments = (message.attachments || []).map((a) =>
    h(
      "li",
      {},
      safe(a.url)
        ? h("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" }, a.name || a.url)
        : a.name || "attachment",
    ),
  );
  if (message.direction === "system") {
    return h("li", { class: "msg system", dataset: { messageId: message.id } }, h("span", {}, message.text), " ", h("time", {}, localTime(message.created_at)));
  }
  const who = message.sender_name || (message.direction === "inbound" ? "Customer" : "Agent");
  return h(
    "li",
    { class: `msg ${message.direction}`, dataset: { messageId: message.id } },
    h("div", { class: "meta" }, `${who} · `, h("time", { datetime: message.created_at }, localTime(message.created_at))),
    message.text ? h("div", { class: "text" }, message.text) : null,
    attachments.length ? h("ul", { class: "msg-attachments" }, attachments) : null,
    message.direction === "outbound" ? renderMark(message) : null,
  );
}

function activeConv() {
  return state.activeId ? state.conversations.get(state.activeId) : null;
}

function renderConversation() {
  const conv = activeConv();
  $("conversation").hidden = !conv;
  $("empty").hidden = !!conv;
  if (!conv) return;
  const open = conv.status !== "closed" && !conv.gone;
  $("conv-title").textContent = safeText(conv.contact_name || conv.end_user);
  $("conv-sub").textContent = safeText([conv.channel_name, conv.end_user, convLabel(conv) || conv.status].filter(Boolean).join(" · "));
  $("dismiss-button").hidden = open;
  $("transfer-button").disabled = !open;
  $("close-button").disabled = !open;
  $("composer-text").disabled = !open;
  $("send-button").disabled = !open;
  $("attach-button").disabled = !open;
  const transcript = $("transcript");
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  const messages = [...conv.messages.values()].sort((a, b) => a.seq - b.seq);
  transcript.replaceChildren(...messages.map(renderMessage));
  if (atBottom || transcript.dataset.conv !== conv.id) transcript.scrollTop = transcript.scrollHeight;
  transcript.dataset.conv = conv.id;
  renderTyping();
  renderAttachments();
}

function renderTyping() {
  const conv = activeConv();
  const el = $("typing");
  el.hidden = !(conv && conv.typing);
  el.textContent = safeText(conv && conv.typing ? `${conv.contact_name || "The customer"} is typing…` : "");
}

function renderSummary() {
  const root = $("panel-summary");
  const conv = activeConv();
  if (!conv) {
    root.replaceChildren(h("p", { class: "muted" }, "No conversation selected."));
    return;
  }
  const messages = [...conv.messages.values()].sort((a, b) => a.seq - b.seq);
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

function renderWork() {
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

// --- actions ----------------------------------------------------------------------------------------

function forwardToConnectors(type, data, channelAddressId) {
  for (const connector of state.connectors) {
    if (channelAddressId && !connector.addresses.has(channelAddressId)) continue;
    connector.forward(type, data);
  }
}

async function acceptOffer(workId) {
  const work = state.works.get(workId);
  try {
    const conversation = await api("POST", `${API}/work/${workId}/accept/`);
    state.activeId = conversation.id;
    forwardToConnectors("accept", { work_id: workId, conversation_id: conversation.id }, conversation.channel_address_id);
    await resync();
    $("composer-text").focus();
  } catch (error) {
    state.works.delete(workId);
    render();
    showError(error);
  }
  return work;
}

async function declineOffer(workId) {
  const work = state.works.get(workId);
  try {
    await api("POST", `${API}/work/${workId}/decline/`, {});
    state.works.delete(workId);
    forwardToConnectors("decline", { work_id: workId, conversation_id: work?.attributes?.conversation_id }, work?.attributes?.channel_address_id);
    render();
  } catch (error) {
    state.works.delete(workId);
    render();
    showError(error);
  }
}

async function acwExtend(workId) {
  try {
    const answer = await api("POST", `${API}/work/${workId}/acw/extend/`, { seconds: 60 });
    const work = state.works.get(workId);
    if (work) work.acw_ends_at = answer.expires_at;
    renderAcw();
  } catch (error) {
    showError(error);
  }
}

async function acwComplete(workId) {
  try {
    await api("POST", `${API}/work/${workId}/acw/complete/`);
    state.works.delete(workId);
    render();
    loadHistory();
  } catch (error) {
    showError(error);
  }
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, button, a, dialog")) return;
  const offer = openOffers()[0];
  if (!offer) return;
  const key = event.key.toLowerCase();
  if (key === "a" || key === "enter") {
    event.preventDefault();
    acceptOffer(offer.work_id);
  } else if (key === "d") {
    event.preventDefault();
    declineOffer(offer.work_id);
  }
});

$("presence").addEventListener("change", async (event) => {
  const wanted = event.target.value;
  const select = event.target;
  select.disabled = true; // until the server confirms: no work is taken or refused on a guess
  select.setAttribute("aria-busy", "true");
  try {
    state.agent = await api("PUT", `${API}/status/`, { status: wanted });
  } catch (error) {
    showError(error);
  } finally {
    select.disabled = false;
    select.removeAttribute("aria-busy");
    renderPresence();
  }
});

// composer: Enter sends, Shift+Enter is a new line; typing true/false is debounced

const pendingAttachments = [];
let typingOn = false;
let typingConv = null;
let typingTimer = null;

function setTyping(on) {
  const conv = on ? activeConv() : state.conversations.get(typingConv);
  if (!conv || typingOn === on) return;
  typingOn = on;
  typingConv = conv.id;
  api("POST", `${API}/conversations/${conv.id}/typing/`, { typing: on }).catch(() => {
    // a lost typing hint is harmless; the next keystroke sends another
  });
}

$("composer-text").addEventListener("input", () => {
  if (typingOn && typingConv !== state.activeId) setTyping(false);
  if ($("composer-text").value.trim()) setTyping(true);
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => setTyping(false), 3000);
});

$("composer-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

function renderAttachments() {
  $("attachments").replaceChildren(
    ...pendingAttachments.map((a, i) =>
      h("li", {}, a.name, " ", h("button", { type: "button", "aria-label": `Remove ${a.name}`, onclick: () => { pendingAttachments.splice(i, 1); renderAttachments(); } }, "×")),
    ),
  );
}

function addAttachment() {
  const input = $("attachment-url");
  const url = input.value.trim();
  if (!url) return;
  if (!/^https?:\/\/\S+$/i.test(url)) {
    showNotice("An attachment must be a web address starting with http:// or https://.", "error");
    return;
  }
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || url);
  pendingAttachments.push({ url, name });
  input.value = "";
  renderAttachments();
}

$("attach-button").addEventListener("click", addAttachment);
$("attachment-url").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    addAttachment();
  }
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const conv = activeConv();
  const text = $("composer-text").value;
  if (!conv || (!text.trim() && !pendingAttachments.length)) return;
  clearTimeout(typingTimer);
  setTyping(false);
  $("send-button").disabled = true;
  try {
    const message = await api("POST", `${API}/conversations/${conv.id}/messages/`, {
      text,
      attachments: pendingAttachments.slice(),
    });
    addMessage(conv, message);
    $("composer-text").value = "";
    pendingAttachments.length = 0;
    forwardToConnectors("message", { conversation_id: conv.id, message_id: message.id, text: message.text }, conv.channel_address_id);
    render();
  } catch (error) {
    showError(error);
  } finally {
    $("send-button").disabled = false;
    renderConversation();
  }
});

$("close-button").addEventListener("click", async () => {
  const conv = activeConv();
  if (!conv) return;
  try {
    await api("POST", `${API}/conversations/${conv.id}/close/`);
    conv.status = "closed";
    forwardToConnectors("close", { conversation_id: conv.id }, conv.channel_address_id);
    await resync();
  } catch (error) {
    showError(error);
  }
});

$("dismiss-button").addEventListener("click", () => {
  const conv = activeConv();
  if (!conv || (conv.status !== "closed" && !conv.gone)) return;
  state.conversations.delete(conv.id);
  state.activeId = state.conversations.size ? [...state.conversations.keys()][0] : null;
  render();
});

// transfer dialog

async function transfer(body, label) {
  const conv = activeConv();
  if (!conv) return;
  $("transfer-error").textContent = "";
  try {
    await api("POST", `${API}/conversations/${conv.id}/transfer/`, body);
    $("transfer-dialog").close();
    showNotice(`Transfer to ${label} requested. You stay in the conversation until it is accepted.`);
    forwardToConnectors("transfer", { conversation_id: conv.id, ...body }, conv.channel_address_id);
  } catch (error) {
    $("transfer-error").textContent = safeText(error instanceof ApiError ? error.message : "The transfer failed.");
  }
}

$("transfer-button").addEventListener("click", async () => {
  $("transfer-error").textContent = "";
  $("transfer-agents").replaceChildren(h("li", { class: "muted" }, "Loading who is available…"));
  $("transfer-queues").replaceChildren();
  $("transfer-dialog").showModal();
  try {
    const directory = await api("GET", `${API}/directory/`);
    const others = directory.agents.filter((a) => a.id !== config.agent.id);
    $("transfer-agents").replaceChildren(
      ...(others.length
        ? others.map((a) => {
            const load = Object.entries(a.capacity || {}).map(([kind, c]) => `${kind} ${c.used}/${c.max}`).join(", ") || "no capacity set";
            return h(
              "li",
              { class: "pick" },
              h("span", { class: "pick-name" }, a.name),
              h("span", { class: `status status-${a.status}` }, a.status),
              h("span", { class: "muted" }, load),
              h("button", { type: "button", disabled: a.status === "offline", onclick: () => transfer({ agent_id: a.id }, a.name) }, `Transfer to ${a.name}`),
            );
          })
        : [h("li", { class: "muted" }, "No colleagues in this contact center.")]),
    );
    $("transfer-queues").replaceChildren(
      ...(directory.queues.length
        ? directory.queues.map((q) => h("li", { class: "pick" }, h("span", { class: "pick-name" }, q), h("button", { type: "button", onclick: () => transfer({ queue: q }, `the ${q} queue`) }, `Transfer to ${q}`)))
        : [h("li", { class: "muted" }, "No queues.")]),
    );
  } catch (error) {
    $("transfer-error").textContent = safeText(error instanceof ApiError ? error.message : "Could not load the directory.");
  }
});

$("transfer-bot").addEventListener("submit", (event) => {
  event.preventDefault();
  const bot = $("transfer-bot-name").value.trim();
  if (bot) transfer({ bot }, bot);
});

// outbound dialog (the endpoint is consent-gated: a refusal arrives as 403 consent_denied with words)

$("new-conversation").addEventListener("click", () => {
  $("outbound-error").textContent = "";
  const channels = state.channels.filter((c) => c.is_active);
  $("outbound-channel").replaceChildren(...channels.map((c) => h("option", { value: c.channel_address_id }, `${c.name} (${c.channel_type})`)));
  $("outbound-dialog").showModal();
});
$("outbound-cancel").addEventListener("click", () => $("outbound-dialog").close());
$("outbound-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("outbound-error").textContent = "";
  try {
    const result = await api("POST", `${API}/outbound/`, {
      channel_address_id: $("outbound-channel").value,
      address: $("outbound-address").value.trim(),
      text: $("outbound-text").value,
    });
    $("outbound-dialog").close();
    $("outbound-form").reset();
    const id = result && (result.conversation_id || result.id);
    if (id) state.activeId = id;
    await resync();
  } catch (error) {
    let text = error instanceof ApiError ? error.message : "The conversation could not be started.";
    if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
      text = "Starting conversations is not available on this server yet.";
    }
    $("outbound-error").textContent = safeText(text);
  }
});

// side panels

for (const tab of document.querySelectorAll(".side .tabs [role=tab]")) {
  tab.addEventListener("click", () => {
    state.panel = tab.dataset.panel;
    for (const t of document.querySelectorAll(".side .tabs [role=tab]")) t.setAttribute("aria-selected", String(t === tab));
    for (const panel of document.querySelectorAll(".side .panel")) panel.hidden = panel.id !== `panel-${state.panel}`;
    if (state.panel === "contacts") loadContacts();
    if (state.panel === "work") loadHistory();
  });
}

let contactTimer = null;
async function loadContacts() {
  const q = $("contact-search").value.trim();
  try {
    const contacts = await api("GET", `${API}/workspace/contacts/${q ? `?q=${encodeURIComponent(q)}` : ""}`);
    $("contacts").replaceChildren(
      ...(contacts.length
        ? contacts.map((c) =>
            h(
              "article",
              { class: "contact" },
              h("h3", {}, c.name || c.addresses[0] || "Unnamed contact"),
              h("p", { class: "muted" }, c.addresses.join(", ")),
              h("ul", { class: "past" }, c.conversations.map((p) => h("li", {}, `${localDateTime(p.created_at)} · ${p.channel_name} · ${p.status}`))),
            ),
          )
        : [h("p", { class: "muted" }, q ? `No contact matches “${q}”.` : "No contacts yet.")]),
    );
  } catch (error) {
    showError(error);
  }
}
$("contact-search").addEventListener("input", () => {
  clearTimeout(contactTimer);
  contactTimer = setTimeout(loadContacts, 250);
});

function renderChannels() {
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

// connectors (FIG 21, 22)

function renderConnectorStatus() {
  const ready = state.connectors.filter((c) => c.state === "ready").map((c) => c.statusText);
  $("connector-status").textContent = safeText(ready.join(" · "));
  for (const connector of state.connectors) connector.statusEl.textContent = safeText(connector.statusText);
}

async function connectorAction(connector, message) {
  if (message.action === "send_message") {
    const conv = state.conversations.get(message.conversation_id);
    if (!conv || !connector.addresses.has(conv.channel_address_id)) {
      throw new ApiError(404, "unknown_conversation", "That conversation is not open in this workspace on your channel.");
    }
    const sent = await api("POST", `${API}/conversations/${conv.id}/messages/`, { text: message.text || "", attachments: message.attachments || [] });
    addMessage(conv, sent);
    render();
    return { message_id: sent.id };
  }
  if (message.action === "set_status") {
    state.agent = await api("PUT", `${API}/status/`, { status: message.status });
    renderPresence();
    return { status: state.agent.status };
  }
  throw new ApiError(400, "unknown_action", `The workspace does not know the action “${message.action}”.`);
}

function startConnectors() {
  const byUrl = new Map();
  for (const channel of state.channels) {
    if (!channel.connector_url || !channel.is_active) continue;
    if (!byUrl.has(channel.connector_url)) byUrl.set(channel.connector_url, []);
    byUrl.get(channel.connector_url).push(channel);
  }
  const root = $("connectors");
  root.replaceChildren();
  if (!byUrl.size) root.append(h("p", { class: "muted" }, "No partner connectors: the workspace itself is the channel UI."));
  for (const channels of byUrl.values()) {
    const box = h("div", { class: "connector" });
    const statusEl = h("p", { class: "connector-line", role: "status" });
    box.append(statusEl);
    root.append(box);
    let host;
    try {
      host = new ConnectorHost({
        channel: channels[0],
        container: box,
        context: () => ({ agent: { id: config.agent.id, name: config.agent.name, status: state.agent?.status || "offline" } }),
        onAction: connectorAction,
        onStatus: (c, text) => {
          c.statusText = text;
          renderConnectorStatus();
        },
      });
    } catch {
      statusEl.textContent = safeText(`The connector address of ${channels[0].name} is not valid.`);
      continue;
    }
    host.statusEl = statusEl;
    host.addresses = new Set(channels.map((c) => c.channel_address_id));
    state.connectors.push(host);
    renderConnectorStatus();
  }
}

async function loadChannels() {
  try {
    state.channels = await api("GET", `${API}/workspace/channels/`);
  } catch (error) {
    showError(error);
    return;
  }
  renderChannels();
  startConnectors();
}

// --- start ------------------------------------------------------------------------------------------

render();
loadChannels();
loadHistory();
socket.start();
window.ccpWorkspace = { state, socket }; // for debugging in the console
