// The agent workspace, the page's entry module: it holds the one current state, feeds /ws/agent/
// events through the pure reducer (workspace/reducer.js), redraws the panels an event touched
// (workspace/render.js) and runs the reducer's effects. Composer and dialogs: workspace/composer.js,
// workspace/dialogs.js. docs/workspace.md describes the modules.
import { AgentSocket, ApiError, api, socketUrl } from "./api.js";
import { ConnectorHost } from "./connectors.js";
import { h, safeText } from "./text.js";
import { setupCalls } from "./workspace/calls.js";
import { setupCanned } from "./workspace/canned.js";
import { setupComposer } from "./workspace/composer.js";
import { setupDialogs } from "./workspace/dialogs.js";
import { loadNotes, setupNotes } from "./workspace/notes.js";
import { reduce } from "./workspace/reducer.js";
import { setupSearch } from "./workspace/search.js";
import { tickSla } from "./workspace/sla.js";
import { ALL, localDateTime, render, renderPresence, setActions, tick } from "./workspace/render.js";
import {
  activeConversation,
  createState,
  openOffers,
  withAccepted,
  withActive,
  withAgentState,
  withConversationPatch,
  withMessages,
  withoutConversation,
  withoutWork,
  withWorkPatch,
} from "./workspace/state.js";

const config = JSON.parse(document.getElementById("ccp-config").textContent);
const API = "/api/v1/agent";
const $ = (id) => document.getElementById(id);

let state = createState(config.agent.id);
const connectors = []; // ConnectorHost instances (not state: they hold iframes)

/** Make `next` the current state and redraw the panels in `touched`. */
function commit(next, touched = ALL) {
  state = next;
  render(state, touched instanceof Set ? touched : new Set(touched));
}

/** One socket event (or a local one such as typing.expired) through the reducer. */
function dispatch(event) {
  const { state: next, touched, effects } = reduce(state, event);
  commit(next, touched);
  for (const effect of effects) runEffect(effect);
}

const typingTimers = new Map();

function runEffect(effect) {
  switch (effect.type) {
    case "loadMessages":
      loadMessages(effect.conversationId).catch(showError);
      break;
    case "loadHistory":
      loadHistory();
      break;
    case "resync":
      resync();
      break;
    case "notice":
      showNotice(effect.text);
      break;
    case "forward":
      forwardToConnectors(effect.kind, effect.data, effect.channelAddressId);
      break;
    case "typingTimer": {
      clearTimeout(typingTimers.get(effect.conversationId));
      typingTimers.delete(effect.conversationId);
      if (effect.ms !== null) {
        const id = effect.conversationId;
        typingTimers.set(id, setTimeout(() => dispatch({ type: "typing.expired", data: { conversation_id: id } }), effect.ms));
      }
      break;
    }
    default:
      break;
  }
}

const loading = new Map(); // conversation id -> the transcript fetch under way

/** Fetch what is new in conversation `id` (all of it the first time) and show it; a fetch already
 * under way for it is shared, not repeated. */
function loadMessages(id) {
  const conv = state.conversations.get(id);
  if (!conv) return Promise.resolve();
  if (loading.has(id)) return loading.get(id);
  const after = conv.lastId ? `?after=${encodeURIComponent(conv.lastId)}` : "";
  const notes = conv.lastId ? Promise.resolve([]) : loadNotes(API, id); // notes with the first load
  const load = Promise.all([api("GET", `${API}/conversations/${id}/messages/${after}`), notes])
    .then(([messages, noteEntries]) => {
      messages = [...messages, ...noteEntries];
      commit(withMessages(state, id, messages), id === state.activeId ? ["list", "conversation", "summary"] : ["list"]);
    })
    .finally(() => loading.delete(id));
  loading.set(id, load);
  return load;
}

let syncing = null;
let syncAgain = false;

