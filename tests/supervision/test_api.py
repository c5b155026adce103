"""The supervision and agent-tools endpoints: roles, effects, and what each records."""

import pytest
from django.db import transaction

from ccp.audit.models import AuditEntry
from conversations.models import Conversation, Message, Note, Participant
from routing import services as routing_services
from routing.models import AgentPresence, AgentWork, Queue
from tests.conversations.conftest import message, online, post
from tests.factories import MembershipFactory
from tests.helpers import assert_error

from .conftest import session

SUPERVISOR_CALLS = [
    ("GET", "/api/v1/agent/supervision/conversations/", None),
    ("POST", "/api/v1/agent/conversations/{c}/monitor/", None),
    ("POST", "/api/v1/agent/conversations/{c}/join/", None),
    ("POST", "/api/v1/agent/conversations/{c}/reassign/", {"queue": "support"}),
    ("PUT", "/api/v1/agent/agents/{a}/status/", {"status": "away"}),
]


def _call(client, method, url, body=None):
    return (
        getattr(client, method.lower())(url, body, format="json")
        if body is not None
        else getattr(client, method.lower())(url)
    )


@pytest.mark.parametrize("method,url,body", SUPERVISOR_CALLS)
def test_a_plain_agent_is_refused_every_supervisor_endpoint(floor, method, url, body):
    url = url.format(c=floor.conversation_id, a=floor.bob.pk)
    response = _call(session(floor.alice), method, url, body)
    assert_error(response, 403, "supervisor_only")
    # nothing happened: no audit entry of a supervisor action, nobody joined, presence untouched
    assert not AuditEntry.objects.filter(action__startswith="conversation.").exists()
    assert not AuditEntry.objects.filter(action="agent.status_set").exists()
    assert Participant.objects.filter(conversation_id=floor.conversation_id).count() == 1


def test_the_supervisor_page_refuses_a_plain_agent(floor):
    assert session(floor.alice).get("/supervisor/").status_code == 403
    assert session(floor.sam).get("/supervisor/").status_code == 200


def test_the_supervision_list_shows_live_conversations_with_agent_and_wait(floor, api):
    post(api, message("anyone there?", entry_id="e9"), sender="+4915100000")  # nobody free: waits
    rows = session(floor.sam).get("/api/v1/agent/supervision/conversations/").json()
    assert {r["status"] for r in rows} == {"active", "routing"}
    held = next(r for r in rows if r["id"] == floor.conversation_id)
    assert held["agents"] == [{"agent_id": str(floor.alice.pk), "name": "Alice", "role": "agent", "barged_in": False}]
    assert held["waiting_seconds"] is not None  # Ann wrote last: she waits for a reply
    assert held["sla"] is None and held["contact_name"] == "Ann"
    waiting = next(r for r in rows if r["id"] != floor.conversation_id)
    assert waiting["agents"] == [] and waiting["waiting_seconds"] >= 0
    # the admin sees the same list
    assert len(session(floor.ada).get("/api/v1/agent/supervision/conversations/").json()) == 2


