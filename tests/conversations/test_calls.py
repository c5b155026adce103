"""Voice calls through the public contract: creation and idempotency, the state machine, routing with
the voice capacity, abandonment, controls, consent-gated dialing and the transcript."""

import itertools

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from ccp.events.models import Event
from consent import services as consent_services
from conversations.call_states import ACTIONS, EVENT_TYPES, TRANSITIONS, CallStatus, action_allowed, next_status
from conversations.models import Call, CallControlRequest, CallEvent, Conversation, Message, TranscriptSegment
from routing import services as routing_services
from routing.models import AgentWork, Queue, WorkItem, offer_timeout_seconds
from tests.helpers import assert_error, run_requested_dispatch

from .conftest import CHANNEL, install, message, online, post
from .voice import CALL_CENTER, call_event, install_call_center, new_call

pytestmark = pytest.mark.django_db


def agent_client(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def events(type_):
    return list(Event.objects.filter(type=type_).order_by("id"))


@pytest.fixture
def call_center(tenant, partner):
    return install_call_center(tenant, partner)


def accept_offer(agent) -> AgentWork:
    work = AgentWork.objects.get(agent=agent, status="offered")
    response = agent_client(agent).post(f"/api/v1/agent/work/{work.pk}/accept/")
    assert response.status_code == 200, response.content
    work.refresh_from_db()
    return work


# --- the pure state machine ---------------------------------------------------------------------

ALL_STATUSES = list(CallStatus.values)


@pytest.mark.parametrize(("status", "event"), list(itertools.product(ALL_STATUSES, EVENT_TYPES)))
def test_state_machine_table(status, event):
    """Every (status, event) pair: the allowed ones lead where the contract says, the rest are refused."""
    expected = {
        ("queued", "ringing"): "ringing",
        ("queued", "connected"): "connected",
        ("ringing", "connected"): "connected",
        ("connected", "held"): "on_hold",
        ("on_hold", "resumed"): "connected",
        ("queued", "ended"): "ended",
        ("ringing", "ended"): "ended",
        ("connected", "ended"): "ended",
        ("on_hold", "ended"): "ended",
        ("connected", "recording_ready"): "connected",
        ("on_hold", "recording_ready"): "on_hold",
        ("ended", "recording_ready"): "ended",
    }
    assert next_status(status, event) == expected.get((status, event))


def test_controls_allowed_per_state():
    assert action_allowed("connected", "hold") and not action_allowed("on_hold", "hold")
    assert action_allowed("on_hold", "resume") and not action_allowed("connected", "resume")
    assert all(not action_allowed("ended", a) for a in ACTIONS)
    assert all(not action_allowed(s, "dial") for s in ALL_STATUSES)
    assert action_allowed("ringing", "answer") and not action_allowed("connected", "answer")
    assert set(TRANSITIONS) == {"ringing", "connected", "held", "resumed", "ended", "recording_ready"}


# --- creation, idempotency, routing --------------------------------------------------------------


def test_a_call_opens_a_conversation_and_is_offered_with_the_voice_capacity(api, call_center, alice, settings):
    settings.ROUTING_VOICE_OFFER_TIMEOUT_SECONDS = 12
    online(alice)
    response = new_call(api, "c1", started_at="2026-12-01T10:00:00Z")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"call_id": "c1", "conversation_id": body["conversation_id"], "status": "queued"}
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.channel == call_center and conversation.contact.name == "Ann"
    item = WorkItem.objects.get()
    assert (item.kind, item.channel_type) == ("voice_call", "voice")
    work = AgentWork.objects.get()
    assert (work.agent, work.channel_type, work.status) == (alice, "voice", "offered")
    assert 11 <= (work.expires_at - work.offered_at).total_seconds() <= 13  # calls ring shorter than chats
    assert events("work.offered")[0].data["attributes"]["call_id"] == "c1"
    created = events("call.created")[0]
    assert created.partner_id == call_center.installation.package.partner_id
    assert created.data["status"] == "queued" and created.data["from"] == "+4915100001"

    again = new_call(api, "c1")
    assert again.status_code == 200 and again.json() == body
    assert Call.objects.count() == 1 and WorkItem.objects.count() == 1


def test_a_queue_sets_its_own_call_ring_time(tenant, settings):
    settings.ROUTING_VOICE_OFFER_TIMEOUT_SECONDS = 15
    queue = Queue.objects.create(tenant=tenant, name="calls", offer_timeout_seconds=60)
    assert offer_timeout_seconds(queue=queue, channel_type="voice") == 15
    assert offer_timeout_seconds(queue=queue, channel_type="messaging") == 60
    queue.voice_offer_timeout_seconds = 8
    assert offer_timeout_seconds(queue=queue, channel_type="voice") == 8
    assert offer_timeout_seconds(queue=None, channel_type="messaging") == settings.ROUTING_OFFER_TIMEOUT


