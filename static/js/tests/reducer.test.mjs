// The event reducer (static/js/workspace/reducer.js) on the events of docs/events.md, without a
// browser: `node --test static/js/tests/` (run by `make test`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { reduce, TYPING_TIMEOUT_MS } from "../workspace/reducer.js";
import { createState, upsertConversation, withAccepted, withAgentState } from "../workspace/state.js";

const ME = "agent-me";
const inMinutes = (m) => new Date(Date.now() + m * 60000).toISOString();

function offer(id, attrs = {}) {
  return {
    work_id: id,
    status: "offered",
    agent_id: ME,
    expires_at: inMinutes(1),
    acw_ends_at: null,
    is_transfer: false,
    attributes: {
      conversation_id: `conv-${id}`,
      contact_id: "contact-1",
      contact_name: "Ada Lovelace",
      end_user: "+4915100000001",
      channel_address_id: "sms-1",
      channel_name: "SMS",
      ...attrs,
    },
  };
}

function holding(...ids) {
  let state = createState(ME);
  for (const id of ids) {
    state = upsertConversation(state, { id, status: "active", contact_name: `Contact ${id}`, channel_name: "SMS", channel_address_id: "sms-1", end_user: "+49151" });
  }
  return ids.length ? { ...state, activeId: ids[0] } : state;
}

const msg = (conversationId, id, seq, extra = {}) => ({
  conversation_id: conversationId,
  id,
  seq,
  direction: "inbound",
  status: "delivered",
  text: `message ${id}`,
  created_at: "2026-12-01T10:00:00Z",
  ...extra,
});

/** A deep snapshot that survives Maps, to prove the given state is never changed. */
function snapshot(state) {
  return JSON.stringify(state, (_key, value) => (value instanceof Map ? [...value.entries()] : value));
}

describe("purity", () => {
  const events = [
    { type: "work.offered", data: offer("w1") },
    { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } },
    { type: "work.timed_out", data: offer("w1") },
    { type: "message.created", data: msg("c1", "m1", 1) },
    { type: "message.status_changed", data: msg("c1", "m0", 0, { status: "read" }) },
    { type: "typing.started", data: { conversation_id: "c1", who: "end_user" } },
    { type: "agent.status_changed", data: { status: "busy" } },
    { type: "conversation.closed", data: { conversation_id: "c1" } },
    { type: "conversation.transferred", data: { conversation_id: "c1", to_agent_id: "someone-else" } },
  ];
  for (const event of events) {
    test(`${event.type} leaves the given state as it was`, () => {
      let state = holding("c1");
      state = { ...state, agent: { status: "online", capacity: {} } };
      state = reduce(state, { type: "message.created", data: msg("c1", "m0", 0, { direction: "outbound", status: "sent" }) }).state;
      const before = snapshot(state);
      const { state: after } = reduce(state, event);
      assert.equal(snapshot(state), before);
      assert.notEqual(after, undefined);
    });
  }

  test("an unknown event type changes nothing and touches nothing", () => {
    const state = holding("c1");
    const out = reduce(state, { type: "something.new", data: {} });
    assert.equal(out.state, state);
    assert.equal(out.touched.size, 0);
    assert.deepEqual(out.effects, []);
  });
});

