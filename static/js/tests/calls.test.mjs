// The voice-call events through the workspace reducer (reducer.js → calls_state.js), without a
// browser: `node --test static/js/tests/`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  actionAllowed,
  callClock,
  orderedSegments,
  recentControls,
  shownCall,
  withCallRows,
} from "../workspace/calls_state.js";
import { reduce } from "../workspace/reducer.js";
import { createState } from "../workspace/state.js";

function call(status, extra = {}) {
  return {
    id: "c-uuid",
    call_id: "pbx-1",
    conversation_id: "conv-1",
    channel_address_id: "+15550100",
    direction: "inbound",
    from: "+4915100001",
    from_name: "Ann",
    status,
    end_reason: null,
    agent_id: "agent-me",
    queued_at: "2026-12-01T10:00:00Z",
    answered_at: null,
    ended_at: null,
    hold_seconds: 0,
    talk_seconds: 0,
    muted: false,
    recording_paused: false,
    recording: null,
    ...extra,
  };
}

const apply = (state, type, data) => reduce(state, { type, data });

describe("call events", () => {
  test("a state change adds the call and touches only the call panel", () => {
    const before = createState("agent-me");
    const { state, touched, effects } = apply(before, "call.state_changed", { ...call("ringing"), previous_status: "queued" });
    assert.equal(state.calls.get("pbx-1").status, "ringing");
    assert.equal(state.calls.get("pbx-1").previous_status, undefined);
    assert.deepEqual([...touched], ["call"]);
    assert.deepEqual(effects, []);
    assert.equal(before.calls, undefined, "the given state is not changed");
  });

  test("hold, resume and the end keep controls and transcript", () => {
    let state = apply(createState(), "call.state_changed", call("connected")).state;
    state = apply(state, "call.control_requested", { request_id: "r1", call_id: "pbx-1", action: "hold", status: "pending" }).state;
    state = apply(state, "transcript.segment", { call_id: "pbx-1", id: "s1", speaker: "end_user", text: "hi", start_ms: 0, final: true }).state;
    state = apply(state, "call.state_changed", call("on_hold")).state;
    assert.equal(state.calls.get("pbx-1").status, "on_hold");
    assert.equal(state.calls.get("pbx-1").controls.get("r1").status, "pending");
    const ended = apply(state, "call.ended", call("ended", { end_reason: "completed", talk_seconds: 90 }));
    assert.equal(ended.state.calls.get("pbx-1").talk_seconds, 90);
    assert.equal(ended.state.calls.get("pbx-1").transcript.size, 1);
    assert.deepEqual(ended.effects, [{ type: "loadHistory" }]);
  });

  test("a control result replaces its pending request, and a late request never undoes a result", () => {
    let state = apply(createState(), "call.state_changed", call("connected")).state;
    const pending = { request_id: "r1", call_id: "pbx-1", action: "mute", status: "pending", reason: "" };
    state = apply(state, "call.control_completed", { ...pending, status: "failed", reason: "no media" }).state;
    state = apply(state, "call.control_requested", pending).state;
    const control = state.calls.get("pbx-1").controls.get("r1");
    assert.equal(control.status, "failed");
    assert.equal(control.reason, "no media");
  });

  test("a final segment replaces its interim one; a late interim does not undo it", () => {
    let state = createState();
    const seg = { call_id: "pbx-1", id: "s1", speaker: "end_user", text: "my card", start_ms: 10, final: false };
    state = apply(state, "transcript.segment", seg).state;
    assert.equal(state.calls.get("pbx-1").stub, true, "known only from a segment: the panel fetches the call");
    state = apply(state, "transcript.segment", { ...seg, text: "my card is blocked", final: true }).state;
    state = apply(state, "transcript.segment", { ...seg, text: "my car" }).state;
    state = apply(state, "transcript.segment", { ...seg, id: "s0", speaker: "agent", text: "Hello", start_ms: 0, final: true }).state;
    assert.deepEqual(
      orderedSegments(state.calls.get("pbx-1")).map((s) => [s.speaker, s.text, s.final]),
      [
        ["agent", "Hello", true],
        ["end_user", "my card is blocked", true],
      ],
    );
  });

  test("the recording arrives after the end", () => {
    let state = apply(createState(), "call.ended", call("ended", { end_reason: "completed" })).state;
    const recording = { url: "http://tel.example/r.wav", duration_seconds: 3, content_type: "audio/wav", paused: false };
    state = apply(state, "call.recording_ready", call("ended", { recording })).state;
    assert.equal(shownCall(state).recording.url, "http://tel.example/r.wav");
  });

  test("events without a call id and unknown events change nothing", () => {
    const state = createState();
    assert.equal(apply(state, "call.state_changed", {}).state, state);
    assert.equal(apply(state, "call.exploded", { call_id: "x" }).state, state);
  });
});

