"""The demo end to end in Chromium (issue 9): an end user writes on the example partner's chat page,
an agent accepts in the workspace and replies, the end user sees it, receipts reach both sides, the
agent closes — once with platform routing and once with the partner as routing owner."""

from __future__ import annotations

import json
import threading

import pytest

from tenants import services as tenant_services
from tests.examples.test_webchat_partner import _load_app
from tests.factories import PASSWORD, connected_app_for
from tests.servers import free_port

from .conftest import log_in, new_page, screenshot
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHANNEL = "acme-webchat-1"


@pytest.fixture
def webchat(server, tenant, partner, tmp_path):
    """The example partner running against daphne, its package installed in the tenant."""
    app = _load_app()
    connected, secret = connected_app_for(partner)
    started = []

    def start(*, routing_owner: str = "platform"):
        port = free_port()
        manifest = json.loads(json.dumps(app.MANIFEST))
        manifest["channel_definition"]["routing_owner"] = routing_owner
        manifest["channel_definition"]["connector_url"] = f"http://127.0.0.1:{port}/connector.html"
        chat, http = app.serve(
            platform_url=server.url,
            client_id=connected.application.client_id,
            client_secret=secret,
            channel_address_id=CHANNEL,
            host="127.0.0.1",
            port=port,
            manifest=manifest,
            state_file=tmp_path / "partner.json",
        )
        threading.Thread(target=http.serve_forever, daemon=True).start()
        started.append((chat, http))
        tenant_services.package_install(
            tenant=tenant,
            developer_name=manifest["channel_definition"]["developer_name"],
            partner_identifier=partner.partner_identifier,
            channels=[tenant_services.ChannelSpec(channel_key="webchat", name="Web chat", channel_address_id=CHANNEL)],
        )
        return f"http://127.0.0.1:{port}"

    yield start
    for chat, http in started:
        chat.stopping.set()
        http.shutdown()
        chat.client.close()


def _chat_and_answer(browser, server, tenant, chat_url: str):
    from playwright.sync_api import expect

    agent(tenant, "Alice", "alice")
    workspace = new_page(browser)
    log_in(workspace, server, "alice", PASSWORD)
    go_online(workspace)

    end_user = new_page(browser)
    end_user.goto(chat_url + "/")
    expect(end_user.locator("#conn")).to_have_text("connected")
    end_user.get_by_label("Your name").fill("Ann")
    end_user.get_by_label("Message").fill("Hi, where is my order?")
    end_user.get_by_label("Message").press("Enter")
    mine = end_user.locator(".msg.me")
    expect(mine.locator(".mark")).to_have_text("sent ✓")

    offer = workspace.locator(".offer")
    expect(offer).to_contain_text("Hi, where is my order?")
    expect(offer).to_contain_text("Ann")
    offer.get_by_role("button", name="Accept (A)").click()
    transcript = workspace.locator("#transcript")
    expect(transcript.locator(".msg.inbound")).to_contain_text("Hi, where is my order?")
    expect(end_user.locator(".status").first).to_have_text("An agent joined the chat.")

    composer = workspace.get_by_label("Reply", exact=True)
    composer.fill("Hello Ann, it ships today.")
    composer.press("Enter")
    reply = end_user.locator(".msg.them")
    expect(reply).to_contain_text("Hello Ann, it ships today.")
    expect(reply).to_contain_text("Alice")
    # the partner sent "delivered", the chat page "read" when it showed the reply
    expect(transcript.locator(".msg.outbound .mark")).to_contain_text("Read")
    screenshot(end_user, "webchat")

    workspace.get_by_role("button", name="Close").first.click()
    expect(end_user.locator(".status").last).to_have_text("The conversation was closed.")
    return workspace, end_user


def test_end_user_chats_with_an_agent_through_the_example_partner(browser, server, tenant, webchat):
    from playwright.sync_api import expect

    chat_url = webchat()
    workspace, _ = _chat_and_answer(browser, server, tenant, chat_url)
    # the partner's connector is hosted in the workspace and logged in (FIG 22)
    expect(workspace.locator("body")).to_contain_text("Logged in to channel")


def test_same_flow_with_the_partner_as_routing_owner(browser, server, tenant, webchat):
    from routing.models import AgentWork

    chat_url = webchat(routing_owner="partner")
    _chat_and_answer(browser, server, tenant, chat_url)
    assert AgentWork.objects.filter(engine="partner").count() == 1