/** Re-read the agent's state and catch up every open conversation (on load, after each reconnect,
 * and when an event names something this page does not know). */
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
        let next = withAgentState(state, data);
        const caught = await Promise.all(
          data.conversations.map(async (row) => {
            const conv = next.conversations.get(row.id);
            const after = conv.lastId ? `?after=${encodeURIComponent(conv.lastId)}` : "";
            const [messages, notes] = await Promise.all([
              api("GET", `${API}/conversations/${row.id}/messages/${after}`),
              conv.lastId ? [] : loadNotes(API, row.id), // a conversation's notes come with its first load
            ]);
            return [row.id, [...messages, ...notes]];
          }),
        );
        // events that arrived meanwhile are in `state`: merge the answers into it, not into a stale copy
        next = withAgentState(state, data);
        for (const [id, messages] of caught) next = withMessages(next, id, messages);
        state = next;
      } while (syncAgain);
      commit(state, ALL);
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
    const history = await api("GET", `${API}/workspace/history/`);
    commit({ ...state, history }, ["work"]);
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

const socket = new AgentSocket({
  url: socketUrl("/ws/agent/"),
  onEvent: dispatch,
  onOpen: () => {
    resync();
    calls?.loadCalls(); // voice calls: workspace/calls.js
  },
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

// --- actions ----------------------------------------------------------------------------------------

function forwardToConnectors(type, data, channelAddressId) {
  for (const connector of connectors) {
    if (channelAddressId && !connector.addresses.has(channelAddressId)) continue;
    connector.forward(type, data);
  }
}

const CONVERSATION_PANELS = ["list", "conversation", "summary"];
const WORK_PANELS = ["offers", "acw", "work"];

/** The top bar's presence and capacity, re-read. Routing publishes agent.capacity_changed only when
 * the maximum changes, not when work starts or ends, so after an accept the used capacity is read
 * here — the agent row only: no conversation is re-read, no other panel redrawn. */
async function refreshPresence() {
  const data = await api("GET", `${API}/state/`);
  commit({ ...state, agent: data.agent }, ["presence"]);
}

/** Accept: the answer is the conversation, applied as it is; only its transcript is fetched. */
async function acceptOffer(workId) {
  let conversation;
  try {
    conversation = await api("POST", `${API}/work/${workId}/accept/`);
  } catch (error) {
    commit(withoutWork(state, workId), WORK_PANELS);
    showError(error);
    return;
  }
  commit(withAccepted(state, workId, conversation), [...WORK_PANELS, ...CONVERSATION_PANELS]);
  forwardToConnectors("accept", { work_id: workId, conversation_id: conversation.id }, conversation.channel_address_id);
  $("composer-text").focus();
  // the work.accepted event may have brought the transcript in already (or be fetching it)
  const transcript = state.conversations.get(conversation.id)?.lastId ? null : loadMessages(conversation.id);
  await Promise.all([transcript, refreshPresence()]).catch(showError);
}

async function declineOffer(workId) {
  const work = state.works.get(workId);
  try {
    await api("POST", `${API}/work/${workId}/decline/`, {});
    forwardToConnectors("decline", { work_id: workId, conversation_id: work?.attributes?.conversation_id }, work?.attributes?.channel_address_id);
  } catch (error) {
    showError(error);
  }
  commit(withoutWork(state, workId), WORK_PANELS);
}

async function acwExtend(workId) {
  try {
    const answer = await api("POST", `${API}/work/${workId}/acw/extend/`, { seconds: 60 });
    commit(withWorkPatch(state, workId, { acw_ends_at: answer.expires_at }), ["acw"]);
  } catch (error) {
    showError(error);
  }
}

async function acwComplete(workId) {
  try {
    await api("POST", `${API}/work/${workId}/acw/complete/`);
    commit(withoutWork(state, workId), WORK_PANELS);
    loadHistory();
  } catch (error) {
    showError(error);
  }
}

function activate(id) {
  commit(withActive(state, id), CONVERSATION_PANELS);
  $("composer-text").focus();
}

setActions({ accept: acceptOffer, decline: declineOffer, acwExtend, acwComplete, activate });
setInterval(tick, 250);
setInterval(() => tickSla(document), 1000); // the SLA countdowns (workspace/sla.js)

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, button, a, dialog")) return;
  const offer = openOffers(state)[0];
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
    const agent = await api("PUT", `${API}/status/`, { status: wanted });
    state = { ...state, agent }; // the state of now, not of before the await
  } catch (error) {
    showError(error);
  } finally {
    select.disabled = false;
    select.removeAttribute("aria-busy");
    renderPresence(state);
  }
});