def test_monitor_is_recorded_and_answers_with_the_conversation(floor):
    response = session(floor.sam).post(f"/api/v1/agent/conversations/{floor.conversation_id}/monitor/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["monitoring"] is True and body["agents_notified"] is False
    assert body["conversation"]["id"] == floor.conversation_id
    entry = AuditEntry.objects.get(action="conversation.monitor")
    assert entry.actor_id == str(floor.sam.user.pk) and entry.object_id == floor.conversation_id
    assert entry.tenant_id == floor.sam.tenant_id and entry.source_ip == "127.0.0.1"
    # Sam is not a participant: monitoring is read-only
    reply = session(floor.sam).post(
        f"/api/v1/agent/conversations/{floor.conversation_id}/messages/", {"text": "hi"}, format="json"
    )
    assert_error(reply, 403, "not_a_participant")


def test_notes_by_agents_and_whispers_by_supervisors(floor):
    url = f"/api/v1/agent/conversations/{floor.conversation_id}/notes/"
    note = session(floor.alice).post(url, {"text": "asked for the last 4 digits"}, format="json")
    assert note.status_code == 201, note.content
    assert note.json()["kind"] == "note" and note.json()["author_name"] == "Alice"
    # an agent does not whisper; a colleague who never handled it writes nothing
    assert_error(session(floor.alice).post(url, {"text": "x", "whisper": True}, format="json"), 403, "supervisor_only")
    assert_error(session(floor.bob).post(url, {"text": "x"}, format="json"), 403, "not_a_participant")
    whisper = session(floor.sam).post(url, {"text": "offer the fee refund", "whisper": True}, format="json")
    assert whisper.status_code == 201 and whisper.json()["whisper"] is True
    assert_error(session(floor.sam).post(url, {"text": "   "}, format="json"), 400)
    listed = session(floor.alice).get(url).json()
    assert [n["text"] for n in listed] == ["asked for the last 4 digits", "offer the fee refund"]
    # never messages: not in the transcript the partner or the agent reads
    assert not Message.objects.filter(text__in=["asked for the last 4 digits", "offer the fee refund"]).exists()
    assert AuditEntry.objects.filter(action="conversation.whisper").count() == 1


def test_barge_in_makes_the_supervisor_a_participant_whose_messages_are_labelled(floor, api):
    response = session(floor.sam).post(f"/api/v1/agent/conversations/{floor.conversation_id}/join/")
    assert response.status_code == 200, response.content
    assert str(floor.sam.pk) in [p["agent_id"] for p in response.json()["participants"]]
    sent = session(floor.sam).post(
        f"/api/v1/agent/conversations/{floor.conversation_id}/messages/", {"text": "I can help"}, format="json"
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["sender_name"] == "Sam (supervisor)" and sent.json()["direction"] == "outbound"
    # the partner reads it in the transcript like any agent reply, labelled
    partner_view = api.get(f"/api/v1/conversations/{floor.conversation_id}/messages/").json()
    assert any(m["text"] == "I can help" and m["sender_name"] == "Sam (supervisor)" for m in partner_view)
    # joining again changes nothing; Alice still holds her work and capacity, Sam has none
    assert session(floor.sam).post(f"/api/v1/agent/conversations/{floor.conversation_id}/join/").status_code == 200
    assert Participant.objects.filter(conversation_id=floor.conversation_id, left_at__isnull=True).count() == 2
    assert not AgentWork.objects.filter(agent=floor.sam).exists()
    assert AuditEntry.objects.filter(action="conversation.join").count() == 1


def test_reassign_to_an_agent_respects_capacity_and_hands_over_on_accept(floor):
    url = f"/api/v1/agent/conversations/{floor.conversation_id}/reassign/"
    client = session(floor.sam)
    assert_error(client.post(url, {"agent_id": str(floor.bob.pk)}, format="json"), 409, "agent_unavailable")
    online(floor.bob, capacity={"messaging": 0})
    assert_error(client.post(url, {"agent_id": str(floor.bob.pk)}, format="json"), 409, "capacity_exhausted")
    with transaction.atomic():
        routing_services.capacity_set(membership=floor.bob, capacity={"messaging": 2})
    assert_error(client.post(url, {"agent_id": str(floor.bob.pk), "queue": "x"}, format="json"), 400)
    response = client.post(url, {"agent_id": str(floor.bob.pk)}, format="json")
    assert response.status_code == 202, response.content
    work = AgentWork.objects.get(pk=response.json()["work_id"])
    assert work.agent_id == floor.bob.pk and work.status == "offered"
    assert session(floor.bob).post(f"/api/v1/agent/work/{work.pk}/accept/").status_code == 200
    active = Participant.objects.filter(conversation_id=floor.conversation_id, left_at__isnull=True)
    assert [p.agent_id for p in active] == [floor.bob.pk]
    entry = AuditEntry.objects.get(action="conversation.reassign")
    assert entry.before == {"agents": [str(floor.alice.pk)]} and entry.after["agent_id"] == str(floor.bob.pk)


def test_reassign_a_waiting_conversation_to_a_queue(floor, api, tenant):
    Queue.objects.create(tenant=tenant, name="vip")
    waiting = post(api, message("hello?", entry_id="w1"), sender="+4915100001").json()["conversation_id"]
    response = session(floor.sam).post(
        f"/api/v1/agent/conversations/{waiting}/reassign/", {"queue": "vip"}, format="json"
    )
    assert response.status_code == 202, response.content
    assert_error(
        session(floor.sam).post(f"/api/v1/agent/conversations/{waiting}/reassign/", {"queue": "nope"}, format="json"),
        404,
        "queue_not_found",
    )
    assert Conversation.objects.get(pk=waiting).status == "routing"


def test_a_supervisor_sets_an_agents_presence(floor):
    response = session(floor.sam).put(
        f"/api/v1/agent/agents/{floor.alice.pk}/status/", {"status": "away"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "away"
    assert AgentPresence.objects.get(membership=floor.alice).status == "away"
    entry = AuditEntry.objects.get(action="agent.status_set")
    assert (entry.before, entry.after) == ({"status": "online"}, {"status": "away"})
    stranger = MembershipFactory(tenant=MembershipFactory().tenant, role="agent")
    assert_error(
        session(floor.sam).put(f"/api/v1/agent/agents/{stranger.pk}/status/", {"status": "away"}, format="json"),
        404,
        "agent_not_found",
    )
    assert_error(
        session(floor.sam).put(f"/api/v1/agent/agents/{floor.alice.pk}/status/", {"status": "gone"}, format="json"),
        400,
    )


def test_canned_responses_shared_and_personal(floor):
    url = "/api/v1/agent/canned-responses/"
    shared = session(floor.sam).post(
        url, {"shortcut": "hello", "text": "Hi {{contact.name}}, {{agent.name}} here.", "shared": True}, format="json"
    )
    assert shared.status_code == 201, shared.content
    assert_error(
        session(floor.alice).post(url, {"shortcut": "x", "text": "y", "shared": True}, format="json"),
        403,
        "supervisor_only",
    )
    mine = session(floor.alice).post(url, {"shortcut": "bye", "text": "Bye {{contact.name}}"}, format="json")
    assert mine.status_code == 201 and mine.json()["shared"] is False and mine.json()["scope"] == "personal"
    scoped = session(floor.sam).post(url, {"shortcut": "bye", "text": "Bye!", "scope": "tenant"}, format="json")
    assert scoped.status_code == 201 and scoped.json()["shared"] is True  # a shared /bye beside Alice's own
    assert session(floor.sam).delete(f"{url}{scoped.json()['id']}/").status_code == 204
    assert_error(
        session(floor.alice).post(url, {"shortcut": "bye", "text": "again"}, format="json"), 409, "shortcut_taken"
    )
    assert_error(session(floor.alice).post(url, {"shortcut": "no spaces", "text": "x"}, format="json"), 400)
    # Alice sees both, Bob only the shared one
    assert [c["shortcut"] for c in session(floor.alice).get(url).json()] == ["bye", "hello"]
    assert [c["shortcut"] for c in session(floor.bob).get(url).json()] == ["hello"]
    assert [c["shortcut"] for c in session(floor.alice).get(url + "?q=by").json()] == ["bye"]
    shared_url, mine_url = f"{url}{shared.json()['id']}/", f"{url}{mine.json()['id']}/"
    assert_error(session(floor.bob).get(mine_url), 404, "canned_response_not_found")
    assert_error(session(floor.alice).patch(shared_url, {"text": "mine now"}, format="json"), 403, "supervisor_only")
    assert_error(session(floor.alice).delete(shared_url), 403, "supervisor_only")
    changed = session(floor.alice).patch(mine_url, {"text": "See you, {{contact.name}}"}, format="json")
    assert changed.status_code == 200 and changed.json()["text"] == "See you, {{contact.name}}"
    assert session(floor.alice).delete(mine_url).status_code == 204
    assert session(floor.alice).get(mine_url).status_code == 404
    assert session(floor.sam).patch(shared_url, {"shortcut": "/hi"}, format="json").json()["shortcut"] == "hi"
    assert sorted(
        AuditEntry.objects.filter(action__startswith="canned_response.").values_list("action", flat=True)
    ) == [
        "canned_response.changed",
        "canned_response.created",
        "canned_response.created",
        "canned_response.deleted",
    ]  # the shared ones only: personal canned responses are the agent's own


def test_search_finds_what_the_member_may_see_with_highlights(floor, api, tenant):
    post(api, message("the refund for my blocked card", entry_id="e2"))
    other = post(api, message("a refund for the parcel", entry_id="o1"), sender="+4915199999").json()
    Note.objects.all()  # notes are not searched
    alice = session(floor.alice).get("/api/v1/agent/search/?q=refund")
    assert alice.status_code == 200, alice.content
    hits = alice.json()["messages"]
    assert [h["conversation_id"] for h in hits] == [floor.conversation_id]  # not the one she never had
    start, end = hits[0]["highlights"][0]
    assert hits[0]["snippet"][start:end].lower() == "refund"
    sam = session(floor.sam).get("/api/v1/agent/search/?q=refund").json()
    assert {h["conversation_id"] for h in sam["messages"]} == {floor.conversation_id, other["conversation_id"]}
    assert [c["contact_name"] for c in session(floor.sam).get("/api/v1/agent/search/?q=Ann").json()["conversations"]]
    assert_error(session(floor.alice).get("/api/v1/agent/search/"), 400)
    assert session(floor.alice).get("/api/v1/agent/search/?q=" + "%22" * 5).status_code == 200


def test_reassign_a_waiting_conversation_to_an_agent_withdraws_its_queued_work(floor, api):
    waiting = post(api, message("hello?", entry_id="w2"), sender="+4915100002").json()["conversation_id"]
    assert Conversation.objects.get(pk=waiting).status == "routing"  # offered to Alice, or queued
    online(floor.bob)
    response = session(floor.sam).post(
        f"/api/v1/agent/conversations/{waiting}/reassign/", {"agent_id": str(floor.bob.pk)}, format="json"
    )
    assert response.status_code == 202, response.content
    offered = AgentWork.objects.filter(
        work_item__reference__in=[str(s.pk) for s in Conversation.objects.get(pk=waiting).sessions.all()]
    )
    assert {w.agent_id for w in offered.filter(status="offered")} == {floor.bob.pk}
    assert session(floor.bob).post(f"/api/v1/agent/work/{response.json()['work_id']}/accept/").status_code == 200
    assert [p.agent_id for p in Participant.objects.filter(conversation_id=waiting, left_at__isnull=True)] == [
        floor.bob.pk
    ]


def test_the_supervision_list_shows_a_live_call_and_drops_it_when_it_ends(floor, tenant, partner, api):
    from tests.conversations.voice import call_event, install_call_center, new_call

    install_call_center(tenant, partner)
    created = new_call(api, "sup-call-1")
    assert created.status_code == 201, created.content
    rows = {r["id"]: r for r in session(floor.sam).get("/api/v1/agent/supervision/conversations/").json()}
    call_row = rows[created.json()["conversation_id"]]
    assert call_row["call"]["call_id"] == "sup-call-1"
    assert call_row["call"]["status"] == "queued" and call_row["call"]["direction"] == "inbound"
    assert rows[floor.conversation_id]["call"] is None  # the chat has no call

    assert call_event(api, "sup-call-1", "e-end", "ended", reason="abandoned").status_code == 202
    rows = {r["id"]: r for r in session(floor.sam).get("/api/v1/agent/supervision/conversations/").json()}
    assert created.json()["conversation_id"] not in rows or rows[created.json()["conversation_id"]]["call"] is None
