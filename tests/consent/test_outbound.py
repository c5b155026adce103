"""Outbound (FIG 15) and the one enforcement point: whatever path a message takes, an end user who may
not be messaged gets nothing published — the agent's outbound API, the workspace reply, greetings, bots."""

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from ccp.events.models import Event
from consent import services as consent_services
from consent.models import ConsentRecord
from conversations.models import Contact, Conversation, EndUserAddress, Message, Participant
from routing.models import AgentWork
from tests.conversations.conftest import online
from tests.helpers import assert_error

from .conftest import CHANNEL, USER, agent_client, install, outbound_texts, partner_outbound_events, say

pytestmark = pytest.mark.django_db
URL = "/api/v1/agent/outbound/"


def start(client, text="Your parcel has arrived.", address=USER):
    return client.post(URL, {"channel_address_id": CHANNEL, "address": address, "text": text}, format="json")


def opt(client, status, address=USER):
    response = client.put(
        "/api/v1/agent/consent/", {"to": CHANNEL, "address": address, "status": status}, format="json"
    )
    assert response.status_code == 200, response.content


def test_outbound_without_opt_in_is_refused_and_nothing_is_stored(platform_channel, alice):
    events_before = Event.objects.count()
    error = assert_error(start(agent_client(alice)), 403, "consent_denied")
    assert "has not opted in" in error["message"] and error["details"]["status"] == "unknown"
    assert not Conversation.objects.exists() and not Message.objects.exists() and not Contact.objects.exists()
    assert not EndUserAddress.objects.exists() and not AgentWork.objects.exists()
    assert Event.objects.count() == events_before and not ConsentRecord.objects.exists()


def test_outbound_after_opt_in_opens_the_agents_conversation_and_publishes(platform_channel, alice):
    client = agent_client(alice)
    opt(client, "opt_in")
    response = start(client)
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["direction"] == "outbound" and message["sender_type"] == "agent" and message["status"] == "sent"
    conversation = Conversation.objects.get()
    assert conversation.initiated_by == "agent" and conversation.status == "active"
    participant = Participant.objects.get()
    assert participant.agent == alice and participant.work.status == "accepted"  # holds capacity
    published = partner_outbound_events()
    assert len(published) == 1 and published[0].data["recipient"] == USER
    assert published[0].data["payload"]["text"] == "Your parcel has arrived."
    created = Event.objects.get(type="conversation.created")
    assert created.data["initiated_by"] == "agent"
    assert AgentWork.objects.count() == 1


def test_the_end_users_answer_stays_with_the_agent(api, platform_channel, alice):
    client = agent_client(alice)
    opt(client, "opt_in")
    start(client)
    body = say(api, "Thanks, I'll pick it up", "e1")
    assert body["conversation_id"] == str(Conversation.objects.get().pk)
    assert AgentWork.objects.count() == 1 and Conversation.objects.get().status == "active"


def test_outbound_checks_capacity_open_conversations_and_presence(platform_channel, alice):
    online(alice, capacity={"messaging": 1})
    client = agent_client(alice)
    opt(client, "opt_in")
    opt(client, "opt_in", address="+100")
    assert start(client).status_code == 201
    assert_error(start(client), 409, "conversation_open")
    assert_error(start(client, address="+100"), 409, "capacity_exhausted")
    assert Conversation.objects.count() == 1


def test_opted_out_end_user_cannot_be_started_even_by_the_partner_owner(api, partner_channel, alice):
    api.put("/api/v1/consent/", {"to": CHANNEL, "address": USER, "status": "opt_out", "source": "api"}, format="json")
    error = assert_error(start(agent_client(alice)), 403, "consent_denied")
    assert "opted out" in error["message"]
    assert not partner_outbound_events()


def _accepted_conversation(api, alice):
    conversation_id = say(api, "I need help", "e1")["conversation_id"]
    work = AgentWork.objects.get()
    assert agent_client(alice).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    return conversation_id