def test_calls_are_refused_on_unknown_and_messaging_channels(api, other_api, tenant, partner, call_center):
    install(tenant, partner)  # a messaging channel of the same partner
    assert_error(new_call(api, "x", to=CHANNEL), 400, "not_a_voice_channel")
    assert_error(new_call(api, "x", to="+19999999"), 404, "unknown_channel")
    assert_error(new_call(other_api, "x"), 404, "unknown_channel")
    assert_error(api.post("/api/v1/calls/", {"to": CALL_CENTER}, format="json"), 400, "invalid")
    assert not Call.objects.exists()


def test_another_partner_cannot_see_or_drive_the_call(api, other_api, call_center):
    new_call(api, "c1")
    assert_error(other_api.get("/api/v1/calls/c1/"), 404, "call_not_found")
    assert_error(call_event(other_api, "c1", "e1", "ringing"), 404, "call_not_found")


def test_the_whole_call_durations_and_after_call_work(api, call_center, alice, django_capture_on_commit_callbacks):
    call_center.settings = {"acw_seconds": 30}
    call_center.save()
    online(alice, capacity={"messaging": 2, "voice": 1})
    new_call(api, "c1")
    accept_offer(alice)
    call = Call.objects.get()
    assert call.agent == alice
    answer = CallControlRequest.objects.get()
    assert (answer.action, answer.target) == ("answer", {"agent_id": str(alice.pk)})
    assert events("call.control_requested")[0].data["action"] == "answer"

    steps = [
        ("e1", "ringing", "2026-12-01T10:00:00Z", "ringing"),
        ("e2", "connected", "2026-12-01T10:00:05Z", "connected"),
        ("e3", "held", "2026-12-01T10:01:05Z", "on_hold"),
        ("e4", "resumed", "2026-12-01T10:01:35Z", "connected"),
    ]
    for event_id, type_, at, status in steps:
        response = call_event(api, "c1", event_id, type_, at=at)
        assert response.status_code == 202, response.content
        assert response.json() == {"id": event_id, "status": status, "duplicate": False}
    with django_capture_on_commit_callbacks(execute=True):
        ended = call_event(api, "c1", "e5", "ended", at="2026-12-01T10:02:05Z", reason="completed")
    assert ended.status_code == 202
    detail = api.get("/api/v1/calls/c1/").json()
    assert detail["status"] == "ended" and detail["end_reason"] == "completed"
    assert (detail["hold_seconds"], detail["talk_seconds"]) == (30, 90)
    assert detail["agent_id"] == str(alice.pk) and detail["answered_at"].startswith("2026-12-01T10:00:05")
    changes = [(e.data["previous_status"], e.data["status"]) for e in events("call.state_changed")]
    assert changes[-5:] == [
        ("queued", "ringing"),
        ("ringing", "connected"),
        ("connected", "on_hold"),
        ("on_hold", "connected"),
        ("connected", "ended"),
    ]
    assert events("call.ended")[0].data["talk_seconds"] == 90
    work = AgentWork.objects.get()
    assert work.status == "acw"  # after-call work holds the voice capacity
    assert Conversation.objects.get().status == "closed"
    assert list(CallEvent.objects.filter(partner_event_id__isnull=False).values_list("to_status", flat=True)) == [
        "ringing",
        "connected",
        "on_hold",
        "connected",
        "ended",
    ]

    recording = {"url": "https://tel.example/r/c1.wav", "duration_seconds": 125, "content_type": "audio/wav"}
    assert call_event(api, "c1", "e6", "recording_ready", recording=recording).status_code == 202
    assert api.get("/api/v1/calls/c1/").json()["recording"] == {**recording, "paused": False}
    assert events("call.recording_ready")[0].data["recording"]["url"] == recording["url"]