describe("offers and work", () => {
  test("an offer is kept and touches only the offer, ACW and work panels", () => {
    const { state, touched, effects } = reduce(holding("c1"), { type: "work.offered", data: offer("w1") });
    assert.equal(state.works.get("w1").status, "offered");
    assert.deepEqual([...touched].sort(), ["acw", "offers", "work"]);
    assert.deepEqual(effects, []);
  });

  test("an accepted offer brings its conversation in from the attributes and fetches only its transcript", () => {
    let state = reduce(createState(ME), { type: "work.offered", data: offer("w1") }).state;
    const out = reduce(state, { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } });
    state = out.state;
    const conv = state.conversations.get("conv-w1");
    assert.equal(conv.contact_name, "Ada Lovelace");
    assert.equal(conv.channel_name, "SMS");
    assert.equal(conv.status, "active");
    assert.equal(state.activeId, "conv-w1", "the first conversation is shown");
    assert.equal(state.works.get("w1").status, "accepted");
    assert.deepEqual(out.effects, [{ type: "loadMessages", conversationId: "conv-w1" }]);
    assert.ok(!out.effects.some((e) => e.type === "resync"), "no full re-read on accept");
    assert.ok(out.touched.has("list") && out.touched.has("conversation"));
  });

  test("an accepted offer whose conversation is already shown (the accept answered first) fetches nothing", () => {
    const state = holding("conv-w1");
    const out = reduce(state, { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } });
    assert.deepEqual(out.effects, []);
    assert.equal(out.state.conversations.get("conv-w1").messages, state.conversations.get("conv-w1").messages);
  });

  test("accepting a second conversation keeps the one being read", () => {
    const out = reduce(holding("c1"), { type: "work.accepted", data: { ...offer("w2"), status: "accepted" } });
    assert.equal(out.state.activeId, "c1");
    assert.ok(out.touched.has("list"));
    assert.ok(!out.touched.has("conversation"), "the shown transcript is not redrawn");
  });

  test("a timed-out offer disappears with a notice naming the contact", () => {
    const state = reduce(createState(ME), { type: "work.offered", data: offer("w1") }).state;
    const out = reduce(state, { type: "work.timed_out", data: offer("w1") });
    assert.equal(out.state.works.has("w1"), false);
    assert.deepEqual(out.effects, [{ type: "notice", text: "The offer for Ada Lovelace timed out." }, { type: "loadHistory" }]);
  });

  test("a rescinded offer says it was withdrawn; a declined one says nothing", () => {
    const state = reduce(createState(ME), { type: "work.offered", data: offer("w1") }).state;
    assert.equal(reduce(state, { type: "work.rescinded", data: offer("w1") }).effects[0].text, "The offer for Ada Lovelace was withdrawn.");
    assert.deepEqual(reduce(state, { type: "work.declined", data: offer("w1") }).effects, [{ type: "loadHistory" }]);
  });

  test("a timed-out work that was no longer an offer gives no notice", () => {
    const state = reduce(createState(ME), { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } }).state;
    const out = reduce(state, { type: "work.timed_out", data: offer("w1") });
    assert.ok(!out.effects.some((e) => e.type === "notice"));
  });

  test("a closed work with an ACW end becomes after-conversation work; without, it goes", () => {
    const state = reduce(createState(ME), { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } }).state;
    const acw = reduce(state, { type: "work.closed", data: { ...offer("w1"), status: "closed", acw_ends_at: inMinutes(2) } });
    assert.equal(acw.state.works.get("w1").status, "acw");
    const gone = reduce(state, { type: "work.closed", data: { ...offer("w1"), status: "closed" } });
    assert.equal(gone.state.works.has("w1"), false);
    const ended = reduce(acw.state, { type: "work.acw_ended", data: offer("w1") });
    assert.equal(ended.state.works.has("w1"), false);
  });

  test("a late event of the close never shortens an extended ACW countdown", () => {
    const closed = { ...offer("w1"), status: "closed", acw_ends_at: inMinutes(0.5) };
    let state = reduce(createState(ME), { type: "work.closed", data: closed }).state;
    const extended = inMinutes(1.5);
    state = reduce(state, { type: "work.acw_started", data: { ...closed, status: "acw", acw_ends_at: extended } }).state;
    // the close's own work.acw_started, delivered after the extension
    state = reduce(state, { type: "work.acw_started", data: { ...closed, status: "acw" } }).state;
    assert.equal(state.works.get("w1").acw_ends_at, extended);
    state = reduce(state, { type: "work.closed", data: closed }).state;
    assert.equal(state.works.get("w1").acw_ends_at, extended);
    // a later extension still moves it
    const again = inMinutes(2.5);
    state = reduce(state, { type: "work.acw_started", data: { ...closed, status: "acw", acw_ends_at: again } }).state;
    assert.equal(state.works.get("w1").acw_ends_at, again);
  });

  test("ACW started re-reads the history", () => {
    const out = reduce(createState(ME), { type: "work.acw_started", data: { ...offer("w1"), status: "acw" } });
    assert.equal(out.state.works.get("w1").status, "acw");
    assert.deepEqual(out.effects, [{ type: "loadHistory" }]);
  });
});