def test_workspace_reply_is_implicitly_allowed_until_the_partner_reports_an_opt_out(api, partner_channel, alice):
    conversation_id = _accepted_conversation(api, alice)
    client = agent_client(alice)
    url = f"/api/v1/agent/conversations/{conversation_id}/messages/"
    assert client.post(url, {"text": "Hi Ann"}, format="json").status_code == 201  # wrote first: implicit
    api.put("/api/v1/consent/", {"to": CHANNEL, "address": USER, "status": "opt_out", "source": "api"}, format="json")
    assert_error(client.post(url, {"text": "Are you there?"}, format="json"), 403, "consent_denied")
    assert outbound_texts() == ["Hi Ann"] and len(partner_outbound_events()) == 1


def test_greeting_is_not_sent_to_an_opted_out_end_user(api, tenant, partner, alice):
    channel = install(tenant, partner, settings={"flow": {"greeting": "Hello!"}})
    with transaction.atomic():
        consent_services.consent_update(
            channel=channel, address=USER, status="opt_out", source="web_form", actor="t", as_owner="platform"
        )
    say(api, "hi", "e1")
    assert not outbound_texts() and not partner_outbound_events()
    assert Conversation.objects.get().status == "routing"  # the inbound itself is still handled


def test_bot_reply_stops_after_an_opt_out(api, tenant, partner, alice):
    bot = {"flow": {"route_to": {"bot": {"name": "HelpBot", "reply": "Try our FAQ.", "handoff_keyword": "agent"}}}}
    install(tenant, partner, settings=bot)
    say(api, "where is my card", "e1")
    assert outbound_texts() == ["Try our FAQ."]
    opt(agent_client(alice), "opt_out")
    say(api, "hello?", "e2")
    assert outbound_texts() == ["Try our FAQ."] and len(partner_outbound_events()) == 1


def test_transfer_to_a_bot_then_opt_out_silences_the_bot(api, tenant, partner, alice):
    bot = {"flow": {"route_to": {"bot": {"name": "HelpBot", "reply": "Try our FAQ.", "handoff_keyword": "agent"}}}}
    install(tenant, partner, consent_owner="partner", settings=bot)
    conversation_id = say(api, "agent", "e1")["conversation_id"]  # the handoff keyword: routed to Alice
    work = AgentWork.objects.get()
    client = agent_client(alice)
    assert client.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    response = client.post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"bot": "HelpBot"}, format="json"
    )
    assert response.status_code == 202
    say(api, "still there?", "e2")
    assert outbound_texts() == ["Try our FAQ."]  # the bot answers the end user who wrote first
    api.put("/api/v1/consent/", {"to": CHANNEL, "address": USER, "status": "opt_out", "source": "api"}, format="json")
    say(api, "hello?", "e3")
    assert outbound_texts() == ["Try our FAQ."] and len(partner_outbound_events()) == 1


def test_the_keyword_confirmation_is_allowed_exactly_once(platform_channel):
    with transaction.atomic():
        consent_services.consent_keyword(channel=platform_channel, address=USER, text="STOP")
        first = consent_services.consent_check_outbound(
            channel=platform_channel, address=USER, end_user_wrote=True, confirmation=True
        )
        second = consent_services.consent_check_outbound(
            channel=platform_channel, address=USER, end_user_wrote=True, confirmation=True
        )
    assert first.allowed and not second.allowed


def test_the_partner_delivers_the_outbound_and_sends_receipts_back(api, platform_channel, alice):
    client = agent_client(alice)
    opt(client, "opt_in")
    message_id = start(client).json()["id"]
    receipt = {"id": "r1", "type": "delivered", "message_id": message_id}
    response = api.post("/api/v1/interactions/", {"to": CHANNEL, "from": USER, "entries": [receipt]}, format="json")
    assert response.status_code == 201, response.content
    assert Message.objects.get(pk=message_id).status == "delivered"


def test_agent_endpoints_need_a_login(platform_channel):
    anonymous = APIClient()
    assert anonymous.post(URL, {"channel_address_id": CHANNEL, "address": USER, "text": "x"}).status_code in (401, 403)
    assert anonymous.get("/api/v1/agent/consent/", {"to": CHANNEL, "address": USER}).status_code in (401, 403)
    assert not Conversation.objects.exists()
