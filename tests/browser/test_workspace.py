"""The agent workspace end to end in Chromium: offer → accept → reply (signed webhook) → receipt →
transfer to a colleague → close with after-conversation work; reconnect catch-up; bad input in words."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.utils import timezone

from ccp.packages.models import ConversationChannelDefinition
from conversations import services as conversation_services
from routing.models import AgentPresence, AgentWork
from tests.conversations.conftest import CHANNEL, install
from tests.events.conftest import Receiver, wait_for
from tests.factories import PASSWORD, MembershipFactory
from tests.helpers import token_for

from .conftest import Partner, log_in, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def agent(tenant, name: str, username: str):
    """An agent daphne can log in (its default hasher, not the suite's fast MD5) with messaging capacity 3."""
    membership = MembershipFactory(tenant=tenant, role="agent", display_name=name, user__username=username)
    user = membership.user
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    # written directly: the services would publish from Playwright's event-loop thread
    AgentPresence.objects.create(membership=membership, tenant=tenant, capacity={"messaging": 3})
    return membership


@pytest.fixture
def setup(tenant, partner, connected_app, server):
    channel = install(tenant, partner)
    ConversationChannelDefinition.objects.filter(package=channel.installation.package).update(connector_url="")
    channel.settings = {"acw_seconds": 30}
    channel.save(update_fields=["settings"])
    alice = agent(tenant, "Alice", "alice")
    bob = agent(tenant, "Bob", "bob")
    return {"partner": Partner(server, token_for(connected_app), CHANNEL), "alice": alice, "bob": bob}


def go_online(page):
    from playwright.sync_api import expect

    set_presence(page, "online")
    expect(page.locator("#capacity")).to_contain_text("messaging 0/3")
    page.evaluate("document.activeElement.blur()")


def set_presence(page, status: str):
    """Choose a presence and wait until the server confirmed it (the menu is disabled meanwhile)."""
    from playwright.sync_api import expect

    presence = page.get_by_label("Presence")
    presence.select_option(status)
    expect(presence).to_be_enabled()
    expect(presence).to_have_value(status)


def verify_signature(delivery: dict, secret: str) -> dict:
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    signed = f"{headers['ccp-timestamp']}.".encode() + delivery["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["ccp-signature"] == f"v1={expected}"
    return json.loads(delivery["body"])


def test_agent_handles_a_conversation_end_to_end(browser, server, setup):
    from playwright.sync_api import expect

    partner = setup["partner"]
    receiver = Receiver().start()
    try:
        subscription = partner.post("/api/v1/subscriptions/", {"url": receiver.url, "event_types": ["*"]})

        page = new_page(browser)
        log_in(page, server, "alice", PASSWORD, shot="login")
        expect(page.locator("#connection")).to_have_text("Connected")
        go_online(page)

        partner.interaction({"id": "e1", "type": "message", "text": "Hello, my parcel is late"})
        offer = page.locator(".offer")
        expect(offer).to_contain_text("New conversation")
        expect(offer).to_contain_text("Ann")
        expect(offer).to_contain_text("Hello, my parcel is late")
        expect(offer.locator(".countdown")).to_have_text(re.compile(r"Answer within \d+ s"))
        screenshot(page, "offer")

        page.keyboard.press("a")  # keyboard accept
        expect(offer).to_have_count(0)
        transcript = page.locator("#transcript")
        expect(transcript.locator(".msg.inbound")).to_contain_text("Hello, my parcel is late")
        expect(transcript.locator(".msg.system")).to_contain_text("Alice joined.")
        expect(page.locator("#capacity")).to_contain_text("messaging 1/3")

        partner.interaction({"id": "t1", "type": "typing_started"})
        expect(page.locator("#typing")).to_have_text("Ann is typing…")

        composer = page.get_by_label("Reply", exact=True)
        composer.fill("Sorry to hear that.")
        composer.press("Shift+Enter")
        composer.press_sequentially("Let me check.")
        composer.press("Enter")
        outbound = transcript.locator(".msg.outbound")
        expect(outbound).to_have_count(1)
        expect(outbound.locator(".text")).to_have_text("Sorry to hear that.\nLet me check.")
        expect(outbound.locator(".mark")).to_contain_text("Sent")
        expect(composer).to_have_value("")

        # the partner's webhook receives the signed outbound event
        def outbound_event():
            for delivery in receiver.succeeded():
                body = json.loads(delivery["body"])
                if body["type"] == "AcmeOutbound__e":
                    return delivery
            return None

        delivery = wait_for(outbound_event, timeout=20, what="the signed outbound webhook")

        # the agent's typing reached the partner too: started while writing, stopped on send
        def agent_typing():
            kinds = [json.loads(d["body"]) for d in receiver.succeeded()]
            kinds = [e["type"] for e in kinds if e["type"].startswith("typing.") and e["data"].get("who") == "agent"]
            return kinds if "typing.stopped" in kinds else None

        assert wait_for(agent_typing, timeout=20, what="the agent's typing events")[0] == "typing.started"
        event = verify_signature(delivery, subscription["secret"])
        assert event["data"]["payload"]["text"] == "Sorry to hear that.\nLet me check."
        message_id = event["data"]["payload"]["message_id"]
        assert outbound.get_attribute("data-message-id") == message_id

        partner.interaction({"id": "r1", "type": "delivered", "message_id": message_id})
        expect(outbound.locator(".mark")).to_contain_text("Delivered")
        screenshot(page, "conversation")
        partner.interaction({"id": "r2", "type": "read", "message_id": message_id})
        expect(outbound.locator(".mark")).to_contain_text("Read")

        # a colleague comes online; the transfer dialog shows who is available
        bob_page = new_page(browser)
        log_in(bob_page, server, "bob", PASSWORD)
        go_online(bob_page)
        page.get_by_role("button", name="Transfer…").click()
        dialog = page.locator("#transfer-dialog")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")  # Esc closes dialogs
        expect(dialog).to_be_hidden()
        page.get_by_role("button", name="Transfer…").click()
        bob_row = dialog.locator(".pick", has_text="Bob")
        expect(bob_row).to_contain_text("online")
        expect(bob_row).to_contain_text("messaging 0/3")
        screenshot(page, "transfer")
        bob_row.get_by_role("button", name="Transfer to Bob").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#notice")).to_contain_text("Transfer to Bob requested")
        expect(transcript.locator(".msg.system").last).to_have_text(re.compile("Alice is transferring to Bob"))

        bob_offer = bob_page.locator(".offer")
        expect(bob_offer).to_contain_text("Transfer from Alice")
        bob_offer.get_by_role("button", name="Accept (A)").click()
        bob_transcript = bob_page.locator("#transcript")
        expect(bob_transcript).to_contain_text("Hello, my parcel is late")
        expect(bob_transcript.locator(".msg.system").last).to_have_text(re.compile("Transferred from Alice to Bob"))
        expect(page.locator("#conv-sub")).to_contain_text("Transferred to a colleague")
        expect(page.get_by_label("Reply", exact=True)).to_be_disabled()

        # Bob closes: after-conversation work with its countdown, then completes it
        bob_page.get_by_role("button", name="Close conversation").click()
        acw = bob_page.locator(".acw")
        expect(acw).to_contain_text("After-conversation work: Ann")
        expect(acw.locator(".acw-countdown")).to_have_text(re.compile(r"Ends in 0:[0-3]\d"))
        expect(bob_page.locator("#conv-sub")).to_contain_text("Closed")
        screenshot(bob_page, "acw")
        acw.get_by_role("button", name="Extend 60 s").click()
        expect(acw.locator(".acw-countdown")).to_have_text(re.compile(r"Ends in 1:[0-3]\d"))
        acw.get_by_role("button", name="Complete").click()
        expect(acw).to_have_count(0)
        bob_page.get_by_role("tab", name="Work").click()
        expect(bob_page.locator("#panel-work")).to_contain_text("Ann — closed")

        # side panels: the contact with its past conversation, the tenant's channels
        bob_page.get_by_role("tab", name="Contacts").click()
        bob_page.get_by_label("Find a contact").fill("+49151")
        contact = bob_page.locator("#contacts .contact")
        expect(contact).to_have_count(1)
        expect(contact).to_contain_text("Ann")
        expect(contact.locator(".past li")).to_contain_text("closed")
        bob_page.get_by_role("tab", name="Channels").click()
        expect(bob_page.locator("#panel-channels tbody tr")).to_contain_text("messaging")
        bob_page.get_by_role("button", name="Remove from list").click()
        expect(bob_page.locator("#conversation-list li")).to_have_count(0)
        bob_page.context.close()
        page.context.close()
    finally:
        receiver.stop()


def test_reconnects_after_a_server_restart_and_catches_up_once(browser, server, setup, partner):
    from playwright.sync_api import expect

    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    setup["partner"].interaction({"id": "e1", "type": "message", "text": "First question"})
    page.get_by_role("button", name="Accept (A)").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".msg.inbound")).to_have_count(1)

    server.stop()
    expect(page.locator("#connection")).to_contain_text("Connection lost")

    # Written while nobody's socket listens: only the catch-up (?after=<last id>) can bring it.
    def write_while_down():
        try:
            conversation_services.interaction_receive(
                partner=partner,
                to=CHANNEL,
                from_address="+4915112345",
                from_name="Ann",
                entries=[{"id": "e2", "type": "message", "text": "Are you still there?"}],
            )
        finally:
            connection.close()

    worker = threading.Thread(target=write_while_down)  # off Playwright's event-loop thread
    worker.start()
    worker.join(timeout=30)

    server.start()
    expect(page.locator("#connection")).to_have_text("Connected", timeout=30_000)
    expect(transcript.locator(".msg.inbound", has_text="Are you still there?")).to_have_count(1)
    expect(transcript.locator(".msg.inbound")).to_have_count(2)

    # a live message after the reconnect arrives once too (socket and catch-up do not duplicate it)
    setup["partner"].interaction({"id": "e3", "type": "message", "text": "Hello?"})
    expect(transcript.locator(".msg.inbound", has_text="Hello?")).to_have_count(1)
    expect(transcript.locator(".msg.inbound")).to_have_count(3)

    # an attachment by URL goes out with the reply as a link
    page.get_by_label("Attachment URL").fill("https://files.example/receipt.pdf")
    page.get_by_role("button", name="Attach", exact=True).click()
    expect(page.locator("#attachments")).to_contain_text("receipt.pdf")
    composer = page.get_by_label("Reply", exact=True)
    composer.fill("Here is your receipt")
    composer.press("Enter")
    link = transcript.locator(".msg.outbound a", has_text="receipt.pdf")
    expect(link).to_have_attribute("href", "https://files.example/receipt.pdf")
    expect(page.locator("#attachments li")).to_have_count(0)
    page.context.close()