describe("messages", () => {
  test("a new message in the shown conversation redraws list, transcript and summary", () => {
    const out = reduce(holding("c1", "c2"), { type: "message.created", data: msg("c1", "m1", 1) });
    assert.equal(out.state.conversations.get("c1").messages.get("m1").text, "message m1");
    assert.deepEqual([...out.touched].sort(), ["conversation", "list", "summary"]);
    assert.equal(out.state.conversations.get("c1").unread, 0);
  });

  test("an inbound message elsewhere counts as unread and redraws only the list", () => {
    const state = holding("c1", "c2");
    const out = reduce(state, { type: "message.created", data: msg("c2", "m1", 1) });
    assert.equal(out.state.conversations.get("c2").unread, 1);
    assert.deepEqual([...out.touched], ["list"]);
    // the shown conversation is the very same object: nothing there to redraw
    assert.equal(out.state.conversations.get("c1"), state.conversations.get("c1"));
  });

  test("the same message twice is kept once and counted once", () => {
    let state = holding("c1", "c2");
    state = reduce(state, { type: "message.created", data: msg("c2", "m1", 1) }).state;
    const again = reduce(state, { type: "message.created", data: msg("c2", "m1", 1) });
    assert.equal(again.state, state, "a duplicate changes nothing");
    assert.equal(again.touched.size, 0);
    assert.equal(again.state.conversations.get("c2").unread, 1);
    assert.equal(again.state.conversations.get("c2").messages.size, 1);
  });

  test("a delivery mark goes forward, never back", () => {
    let state = holding("c1");
    state = reduce(state, { type: "message.created", data: msg("c1", "m1", 1, { direction: "outbound", status: "sent" }) }).state;
    state = reduce(state, { type: "message.status_changed", data: msg("c1", "m1", 1, { direction: "outbound", status: "read" }) }).state;
    assert.equal(state.conversations.get("c1").messages.get("m1").status, "read");
    const late = reduce(state, { type: "message.status_changed", data: msg("c1", "m1", 1, { direction: "outbound", status: "delivered" }) });
    assert.equal(late.state.conversations.get("c1").messages.get("m1").status, "read");
    assert.equal(late.touched.size, 0);
  });

  test("the last seen id follows the highest seq, not the arrival order", () => {
    let state = holding("c1");
    state = reduce(state, { type: "message.created", data: msg("c1", "m5", 5) }).state;
    state = reduce(state, { type: "message.created", data: msg("c1", "m3", 3) }).state;
    assert.equal(state.conversations.get("c1").lastId, "m5");
  });

  test("a message of a conversation this page does not know asks for a full re-read", () => {
    const state = holding("c1");
    const out = reduce(state, { type: "message.created", data: msg("unknown", "m1", 1) });
    assert.equal(out.state, state);
    assert.deepEqual(out.effects, [{ type: "resync" }]);
  });

  test("an inbound message ends the end user's typing", () => {
    let state = holding("c1");
    state = reduce(state, { type: "typing.started", data: { conversation_id: "c1", who: "end_user" } }).state;
    const out = reduce(state, { type: "message.created", data: msg("c1", "m1", 1) });
    assert.equal(out.state.conversations.get("c1").typing, false);
    assert.ok(out.touched.has("typing"));
  });
});

