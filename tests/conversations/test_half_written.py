"""Outcomes that used to be half written: an idempotent agent reply, an opt-out whose confirmation fails."""

import pytest

from ccp.core.models import IdempotencyKey
from ccp.events.models import Event
from ccp.packages import services as package_services
from consent.models import ConsentRecord
from conversations.models import Message
from routing.models import AgentWork
from tenants import services as tenant_services
from tests.factories import make_manifest

from .conftest import CHANNEL, message, online, post
from .test_interactions import agent_client

pytestmark = pytest.mark.django_db


def _install(tenant, partner, *, payload_schema=None, consent_owner="partner"):
    manifest = make_manifest()
    manifest["channel_definition"]["consent_owner"] = consent_owner
    if payload_schema is not None:
        manifest["event_types"][0]["fields"]["payload"] = payload_schema
    package_services.package_publish(package=package_services.package_create(partner=partner, manifest=manifest))
    return tenant_services.package_install(
        tenant=tenant,
        developer_name="acme_whatsapp",
        partner_identifier=partner.partner_identifier,
        channels=[tenant_services.ChannelSpec(channel_key="wa", channel_address_id=CHANNEL)],
        contact_center_name="Center",
    )


def test_an_idempotent_agent_reply_is_stored_once_and_replayed_as_sent(api, tenant, partner, alice):
    _install(tenant, partner)
    online(alice, capacity={"messaging": 1})
    conversation_id = post(api, message("help")).json()["conversation_id"]
    agent = agent_client(alice)
    assert agent.post(f"/api/v1/agent/work/{AgentWork.objects.get().pk}/accept/").status_code == 200
    url = f"/api/v1/agent/conversations/{conversation_id}/messages/"

    first = agent.post(url, {"text": "Hi Ann"}, format="json", HTTP_IDEMPOTENCY_KEY="reply-1")
    assert first.status_code == 201, first.content
    again = agent.post(url, {"text": "Hi Ann"}, format="json", HTTP_IDEMPOTENCY_KEY="reply-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Message.objects.filter(direction="outbound", text="Hi Ann").count() == 1
    assert Event.objects.filter(type="AcmeOutbound__e").count() == 1
    assert IdempotencyKey.objects.get(key="reply-1").status_code == 201


def test_stop_is_kept_when_its_confirmation_is_refused_by_the_partners_schema(api, tenant, partner):
    # the partner's outbound type accepts only short texts: the STOP confirmation is too long
    _install(
        tenant,
        partner,
        consent_owner="platform",
        payload_schema={"type": "object", "properties": {"text": {"type": "string", "maxLength": 5}}},
    )
    response = post(api, message("STOP"))
    assert response.status_code == 201, response.content

    record = ConsentRecord.objects.get()
    assert record.status == "opt_out" and record.source == "keyword"
    confirmation = Message.objects.get(direction="outbound")
    assert confirmation.status == "failed"
    assert confirmation.failure_reason.startswith("Not sent — invalid_event_data")
    assert not Event.objects.filter(type="AcmeOutbound__e").exists()  # nothing reached the partner
    # agents see it in the transcript, with the reason
    seen = [e for e in Event.objects.filter(type="message.created") if e.data["id"] == str(confirmation.id)]
    assert seen and seen[0].data["failure_reason"] == confirmation.failure_reason and seen[0].partner_id is None
    seqs = list(Message.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # the undone attempt left no gap in the transcript
