// The pure parts of the agent tools: the canned-response picker (workspace/canned.js), notes as
// transcript entries (workspace/notes.js) and search highlights (workspace/search.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { fillContext, fillPlaceholders, filterCanned, insertAt, slashQuery } from "../workspace/canned.js";
import { noteAsEntry } from "../workspace/notes.js";
import { reduce } from "../workspace/reducer.js";
import { highlightParts } from "../workspace/search.js";
import { conversationWithMessage, createState, orderedMessages, upsertConversation } from "../workspace/state.js";

const LIST = [
  { shortcut: "refund", title: "Refund policy", text: "Hi {{contact.name}}, refunds take 5 days.", shared: true },
  { shortcut: "hello", title: "Greeting", text: "Hello {{contact.name}}, {{agent.name}} here.", shared: true },
  { shortcut: "hello", title: "My greeting", text: "Hey {{ contact.name }}!", shared: false },
  { shortcut: "thanks", title: "Closing: refund done", text: "Thank you.", shared: false },
];

describe("slashQuery", () => {
  test("a slash at the start or after a space opens the picker with what follows", () => {
    assert.deepEqual(slashQuery("/ref"), { query: "ref", start: 0, end: 4 });
    assert.deepEqual(slashQuery("sure /He"), { query: "he", start: 5, end: 8 });
    assert.deepEqual(slashQuery("/"), { query: "", start: 0, end: 1 });
  });
  test("a slash inside a word, a URL or after the caret does not", () => {
    assert.equal(slashQuery("and/or"), null);
    assert.equal(slashQuery("see https://x.test/a"), null);
    assert.equal(slashQuery("/ref done"), null);
    assert.deepEqual(slashQuery("/ref done", 4), { query: "ref", start: 0, end: 4 });
  });
});

describe("filterCanned", () => {
  test("shortcut prefix first, then shortcut or title containing it; mine before shared", () => {
    assert.deepEqual(
      filterCanned(LIST, "ref").map((c) => c.shortcut),
      ["refund", "thanks"],
    );
    const hello = filterCanned(LIST, "hel");
    assert.deepEqual(hello.map((c) => c.shared), [false, true]);
    assert.equal(filterCanned(LIST, "").length, 4);
    assert.equal(filterCanned(LIST, "zzz").length, 0);
  });
});

describe("fillPlaceholders", () => {
  const context = fillContext(
    { id: "c1", contact_name: "Ann", end_user: "+491", channel_name: "Chat" },
    { name: "Alice" },
    [{ attributes: { conversation_id: "c1", order: "A-17", empty: "" } }],
  );
  test("known placeholders are filled, with or without spaces inside the braces", () => {
    assert.equal(fillPlaceholders(LIST[1].text, context), "Hello Ann, Alice here.");
    assert.equal(fillPlaceholders(LIST[2].text, context), "Hey Ann!");
    assert.equal(fillPlaceholders("Order {{custom.order}} via {{channel.name}}", context), "Order A-17 via Chat");
  });
  test("unknown or empty placeholders stay as written, for the agent to complete", () => {
    assert.equal(fillPlaceholders("{{contact.email}} {{custom.empty}} {{nope}}", context), "{{contact.email}} {{custom.empty}} {{nope}}");
    assert.equal(fillPlaceholders("{{contact}}", context), "{{contact}}"); // an object is not a value
    assert.equal(fillPlaceholders("{{constructor.name}}", context), "{{constructor.name}}");
  });
  test("a contact without a name is addressed by their address", () => {
    assert.equal(fillPlaceholders("Hi {{contact.name}}", fillContext({ id: "c", end_user: "+492" }, {})), "Hi +492");
  });
});

test("insertAt replaces the /query by the text and puts the caret after it", () => {
  assert.deepEqual(insertAt("sure /ref", 5, 9, "Refunds take 5 days."), { value: "sure Refunds take 5 days.", caret: 25 });
});

describe("notes in the transcript", () => {
  const note = { id: "n1", conversation_id: "c1", kind: "whisper", whisper: true, author_name: "Sam", text: "offer a refund", after_seq: 2, created_at: "2026-12-01T10:00:00Z" };
  test("a note sorts after the message it followed and does not move the message cursor", () => {
    let conv = upsertConversation(createState("me"), { id: "c1", status: "active" }).conversations.get("c1");
    for (const m of [{ id: "m1", seq: 1, direction: "inbound" }, { id: "m2", seq: 2, direction: "outbound" }]) {
      conv = conversationWithMessage(conv, m).conv;
    }
    conv = conversationWithMessage(conv, noteAsEntry(note)).conv;
    conv = conversationWithMessage(conv, { id: "m3", seq: 3, direction: "inbound" }).conv;
    assert.deepEqual(orderedMessages(conv).map((m) => m.id), ["m1", "m2", "note:n1", "m3"]);
    assert.equal(conv.lastId, "m3");
    assert.equal(conv.lastSeq, 3);
  });
  test("a note.created frame lands in its conversation, once", () => {
    const state = upsertConversation(createState("me"), { id: "c1", status: "active" });
    const first = reduce(state, { type: "note.created", data: note });
    const again = reduce(first.state, { type: "note.created", data: note });
    assert.equal(first.state.conversations.get("c1").messages.get("note:n1").kind, "whisper");
    assert.equal(again.state, first.state);
    assert.equal(first.state.conversations.get("c1").unread, 0); // a note is not the customer writing
  });
  test("a monitoring notice is shown", () => {
    const { effects } = reduce(createState("me"), { type: "monitor.notice", data: { supervisor_name: "Sam" } });
    assert.deepEqual(effects, [{ type: "notice", text: "Sam is monitoring this conversation." }]);
  });
});

test("highlightParts cuts a snippet by its hit ranges", () => {
  assert.deepEqual(highlightParts("my refund please", [[3, 9]]), [["my ", false], ["refund", true], [" please", false]]);
  assert.deepEqual(highlightParts("abc", []), [["abc", false]]);
  assert.deepEqual(highlightParts("aa bb", [[3, 5], [0, 2]]), [["aa", true], [" ", false], ["bb", true]]);
});
