"""POST /api/v1/interactions/ and the FIG 13 sequence, through the public APIs."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, Participant
from routing.models import AgentWork, RouteDecision
from routing.services import routing_sweep
from tenants import services as tenant_services
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import assert_error, assert_partner_guarded, run_requested_dispatch

from .conftest import CHANNEL, events, install, message, online, post


def agent_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def test_first_message_opens_a_conversation_and_offers_it(api, channel, alice):
    online(alice)
    response = post(api, message("Hello, my card is blocked"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["entries"] == [{"id": "e1", "message_id": body["entries"][0]["message_id"], "duplicate": False}]
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.status == "routing" and conversation.end_user_address == "+4915112345"
    assert conversation.contact.name == "Ann"
    work = AgentWork.objects.get()
    assert work.agent == alice and work.status == "offered"
    offered = events("work.offered")[0]
    assert offered.agent_ids == [str(alice.pk)]
    assert offered.data["attributes"]["first_message"] == "Hello, my card is blocked"
    assert RouteDecision.objects.get().outcome == "offered"
    assert events("conversation.created")[0].partner_id == channel.installation.package.partner_id


def test_resending_the_same_entries_never_duplicates(api, channel):
    first = post(api, message("one", "e1"), message("two", "e2")).json()
    again = post(api, message("one", "e1"), message("two", "e2"), message("three", "e3")).json()
    assert [e["duplicate"] for e in again["entries"]] == [True, True, False]
    assert again["entries"][0]["message_id"] == first["entries"][0]["message_id"]
    assert Message.objects.filter(direction="inbound").count() == 3
    assert list(Message.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


def test_the_full_fig13_sequence(api, channel, alice, django_capture_on_commit_callbacks):
    channel.settings = {"acw_seconds": 30}
    channel.save()
    online(alice, capacity={"messaging": 1})
    conversation_id = post(api, message("I need help")).json()["conversation_id"]
    work = AgentWork.objects.get()
    agent = agent_client(alice)

    accepted = agent.post(f"/api/v1/agent/work/{work.pk}/accept/")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "active"
    assert Participant.objects.get().agent == alice
    assert events("work.accepted")

    reply = agent.post(f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "Hi Ann!"}, format="json")
    assert reply.status_code == 201, reply.content
    outbound = reply.json()
    assert outbound["direction"] == "outbound" and outbound["status"] == "sent"
    custom = events("AcmeOutbound__e")[0]
    assert custom.data == {
        "channel_address_id": CHANNEL,
        "recipient": "+4915112345",
        "payload": {
            "message_id": outbound["id"],
            "conversation_id": conversation_id,
            "text": "Hi Ann!",
            "attachments": [],
            "sender_type": "agent",
            "sender_name": "Alice",
        },
    }
    assert custom.partner_id is not None

    receipts = post(
        api,
        {"id": "r1", "type": "delivered", "message_id": outbound["id"]},
        {"id": "r2", "type": "read", "message_id": outbound["id"]},
    )
    assert receipts.status_code == 201, receipts.content
    assert Message.objects.get(pk=outbound["id"]).status == "read"
    assert [e.data["status"] for e in events("message.status_changed")] == ["delivered", "read"]

    post(api, message("thanks", "e2"))
    transcript = api.get(f"/api/v1/conversations/{conversation_id}/messages/").json()
    assert [m["direction"] for m in transcript] == ["inbound", "system", "outbound", "inbound"]
    after = api.get(f"/api/v1/conversations/{conversation_id}/messages/?after={outbound['id']}").json()
    assert [m["text"] for m in after] == ["thanks"]

    closed = agent.post(f"/api/v1/agent/conversations/{conversation_id}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    work.refresh_from_db()
    assert work.status == "acw" and work.acw_ends_at > timezone.now()
    # ACW holds the capacity: a new conversation waits
    post(api, message("another", "x1"), sender="+3333")
    assert AgentWork.objects.filter(status="offered").count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        done = agent.post(f"/api/v1/agent/work/{work.pk}/acw/complete/")
    assert done.status_code == 200 and done.json()["status"] == "closed"
    work.refresh_from_db()
    assert work.ended_at is not None
    # capacity released: the commit queued a dispatch task, which offers the waiting conversation
    assert run_requested_dispatch(alice.tenant_id) == 1
    assert AgentWork.objects.get(status="offered").agent == alice
    detail = api.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert detail["status"] == "closed" and detail["participants"][0]["left_at"]
    assert detail["work"][0]["status"] == "closed"


def test_decline_reroutes_excluding_the_decliner(api, channel, alice, bob, django_capture_on_commit_callbacks):
    online(alice, {"messaging": 5})
    online(bob, {"messaging": 1})
    post(api, message())
    first = AgentWork.objects.get()
    with django_capture_on_commit_callbacks(execute=True):  # the commit queues a dispatch task
        declined = agent_client(first.agent).post(
            f"/api/v1/agent/work/{first.pk}/decline/", {"reason": "busy"}, format="json"
        )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert run_requested_dispatch(first.tenant_id) == 1
    second = AgentWork.objects.get(status="offered")
    assert second.agent != first.agent
    assert events("work.declined")[0].data["reason"] == "busy"
    # the decliner cannot take it back
    assert_error(agent_client(first.agent).post(f"/api/v1/agent/work/{first.pk}/accept/"), 409, "offer_expired")


def test_an_ignored_offer_times_out_and_repeated_ignoring_sets_away(api, channel, alice, settings):
    settings.ROUTING_AWAY_AFTER_IGNORED = 2
    online(alice)
    post(api, message())
    later = timezone.now() + timedelta(seconds=31)
    assert routing_sweep(now=later)["expired"] == 1
    assert AgentWork.objects.filter(status="timed_out").count() == 1
    assert events("work.timed_out")
    # nobody else online: the only agent was excluded, so the work waits
    assert not AgentWork.objects.filter(status="offered").exists()
    alice.presence.refresh_from_db()
    assert alice.presence.ignored_offers == 1 and alice.presence.status == "online"
    post(api, message("other", "x"), sender="+2")
    routing_sweep(now=timezone.now() + timedelta(seconds=62))
    alice.presence.refresh_from_db()
    assert alice.presence.status == "away"
    assert events("agent.status_changed")[-1].data["source"] == "routing"


def test_an_expired_offer_cannot_be_accepted(api, channel, alice):
    online(alice)
    post(api, message())
    work = AgentWork.objects.get()
    AgentWork.objects.filter(pk=work.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(agent_client(alice).post(f"/api/v1/agent/work/{work.pk}/accept/"), 409, "offer_expired")
    assert not Participant.objects.exists()


def test_partner_owned_routing(api, tenant, partner, alice, bob):
    install(tenant, partner, routing_owner="partner")
    online(alice, {"messaging": 1})
    body = post(api, message()).json()
    conversation_id = body["conversation_id"]
    requested = events("routing.requested")[0]
    assert requested.data["routing_type"] == "initial" and requested.partner_id == partner.pk
    assert not AgentWork.objects.exists()

    agents = api.get("/api/v1/agents/", {"to": CHANNEL}).json()
    assert {a["name"] for a in agents} >= {"Alice", "Bob"}
    alice_row = next(a for a in agents if a["name"] == "Alice")
    assert alice_row["status"] == "online" and alice_row["capacity"]["messaging"] == {"max": 1, "used": 0}

    route = f"/api/v1/conversations/{conversation_id}/route/"
    assert_error(api.post(route, {"agent_id": str(bob.pk)}, format="json"), 409, "agent_unavailable")
    assert_error(
        api.post(
            route,
            {"agent_id": str(alice.pk), "routing_request_id": "00000000-0000-0000-0000-000000000000"},
            format="json",
        ),
        400,
        "stale_routing_request",
    )
    offered = api.post(
        route, {"agent_id": str(alice.pk), "routing_request_id": requested.data["routing_request_id"]}, format="json"
    )
    assert offered.status_code == 202, offered.content
    assert offered.json()["status"] == "offered" and offered.json()["expires_at"]
    assert_error(api.post(route, {"agent_id": str(alice.pk)}, format="json"), 409, "already_offered")

    # alice is now full: a second conversation cannot be offered to her
    second = post(api, message("again", "z"), sender="+999").json()["conversation_id"]
    assert_error(
        api.post(f"/api/v1/conversations/{second}/route/", {"agent_id": str(alice.pk)}, format="json"),
        409,
        "capacity_exhausted",
    )
    # the partner syncs status (FIG 20)
    status = api.put(f"/api/v1/agents/{bob.pk}/status/", {"status": "online"}, format="json")
    assert status.status_code == 200 and status.json()["status"] == "online"
    assert events("agent.status_changed")[-1].data["source"] == "partner"


def test_platform_owned_conversation_refuses_partner_routing(api, channel, alice):
    body = post(api, message()).json()
    error = assert_error(
        api.post(f"/api/v1/conversations/{body['conversation_id']}/route/", {"agent_id": str(alice.pk)}, format="json"),
        403,
        "not_routing_owner",
    )
    assert "platform" in error["message"]


def test_silent_partner_falls_back_to_platform_routing(api, tenant, partner, alice):
    install(tenant, partner, routing_owner="partner")
    online(alice)
    post(api, message())
    assert not AgentWork.objects.exists()
    counts = routing_sweep(now=timezone.now() + timedelta(seconds=61))
    assert counts["partner_fallback"] == 1
    assert AgentWork.objects.get().agent == alice


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"to": "+nope", "from": "x", "entries": [message()]}, 404, "unknown_channel"),
        ({"to": CHANNEL, "from": "x", "entries": [{"id": "e", "type": "message", "text": "  "}]}, 400, "empty_message"),
        (
            {
                "to": CHANNEL,
                "from": "x",
                "entries": [message(attachments=[{"url": "https://x.example/a.png", "size": 10**10}])],
            },
            400,
            "attachment_too_large",
        ),
        (
            {"to": CHANNEL, "from": "x", "entries": [{"id": "r", "type": "read", "message_id": "nope"}]},
            400,
            "unknown_message",
        ),
        ({"to": CHANNEL, "from": "x", "entries": [{"type": "shout"}]}, 400, "invalid"),
        # an unbalanced IPv6 bracket made urlparse raise (500)
        ({"to": CHANNEL, "from": "x", "entries": [message(attachments=[{"url": "http://["}])]}, 400, "invalid"),
        ({"to": CHANNEL, "entries": [message()]}, 400, "invalid"),
        ({"to": CHANNEL, "from": "x", "entries": []}, 400, "invalid"),
    ],
)
def test_bad_interactions_are_refused_and_store_nothing(api, channel, body, status, code):
    assert_error(api.post("/api/v1/interactions/", body, format="json"), status, code)
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


def test_another_partners_channel_is_unknown(other_api, channel):
    assert_error(post(other_api, message()), 404, "unknown_channel")


def test_inactive_installation_is_refused(api, channel):
    tenant_services.installation_set_status(installation=channel.installation, active=False)
    assert_error(post(api, message()), 409, "installation_inactive")


def test_closed_conversation_cannot_be_closed_again_and_a_new_message_opens_a_new_one(api, channel):
    first = post(api, message()).json()["conversation_id"]
    assert api.post(f"/api/v1/conversations/{first}/close/").status_code == 200
    assert_error(api.post(f"/api/v1/conversations/{first}/close/"), 409, "conversation_closed")
    second = post(api, message("back again", "e2")).json()["conversation_id"]
    assert second != first
    assert Conversation.objects.get(pk=first).contact_id == Conversation.objects.get(pk=second).contact_id


def test_receipt_for_a_message_of_another_conversation_is_refused(api, channel, alice):
    online(alice)
    conversation_id = post(api, message()).json()["conversation_id"]
    work = AgentWork.objects.get()
    agent = agent_client(alice)
    agent.post(f"/api/v1/agent/work/{work.pk}/accept/")
    sent = agent.post(f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "yo"}, format="json").json()
    response = post(api, {"id": "r", "type": "read", "message_id": sent["id"]}, sender="+other")
    assert_error(response, 400, "unknown_message")
    assert Message.objects.get(pk=sent["id"]).status == "sent"
    assert Conversation.objects.count() == 1  # the refused request created nothing


def test_partner_endpoints_negative_suite(api, channel, connected_app, other_connected_app, alice):
    conversation_id = post(api, message()).json()["conversation_id"]
    body = {"to": CHANNEL, "from": "x", "entries": [message(entry_id="neg")]}
    assert_partner_guarded("POST", "/api/v1/interactions/", scope="interactions", owner_app=connected_app, data=body)
    for suffix, method, scope, data in [
        ("", "GET", "interactions", None),
        ("messages/", "GET", "interactions", None),
        ("close/", "POST", "interactions", None),
        ("route/", "POST", "routing", {"agent_id": str(alice.pk)}),
    ]:
        assert_partner_guarded(
            method,
            f"/api/v1/conversations/{conversation_id}/{suffix}",
            scope=scope,
            owner_app=connected_app,
            other_app=other_connected_app,
            data=data,
        )
    assert_partner_guarded(
        "GET", "/api/v1/agents/?to=%2B15550001", scope="routing", owner_app=connected_app, other_app=other_connected_app
    )
    assert_partner_guarded(
        "PUT",
        f"/api/v1/agents/{alice.pk}/status/",
        scope="routing",
        owner_app=connected_app,
        other_app=other_connected_app,
        data={"status": "online"},
    )
    assert Conversation.objects.get().status == "routing"
    assert Message.objects.count() == 1


def test_agent_api_refuses_strangers(api, channel, alice, other_tenant):
    online(alice)
    conversation_id = post(api, message()).json()["conversation_id"]
    work = AgentWork.objects.get()
    assert_error(APIClient().get("/api/v1/agent/state/"), 401, "not_authenticated")
    outsider = agent_client(MembershipFactory(tenant=other_tenant, role="agent"))
    assert_error(outsider.get(f"/api/v1/agent/conversations/{conversation_id}/"), 404, "conversation_not_found")
    assert_error(outsider.post(f"/api/v1/agent/conversations/{conversation_id}/close/"), 404)
    assert_error(outsider.post(f"/api/v1/agent/work/{work.pk}/accept/"), 404, "work_not_found")
    colleague = agent_client(MembershipFactory(tenant=alice.tenant, role="agent"))
    assert_error(colleague.post(f"/api/v1/agent/work/{work.pk}/accept/"), 404, "work_not_found")
    no_tenant = APIClient()
    no_tenant.force_login(UserFactory())
    assert_error(no_tenant.get("/api/v1/agent/state/"), 403, "not_a_member")
    work.refresh_from_db()
    assert work.status == "offered"


def test_an_offline_agent_cannot_send(api, channel, alice):
    online(alice)
    conversation_id = post(api, message()).json()["conversation_id"]
    agent = agent_client(alice)
    agent.post(f"/api/v1/agent/work/{AgentWork.objects.get().pk}/accept/")
    assert agent.put("/api/v1/agent/status/", {"status": "offline"}, format="json").status_code == 200
    before = Message.objects.count()
    assert_error(
        agent.post(f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "hi"}, format="json"),
        409,
        "agent_offline",
    )
    assert Message.objects.count() == before


def test_only_a_participant_can_send_or_close(api, channel, alice, bob):
    online(alice)
    conversation_id = post(api, message()).json()["conversation_id"]
    assert_error(
        agent_client(bob).post(
            f"/api/v1/agent/conversations/{conversation_id}/messages/", {"text": "x"}, format="json"
        ),
        403,
        "not_a_participant",
    )
    assert_error(
        agent_client(bob).post(f"/api/v1/agent/conversations/{conversation_id}/close/"), 403, "not_a_participant"
    )


def test_uninstall_is_blocked_by_open_conversations(api, channel):
    post(api, message())
    with pytest.raises(Exception) as exc, transaction.atomic():
        tenant_services.installation_uninstall(installation=channel.installation)
    assert getattr(exc.value, "code", "") == "conversations_open"
    tenant_services.installation_uninstall(installation=channel.installation, force=True)
    conversation = Conversation.objects.get()
    assert conversation.status == "closed" and conversation.channel is None
    assert conversation.channel_address_id == CHANNEL


def test_typing_alone_opens_no_conversation(api, channel):
    response = post(api, {"id": "t1", "type": "typing_started"}, sender="+777")
    assert response.status_code == 201
    assert response.json()["conversation_id"] is None
    assert not Conversation.objects.exists()
    post(api, message("now a message", "m1"), sender="+777", name="Zoe")
    conversation = Conversation.objects.get()
    assert conversation.contact.name == "Zoe"
    typing = post(api, {"id": "t2", "type": "typing_started"}, sender="+777").json()
    assert typing["conversation_id"] == str(conversation.id)
    assert events("typing.started")
