// The workspace's voice calls: their part of the state and the pure reducer of the call events
// (docs/events.md: call.*, transcript.segment). Nothing here touches the DOM, the network or timers,
// so it runs under `node --test`. The panel is drawn by calls.js; reducer.js delegates here.
//
// state.calls: Map call_id -> {
//   ...the call as the API gives it (status, from, from_name, answered_at, recording…),
//   controls: Map request_id -> control (action, status pending/done/failed, reason),
//   transcript: Map segment id -> segment (a final one replaces the interim one of its id),
//   stub: true while only a control or a segment named it (calls.js then fetches the calls) }

export const CALL_EVENTS = new Set([
  "call.created",
  "call.state_changed",
  "call.ended",
  "call.recording_ready",
  "call.control_requested",
  "call.control_completed",
  "transcript.segment",
]);

export const isCallEvent = (type) => CALL_EVENTS.has(type);

export const LIVE_STATUSES = new Set(["queued", "ringing", "connected", "on_hold"]);

/** Which controls a call in `status` offers (the server's table, conversations/call_states.py). */
export const ACTIONS_BY_STATUS = {
  queued: ["answer", "hangup"],
  ringing: ["answer", "hangup"],
  connected: ["hold", "mute", "unmute", "hangup", "transfer", "send_dtmf", "pause_recording", "resume_recording"],
  on_hold: ["resume", "mute", "unmute", "hangup", "transfer", "pause_recording", "resume_recording"],
  ended: [],
};

export function actionAllowed(call, action) {
  return (ACTIONS_BY_STATUS[call?.status] || []).includes(action);
}

function callsOf(state) {
  return state.calls instanceof Map ? state.calls : new Map();
}

function emptyCall(callId) {
  return { call_id: callId, controls: new Map(), transcript: new Map(), stub: true };
}

/** `state` with the call `callId` replaced by `fn(known call or a stub)`. */
function withCall(state, callId, fn) {
  const calls = new Map(callsOf(state));
  calls.set(callId, fn(calls.get(callId) || emptyCall(callId)));
  return { ...state, calls };
}

function callFields(data) {
  const { previous_status: _previous, ...fields } = data;
  return fields;
}

// How far a call is in its life: a status only moves forward, except connected <-> on_hold.
const STAGE = { queued: 0, ringing: 1, connected: 2, on_hold: 2, ended: 3 };

/** `state` with `call` (a row of GET /api/v1/agent/calls/, with its controls) merged in. The row may
 * have been read before an event the page already applied (the list is fetched when a control names
 * a call the page has not seen, while the partner connects it), so it never undoes what only moves
 * one way: a row at an earlier stage than the page's call (ringing after connected, anything after
 * ended) leaves the call as it is, and a control's result is never turned back into "pending". */
export function withCallRow(state, row) {
  return withCall(state, row.call_id, (known) => {
    const controls = new Map(known.controls);
    for (const control of row.controls || []) {
      const was = controls.get(control.request_id);
      if (!(was && was.status !== "pending" && control.status === "pending")) controls.set(control.request_id, control);
    }
    const { controls: _c, ...fields } = row;
    if ((STAGE[fields.status] ?? 0) < (STAGE[known.status] ?? -1)) return { ...known, controls, stub: false };
    return { ...known, ...fields, controls, stub: false };
  });
}

/** `state` with every row of GET /api/v1/agent/calls/ merged in. */
export function withCallRows(state, rows) {
  let next = { ...state, calls: new Map(callsOf(state)) };
  for (const row of rows) next = withCallRow(next, row);
  return next;
}

function segmentApplied(call, segment) {
  const known = call.transcript.get(segment.id);
  if (known && known.final && !segment.final) return call; // a late interim never undoes the final text
  const transcript = new Map(call.transcript);
  transcript.set(segment.id, { ...segment });
  return { ...call, transcript };
}

/** Apply one call event; returns `{ state, touched, effects }` like reducer.js's `reduce`. */
export function reduceCall(state, event) {
  const data = event.data || {};
  const callId = data.call_id;
  if (!callId) return { state, touched: [], effects: [] };
  let next;
  switch (event.type) {
    case "call.created":
    case "call.state_changed":
    case "call.ended":
    case "call.recording_ready":
      next = withCall(state, callId, (known) => ({ ...known, ...callFields(data), stub: false }));
      break;
    case "call.control_requested":
    case "call.control_completed":
      next = withCall(state, callId, (known) => {
        const controls = new Map(known.controls);
        const was = controls.get(data.request_id);
        // a completion can arrive before (or without) its request; a request never undoes a result
        if (!(was && was.status !== "pending" && data.status === "pending")) controls.set(data.request_id, { ...data });
        return { ...known, conversation_id: known.conversation_id || data.conversation_id, controls };
      });
      break;
    case "transcript.segment":
      next = withCall(state, callId, (known) =>
        segmentApplied({ ...known, conversation_id: known.conversation_id || data.conversation_id }, data),
      );
      break;
    default:
      return { state, touched: [], effects: [] };
  }
  const effects = event.type === "call.ended" ? [{ type: "loadHistory" }] : [];
  return { state: { ...next, activeCallId: callId }, touched: ["call"], effects };
}

/** The call the panel shows: the chosen one, else the newest live one, else the newest. */
export function shownCall(state) {
  const calls = [...callsOf(state).values()];
  if (!calls.length) return null;
  const chosen = state.activeCallId && callsOf(state).get(state.activeCallId);
  const live = calls.filter((c) => LIVE_STATUSES.has(c.status));
  if (chosen && (LIVE_STATUSES.has(chosen.status) || !live.length)) return chosen;
  const newest = (list) => list.sort((a, b) => String(b.queued_at || "").localeCompare(String(a.queued_at || "")))[0];
  return live.length ? newest(live) : newest(calls);
}

/** Transcript segments of `call`, in the order they were spoken. */
export function orderedSegments(call) {
  return [...(call?.transcript?.values() || [])].sort((a, b) => (a.start_ms || 0) - (b.start_ms || 0));
}

/** Controls of `call`, newest first. */
export function recentControls(call, limit = 5) {
  return [...(call?.controls?.values() || [])]
    .sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")))
    .slice(0, limit);
}

/** "mm:ss" of the call's clock: talk time since it was answered (or waiting time before), frozen at the end. */
export function callClock(call, now = Date.now()) {
  const start = Date.parse(call?.answered_at || call?.queued_at || "");
  if (Number.isNaN(start)) return "00:00";
  const end = call.ended_at ? Date.parse(call.ended_at) : now;
  const seconds = Math.max(0, Math.floor((end - start) / 1000));
  const mm = String(Math.floor(seconds / 60)).padStart(2, "0");
  return `${mm}:${String(seconds % 60).padStart(2, "0")}`;
}

export const STATUS_LABEL = {
  queued: "Waiting",
  ringing: "Ringing",
  connected: "Connected",
  on_hold: "On hold",
  ended: "Ended",
};
