// The supervisor's live conversations (the supervisor page): every live conversation of the tenant
// with its agents and waiting time, and per row Monitor, Whisper, Join and Reassign. Monitoring opens
// the conversation read-only here: its transcript, then its events live over /ws/agent/ (the socket
// joins the conversation's monitor group). Whispering writes a note only the agents see; joining
// (barge in) makes the supervisor a participant whose messages go to the customer, labelled.
import { AgentSocket, api, socketUrl } from "./api.js";
import { h } from "./text.js";
import { slaCountdown } from "./workspace/sla.js";

const API = "/api/v1/agent";
const $ = (id) => document.getElementById(id);
const fmtWait = (s) => (s === null || s === undefined ? "—" : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

let rows = [];
let monitored = null; // { id, joined, seen: Set of entry ids }
let directory = { agents: [], queues: [] };
let reassigning = null;

function showError(error, where = "monitor-error") {
  $(where).textContent = error.message || String(error);
}

function entry(item) {
  const note = item.kind === "note" || item.kind === "whisper";
  const cls = note ? item.kind : item.direction;
  const who = note
    ? `${item.kind === "whisper" ? "Whisper" : "Internal note"} · ${item.author_name}`
    : item.sender_name || (item.direction === "inbound" ? "Customer" : item.direction === "system" ? "" : "Agent");
  return h("li", { class: cls, dataset: { id: item.id } }, who ? h("span", { class: "meta" }, who) : null, item.text || "");
}

function addToTranscript(item) {
  if (!monitored || monitored.seen.has(item.id)) return;
  monitored.seen.add(item.id);
  const list = $("monitor-transcript");
  list.appendChild(entry(item));
  list.scrollTop = list.scrollHeight;
}

function renderLive() {
  const body = document.querySelector("#live tbody");
  body.replaceChildren(
    ...rows.map((r) =>
      h(
        "tr",
        { dataset: { conversation: r.id } },
        h("td", {}, r.contact_name),
        h("td", {}, r.channel_name),
        h("td", {}, r.status),
        h("td", {}, r.agents.map((a) => a.name + (a.barged_in ? " (supervisor)" : "")).join(", ") || "—"),
        h("td", {}, fmtWait(r.waiting_seconds)),
        h("td", { class: r.sla ? `sla-${slaCountdown(r.sla, Date.now()).state}` : "" }, r.sla ? slaCountdown(r.sla, Date.now()).text : "—"),
        h(
          "td",
          {},
          h("button", { type: "button", class: "monitor-button", onclick: () => monitor(r.id) }, "Monitor"),
          h("button", { type: "button", class: "whisper-button", onclick: () => monitor(r.id, "whisper") }, "Whisper"),
          h("button", { type: "button", class: "join-button", onclick: () => monitor(r.id, "join") }, "Join"),
          h("button", { type: "button", class: "reassign-button", onclick: () => openReassign(r.id) }, "Reassign"),
        ),
      ),
    ),
  );
  if (!rows.length) body.appendChild(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No live conversations.")));
}

async function refreshLive() {
  try {
    rows = await api("GET", `${API}/supervision/conversations/`);
    renderLive();
    $("live-status").textContent = `${rows.length} live conversation(s)`;
  } catch (error) {
    $("live-status").textContent = `Could not refresh: ${error.message}`;
  }
}

async function monitor(id, then = null) {
  $("monitor-error").textContent = "";
  try {
    if (!monitored || monitored.id !== id) {
      const answer = await api("POST", `${API}/conversations/${id}/monitor/`);
      const c = answer.conversation;
      monitored = { id, joined: c.participants.some((p) => !p.left_at && p.agent_id === me), seen: new Set() };
      $("monitor-title").textContent = `${c.contact.name || c.end_user} — ${c.channel_address_id}`;
      $("monitor-transcript").replaceChildren();
      const [messages, notes] = await Promise.all([
        api("GET", `${API}/conversations/${id}/messages/`),
        api("GET", `${API}/conversations/${id}/notes/`),
      ]);
      const items = [
        ...messages.map((m) => ({ ...m, order: m.seq })),
        ...notes.map((n) => ({ ...n, order: n.after_seq + 0.5 })),
      ].sort((a, b) => a.order - b.order);
      for (const item of items) addToTranscript(item);
      $("monitor").hidden = false;
    }
    if (then === "join") await join();
    renderMode();
    if (then === "whisper") $("whisper-text").focus();
  } catch (error) {
    showError(error);
    $("monitor").hidden = false;
  }
}

function renderMode() {
  $("monitor-mode").textContent = monitored?.joined ? "Joined — you are in the conversation" : "Read-only";
  $("monitor-mode").className = monitored?.joined ? "tag joined" : "tag";
  $("barge-form").hidden = !monitored?.joined;
}

async function join() {
  await api("POST", `${API}/conversations/${monitored.id}/join/`);
  monitored.joined = true;
  refreshLive();
  $("barge-text").focus();
}

$("monitor-stop").addEventListener("click", () => {
  if (monitored && socket.ws && socket.ws.readyState === WebSocket.OPEN) {
    socket.ws.send(JSON.stringify({ type: "unmonitor", conversation_id: monitored.id }));
  }
  monitored = null;
  $("monitor").hidden = true;
});

$("whisper-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("whisper-text").value;
  if (!monitored || !text.trim()) return;
  try {
    const note = await api("POST", `${API}/conversations/${monitored.id}/notes/`, { text, whisper: true });
    addToTranscript(note);
    $("whisper-text").value = "";
  } catch (error) {
    showError(error);
  }
});

$("barge-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("barge-text").value;
  if (!monitored || !text.trim()) return;
  try {
    const message = await api("POST", `${API}/conversations/${monitored.id}/messages/`, { text });
    addToTranscript(message);
    $("barge-text").value = "";
  } catch (error) {
    showError(error);
  }
});

