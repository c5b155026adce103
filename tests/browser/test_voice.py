"""A voice call end to end in Chromium: an end user calls from the example telephony partner's phone
page, the call is offered in the workspace and accepted, the caller's lines appear as the live
transcript, the agent holds and resumes, hangs up, after-call work starts and the recording plays."""

from __future__ import annotations

import importlib.util
import json
import threading

import pytest

from routing.models import AgentPresence
from tenants import services as tenant_services
from tests.factories import PASSWORD, connected_app_for
from tests.servers import ROOT, free_port, wait_for

from .conftest import log_in, new_page, screenshot
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CALL_CENTER = "acme-voice-1"


def _load_app():
    spec = importlib.util.spec_from_file_location("telephony_partner_app", ROOT / "examples/telephony_partner/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def telephony(server, tenant, partner):
    """The example telephony partner running against daphne, its call center installed in the tenant."""
    app = _load_app()
    connected, secret = connected_app_for(partner)
    port = free_port()
    manifest = json.loads(json.dumps(app.MANIFEST))
    manifest["channel_definition"]["connector_url"] = f"http://127.0.0.1:{port}/connector.html"
    phone, http = app.serve(
        platform_url=server.url,
        client_id=connected.application.client_id,
        client_secret=secret,
        channel_address_id=CALL_CENTER,
        host="127.0.0.1",
        port=port,
        manifest=manifest,
    )
    threading.Thread(target=http.serve_forever, daemon=True).start()
    installation = tenant_services.package_install(
        tenant=tenant,
        developer_name=manifest["channel_definition"]["developer_name"],
        partner_identifier=partner.partner_identifier,
        channels=[
            tenant_services.ChannelSpec(
                channel_key="phone", name="Phone", channel_address_id=CALL_CENTER, channel_type="voice"
            )
        ],
    )
    channel = installation.channels.get()
    channel.settings = {"acw_seconds": 60}
    channel.save(update_fields=["settings"])
    yield f"http://127.0.0.1:{port}", phone
    phone.stopping.set()
    http.shutdown()
    phone.client.close()


def test_a_call_from_the_phone_page_is_answered_held_transcribed_and_recorded(browser, server, tenant, telephony):
    from playwright.sync_api import expect

    phone_url, phone_partner = telephony
    alice = agent(tenant, "Alice", "alice")
    AgentPresence.objects.filter(membership=alice).update(capacity={"messaging": 3, "voice": 1})
    workspace = new_page(browser)
    log_in(workspace, server, "alice", PASSWORD)
    go_online(workspace)
    expect(workspace.locator("#capacity")).to_contain_text("voice 0/1")

    phone = new_page(browser)
    phone.goto(phone_url + "/")
    phone.get_by_label("Your name").fill("Ann")
    phone.get_by_role("button", name="Call Acme support").click()
    expect(phone.locator("#state")).to_have_text("Ringing…")

    offer = workspace.locator(".offer")
    expect(offer).to_contain_text("Ann")
    screenshot(workspace, "call-offer")
    offer.get_by_role("button", name="Accept (A)").click()

    panel = workspace.locator("#call-panel")
    expect(panel.locator(".call-state")).to_have_text("Connected")  # the partner connected the agent
    expect(panel.locator(".call-caller")).to_have_text("Ann")
    expect(phone.locator(".status").last).to_have_text("An agent answered.")
    expect(panel.locator(".request[data-action=answer]")).to_have_attribute("data-status", "done")

    phone.get_by_label("Say something").fill("Hello, my card is blocked")
    phone.get_by_label("Say something").press("Enter")
    line = panel.locator(".call-transcript .segment.end_user")
    expect(line).to_contain_text("Hello, my card is blocked")
    expect(line).not_to_have_class("segment end_user interim")  # the final text replaced the interim one
    expect(workspace.locator("#transcript .msg.inbound")).to_contain_text("Hello, my card is blocked")

    panel.get_by_role("button", name="Hold").click()
    expect(panel.locator(".call-state")).to_have_text("On hold")
    expect(panel.locator(".request[data-action=hold]")).to_have_attribute("data-status", "done")
    expect(phone.locator(".status").last).to_have_text("You are on hold.")
    screenshot(workspace, "call-panel")
    screenshot(phone, "phone")
    panel.get_by_role("button", name="Resume").click()
    expect(panel.locator(".call-state")).to_have_text("Connected")

    panel.get_by_role("button", name="Hang up").click()
    expect(panel.locator(".call-state")).to_have_text("Ended")
    expect(phone.locator("#state")).to_have_text("Call ended")
    expect(workspace.locator(".acw")).to_be_visible()  # after-call work holds the voice capacity
    audio = panel.locator("audio")
    expect(audio).to_have_attribute("src", f"{phone_url}/recordings/{next(iter(phone_partner.calls))}.wav")
    # the page's Content-Security-Policy lets the recording load from the partner's origin
    audio.evaluate("a => { a.preload = 'auto'; a.load(); }")
    # polled from here: a page-side wait_for_function would be an eval, which the same policy forbids
    wait_for(lambda: audio.evaluate("a => a.readyState") >= 1, timeout=15, what="the recording's metadata")
    assert audio.evaluate("a => a.duration") == pytest.approx(2, abs=0.2)
    screenshot(workspace, "call-ended")
