"""What the platform gives an e-mail channel (docs/partner-api.md, "E-mail"): a subject on messages and
conversations, an HTML body sanitized on arrival, long bodies within documented limits, a partner
thread key, channel capabilities for the workspace, and the e-mail channel type's routing defaults."""

import json
from datetime import timedelta

import pytest

from conversations.management.commands._demo_email import EMAIL_CHANNEL_ADDRESS, install_demo_email
from conversations.models import Conversation, Message
from routing.models import AgentWork, Queue
from tests.helpers import assert_error

from .conftest import events, message, online, post
from .test_interactions import agent_client

pytestmark = pytest.mark.django_db

ANN = "ann@customer.example"


@pytest.fixture
def email_channel(tenant, partner):
    install_demo_email(partner, tenant)
    return EMAIL_CHANNEL_ADDRESS


def send(api, *entries, thread=None, sender=ANN):
    body = {"to": EMAIL_CHANNEL_ADDRESS, "from": sender, "from_name": "Ann", "entries": list(entries)}
    if thread is not None:
        body["thread"] = thread
    return api.post("/api/v1/interactions/", body, format="json")


def test_subject_and_sanitized_html_are_stored_returned_and_published(api, email_channel, alice):
    online(alice)
    html = '<p onclick="x()">Hi <b>team</b></p><script>alert(1)</script><a href="javascript:x()">y</a>'
    response = send(api, message("Hi team", "<m1@x>", subject="  Printer   on fire ", html=html))
    assert response.status_code == 201, response.content
    conversation_id = response.json()["conversation_id"]
    stored = Message.objects.get()
    assert stored.subject == "Printer on fire"  # whitespace folded, as mail clients show it
    assert stored.html == '<p>Hi <b>team</b></p><a rel="noopener noreferrer nofollow">y</a>'
    assert Conversation.objects.get().subject == "Printer on fire"

    detail = api.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert detail["subject"] == "Printer on fire" and detail["thread"] == ""
    (listed,) = api.get(f"/api/v1/conversations/{conversation_id}/messages/").json()
    assert listed["subject"] == "Printer on fire" and listed["html"] == stored.html
    created = events("message.created")[0].data
    assert created["subject"] == "Printer on fire" and created["html"] == stored.html
    assert created["conversation"]["subject"] == "Printer on fire"
    assert events("conversation.created")[0].data["subject"] == "Printer on fire"

    # the conversation keeps its first subject; the agent's reply carries it to the partner
    send(api, message("more", "<m2@x>", subject="Re: Printer on fire"))
    assert Conversation.objects.get().subject == "Printer on fire"
    work = AgentWork.objects.get()
    agent = agent_client(alice)
    assert agent.post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    agent.post(f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "On it"}, format="json")
    outbound = events("EmailOutbound__e")[0].data
    assert outbound["payload"]["subject"] == "Printer on fire" and outbound["recipient"] == ANN
    state = agent.get("/api/v1/agent/state/").json()
    assert state["conversations"][0]["subject"] == "Printer on fire"


def test_chat_messages_have_an_empty_subject_and_no_subject_in_the_outbound_payload(api, channel, alice):
    online(alice)
    conversation_id = post(api, message("hello")).json()["conversation_id"]
    assert api.get(f"/api/v1/conversations/{conversation_id}/").json()["subject"] == ""
    assert api.get(f"/api/v1/conversations/{conversation_id}/messages/").json()[0]["html"] == ""


def test_a_thread_key_gives_each_thread_its_own_open_conversation(api, email_channel):
    first = send(api, message("printer", "<a1@x>", subject="Printer"), thread="<a1@x>").json()
    again = send(api, message("still broken", "<a2@x>", subject="Re: Printer"), thread="<a1@x>").json()
    other = send(api, message("invoice", "<b1@x>", subject="Invoice"), thread="<b1@x>").json()
    plain = send(api, message("no thread", "<c1@x>")).json()
    assert first["conversation_id"] == again["conversation_id"]
    assert len({first["conversation_id"], other["conversation_id"], plain["conversation_id"]}) == 3
    assert Conversation.objects.get(pk=other["conversation_id"]).thread_key == "<b1@x>"
    # after the close, the same thread opens a follow-up
    api.post(f"/api/v1/conversations/{first['conversation_id']}/close/")
    follow_up = send(api, message("again", "<a3@x>"), thread="<a1@x>").json()
    assert follow_up["conversation_id"] not in (first["conversation_id"], other["conversation_id"])


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"thread": 5}, "thread"),
        ({"thread": "x" * 201}, "thread"),
    ],
)
def test_a_bad_thread_key_is_refused(api, email_channel, body, path):
    request = {"to": EMAIL_CHANNEL_ADDRESS, "from": ANN, "entries": [message()], **body}
    error = assert_error(api.post("/api/v1/interactions/", request, format="json"), 400, "invalid")
    assert path in error["details"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"subject": 5}, "entries[0].subject"),
        ({"subject": "s" * 999}, "entries[0].subject"),
        ({"html": ["<p>"]}, "entries[0].html"),
    ],
)
def test_a_bad_subject_or_html_is_refused_by_path(api, email_channel, extra, path):
    error = assert_error(send(api, message("hi", "e1", **extra)), 400, "invalid")
    assert path in error["details"]
    assert not Message.objects.exists()