def test_bad_input_is_explained_in_words(browser, server, setup):
    from playwright.sync_api import expect

    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    notice = page.locator("#notice")

    # a message while offline → 409 agent_offline, in words, and the draft is kept
    setup["partner"].interaction({"id": "e1", "type": "message", "text": "Hi there"})
    page.get_by_role("button", name="Accept (A)").click()
    expect(page.locator("#transcript .msg.inbound")).to_contain_text("Hi there")
    set_presence(page, "offline")
    expect(page.locator("#capacity")).to_contain_text("messaging 1/3")
    composer = page.get_by_label("Reply", exact=True)
    composer.fill("Are you there?")
    composer.press("Enter")
    expect(notice).to_contain_text("You are offline; go online to send messages and take work.")
    expect(composer).to_have_value("Are you there?")
    expect(page.locator("#transcript .msg.outbound")).to_have_count(0)

    # an action on an offer that expired meanwhile → 409 offer_expired, in words; the card goes away
    set_presence(page, "online")
    page.get_by_role("button", name="Dismiss message").click()
    setup["partner"].interaction(
        {"id": "f1", "type": "message", "text": "Other customer"}, sender="+4917000000", name="Bo"
    )
    offer = page.locator(".offer")
    expect(offer).to_contain_text("Other customer")
    AgentWork.objects.filter(status="offered").update(expires_at=timezone.now() - timedelta(seconds=1))
    offer.get_by_role("button", name="Accept (A)").click()
    expect(notice).to_contain_text("This offer is no longer open (it expired, was answered or was withdrawn).")
    expect(offer).to_have_count(0)

    # the session ends; when the socket reconnects it is refused (4401) and the page says so
    page.context.clear_cookies()
    page.evaluate("window.ccpWorkspace.socket.ws.close()")
    expect(page.locator("#session-ended")).to_have_text(re.compile(r"Your session ended — log in again"))
    expect(page.locator("#connection")).to_have_text("Session ended")
    assert "Traceback" not in page.content()
    page.context.close()