def test_refused_transitions_and_repeated_events(api, call_center):
    new_call(api, "c1")
    assert_error(call_event(api, "c1", "e1", "held"), 409, "invalid_call_transition")
    assert_error(call_event(api, "c1", "e2", "resumed"), 409, "invalid_call_transition")
    assert call_event(api, "c1", "e3", "ringing").status_code == 202
    again = call_event(api, "c1", "e3", "ringing")
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert_error(call_event(api, "c1", "e4", "ringing"), 409, "invalid_call_transition")
    assert call_event(api, "c1", "e5", "ended").status_code == 202
    for type_ in ("ringing", "connected", "held", "resumed", "ended"):
        assert_error(call_event(api, "c1", f"late-{type_}", type_), 409, "invalid_call_transition")
    assert call_event(api, "c1", "e5", "ended").json()["duplicate"] is True
    assert CallEvent.objects.filter(partner_event_id="e5").count() == 1
    assert_error(call_event(api, "c1", "e6", "ended", reason="bored"), 400, "invalid")
    assert_error(call_event(api, "c1", "e7", "recording_ready"), 400, "invalid")


def test_a_call_that_ends_unanswered_is_abandoned_and_never_offered_again(
    api, call_center, alice, django_capture_on_commit_callbacks
):
    online(alice)
    new_call(api, "c1")
    work = AgentWork.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert call_event(api, "c1", "e1", "ended", reason="completed").status_code == 202
    call = Call.objects.get()
    assert (call.status, call.end_reason) == ("ended", "abandoned")
    work.refresh_from_db()
    assert work.status == "rescinded"
    assert WorkItem.objects.get().status == "canceled"
    assert events("work.rescinded")[0].agent_ids == [str(alice.pk)]
    assert routing_services.routing_dispatch(tenant_id=alice.tenant_id) == 0
    assert AgentWork.objects.count() == 1  # no new offer
    accepted = agent_client(alice).post(f"/api/v1/agent/work/{work.pk}/accept/")
    assert accepted.status_code == 409


def test_an_agent_on_a_call_gets_no_chat_until_the_call_and_its_acw_end(
    api, tenant, partner, call_center, alice, django_capture_on_commit_callbacks
):
    call_center.settings = {"acw_seconds": 30}
    call_center.save()
    install(tenant, partner)
    online(alice, capacity={"messaging": 3, "voice": 1})
    new_call(api, "c1")
    call_work = accept_offer(alice)
    post(api, message("hello?"))  # a chat arrives while alice is on the call
    assert not AgentWork.objects.filter(channel_type="messaging").exists()
    with django_capture_on_commit_callbacks(execute=True):
        call_event(api, "c1", "e1", "connected")
        call_event(api, "c1", "e2", "ended", reason="completed")
    assert routing_services.routing_dispatch(tenant_id=alice.tenant_id) == 0
    assert not AgentWork.objects.filter(channel_type="messaging").exists()  # ACW still holds the call
    with django_capture_on_commit_callbacks(execute=True):
        done = agent_client(alice).post(f"/api/v1/agent/work/{call_work.pk}/acw/complete/")
    assert done.status_code == 200
    assert run_requested_dispatch(alice.tenant_id) == 1
    assert AgentWork.objects.get(channel_type="messaging").status == "offered"


def test_a_second_call_waits_while_the_agent_is_on_one(api, call_center, alice, bob):
    online(alice, capacity={"voice": 1, "messaging": 0})
    new_call(api, "c1")
    accept_offer(alice)
    new_call(api, "c2", caller="+4915100002")
    assert AgentWork.objects.filter(status="offered").count() == 0
    online(bob, capacity={"voice": 1})
    routing_services.routing_dispatch(tenant_id=alice.tenant_id)
    assert AgentWork.objects.get(status="offered").agent == bob


# --- controls ----------------------------------------------------------------------------------