def test_long_bodies_are_accepted_up_to_the_documented_limits(api, email_channel, settings):
    long_text = "A long e-mail line.\n" * 4000  # 80,000 characters: over the old 10,000
    assert send(api, message(long_text, "long")).status_code == 201
    too_long = "x" * (settings.MESSAGE_MAX_CHARS + 1)
    error = assert_error(send(api, message(too_long, "too-long")), 400)
    assert "entries[0].text" in error["details"]
    # the request body limit answers first, with a clear 413 naming the limit
    huge = {"to": EMAIL_CHANNEL_ADDRESS, "from": ANN, "entries": [message("x", "h", html="<p>" + "y" * 2_700_000)]}
    raw = json.dumps(huge)
    error = assert_error(api.post("/api/v1/interactions/", raw, content_type="application/json"), 413)
    assert error["code"] == "payload_too_large"
    assert error["details"]["max_bytes"] == settings.API_MAX_BODY_BYTES


def test_the_workspace_channel_list_carries_the_package_capabilities(tenant, email_channel, alice):
    rows = agent_client(alice).get("/api/v1/agent/workspace/channels/").json()
    row = next(r for r in rows if r["channel_address_id"] == EMAIL_CHANNEL_ADDRESS)
    assert row["channel_type"] == "email"
    assert row["capabilities"]["typing"] is False and row["capabilities"]["receipts"] is False


def test_an_email_offer_waits_longer_and_counts_against_messaging_capacity(api, email_channel, alice, settings):
    online(alice, {"messaging": 1})
    send(api, message("hello", "<o1@x>"), thread="<o1@x>")
    work = AgentWork.objects.get()
    assert work.channel_type == "messaging" and work.work_item.channel_type == "messaging"
    waited = (work.expires_at - work.offered_at).total_seconds()
    expected = settings.ROUTING_CHANNEL_TYPES["email"]["offer_timeout_seconds"]
    assert expected > settings.ROUTING_OFFER_TIMEOUT and abs(waited - expected) < 5
    # the one messaging place is taken: a second thread waits
    send(api, message("another", "<o2@x>"), thread="<o2@x>")
    assert AgentWork.objects.count() == 1


def test_a_queue_with_a_longer_timeout_wins_over_the_channel_default(tenant, api, email_channel, alice, settings):
    from routing.services import work_item_create

    online(alice)
    queue = Queue.objects.create(tenant=tenant, name="slow", offer_timeout_seconds=3600)
    item = work_item_create(tenant=tenant, reference="ref-1", channel_type="email", queue=queue)
    work = item.works.get()
    assert timedelta(seconds=3590) < work.expires_at - work.offered_at <= timedelta(seconds=3600)
    short = Queue.objects.create(tenant=tenant, name="fast", offer_timeout_seconds=10)
    item = work_item_create(tenant=tenant, reference="ref-2", channel_type="email", queue=short)
    assert item.offer_timeout() == settings.ROUTING_CHANNEL_TYPES["email"]["offer_timeout_seconds"]


def test_an_entry_time_with_an_offset_postgresql_cannot_hold_is_stored_in_utc(api, email_channel):
    # ISO 8601 allows offsets up to ±23:59 (a Date header may carry one); PostgreSQL only ±15:59
    response = send(api, message("hi", "tz", timestamp="2026-12-20T13:56:00+23:20"))
    assert response.status_code == 201, response.content
    assert Message.objects.get().sent_at.isoformat() == "2026-12-19T14:36:00+00:00"
    error = assert_error(send(api, message("hi", "tz2", timestamp="0001-01-01T00:10:00+23:00")), 400, "invalid")
    assert "entries[0].timestamp" in error["details"]
