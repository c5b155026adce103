// The event reducer: one /ws/agent/ event (docs/events.md) applied to the workspace state.
// `reduce(state, event)` is pure — it returns `{ state, touched, effects }`:
//   state    the new state (the given one is never changed),
//   touched  the panels whose content changed, so only those are re-rendered (render.js PANELS),
//   effects  what the page must do besides (plain data, run by workspace.js): fetch a transcript,
//            show a notice, re-read the history, tell the connectors, start a typing timer, or — only
//            when an event names something this page does not know — re-read the whole state.
import { isCallEvent, reduceCall } from "./calls_state.js";
import {
  conversationWithMessage,
  upsertConversation,
  withConversation,
  withConversationPatch,
  withoutWork,
} from "./state.js";
import { noteAsEntry } from "./notes.js";
import { slaAfterMessage, slaFromEvent } from "./sla.js";

// How long an end user's "typing" shows without a stop event (a lost typing.stopped must not stick).
export const TYPING_TIMEOUT_MS = 15000;

const WORK_GONE = {
  "work.declined": null,
  "work.timed_out": "timed out",
  "work.rescinded": "was withdrawn",
  "work.closed": null,
  "work.acw_ended": null,
};

const WORK_PANELS = ["offers", "acw", "work"];

/** The panels showing conversation `id`: the list always, the transcript and summary when it is shown. */
function conversationPanels(state, id) {
  return id === state.activeId ? ["list", "conversation", "summary"] : ["list"];
}

function result(state, touched = [], effects = []) {
  return { state, touched: new Set(touched), effects };
}

function withWork(state, work) {
  const works = new Map(state.works);
  works.set(work.work_id, work);
  return { ...state, works };
}

/** After-conversation work as an event gives it, never ending earlier than the page knows: the end
 * only moves later (Extend), so a close's work.acw_started delivered after an extension's answer
 * (or its own event) must not shorten the countdown again. */
function withAcw(state, data) {
  const known = state.works.get(data.work_id);
  const later = (a, b) => (a && b && Date.parse(a) > Date.parse(b) ? a : b || a);
  const ends = known?.status === "acw" ? later(known.acw_ends_at, data.acw_ends_at) : data.acw_ends_at;
  return withWork(state, { ...data, status: "acw", acw_ends_at: ends });
}

function workAccepted(state, data) {
  let next = withWork(state, data);
  const a = data.attributes || {};
  const id = a.conversation_id;
  if (!id) return result(next, WORK_PANELS);
  const known = state.conversations.get(id);
  const effects = [];
  if (!known || known.gone) {
    // Held now: shown from the offer's attributes; its transcript is fetched, nothing else re-read.
    next = upsertConversation(next, {
      id,
      status: known?.status && known.status !== "closed" ? known.status : "active",
      contact_name: a.contact_name || a.end_user,
      contact_id: a.contact_id,
      channel_name: a.channel_name,
      channel_address_id: a.channel_address_id,
      end_user: a.end_user,
    });
    effects.push({ type: "loadMessages", conversationId: id });
  }
  if (!next.activeId) next = { ...next, activeId: id };
  return result(next, [...WORK_PANELS, ...conversationPanels(next, id)], effects);
}

function workEnded(state, type, data) {
  const known = state.works.get(data.work_id);
  const next =
    type === "work.closed" && data.acw_ends_at ? withAcw(state, data) : withoutWork(state, data.work_id);
  const effects = [{ type: "loadHistory" }];
  const why = WORK_GONE[type];
  if (why && known && known.status === "offered") {
    effects.unshift({ type: "notice", text: `The offer for ${data.attributes?.contact_name || "a contact"} ${why}.` });
  }
  return result(next, WORK_PANELS, effects);
}

