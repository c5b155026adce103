// The pure helpers of the e-mail view (static/js/workspace/email.js), without a browser; its DOM copy
// of an e-mail's HTML is tested in Chromium (tests/browser/test_email_html.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { attachmentLabel, capabilitiesOf, shownStatus, showsTyping, splitQuoted } from "../workspace/email.js";

describe("e-mail view helpers", () => {
  test("a reply's quoted history is split off below the reply", () => {
    const { body, quoted } = splitQuoted("Done, thanks!\n\nOn Tue, 1 Dec 2026 Alice wrote:\n> Please unplug it.\n> Bye");
    assert.equal(body, "Done, thanks!");
    assert.equal(quoted, "On Tue, 1 Dec 2026 Alice wrote:\n> Please unplug it.\n> Bye");
  });
  test("a text that is only a quote, or has none, is kept whole", () => {
    assert.deepEqual(splitQuoted("> all quoted"), { body: "> all quoted", quoted: "" });
    assert.deepEqual(splitQuoted("no quote here"), { body: "no quote here", quoted: "" });
  });
  test("a channel without typing or receipts hides them", () => {
    const channels = [{ channel_address_id: "mail-1", capabilities: { typing: false, receipts: false } }];
    const caps = capabilitiesOf(channels, "mail-1");
    assert.equal(showsTyping(caps), false);
    assert.equal(shownStatus("read", caps), "sent");
    assert.equal(shownStatus("failed", caps), "failed");
    assert.equal(showsTyping(capabilitiesOf(channels, "chat-1")), true); // unknown: everything
    assert.equal(shownStatus("read", {}), "read");
  });
  test("attachments are listed with size and type", () => {
    assert.equal(attachmentLabel({ name: "r.pdf", size: 16384, content_type: "application/pdf" }), "r.pdf — 16 KB, application/pdf");
    assert.equal(attachmentLabel({ name: "big.bin", size: 10 * 1024 * 1024 }), "big.bin — 10.0 MB");
    assert.equal(attachmentLabel({ name: "x" }), "x");
  });
});