async function openReassign(id) {
  reassigning = id;
  $("reassign-error").textContent = "";
  try {
    directory = await api("GET", `${API}/directory/`);
  } catch (error) {
    showError(error, "reassign-error");
  }
  $("reassign-target").replaceChildren(
    h("optgroup", { label: "Agents" }, directory.agents.map((a) => h("option", { value: `agent:${a.id}` }, `${a.name} (${a.status}, ${a.capacity.messaging ? `${a.capacity.messaging.used}/${a.capacity.messaging.max}` : "—"})`))),
    h("optgroup", { label: "Queues" }, directory.queues.map((q) => h("option", { value: `queue:${q}` }, q))),
  );
  $("reassign-dialog").showModal();
}

$("reassign-cancel").addEventListener("click", () => $("reassign-dialog").close());
$("reassign-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const [kind, value] = $("reassign-target").value.split(/:(.*)/s);
  try {
    await api("POST", `${API}/conversations/${reassigning}/reassign/`, kind === "agent" ? { agent_id: value } : { queue: value });
    $("reassign-dialog").close();
    refreshLive();
  } catch (error) {
    showError(error, "reassign-error");
  }
});

async function loadAgents() {
  try {
    directory = await api("GET", `${API}/directory/`);
    const select = $("presence-agent");
    const keep = select.value;
    select.replaceChildren(...directory.agents.map((a) => h("option", { value: a.id }, `${a.name} (${a.status})`)));
    if (keep) select.value = keep;
  } catch {
    // the overview table (supervisor.js) shows the failure
  }
}

$("presence-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("PUT", `${API}/agents/${$("presence-agent").value}/status/`, { status: $("presence-status").value });
    loadAgents();
  } catch (error) {
    $("live-status").textContent = error.message;
  }
});

let me = null;
const socket = new AgentSocket({
  url: socketUrl("/ws/agent/"),
  onOpen: (hello) => {
    me = hello.data.agent_id;
    if (monitored) socket.ws.send(JSON.stringify({ type: "monitor", conversation_id: monitored.id })); // after a reconnect
  },
  onEvent: (frame) => {
    const data = frame.data || {};
    if (!monitored || data.conversation_id !== monitored.id) {
      if (frame.monitor || frame.type === "note.created") return;
    }
    if (frame.type === "message.created" || frame.type === "note.created") addToTranscript(data);
    if (frame.type === "error") showError(data);
  },
  onState: () => {},
  onSessionEnded: () => {
    $("live-status").textContent = "Your session ended — log in again.";
  },
});
socket.start();
// SLA warnings and breaches arrive over the supervisors' live socket (supervisor.js): announce and refresh
document.addEventListener("ccp:sla-alert", async (event) => {
  const alert = event.detail || {};
  await refreshLive();
  const row = rows.find((r) => r.id === alert.conversation_id);
  const who = row ? row.contact_name : "a conversation";
  const what = String(alert.target || "").replace("_", " ");
  $("sla-alert").textContent =
    alert.type === "sla.breached" ? `SLA breached: ${what} of ${who}` : `SLA warning: ${what} of ${who} is due soon`;
  $("sla-alert").className = alert.type === "sla.breached" ? "sla-alert breached" : "sla-alert warning";
});
refreshLive();
loadAgents();
setInterval(refreshLive, 3000);
setInterval(loadAgents, 5000);