def test_controls_follow_the_state_and_results_reach_the_agent(api, call_center, alice, bob):
    online(alice)
    new_call(api, "c1")
    accept_offer(alice)
    agent = agent_client(alice)
    url = "/api/v1/agent/calls/c1/controls/"
    assert_error(agent.post(url, {"action": "hold"}, format="json"), 409, "invalid_call_action")
    call_event(api, "c1", "e1", "connected")
    response = agent.post(url, {"action": "hold"}, format="json")
    assert response.status_code == 202, response.content
    request_id = response.json()["request_id"]
    requested = events("call.control_requested")[-1]
    assert requested.data["request_id"] == request_id and requested.data["action"] == "hold"
    assert requested.partner_id is not None and str(alice.pk) in requested.agent_ids

    result = api.post(f"/api/v1/calls/c1/controls/{request_id}/result/", {"status": "done"}, format="json")
    assert result.status_code == 200 and result.json()["status"] == "done"
    completed = events("call.control_completed")[-1]
    assert completed.data["status"] == "done" and completed.agent_ids == [str(alice.pk)]
    assert completed.partner_id is None

    mute = agent.post(url, {"action": "mute"}, format="json").json()["request_id"]
    api.post(f"/api/v1/calls/c1/controls/{mute}/result/", {"status": "failed", "reason": "no media"}, format="json")
    control = CallControlRequest.objects.get(pk=mute)
    assert (control.status, control.reason) == ("failed", "no media")
    assert Call.objects.get().muted is False
    pause = agent.post(url, {"action": "pause_recording"}, format="json").json()["request_id"]
    api.post(f"/api/v1/calls/c1/controls/{pause}/result/", {"status": "done"}, format="json")
    assert Call.objects.get().recording_paused is True

    dtmf = agent.post(url, {"action": "send_dtmf", "digits": "12#"}, format="json")
    assert dtmf.status_code == 202 and CallControlRequest.objects.get(pk=dtmf.json()["request_id"]).digits == "12#"
    assert_error(agent.post(url, {"action": "send_dtmf", "digits": "x"}, format="json"), 400, "invalid")
    assert_error(agent.post(url, {"action": "transfer"}, format="json"), 400, "invalid")
    assert_error(agent.post(url, {"action": "dial"}, format="json"), 400, "invalid")
    transfer = agent.post(url, {"action": "transfer", "target": {"address": "+3312345"}}, format="json")
    assert transfer.status_code == 202
    assert_error(agent_client(bob).post(url, {"action": "hangup"}, format="json"), 403, "not_a_participant")
    assert_error(
        api.post(f"/api/v1/calls/c1/controls/{AgentWork.objects.get().pk}/result/", {"status": "done"}, format="json"),
        404,
        "control_request_not_found",
    )


def test_transfer_to_an_agent_makes_them_the_calls_agent(api, call_center, alice, bob):
    online(alice)
    online(bob)
    new_call(api, "c1")
    first = AgentWork.objects.get(status="offered").agent
    second = bob if first == alice else alice
    accept_offer(first)
    call_event(api, "c1", "e1", "connected")
    response = agent_client(first).post(
        "/api/v1/agent/calls/c1/controls/",
        {"action": "transfer", "target": {"agent_id": str(second.pk)}},
        format="json",
    )
    assert response.status_code == 202, response.content
    accept_offer(second)
    assert Call.objects.get().agent == second
    answers = CallControlRequest.objects.filter(action="answer").order_by("created_at")
    assert [a.target["agent_id"] for a in answers] == [str(first.pk), str(second.pk)]


# --- placing calls ---------------------------------------------------------------------------------


def test_an_agent_call_is_consent_gated_at_the_outbound_gate(api, tenant, call_center, alice):
    online(alice)
    agent = agent_client(alice)
    body = {"channel_address_id": CALL_CENTER, "address": "+4915177777"}
    refused = agent.post("/api/v1/agent/calls/", body, format="json")
    error = assert_error(refused, 403, "consent_denied")
    assert error["message"]  # the reason in words
    assert not Call.objects.exists() and not Conversation.objects.exists()

    with transaction.atomic():
        consent_services.consent_update(
            channel=call_center,
            address="+4915177777",
            status="opt_in",
            source="agent",
            actor="test",
            as_owner="platform",
        )
    placed = agent.post("/api/v1/agent/calls/", body, format="json")
    assert placed.status_code == 202, placed.content
    call = Call.objects.get()
    assert placed.json()["call_id"] == call.call_id and call.direction == "outbound" and call.agent == alice
    dial = CallControlRequest.objects.get()
    assert (str(dial.id), dial.action, dial.target) == (placed.json()["request_id"], "dial", {"address": "+4915177777"})
    assert events("call.control_requested")[0].data["target"] == {"address": "+4915177777"}
    assert AgentWork.objects.get().channel_type == "voice"
    # the partner drives the placed call with the call_id it was given
    assert call_event(api, call.call_id, "d1", "ringing").status_code == 202
    assert_error(agent.post("/api/v1/agent/calls/", {**body, "channel_address_id": "nope"}, format="json"), 404)


def test_no_call_is_placed_on_an_inactive_call_center(tenant, call_center, alice):
    # the same channel checks as an agent's outbound message (conversations/services/outbound.py)
    online(alice)
    call_center.is_active = False
    call_center.save(update_fields=["is_active"])
    body = {"channel_address_id": CALL_CENTER, "address": "+4915177777"}
    refused = agent_client(alice).post("/api/v1/agent/calls/", body, format="json")
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "channel_inactive"
    assert not Call.objects.exists() and not Conversation.objects.exists()


# --- transcript ------------------------------------------------------------------------------------