def test_offers_are_declined_by_keyboard_and_vanish_when_withdrawn(browser, server, setup):
    from playwright.sync_api import expect

    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    partner = setup["partner"]

    partner.interaction({"id": "e1", "type": "message", "text": "Decline me"})
    offer = page.locator(".offer", has_text="Decline me")
    expect(offer).to_be_visible()
    page.keyboard.press("d")
    expect(offer).to_have_count(0)
    page.get_by_role("tab", name="Work").click()
    expect(page.locator("#panel-work")).to_contain_text("Ann — declined")
    expect(page.locator("#capacity")).to_contain_text("messaging 0/3")

    # the partner closes the conversation while it is offered: the offer is rescinded and says so
    opened = partner.interaction({"id": "f1", "type": "message", "text": "Never mind"}, sender="+4917000000", name="Bo")
    offer = page.locator(".offer", has_text="Never mind")
    expect(offer).to_be_visible()
    partner.post(f"/api/v1/conversations/{opened['conversation_id']}/close/", {})
    expect(offer).to_have_count(0)
    expect(page.locator("#notice")).to_contain_text("The offer for Bo was withdrawn.")
    page.context.close()


def test_accepting_an_offer_applies_the_answer_without_re_reading_the_other_conversations(browser, server, setup):
    from playwright.sync_api import expect

    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)
    partner = setup["partner"]
    first = partner.interaction({"id": "e1", "type": "message", "text": "First customer"})
    page.get_by_role("button", name="Accept (A)").click()
    expect(page.locator("#transcript .msg.inbound")).to_contain_text("First customer")

    calls: list[str] = []
    page.on("request", lambda r: calls.append(f"{r.method} {r.url.removeprefix(server.url)}"))
    second = partner.interaction(
        {"id": "f1", "type": "message", "text": "Second customer"}, sender="+4917000000", name="Bo"
    )
    offer = page.locator(".offer", has_text="Second customer")
    offer.get_by_role("button", name="Accept (A)").click()
    expect(offer).to_have_count(0)
    # the accepted conversation is shown with its transcript and counted in the capacity …
    expect(page.locator("#conv-title")).to_have_text("Bo")
    expect(page.locator("#transcript .msg.inbound")).to_contain_text("Second customer")
    expect(page.locator("#conversation-list li")).to_have_count(2)
    expect(page.locator("#capacity")).to_contain_text("messaging 2/3")
    # … and only its own transcript was fetched: the first conversation was not caught up again
    messages = [c for c in calls if c.startswith("GET ") and "/messages/" in c]
    assert messages == [f"GET /api/v1/agent/conversations/{second['conversation_id']}/messages/"], calls
    assert not any(first["conversation_id"] in c for c in calls), calls

    # the first conversation is still there, unchanged, one click away
    page.locator("#conversation-list button", has_text="Ann").click()
    expect(page.locator("#transcript .msg.inbound .text")).to_have_text(["First customer"])
    page.context.close()