describe("call panel helpers", () => {
  test("the panel shows a live call before an ended one", () => {
    let state = withCallRows(createState(), [
      { ...call("ended", { call_id: "old", queued_at: "2026-12-01T11:00:00Z" }), controls: [] },
      { ...call("connected"), controls: [{ request_id: "r1", action: "answer", status: "done", created_at: "2026-12-01T10:00:01Z" }] },
    ]);
    assert.equal(shownCall(state).call_id, "pbx-1");
    assert.equal(recentControls(shownCall(state))[0].action, "answer");
    state = apply(state, "call.ended", call("ended")).state;
    assert.equal(shownCall(state).call_id, "pbx-1", "the call that just ended stays shown");
  });

  test("a list read before the latest events never undoes an ended call or a control's result", () => {
    let state = apply(createState("agent-me"), "call.state_changed", call("connected")).state;
    const answer = { request_id: "r1", action: "answer", status: "done", created_at: "2026-12-01T10:00:01Z" };
    state = apply(state, "call.control_completed", { ...answer, call_id: "pbx-1" }).state;
    state = apply(state, "call.ended", call("ended")).state;
    // GET /calls/ answered with what it read before those events
    state = withCallRows(state, [{ ...call("ringing"), controls: [{ ...answer, status: "pending" }] }]);
    const shown = shownCall(state);
    assert.equal(shown.status, "ended");
    assert.equal(shown.controls.get("r1").status, "done");
    // a fresher row still updates what can change
    state = withCallRows(state, [{ ...call("ended", { talk_seconds: 42 }), controls: [] }]);
    assert.equal(shownCall(state).talk_seconds, 42);
  });

  test("a list read while the partner connected the call does not put it back to ringing", () => {
    // the agent accepted: the answer control names a call the page has not seen (it fetches the list)
    let state = apply(createState("agent-me"), "call.control_requested", {
      request_id: "r1", call_id: "pbx-1", action: "answer", status: "pending", conversation_id: "conv-1",
    }).state;
    state = apply(state, "call.state_changed", call("connected", { previous_status: "ringing" })).state;
    state = withCallRows(state, [{ ...call("ringing"), controls: [] }]); // read before the connect
    assert.equal(shownCall(state).status, "connected");
    assert.equal(actionAllowed(shownCall(state), "hold"), true);
    // hold and resume go back and forth: a row may move between them
    state = withCallRows(state, [{ ...call("on_hold"), controls: [] }]);
    assert.equal(shownCall(state).status, "on_hold");
  });

  test("controls follow the state", () => {
    assert.equal(actionAllowed(call("connected"), "hold"), true);
    assert.equal(actionAllowed(call("on_hold"), "hold"), false);
    assert.equal(actionAllowed(call("on_hold"), "resume"), true);
    assert.equal(actionAllowed(call("ended"), "hangup"), false);
  });

  test("the clock counts talk time and stops at the end", () => {
    const answered = call("connected", { answered_at: "2026-12-01T10:00:00Z" });
    assert.equal(callClock(answered, Date.parse("2026-12-01T10:01:05Z")), "01:05");
    const ended = { ...answered, ended_at: "2026-12-01T10:02:00Z" };
    assert.equal(callClock(ended, Date.parse("2026-12-01T11:00:00Z")), "02:00");
  });
});
