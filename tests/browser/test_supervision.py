"""Supervision in Chromium: a supervisor monitors a live conversation read-only, whispers to the
agent, barges in (their message reaches the partner labelled); the agent writes an internal note and
inserts a canned response with `/` and the keyboard."""

from __future__ import annotations

import pytest

from conversations.models import CannedResponse
from tenants.models import Membership
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for

from .conftest import Partner, log_in, new_page, screenshot
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_monitor_whisper_barge_and_the_canned_response_picker(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    channel = install(tenant, partner)
    alice = agent(tenant, "Alice", "alice")
    sam = agent(tenant, "Sam", "sam")
    Membership.objects.filter(pk=sam.pk).update(role="supervisor")
    CannedResponse.objects.create(
        tenant=tenant,
        shortcut="refund",
        title="Refund",
        text="Hi {{contact.name}}, {{agent.name}} here: refunds take 5 days.",
    )
    CannedResponse.objects.create(tenant=tenant, owner=alice, shortcut="hello", text="Hello {{contact.name}}!")
    chat = Partner(server, token_for(connected_app), channel.channel_address_id)

    # Alice takes a conversation
    agent_page = new_page(browser)
    log_in(agent_page, server, "alice", PASSWORD)
    expect(agent_page.locator("#connection")).to_have_text("Connected")
    go_online(agent_page)
    conversation_id = chat.interaction({"id": "e1", "type": "message", "text": "My card was charged twice"})[
        "conversation_id"
    ]
    expect(agent_page.locator(".offer")).to_contain_text("My card was charged twice")
    agent_page.keyboard.press("a")
    transcript = agent_page.locator("#transcript")
    expect(transcript.locator(".msg.inbound")).to_contain_text("charged twice")

    # Sam monitors it from the supervisor page: read-only, live
    sup = new_page(browser)
    sup.goto(server.url + "/accounts/login/?next=/supervisor/")
    sup.get_by_label("Username").fill("sam")
    sup.get_by_label("Password").fill(PASSWORD)
    sup.get_by_role("button", name="Log in").click()
    sup.wait_for_url(server.url + "/supervisor/")
    row = sup.locator("#live tbody tr", has_text="Ann")
    expect(row).to_contain_text("Alice")
    row.get_by_role("button", name="Monitor").click()
    monitor = sup.locator("#monitor")
    expect(monitor).to_be_visible()
    expect(sup.locator("#monitor-mode")).to_have_text("Read-only")
    expect(sup.locator("#monitor-transcript")).to_contain_text("My card was charged twice")
    expect(sup.locator("#barge-form")).to_be_hidden()
    chat.interaction({"id": "e2", "type": "message", "text": "Hello? Anyone?"})
    expect(sup.locator("#monitor-transcript")).to_contain_text("Hello? Anyone?")  # live, over the websocket
    screenshot(sup, "supervisor-monitor")

    # a whisper: only the agent sees it, inline and distinct
    sup.get_by_label("Whisper to the agent").fill("Offer the double-charge refund")
    sup.get_by_label("Whisper to the agent").press("Enter")
    whisper = transcript.locator(".msg.note.whisper")
    expect(whisper).to_contain_text("Offer the double-charge refund")
    expect(whisper).to_contain_text("Whisper from Sam")
    expect(sup.locator("#monitor-transcript .whisper")).to_contain_text("double-charge")

    # Alice's internal note
    agent_page.get_by_role("checkbox", name="Internal note").check()
    composer = agent_page.get_by_label("Reply", exact=True)
    composer.fill("Checked: two charges on 30 Nov")
    composer.press("Enter")
    expect(transcript.locator(".msg.note.internal")).to_contain_text("Checked: two charges on 30 Nov")
    expect(sup.locator("#monitor-transcript .note")).to_contain_text("two charges")  # the monitor sees notes
    screenshot(agent_page, "workspace-whisper-and-note")
    agent_page.get_by_role("checkbox", name="Internal note").uncheck()

    # the canned-response picker: `/` filters, arrows move, Enter inserts with placeholders filled
    composer.fill("")
    composer.press_sequentially("/re")
    picker = agent_page.locator("#canned-list")
    expect(picker).to_be_visible()
    expect(picker.locator("[role=option]")).to_have_count(1)
    expect(picker).to_contain_text("/refund")
    composer.fill("")
    composer.press_sequentially("/")
    expect(picker.locator("[role=option]")).to_have_count(2)
    screenshot(agent_page, "canned-picker")
    composer.press("ArrowDown")
    expect(picker.locator("[aria-selected=true]")).to_contain_text("/refund")
    composer.press("Enter")
    expect(picker).to_be_hidden()
    expect(composer).to_have_value("Hi Ann, Alice here: refunds take 5 days.")
    composer.press("Enter")  # now Enter sends
    expect(transcript.locator(".msg.outbound .text")).to_have_text("Hi Ann, Alice here: refunds take 5 days.")

    # Sam barges in: a participant now, his message goes to the customer, labelled
    row.get_by_role("button", name="Join").click()
    expect(sup.locator("#monitor-mode")).to_contain_text("Joined")
    sup.get_by_label("Message the customer (as supervisor)").fill("I am the supervisor; the refund is on its way.")
    sup.locator("#barge-form").get_by_role("button", name="Send").click()
    expect(transcript.locator(".msg.outbound", has_text="the refund is on its way")).to_contain_text("Sam (supervisor)")
    expect(transcript.locator(".msg.system", has_text="Sam (supervisor) joined.")).to_have_count(1)
    expect(row).to_contain_text("Sam (supervisor)")
    screenshot(sup, "supervisor-barge")

    # the partner got the supervisor's message, and never the whisper or the note
    messages = chat.get(f"/api/v1/conversations/{conversation_id}/messages/")
    texts = [m["text"] for m in messages]
    assert any(m["sender_name"] == "Sam (supervisor)" for m in messages)
    assert not any("double-charge" in t or "two charges" in t for t in texts)
