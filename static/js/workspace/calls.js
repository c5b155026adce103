// The call panel of the workspace (voice calls, docs/voice.md): caller, state, clock, the call
// controls (answer, hold / resume, mute / unmute, hang up, transfer to an agent, a queue or a number,
// DTMF keypad, pause / resume recording) with each request's outcome (pending, done, failed), the
// live transcript, and after the call its recording. The state and its reducer are in calls_state.js;
// this module only draws and calls the agent API. It adds itself to render.js's PANELS as "call".
import { ApiError, api } from "../api.js";
import { h, safeText } from "../text.js";
import {
  actionAllowed,
  callClock,
  LIVE_STATUSES,
  orderedSegments,
  recentControls,
  STATUS_LABEL,
  shownCall,
  withCallRows,
} from "./calls_state.js";
import { PANELS } from "./render.js";

const API = "/api/v1/agent";
const LABELS = {
  answer: "Answer",
  hold: "Hold",
  resume: "Resume",
  mute: "Mute",
  unmute: "Unmute",
  hangup: "Hang up",
  transfer: "Transfer",
  dial: "Dial",
  send_dtmf: "Keypad",
  pause_recording: "Pause recording",
  resume_recording: "Resume recording",
};
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

let workspace = null;
let panel = null;
let loadingCalls = null;
let keypadOpen = false;
let transferOpen = false;
const dismissed = new Set(); // ended calls the agent put away (this page only)

/** Fetch the agent's live and recent calls (on load, after a reconnect, or when an event names an
 * unknown call) and merge them into the state. */
function loadCalls() {
  if (loadingCalls) return loadingCalls;
  loadingCalls = api("GET", `${API}/calls/`)
    .then((rows) => workspace.commit(withCallRows(workspace.getState(), rows), ["call"]))
    .catch((error) => workspace.showError(error))
    .finally(() => {
      loadingCalls = null;
    });
  return loadingCalls;
}

async function control(call, action, extra = {}) {
  try {
    await api("POST", `${API}/calls/${encodeURIComponent(call.call_id)}/controls/`, { action, ...extra });
    // the request's call.control_requested event (and later its result) redraws the panel
  } catch (error) {
    workspace.showError(error);
    if (error instanceof ApiError && error.code === "invalid_call_action") loadCalls();
  }
}

function button(call, action, { primary = false, label } = {}) {
  return h(
    "button",
    {
      type: "button",
      class: primary ? "primary" : action === "hangup" ? "danger" : "",
      dataset: { action },
      disabled: !actionAllowed(call, action),
      onclick: () => control(call, action),
    },
    label || LABELS[action],
  );
}

function controlsRow(call) {
  const onHold = call.status === "on_hold";
  return h(
    "div",
    { class: "call-controls", role: "group", "aria-label": "Call controls" },
    call.status === "queued" || call.status === "ringing" ? button(call, "answer", { primary: true }) : null,
    button(call, onHold ? "resume" : "hold"),
    button(call, call.muted ? "unmute" : "mute"),
    button(call, call.recording_paused ? "resume_recording" : "pause_recording"),
    h(
      "button",
      {
        type: "button",
        dataset: { action: "keypad" },
        disabled: !actionAllowed(call, "send_dtmf"),
        "aria-expanded": String(keypadOpen),
        onclick: () => {
          keypadOpen = !keypadOpen;
          draw(workspace.getState());
        },
      },
      "Keypad",
    ),
    h(
      "button",
      {
        type: "button",
        dataset: { action: "transfer" },
        disabled: !actionAllowed(call, "transfer"),
        "aria-expanded": String(transferOpen),
        onclick: () => {
          transferOpen = !transferOpen;
          draw(workspace.getState());
        },
      },
      "Transfer…",
    ),
    button(call, "hangup"),
  );
}

function keypad(call) {
  if (!keypadOpen || !actionAllowed(call, "send_dtmf")) return null;
  return h(
    "div",
    { class: "keypad", role: "group", "aria-label": "Keypad" },
    KEYS.map((key) => h("button", { type: "button", onclick: () => control(call, "send_dtmf", { digits: key }) }, key)),
  );
}

function transferForm(call) {
  if (!transferOpen || !actionAllowed(call, "transfer")) return null;
  const kind = h(
    "select",
    { "aria-label": "Transfer to" },
    h("option", { value: "agent_id" }, "an agent (id)"),
    h("option", { value: "queue" }, "a queue"),
    h("option", { value: "address" }, "a phone number"),
  );
  const value = h("input", { "aria-label": "Agent id, queue name or number", required: true, placeholder: "+4930…" });
  const directory = h("select", { "aria-label": "Pick a colleague or queue", hidden: true });
  api("GET", `${API}/directory/`)
    .then((data) => {
      const options = [
        ...data.agents.filter((a) => a.id !== workspace.me).map((a) => ["agent_id", a.id, `${a.name} (${a.status})`]),
        ...data.queues.map((q) => ["queue", q, `Queue ${q}`]),
      ];
      if (!options.length) return;
      directory.replaceChildren(
        h("option", { value: "" }, "Pick a colleague or queue…"),
        ...options.map(([k, v, label]) => h("option", { value: `${k}:${v}` }, label)),
      );
      directory.hidden = false;
    })
    .catch(() => {});
  directory.addEventListener("change", () => {
    const [k, ...rest] = directory.value.split(":");
    if (!k) return;
    kind.value = k;
    value.value = rest.join(":");
  });
  return h(
    "form",
    {
      class: "call-transfer inline",
      onsubmit: (event) => {
        event.preventDefault();
        const target = value.value.trim();
        if (!target) return;
        transferOpen = false;
        control(call, "transfer", { target: { [kind.value]: target } });
      },
    },
    directory,
    kind,
    value,
    h("button", { type: "submit", class: "primary" }, "Transfer"),
  );
}