function message(state, data) {
  const conv = state.conversations.get(data.conversation_id);
  if (!conv) return result(state, [], [{ type: "resync" }]);
  const { conv: updated, added } = conversationWithMessage(conv, data);
  if (updated === conv) return result(state);
  const unread = added && data.direction === "inbound" && conv.id !== state.activeId ? 1 : 0;
  const sla = added ? slaAfterMessage(updated.sla, data) : updated.sla; // a reply stops a response clock
  const next = withConversation(state, { ...updated, sla, unread: updated.unread + unread });
  const touched = conversationPanels(next, conv.id);
  if (updated.typing !== conv.typing) touched.push("typing");
  return result(next, touched);
}

function typing(state, type, data) {
  const conv = state.conversations.get(data.conversation_id);
  if (!conv || data.who !== "end_user") return result(state);
  const on = type === "typing.started";
  const next = withConversation(state, { ...conv, typing: on });
  return result(next, conv.id === state.activeId ? ["typing"] : [], [
    { type: "typingTimer", conversationId: conv.id, ms: on ? TYPING_TIMEOUT_MS : null },
  ]);
}

/** Apply one event `{ type, data }` to `state`; see the head of this file for what comes back. */
export function reduce(state, event) {
  const data = event.data || {};
  switch (event.type) {
    case "work.offered":
      return result(withWork(state, data), WORK_PANELS);
    case "work.acw_started":
      return result(withAcw(state, data), WORK_PANELS, [{ type: "loadHistory" }]);
    case "work.accepted":
      return workAccepted(state, data);
    case "work.declined":
    case "work.timed_out":
    case "work.rescinded":
    case "work.closed":
    case "work.acw_ended":
      return workEnded(state, event.type, data);
    case "message.created":
    case "message.status_changed":
      return message(state, data);
    case "typing.started":
    case "typing.stopped":
      return typing(state, event.type, data);
    case "note.created": // an internal note or a supervisor's whisper (never from or to the end user)
      return message(state, noteAsEntry(data));
    case "monitor.notice":
      return result(state, [], [{ type: "notice", text: `${data.supervisor_name || "A supervisor"} is monitoring this conversation.` }]);
    case "typing.expired": {
      // local: the typing timer of reducer effect "typingTimer" ran out
      const conv = state.conversations.get(data.conversation_id);
      if (!conv || !conv.typing) return result(state);
      return result(withConversation(state, { ...conv, typing: false }), conv.id === state.activeId ? ["typing"] : []);
    }
    case "agent.status_changed":
      return result(state.agent ? { ...state, agent: { ...state.agent, status: data.status } } : state, ["presence"], [
        { type: "forward", kind: "status", data: { status: data.status } },
      ]);
    case "agent.capacity_changed":
      return result(state.agent ? { ...state, agent: { ...state.agent, capacity: data.capacity } } : state, ["presence"]);
    case "conversation.closed": {
      const id = data.conversation_id;
      if (!state.conversations.has(id)) return result(state);
      return result(withConversationPatch(state, id, { status: "closed" }), conversationPanels(state, id));
    }
    case "conversation.transferred": {
      const id = data.conversation_id;
      if (data.to_agent_id && data.to_agent_id === state.me) {
        // This agent took it over: the accept (response and work.accepted) already brought it in.
        if (!state.conversations.has(id)) return result(state, [], [{ type: "resync" }]);
        return result(withConversationPatch(state, id, { status: data.status }), conversationPanels(state, id));
      }
      // Handed on (to a colleague or a bot): read-only here; works and capacity changed on the server.
      const next = state.conversations.has(id)
        ? withConversationPatch(state, id, { gone: "Transferred to a colleague" })
        : state;
      return result(next, conversationPanels(next, id), [{ type: "resync" }]);
    }
    case "sla.warning":
    case "sla.breached": {
      const conv = state.conversations.get(data.conversation_id);
      if (!conv) return result(state);
      const sla = slaFromEvent(conv.sla, event.type, data);
      return sla === conv.sla ? result(state) : result(withConversation(state, { ...conv, sla }), ["list"]);
    }
    default:
      if (isCallEvent(event.type)) {
        const call = reduceCall(state, event); // voice calls: calls_state.js
        return result(call.state, call.touched, call.effects);
      }
      return result(state);
  }
}
