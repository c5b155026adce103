"""Agent-initiated outbound in Chromium (FIG 15): refused with the consent reason in words, then —
after the end user opted in — started, with the message in the new conversation."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.conversations.conftest import install
from tests.factories import PASSWORD
from tests.helpers import token_for

from .conftest import Partner, log_in, new_page
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ADDRESS = "+4917000000"


def test_outbound_is_refused_with_the_reason_then_started_after_opt_in(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    channel = install(tenant, partner)  # the package names the partner consent owner
    agent(tenant, "Alice", "alice")
    page = new_page(browser)
    log_in(page, server, "alice", PASSWORD)
    go_online(page)

    page.get_by_role("button", name="New conversation").click()
    dialog = page.locator("#outbound-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Channel").select_option(channel.channel_address_id)
    dialog.get_by_label("Contact address").fill(ADDRESS)
    dialog.get_by_label("First message").fill("Your order has shipped.")
    dialog.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#outbound-error")).to_contain_text("has not opted in on this channel")
    expect(dialog).to_be_visible()
    assert not Conversation.objects.exists() and not Message.objects.exists()

    # the partner owns consent on this channel: it records the end user's opt-in
    Partner(server, token_for(connected_app), channel.channel_address_id).session.put(
        server.url + "/api/v1/consent/",
        json={"to": channel.channel_address_id, "address": ADDRESS, "status": "opt_in", "source": "web_form"},
        timeout=20,
    ).raise_for_status()

    dialog.get_by_role("button", name="Start conversation").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#transcript .msg.outbound")).to_contain_text("Your order has shipped.")
    conversation = Conversation.objects.get()
    assert conversation.initiated_by == "agent" and conversation.end_user_address == ADDRESS