function controlStatus(call) {
  const rows = recentControls(call);
  if (!rows.length) return null;
  return h(
    "ul",
    { class: "call-requests", "aria-label": "Control requests", "aria-live": "polite" },
    rows.map((c) =>
      h(
        "li",
        { class: `request request-${c.status}`, dataset: { action: c.action, status: c.status } },
        `${LABELS[c.action] || c.action}${c.digits ? ` ${c.digits}` : ""}: ${c.status}${c.reason ? ` — ${c.reason}` : ""}`,
      ),
    ),
  );
}

function transcript(call) {
  const lines = orderedSegments(call);
  return h(
    "ol",
    { class: "call-transcript", "aria-label": "Live transcript", "aria-live": "polite" },
    lines.length
      ? lines.map((s) =>
          h(
            "li",
            { class: `segment ${s.speaker}${s.final ? "" : " interim"}`, dataset: { segment: s.id } },
            h("span", { class: "speaker" }, s.speaker === "agent" ? "You" : call.from_name || "Caller"),
            " ",
            s.text,
          ),
        )
      : [h("li", { class: "muted" }, "The transcript appears here as the call goes on.")],
  );
}

function afterCall(call) {
  if (call.status !== "ended") return null;
  const facts = h(
    "p",
    { class: "muted call-summary" },
    `Ended (${(call.end_reason || "completed").replace("_", " ")}) · talk ${call.talk_seconds || 0} s · hold ${call.hold_seconds || 0} s`,
  );
  const rec = call.recording;
  const player = rec?.url
    ? h(
        "figure",
        { class: "recording" },
        h("figcaption", {}, "Recording"),
        h("audio", { controls: true, preload: "none", src: rec.url, "aria-label": "Call recording" }),
      )
    : h("p", { class: "muted" }, "The recording appears here once the telephony partner has it.");
  const dismiss = h(
    "button",
    {
      type: "button",
      onclick: () => {
        dismissed.add(call.call_id);
        draw(workspace.getState());
      },
    },
    "Dismiss",
  );
  return h("div", { class: "after-call" }, facts, player, dismiss);
}

function draw(state) {
  if (!panel) return;
  const call = shownCall(state);
  if (!call || (call.status === "ended" && dismissed.has(call.call_id))) {
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  if (call.stub && !loadingCalls) loadCalls();
  panel.hidden = false;
  const live = LIVE_STATUSES.has(call.status);
  panel.dataset.status = call.status || "";
  const parts = [
    h(
      "header",
      { class: "call-head" },
      h("span", { class: "call-icon", "aria-hidden": "true" }, "☎"),
      h(
        "div",
        {},
        h("h2", { class: "call-caller" }, call.from_name || call.from || "Caller"),
        h("p", { class: "muted" }, `${call.direction === "outbound" ? "Outbound call to" : "Call from"} ${call.from || "—"}`),
      ),
      h("span", { class: `call-state state-${call.status}`, role: "status" }, STATUS_LABEL[call.status] || call.status || "…"),
      h("span", { class: "call-clock", "aria-label": "Call time" }, callClock(call)),
      call.muted ? h("span", { class: "call-flag" }, "Muted") : null,
      call.recording_paused ? h("span", { class: "call-flag" }, "Recording paused") : null,
    ),
    live ? controlsRow(call) : null,
    live ? keypad(call) : null,
    live ? transferForm(call) : null,
    controlStatus(call),
    transcript(call),
    afterCall(call),
  ];
  panel.replaceChildren(...parts.filter(Boolean)); // replaceChildren would write "null" for a missing part
}

function tickClock() {
  if (!panel || panel.hidden) return;
  const call = shownCall(workspace.getState());
  const clock = panel.querySelector(".call-clock");
  if (call && clock) clock.textContent = safeText(callClock(call));
}

/** Place the panel and start: `ws` is workspace.js's handle (getState, commit, showError, me). */
export function setupCalls(ws) {
  workspace = ws;
  panel = h("section", { id: "call-panel", class: "call-panel", "aria-label": "Call", hidden: true });
  const offers = document.getElementById("offers");
  offers.after(panel);
  PANELS.call = draw;
  setInterval(tickClock, 1000);
  loadCalls();
  return { loadCalls };
}