$("close-button").addEventListener("click", async () => {
  const conv = activeConversation(state);
  if (!conv) return;
  try {
    await api("POST", `${API}/conversations/${conv.id}/close/`);
    commit(withConversationPatch(state, conv.id, { status: "closed" }), CONVERSATION_PANELS);
    forwardToConnectors("close", { conversation_id: conv.id }, conv.channel_address_id);
    await resync();
  } catch (error) {
    showError(error);
  }
});

$("dismiss-button").addEventListener("click", () => {
  const conv = activeConversation(state);
  if (!conv || (conv.status !== "closed" && !conv.gone)) return;
  commit(withoutConversation(state, conv.id), CONVERSATION_PANELS);
});

const workspace = {
  API,
  me: config.agent.id,
  getState: () => state,
  commit,
  addOwnMessage: (id, message) => commit(withMessages(state, id, [message]), CONVERSATION_PANELS),
  setActive: (id) => commit({ ...state, activeId: id }, CONVERSATION_PANELS),
  resync,
  showError,
  showNotice,
  forward: forwardToConnectors,
};
setupComposer(workspace);
setupDialogs(workspace);
const calls = setupCalls(workspace);
setupCanned({ ...workspace, agentName: config.agent.name });
setupNotes(workspace);
setupSearch(workspace);

// --- side panels ------------------------------------------------------------------------------------

for (const tab of document.querySelectorAll(".side .tabs [role=tab]")) {
  tab.addEventListener("click", () => {
    state = { ...state, panel: tab.dataset.panel };
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

// connectors (FIG 21, 22)

function renderConnectorStatus() {
  const ready = connectors.filter((c) => c.state === "ready").map((c) => c.statusText);
  $("connector-status").textContent = safeText(ready.join(" · "));
  for (const connector of connectors) connector.statusEl.textContent = safeText(connector.statusText);
}

async function connectorAction(connector, message) {
  if (message.action === "send_message") {
    const conv = state.conversations.get(message.conversation_id);
    if (!conv || !connector.addresses.has(conv.channel_address_id)) {
      throw new ApiError(404, "unknown_conversation", "That conversation is not open in this workspace on your channel.");
    }
    const sent = await api("POST", `${API}/conversations/${conv.id}/messages/`, { text: message.text || "", attachments: message.attachments || [] });
    workspace.addOwnMessage(conv.id, sent);
    return { message_id: sent.id };
  }
  if (message.action === "set_status") {
    const agent = await api("PUT", `${API}/status/`, { status: message.status });
    state = { ...state, agent };
    renderPresence(state);
    return { status: state.agent.status };
  }
  if (message.action === "call_control") {
    // a partner softphone in the workspace drives the same call controls as the call panel
    const call = state.calls?.get(message.call_id);
    if (!call || !connector.addresses.has(call.channel_address_id)) {
      throw new ApiError(404, "unknown_call", "That call is not one of this workspace's calls on your call center.");
    }
    const body = { action: message.control, target: message.target, digits: message.digits };
    return api("POST", `${API}/calls/${encodeURIComponent(call.call_id)}/controls/`, body);
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
    connectors.push(host);
    renderConnectorStatus();
  }
}

async function loadChannels() {
  let channels;
  try {
    channels = await api("GET", `${API}/workspace/channels/`);
  } catch (error) {
    showError(error);
    return;
  }
  commit({ ...state, channels }, ["channels"]);
  startConnectors();
}

// --- start ------------------------------------------------------------------------------------------

commit(state, ALL);
loadChannels();
loadHistory();
socket.start();
// for debugging in the console (a getter: the state is replaced, never changed in place)
window.ccpWorkspace = {
  get state() {
    return state;
  },
  socket,
};
