"""The example telephony partner (examples/telephony_partner) against the real platform under daphne:
an agent places a consented call that the partner dials and connects; the agent hangs up and the
partner serves the recording; the phone page's own call is held back while the agent is on a call."""

import contextlib
import importlib.util
import threading

import pytest
import requests
from django.db import transaction
from rest_framework.test import APIClient

from consent import services as consent_services
from conversations.models import Call, CallControlRequest
from routing.models import AgentWork
from tenants import services as tenant_services
from tests.conversations.conftest import online
from tests.factories import connected_app_for
from tests.servers import ROOT, daphne_server, free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CALL_CENTER = "acme-voice-1"


def _load_app():
    spec = importlib.util.spec_from_file_location("telephony_partner_app", ROOT / "examples/telephony_partner/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def phone_partner(tenant, partner):
    app = _load_app()
    connected, secret = connected_app_for(partner)
    with contextlib.ExitStack() as stack:
        platform = stack.enter_context(daphne_server())
        phone, server = app.serve(
            platform_url=platform,
            client_id=connected.application.client_id,
            client_secret=secret,
            channel_address_id=CALL_CENTER,
            host="127.0.0.1",
            port=free_port(),
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        tenant_services.package_install(
            tenant=tenant,
            developer_name="demo_telephony",
            partner_identifier=partner.partner_identifier,
            channels=[
                tenant_services.ChannelSpec(channel_key="phone", channel_address_id=CALL_CENTER, channel_type="voice")
            ],
        )
        yield phone, f"http://127.0.0.1:{server.server_address[1]}"
        phone.stopping.set()
        server.shutdown()
        phone.client.close()


def test_an_agent_call_is_dialled_connected_hung_up_and_recorded(phone_partner, tenant, alice):
    phone, url = phone_partner
    online(alice)
    channel = tenant.channels.get(channel_address_id=CALL_CENTER)
    with transaction.atomic():
        consent_services.consent_update(
            channel=channel, address="+4930111", status="opt_in", source="agent", actor="test", as_owner="platform"
        )
    wait_for(lambda: phone.connected, what="the partner to follow the event stream")
    agent = APIClient()
    agent.force_login(alice.user)
    placed = agent.post(
        "/api/v1/agent/calls/", {"channel_address_id": CALL_CENTER, "address": "+4930111"}, format="json"
    )
    assert placed.status_code == 202, placed.content
    call_id = placed.json()["call_id"]
    wait_for(lambda: Call.objects.get(call_id=call_id).status == "connected", timeout=30, what="the dialled call")
    wait_for(lambda: CallControlRequest.objects.get(action="dial").status == "done", what="the dial reported done")

    # the phone page's own call waits: the agent's voice capacity is taken
    page_call = requests.post(f"{url}/api/call", json={"phone": "+4915100009", "name": "Bo"}, timeout=10)
    assert page_call.status_code == 201, page_call.text
    assert not AgentWork.objects.filter(status="offered").exists()

    assert (
        agent.post(f"/api/v1/agent/calls/{call_id}/controls/", {"action": "hangup"}, format="json").status_code == 202
    )
    call = wait_for(
        lambda: Call.objects.filter(call_id=call_id, status="ended").exclude(recording_url="").first(),
        timeout=30,
        what="the hang-up and the recording",
    )
    assert call.end_reason == "completed" and call.recording_content_type == "audio/wav"
    wav = requests.get(call.recording_url, timeout=10)
    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/wav" and wav.content[:4] == b"RIFF"
    wait_for(lambda: CallControlRequest.objects.get(action="hangup").status == "done", what="the hang-up reported")
