"""Transfers (FIG 14) and channel flows (FIG 19): greeting, business hours, bots."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from conversations import flows
from conversations.models import Conversation, Message, Participant
from routing.models import AgentWork, Queue
from routing.services import routing_sweep
from tests.helpers import assert_error

from .conftest import events, install, message, online, post
from .test_interactions import agent_client


def _accepted_by(api, agent):
    conversation_id = post(api, message()).json()["conversation_id"]
    work = AgentWork.objects.get(status="offered")
    assert work.agent == agent
    assert agent_client(agent).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    return conversation_id, work


def test_transfer_to_an_agent_keeps_the_first_until_the_second_accepts(api, channel, alice, bob):
    online(alice)
    conversation_id, first = _accepted_by(api, alice)
    online(bob)
    response = agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"agent_id": str(bob.pk)}, format="json"
    )
    assert response.status_code == 202, response.content
    offer = AgentWork.objects.get(status="offered")
    assert offer.agent == bob and offer.engine == "direct"
    assert Participant.objects.get(left_at__isnull=True).agent == alice  # still with alice

    assert agent_client(bob).post(f"/api/v1/agent/work/{offer.pk}/accept/").status_code == 200
    active = Participant.objects.filter(left_at__isnull=True)
    assert [p.agent for p in active] == [bob]
    left = Participant.objects.get(agent=alice)
    assert left.leave_reason == "transferred"
    first.refresh_from_db()
    assert first.status == "closed" and first.reason == "transferred"
    texts = list(Message.objects.filter(direction="system").order_by("seq").values_list("text", flat=True))
    assert any("transferring to Bob" in t for t in texts) and any("Transferred from Alice to Bob" in t for t in texts)
    assert events("conversation.transferred")[0].data["to_agent_id"] == str(bob.pk)
    # the transcript is whole for the new agent
    transcript = agent_client(bob).get(f"/api/v1/agent/conversations/{conversation_id}/messages/").json()
    assert transcript[0]["text"] == "hi" and transcript[0]["direction"] == "inbound"


def test_transfer_to_a_queue_routes_to_its_members(api, channel, alice, bob):
    queue = Queue.objects.create(tenant=alice.tenant, name="billing")
    queue.members.add(bob)
    online(alice)
    conversation_id, _ = _accepted_by(api, alice)
    online(bob)
    response = agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"queue": "billing"}, format="json"
    )
    assert response.status_code == 202
    assert AgentWork.objects.get(status="offered").agent == bob


def test_transfer_errors_change_nothing(api, channel, alice, bob, other_tenant):
    from tests.factories import MembershipFactory

    online(alice)
    conversation_id, _ = _accepted_by(api, alice)
    url = f"/api/v1/agent/conversations/{conversation_id}/transfer/"
    client = agent_client(alice)
    stranger = MembershipFactory(tenant=other_tenant, role="agent")
    assert_error(client.post(url, {"agent_id": str(stranger.pk)}, format="json"), 404, "agent_not_found")
    assert_error(client.post(url, {"agent_id": str(bob.pk)}, format="json"), 409, "agent_unavailable")
    assert_error(client.post(url, {"queue": "nope"}, format="json"), 404, "queue_not_found")
    assert_error(client.post(url, {}, format="json"), 400, "invalid")
    assert_error(agent_client(bob).post(url, {"queue": "x"}, format="json"), 403, "not_a_participant")
    assert AgentWork.objects.count() == 1
    assert Participant.objects.get(left_at__isnull=True).agent == alice


def test_transfer_to_a_bot(api, channel, alice):
    online(alice)
    conversation_id, work = _accepted_by(api, alice)
    response = agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"bot": "HelpBot"}, format="json"
    )
    assert response.status_code == 202 and response.json()["status"] == "bot"
    assert Conversation.objects.get().status == "bot"
    work.refresh_from_db()
    assert work.status == "closed"
    assert not Participant.objects.filter(left_at__isnull=True).exists()


def test_partner_owned_transfer_asks_the_partner_then_falls_back(api, tenant, partner, alice, bob):
    install(tenant, partner, routing_owner="partner")
    Queue.objects.create(tenant=tenant, name="billing").members.add(bob)
    online(alice)
    conversation_id = post(api, message()).json()["conversation_id"]
    request = events("routing.requested")[0]
    api.post(
        f"/api/v1/conversations/{conversation_id}/route/",
        {"agent_id": str(alice.pk), "routing_request_id": request.data["routing_request_id"]},
        format="json",
    )
    agent_client(alice).post(f"/api/v1/agent/work/{AgentWork.objects.get().pk}/accept/")
    online(bob)
    response = agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"queue": "billing"}, format="json"
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    transfer_request = events("routing.requested")[-1]
    assert transfer_request.data["routing_type"] == "transfer"
    assert transfer_request.data["excluded_agents"] == [str(alice.pk)]
    assert not AgentWork.objects.filter(status="offered").exists()  # the partner decides first
    routing_sweep(now=timezone.now() + timedelta(seconds=61))
    offer = AgentWork.objects.get(status="offered")
    assert offer.agent == bob  # platform fallback into the queue, excluding the transferring agent
    assert agent_client(bob).post(f"/api/v1/agent/work/{offer.pk}/accept/").status_code == 200
    assert [p.agent for p in Participant.objects.filter(left_at__isnull=True)] == [bob]


def test_greeting_is_sent_on_a_new_conversation(api, channel):
    channel.settings = {"flow": {"greeting": "Hi! An agent will be with you shortly."}}
    channel.save()
    post(api, message())
    greeting = Message.objects.get(direction="outbound")
    assert greeting.text.startswith("Hi!") and greeting.sender_type == "bot"
    assert events("AcmeOutbound__e")[0].data["payload"]["text"].startswith("Hi!")
    post(api, message("again", "e2"))
    assert Message.objects.filter(direction="outbound").count() == 1


def test_outside_business_hours_the_conversation_waits(api, channel, alice):
    channel.settings = {
        "flow": {"business_hours": {"timezone": "UTC", "weekly": {}, "closed_message": "We are closed."}}
    }
    channel.settings["flow"]["business_hours"]["weekly"] = {"sun": [["00:00", "00:01"]]}
    channel.save()
    online(alice)
    post(api, message())
    conversation = Conversation.objects.get()
    assert conversation.status == "waiting"
    assert Message.objects.get(direction="outbound").text == "We are closed."
    assert not AgentWork.objects.exists()
    post(api, message("hello?", "e2"))
    assert Message.objects.filter(direction="outbound").count() == 1  # told once per session


def test_bot_answers_until_the_handoff_keyword(api, channel, alice):
    channel.settings = {
        "flow": {"route_to": {"bot": {"name": "HelpBot", "reply": "Try our FAQ.", "handoff_keyword": "agent"}}}
    }
    channel.save()
    online(alice)
    post(api, message("where is my card"))
    assert Conversation.objects.get().status == "bot"
    assert Message.objects.get(direction="outbound").sender_name == "HelpBot"
    post(api, message("I want an agent please", "e2"))
    assert Conversation.objects.get().status == "routing"
    assert AgentWork.objects.get().agent == alice


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 11, 23, 9, 30, tzinfo=UTC), True),  # a Monday, 10:30 in Berlin
        (datetime(2026, 11, 23, 17, 30, tzinfo=UTC), False),  # 18:30 in Berlin
        (datetime(2026, 11, 22, 10, 0, tzinfo=UTC), False),  # Sunday
    ],
)
def test_business_hours_use_the_channel_time_zone(when, expected):
    hours = {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}
    assert flows.is_open(hours, when) is expected


def test_invalid_flow_settings_name_the_field():
    from ccp.core.errors import Invalid

    with pytest.raises(Invalid) as exc:
        flows.validate_flow(
            {"business_hours": {"timezone": "Mars/Base", "weekly": {"mon": [["18:00", "09:00"]], "xyz": []}}}
        )
    assert set(exc.value.details) == {
        "business_hours.timezone",
        "business_hours.weekly.mon",
        "business_hours.weekly.xyz",
    }


def test_partner_answers_a_transfer_request(api, tenant, partner, alice, bob):
    install(tenant, partner, routing_owner="partner")
    Queue.objects.create(tenant=tenant, name="billing")
    online(alice)
    online(bob)
    conversation_id = post(api, message()).json()["conversation_id"]
    route = f"/api/v1/conversations/{conversation_id}/route/"
    assert api.post(route, {"agent_id": str(alice.pk)}, format="json").status_code == 202
    agent_client(alice).post(f"/api/v1/agent/work/{AgentWork.objects.get().pk}/accept/")
    agent_client(alice).post(
        f"/api/v1/agent/conversations/{conversation_id}/transfer/", {"queue": "billing"}, format="json"
    )
    request = events("routing.requested")[-1]
    answered = api.post(
        route, {"agent_id": str(bob.pk), "routing_request_id": request.data["routing_request_id"]}, format="json"
    )
    assert answered.status_code == 202, answered.content
    offer = AgentWork.objects.get(status="offered")
    assert offer.agent == bob and offer.engine == "partner" and offer.work_item.is_transfer
