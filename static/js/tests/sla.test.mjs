// The SLA countdown (workspace/sla.js) and the SLA events through the reducer, without a browser:
// `node --test static/js/tests/`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatDuration, slaAfterMessage, slaCountdown, slaFromEvent } from "../workspace/sla.js";
import { reduce } from "../workspace/reducer.js";
import { createState, upsertConversation } from "../workspace/state.js";

const NOW = Date.parse("2026-12-01T10:00:00Z");
const at = (seconds) => new Date(NOW + seconds * 1000).toISOString();

describe("formatDuration", () => {
  test("seconds, minutes, hours and days", () => {
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(45.9), "45s");
    assert.equal(formatDuration(60), "1:00");
    assert.equal(formatDuration(245), "4:05");
    assert.equal(formatDuration(3723), "1:02:03");
    assert.equal(formatDuration(86400 + 3 * 3600 + 59), "1d 3h");
    assert.equal(formatDuration(-5), "0s");
  });
});

describe("slaCountdown", () => {
  test("time left, then the warning from warn_at, then overdue from due_at", () => {
    const sla = { target: "first_response", due_at: at(300), warn_at: at(240), state: "ok" };
    assert.deepEqual(slaCountdown(sla, NOW), { text: "First response 5:00", state: "ok", label: "First response" });
    assert.equal(slaCountdown(sla, NOW + 250_000).state, "warning");
    assert.equal(slaCountdown(sla, NOW + 250_000).text, "First response 50s");
    assert.deepEqual(slaCountdown(sla, NOW + 365_000), {
      text: "First response overdue 1:05",
      state: "breached",
      label: "First response",
    });
  });
  test("the server's state wins when it is further on; no clock shows nothing", () => {
    const sla = { target: "resolution", due_at: at(7200), warn_at: at(5760), state: "warning" };
    assert.equal(slaCountdown(sla, NOW).state, "warning");
    assert.equal(slaCountdown(sla, NOW).text, "Resolution 2:00:00");
    assert.equal(slaCountdown(null, NOW), null);
    assert.equal(slaCountdown({ target: "resolution", due_at: null, state: "ok" }, NOW).text, "Resolution: no due time");
  });
});

describe("SLA events and replies", () => {
  const start = () =>
    upsertConversation(createState("agent-me"), {
      id: "conv-1",
      status: "active",
      contact_name: "Ann",
      sla: { target: "first_response", due_at: at(300), warn_at: at(240), state: "ok" },
    });

  test("sla.warning and sla.breached mark the conversation's clock, once", () => {
    const state = start();
    const warned = reduce(state, { type: "sla.warning", data: { conversation_id: "conv-1", target: "first_response", due_at: at(300) } });
    assert.equal(warned.state.conversations.get("conv-1").sla.state, "warning");
    assert.deepEqual([...warned.touched], ["list"]);
    assert.equal(state.conversations.get("conv-1").sla.state, "ok"); // the given state is untouched
    const breached = reduce(warned.state, { type: "sla.breached", data: { conversation_id: "conv-1", target: "first_response", due_at: at(300) } });
    assert.equal(breached.state.conversations.get("conv-1").sla.state, "breached");
    const again = reduce(breached.state, { type: "sla.warning", data: { conversation_id: "conv-1", target: "first_response", due_at: at(300) } });
    assert.equal(again.state, breached.state); // a late warning changes nothing
    assert.equal(reduce(state, { type: "sla.breached", data: { conversation_id: "other" } }).state, state);
  });

  test("a clock due later does not replace the one shown", () => {
    const current = { target: "first_response", due_at: at(300), state: "ok" };
    assert.equal(slaFromEvent(current, "sla.warning", { target: "resolution", due_at: at(3600) }), current);
    assert.deepEqual(slaFromEvent(current, "sla.breached", { target: "resolution", due_at: at(100) }), {
      target: "resolution",
      due_at: at(100),
      state: "breached",
    });
  });

  test("an agent's reply stops a response clock; an end user's message or a resolution clock stays", () => {
    const response = { target: "next_response", due_at: at(60), state: "ok" };
    assert.equal(slaAfterMessage(response, { direction: "outbound", sender_type: "agent" }), null);
    assert.equal(slaAfterMessage(response, { direction: "inbound", sender_type: "end_user" }), response);
    assert.equal(slaAfterMessage(response, { direction: "outbound", sender_type: "bot" }), response);
    const resolution = { target: "resolution", due_at: at(60), state: "ok" };
    assert.equal(slaAfterMessage(resolution, { direction: "outbound", sender_type: "agent" }), resolution);
  });
});
