"""Keywords in inbound messages (platform-owned consent): STOP / START / YES, one confirmation reply each."""

import pytest

from consent.models import ConsentRecord
from conversations.models import Conversation
from routing.models import AgentWork
from tests.helpers import assert_error

from .conftest import USER, agent_client, history, install, outbound_texts, partner_outbound_events, say

pytestmark = pytest.mark.django_db

GREETING = {"flow": {"greeting": "Hello from Acme!"}}


def test_stop_opts_out_with_one_confirmation_then_silence(api, tenant, partner):
    install(tenant, partner, settings=GREETING)
    say(api, "hi", "e1")
    assert outbound_texts() == ["Hello from Acme!"]
    say(api, "  stop ", "e2")  # case and whitespace do not matter
    record = ConsentRecord.objects.get()
    assert record.status == "opt_out" and record.source == "keyword"
    assert history() == [("unknown", "opt_out", False, "keyword")]
    assert outbound_texts()[-1].startswith("You are unsubscribed")
    assert len(partner_outbound_events()) == 2  # greeting + the STOP confirmation, published to the partner
    # afterwards: a new message from the end user gets no greeting, no bot, no reply
    Conversation.objects.update(status="closed")
    say(api, "hello again", "e3")
    assert len(outbound_texts()) == 2 and len(partner_outbound_events()) == 2


def test_a_keyword_alone_does_not_open_work_for_agents(api, tenant, partner):
    install(tenant, partner, settings=GREETING)
    body = say(api, "STOP", "e1")
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.status == "closed"
    assert outbound_texts() == [
        "You are unsubscribed and will get no more messages from us. Reply START to subscribe again."
    ]


def test_start_opts_back_in(api, tenant, partner):
    install(tenant, partner)
    say(api, "STOP", "e1")
    say(api, "Start", "e2")
    assert ConsentRecord.objects.get().status == "opt_in"
    assert history() == [("unknown", "opt_out", False, "keyword"), ("opt_out", "opt_in", False, "keyword")]
    assert outbound_texts()[-1] == "You are subscribed. Reply STOP to unsubscribe."


def test_double_opt_in_needs_the_confirmation_answered(api, tenant, partner):
    install(tenant, partner, consent_defaults={"double_opt_in": True})
    say(api, "STOP", "e1")
    say(api, "START", "e2")
    record = ConsentRecord.objects.get()
    assert record.status == "opt_out" and record.pending_opt_in  # not yet
    assert outbound_texts()[-1].startswith("Reply YES to confirm")
    say(api, "yes", "e3")
    record.refresh_from_db()
    assert record.status == "opt_in" and not record.pending_opt_in
    assert history() == [
        ("unknown", "opt_out", False, "keyword"),
        ("opt_out", "opt_out", True, "keyword"),
        ("opt_out", "opt_in", False, "confirmation"),
    ]
    assert outbound_texts()[-1] == "You are subscribed. Reply STOP to unsubscribe."


def test_yes_without_a_pending_opt_in_is_an_ordinary_message(api, tenant, partner):
    install(tenant, partner)
    say(api, "yes", "e1")
    assert not history()
    assert Conversation.objects.get().status == "routing"


def test_keywords_are_configurable_per_channel(api, tenant, partner):
    install(tenant, partner, settings={"consent": {"opt_out_keywords": ["ALTO"], "opt_out_reply": "Baja confirmada."}})
    say(api, "stop", "e1")
    assert not history()  # STOP is not this channel's keyword
    say(api, "alto", "e2")
    assert ConsentRecord.objects.get().status == "opt_out"
    assert outbound_texts()[-1] == "Baja confirmada."


def test_keywords_are_the_partners_business_when_the_partner_owns_consent(api, tenant, partner):
    install(tenant, partner, consent_owner="partner")
    say(api, "STOP", "e1")
    assert not history() and not ConsentRecord.objects.filter(source__gt="").exists()
    assert Conversation.objects.get().status == "routing"


def test_keyword_inside_a_longer_message_is_not_a_keyword(api, tenant, partner):
    install(tenant, partner)
    say(api, "please don't stop helping me", "e1")
    assert not history()
    assert ConsentRecord.objects.filter(status="opt_out", address=USER).count() == 0


def test_stop_inside_an_agents_conversation_silences_the_agent(api, tenant, partner, alice):
    install(tenant, partner)
    conversation_id = say(api, "I need help", "e1")["conversation_id"]
    work = AgentWork.objects.get()
    client = agent_client(alice)
    assert client.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    url = f"/api/v1/agent/conversations/{conversation_id}/messages/"
    assert client.post(url, {"text": "Hi Ann"}, format="json").status_code == 201
    say(api, "STOP", "e2")
    assert Conversation.objects.get().status == "active"  # the agent still holds it and sees the STOP
    error = assert_error(client.post(url, {"text": "Wait!"}, format="json"), 403, "consent_denied")
    assert "opted out" in error["message"]
    assert outbound_texts() == [
        "Hi Ann",
        "You are unsubscribed and will get no more messages from us. Reply START to subscribe again.",
    ]