describe("typing, presence, conversations", () => {
  test("the end user's typing shows with a timer; an agent's typing is ignored", () => {
    const state = holding("c1");
    const on = reduce(state, { type: "typing.started", data: { conversation_id: "c1", who: "end_user" } });
    assert.equal(on.state.conversations.get("c1").typing, true);
    assert.deepEqual([...on.touched], ["typing"]);
    assert.deepEqual(on.effects, [{ type: "typingTimer", conversationId: "c1", ms: TYPING_TIMEOUT_MS }]);
    const off = reduce(on.state, { type: "typing.stopped", data: { conversation_id: "c1", who: "end_user" } });
    assert.equal(off.state.conversations.get("c1").typing, false);
    assert.deepEqual(off.effects, [{ type: "typingTimer", conversationId: "c1", ms: null }]);
    const agent = reduce(state, { type: "typing.started", data: { conversation_id: "c1", who: "agent" } });
    assert.equal(agent.state, state);
    const expired = reduce(on.state, { type: "typing.expired", data: { conversation_id: "c1" } });
    assert.equal(expired.state.conversations.get("c1").typing, false);
  });

  test("presence and capacity touch only the top bar; a status goes to the connectors", () => {
    const state = { ...createState(ME), agent: { status: "online", capacity: { chat: { used: 0, max: 2 } } } };
    const status = reduce(state, { type: "agent.status_changed", data: { status: "away" } });
    assert.equal(status.state.agent.status, "away");
    assert.deepEqual([...status.touched], ["presence"]);
    assert.deepEqual(status.effects, [{ type: "forward", kind: "status", data: { status: "away" } }]);
    const capacity = reduce(state, { type: "agent.capacity_changed", data: { capacity: { chat: { used: 1, max: 2 } } } });
    assert.equal(capacity.state.agent.capacity.chat.used, 1);
    assert.equal(capacity.state.agent.status, "online");
  });

  test("a closed conversation stays readable, marked closed", () => {
    const out = reduce(holding("c1"), { type: "conversation.closed", data: { conversation_id: "c1" } });
    assert.equal(out.state.conversations.get("c1").status, "closed");
    assert.ok(out.touched.has("conversation"));
  });

  test("a conversation handed to a colleague becomes read-only here and the state is re-read", () => {
    const out = reduce(holding("c1"), { type: "conversation.transferred", data: { conversation_id: "c1", to_agent_id: "colleague" } });
    assert.equal(out.state.conversations.get("c1").gone, "Transferred to a colleague");
    assert.deepEqual(out.effects, [{ type: "resync" }]);
  });

  test("a conversation transferred to this agent needs no re-read", () => {
    const out = reduce(holding("c1"), { type: "conversation.transferred", data: { conversation_id: "c1", to_agent_id: ME, status: "active" } });
    assert.equal(out.state.conversations.get("c1").gone, "");
    assert.deepEqual(out.effects, []);
  });
});

describe("state re-read", () => {
  test("a conversation no longer held is kept and marked as left; the first held is shown", () => {
    const state = holding("old");
    const next = withAgentState({ ...state, activeId: null }, {
      agent: { status: "online", capacity: {} },
      work: [offer("w1")],
      conversations: [{ id: "c9", status: "active", contact_name: "Grace", channel_name: "SMS", channel_address_id: "sms-1", end_user: "+1", contact_id: "x" }],
    });
    assert.equal(next.conversations.get("old").gone, "You left this conversation");
    assert.equal(next.conversations.get("c9").gone, "");
    assert.equal(next.activeId, "c9");
    assert.equal(next.works.get("w1").status, "offered");
  });
});

describe("the accept answer", () => {
  const answer = {
    id: "conv-w1",
    status: "active",
    channel_address_id: "sms-1",
    end_user: "+4915100000001",
    contact: { id: "contact-1", name: "" },
  };

  test("is applied as it is: the work is in progress, the conversation held and shown", () => {
    let state = holding("c1");
    state = reduce(state, { type: "work.offered", data: offer("w1") }).state;
    const next = withAccepted(state, "w1", answer);
    assert.equal(next.works.get("w1").status, "accepted");
    assert.equal(next.activeId, "conv-w1");
    const conv = next.conversations.get("conv-w1");
    assert.equal(conv.status, "active");
    assert.equal(conv.contact_name, "Ada Lovelace", "a contact without a name shows the offer's name");
    assert.equal(conv.channel_name, "SMS");
    assert.equal(state.conversations.has("conv-w1"), false, "the given state is unchanged");
  });

  test("then the work.accepted event adds nothing and fetches nothing", () => {
    let state = reduce(createState(ME), { type: "work.offered", data: offer("w1") }).state;
    state = withAccepted(state, "w1", answer);
    const out = reduce(state, { type: "work.accepted", data: { ...offer("w1"), status: "accepted" } });
    assert.deepEqual(out.effects, []);
    assert.equal(out.state.conversations.size, 1);
  });
});