def test_transcript_final_replaces_interim_and_joins_the_history(api, call_center, alice):
    online(alice)
    new_call(api, "c1")
    accept_offer(alice)
    url = "/api/v1/calls/c1/transcript/"
    interim = {"id": "s1", "speaker": "end_user", "text": "my card is", "start_ms": 0, "end_ms": 900, "final": False}
    first = api.post(url, {"segments": [interim]}, format="json")
    assert first.status_code == 201, first.content
    pushed = events("transcript.segment")[-1]
    assert pushed.agent_ids == [str(alice.pk)] and pushed.data["final"] is False
    final = {**interim, "text": "my card is blocked", "end_ms": 1500, "final": True}
    api.post(url, {"segments": [final]}, format="json")
    again = api.post(url, {"segments": [final]}, format="json").json()
    assert again["segments"] == [{"id": "s1", "final": True, "duplicate": True}]
    late_interim = api.post(url, {"segments": [interim]}, format="json").json()
    assert late_interim["segments"][0]["duplicate"] is True  # a final segment stays final
    segment = TranscriptSegment.objects.get()
    assert (segment.text, segment.final, segment.end_ms) == ("my card is blocked", True, 1500)
    history = Message.objects.filter(conversation=segment.call.conversation, direction="inbound")
    assert [m.text for m in history] == ["my card is blocked"]
    assert [e.data["text"] for e in events("transcript.segment")] == ["my card is", "my card is blocked"]
    bad = api.post(url, {"segments": [{**interim, "speaker": "robot"}]}, format="json")
    assert_error(bad, 400, "invalid")


def test_agent_call_list_shows_live_and_recent_calls(api, call_center, alice):
    online(alice)
    new_call(api, "c1")
    accept_offer(alice)
    rows = agent_client(alice).get("/api/v1/agent/calls/").json()
    assert [(r["call_id"], r["live"], [c["action"] for c in r["controls"]]) for r in rows] == [("c1", True, ["answer"])]


# --- the demo fixture -----------------------------------------------------------------------------


def test_ccp_demo_installs_the_telephony_partners_call_center(db):
    import base64
    import json
    from io import StringIO

    from django.core.management import call_command

    from tenants.models import Channel

    def demo():
        out = StringIO()
        call_command("ccp_demo", "--json", stdout=out)
        return json.loads(out.getvalue())

    first, second = demo(), demo()
    assert first["voice_channel_address_id"] == second["voice_channel_address_id"] == "acme-voice-1"
    assert first["voice_partner"]["client_id"] == second["voice_partner"]["client_id"]
    assert second["voice_partner"]["client_id"] != second["partner"]["client_id"]
    channel = Channel.objects.get(channel_address_id="acme-voice-1")
    assert (channel.channel_type, channel.tenant.slug) == ("voice", "acme")
    assert channel.installation.package.channel_definition.routing_owner == "platform"
    basic = base64.b64encode(
        f"{second['voice_partner']['client_id']}:{second['voice_partner']['client_secret']}".encode()
    )
    token = APIClient().post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic.decode()}"
    )
    assert token.status_code == 200, token.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    created = new_call(api, "demo-1", to="acme-voice-1")
    assert created.status_code == 201, created.content


def test_a_call_event_and_a_segment_cost_a_fixed_number_of_queries(
    api, call_center, alice, django_assert_max_num_queries
):
    """Measured 12 and 13 (token, locks, the event row, the outbox, participants…)."""
    online(alice)
    new_call(api, "c1")
    accept_offer(alice)
    with django_assert_max_num_queries(12):
        assert call_event(api, "c1", "e1", "connected").status_code == 202
    segment = {"id": "s1", "speaker": "end_user", "text": "hi", "final": True}
    with django_assert_max_num_queries(13):
        assert api.post("/api/v1/calls/c1/transcript/", {"segments": [segment]}, format="json").status_code == 201


def test_closing_a_voice_conversation_during_the_call_asks_the_partner_to_hang_up(api, call_center, alice):
    online(alice)
    conversation_id = new_call(api, "c1").json()["conversation_id"]
    accept_offer(alice)
    call_event(api, "c1", "e1", "connected")
    closed = agent_client(alice).post(f"/api/v1/agent/conversations/{conversation_id}/close/")
    assert closed.status_code == 200, closed.content
    hangup = CallControlRequest.objects.get(action="hangup")
    assert (hangup.status, hangup.requested_by) == ("pending", alice)
    assert events("call.control_requested")[-1].data["action"] == "hangup"
    assert call_event(api, "c1", "e2", "ended", reason="completed").status_code == 202
    assert CallControlRequest.objects.get(action="hangup").status == "done"
